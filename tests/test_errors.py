"""The error answers every route shares (CONTRACT.md, "Validation and errors") and X-Request-ID."""
import logging
import re

import pytest

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
REGISTER = "/api/accounts/register"
CUSTOMERS = "/api/message/customers/"


@pytest.fixture
def app_config(app_config):
    """These tests register and log in more often than a client is allowed to per minute."""
    return {**app_config, "RATELIMIT_ENABLED": False}


def assert_json_error(response, status):
    """An error answer: JSON, never HTML or a traceback, and with a request id."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert "<html" not in text.lower() and "<!doctype" not in text.lower()
    assert "Traceback" not in text
    assert SAFE_REQUEST_ID.fullmatch(response.headers.get("X-Request-ID", ""))
    return response.get_json()


def assert_detail(response, status, detail):
    assert assert_json_error(response, status) == {"detail": detail}


def boom_route(app, exception):
    """A throwaway view that fails the way an unnoticed bug would."""
    def boom():
        raise exception

    app.add_url_rule("/api/test-boom", "test_boom", boom, methods=["GET", "POST"])


@pytest.fixture
def boom(app):
    """The failing route on `app`; list it before fixtures that make requests (alice)."""
    boom_route(app, RuntimeError("x"))


# 404, 405

@pytest.mark.parametrize("path", ["/api/nope", "/api/accounts/nope", "/api/message/nope/", "/", "/nope.html",
                                  "/api/message/customers/abc/", "/api/message/customers/-1/"])
def test_unknown_path_is_a_json_404(client, path):
    assert_detail(client.get(path), 404, "Not found.")


def test_unknown_path_is_404_with_a_token_too(client, alice):
    assert_detail(client.get("/api/message/nope/", headers=alice.headers), 404, "Not found.")


def test_method_not_allowed_on_a_list(client, alice):
    response = client.delete(CUSTOMERS, headers=alice.headers)
    assert_detail(response, 405, 'Method "DELETE" not allowed.')
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed and "DELETE" not in allowed


def test_method_not_allowed_on_an_item(client, alice):
    response = client.post(f"{CUSTOMERS}1/", headers=alice.headers, json={})
    assert_detail(response, 405, 'Method "POST" not allowed.')
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert {"GET", "PUT", "PATCH", "DELETE"} <= allowed


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/accounts/login"),
    ("GET", "/api/accounts/register"),
    ("PUT", "/api/accounts/refresh"),
    ("DELETE", "/api/accounts/me"),
    ("PATCH", "/api/accounts/logout"),
])
def test_method_not_allowed_on_accounts(client, method, path):
    assert_detail(client.open(path, method=method), 405, f'Method "{method}" not allowed.')


# 415, malformed and non-object JSON

@pytest.mark.parametrize("path", [REGISTER, "/api/accounts/login"])
def test_text_plain_body_is_a_415(client, path):
    response = client.post(path, data="username=alice", content_type="text/plain")
    assert_detail(response, 415, 'Unsupported media type "text/plain" in request.')


def test_other_content_types_are_415_too(client):
    for content_type in ("application/xml", "application/x-www-form-urlencoded", "text/html; charset=utf-8"):
        response = client.post(REGISTER, data="username=alice&password=long-password-1",
                               content_type=content_type)
        mimetype = content_type.split(";")[0]
        assert_detail(response, 415, f'Unsupported media type "{mimetype}" in request.')


def test_text_plain_body_on_authenticated_json_routes_is_a_415(client, alice):
    for path in (CUSTOMERS, "/api/accounts/logout"):
        response = client.post(path, headers=alice.headers, data="x", content_type="text/plain")
        assert_detail(response, 415, 'Unsupported media type "text/plain" in request.')
    # the refused logout did not log out
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 200


def test_an_empty_json_body_is_an_empty_object(client, alice):
    response = client.post(REGISTER, data=b"", content_type="application/json")
    assert assert_json_error(response, 400) == {"username": ["This field is required."],
                                                "password": ["This field is required."]}
    customer = client.post(CUSTOMERS, headers=alice.headers, data=b"", content_type="application/json")
    assert customer.status_code == 201
    assert customer.get_json()["source"] == "unknown"


def test_a_json_content_type_with_parameters_is_json(client):
    response = client.post(REGISTER, data='{"username": "alice", "password": "long-password-1"}',
                           content_type="application/json; charset=utf-8")
    assert response.status_code == 201


@pytest.mark.parametrize("data", ['{"username": "alice",', "{'username': 'alice'}", "{bad", "[1, 2",
                                  '{"a": 1} trailing', "nul"])
def test_malformed_json_is_a_400_parse_error(client, data):
    body = assert_json_error(client.post(REGISTER, data=data, content_type="application/json"), 400)
    assert set(body) == {"detail"}
    assert body["detail"].startswith("JSON parse error - ")


def test_malformed_json_on_an_authenticated_route(client, alice):
    response = client.post(CUSTOMERS, headers=alice.headers, data="{", content_type="application/json")
    body = assert_json_error(response, 400)
    assert set(body) == {"detail"} and body["detail"].startswith("JSON parse error - ")
    assert client.get(CUSTOMERS, headers=alice.headers).get_json() == []


@pytest.mark.parametrize("payload", [[], [{"username": "alice"}], "alice", 5, True])
def test_a_json_body_that_is_not_an_object_is_a_non_field_error(client, payload):
    body = assert_json_error(client.post(REGISTER, json=payload), 400)
    assert list(body) == ["non_field_errors"]
    assert len(body["non_field_errors"]) == 1 and isinstance(body["non_field_errors"][0], str)


def test_a_json_list_is_a_non_field_error_on_customers(client, alice):
    response = client.post(CUSTOMERS, headers=alice.headers, json=[{"first_name": "John"}])
    body = assert_json_error(response, 400)
    assert list(body) == ["non_field_errors"]
    assert len(body["non_field_errors"]) == 1
    assert client.get(CUSTOMERS, headers=alice.headers).get_json() == []


# 413

@pytest.fixture
def small_limit_client(request, app_config):
    app_config["MAX_CONTENT_LENGTH"] = 1024
    return request.getfixturevalue("client")


def test_body_over_the_limit_is_a_413_naming_the_limit(small_limit_client):
    response = small_limit_client.post(REGISTER, json={"username": "alice", "password": "x" * 2000})
    body = assert_json_error(response, 413)
    assert set(body) == {"detail"}
    assert "1024" in body["detail"]


def test_body_under_the_limit_is_served(small_limit_client):
    response = small_limit_client.post(REGISTER, json={"username": "alice", "password": "x" * 500})
    assert response.status_code == 201


def test_body_over_the_limit_on_an_authenticated_route(small_limit_client, auth):
    user = auth.user("alice")
    response = small_limit_client.post(CUSTOMERS, headers=user.headers, json={"first_name": "x" * 2000})
    body = assert_json_error(response, 413)
    assert "1024" in body["detail"]
    assert small_limit_client.get(CUSTOMERS, headers=user.headers).get_json() == []


# 500

def test_unexpected_exception_is_a_bare_500_logged_with_the_request_id(app, client, caplog):
    boom_route(app, RuntimeError("secret detail at /srv/app/settings.py: password=hunter2"))
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/test-boom", headers={"X-Request-ID": "req-500.check_1"})
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json() == {"detail": "Internal server error."}
    assert response.headers["X-Request-ID"] == "req-500.check_1"
    text = response.get_data(as_text=True)
    assert "secret" not in text and "hunter2" not in text and "Traceback" not in text
    logged = [record for record in caplog.records if "req-500.check_1" in record.getMessage()]
    assert logged, [record.getMessage() for record in caplog.records]
    assert logged[0].levelno >= logging.ERROR
    assert logged[0].exc_info and logged[0].exc_info[0] is RuntimeError


def test_each_500_is_logged_with_its_own_generated_request_id(app, client, caplog):
    boom_route(app, KeyError("nope"))
    with caplog.at_level(logging.ERROR):
        response = client.post("/api/test-boom", json={})
    assert response.status_code == 500
    assert response.get_json() == {"detail": "Internal server error."}
    request_id = response.headers["X-Request-ID"]
    assert SAFE_REQUEST_ID.fullmatch(request_id)
    assert any(request_id in record.getMessage() for record in caplog.records)


def test_the_app_keeps_serving_after_a_500(app, client, auth):
    boom_route(app, ZeroDivisionError())
    assert client.get("/api/test-boom").status_code == 500
    user = auth.user("alice")
    assert client.get("/api/accounts/me", headers=user.headers).status_code == 200


# X-Request-ID

@pytest.mark.parametrize("request_id", ["abc-DEF_1.2", "a" * 128, "0", "3f2b8c1e-9d4a-4f7e-8a1b-2c3d4e5f6a7b",
                                        "...", "_-_"])
def test_a_valid_request_id_is_echoed(client, request_id):
    response = client.get("/api/nope", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id


@pytest.mark.parametrize("request_id", ["a" * 129, "a b", "a/b", "a;b", "<script>", "a:b", "a\tb", "id=1",
                                        "a+b"])
def test_an_invalid_request_id_is_replaced(client, request_id):
    response = client.get("/api/nope", headers={"X-Request-ID": request_id})
    echoed = response.headers["X-Request-ID"]
    assert echoed != request_id
    assert SAFE_REQUEST_ID.fullmatch(echoed)


def test_an_empty_request_id_is_replaced(client):
    response = client.get("/api/nope", headers={"X-Request-ID": ""})
    assert SAFE_REQUEST_ID.fullmatch(response.headers["X-Request-ID"])


def test_generated_request_ids_differ(client):
    generated = {client.get("/api/nope").headers["X-Request-ID"] for _ in range(5)}
    assert len(generated) == 5
    assert all(SAFE_REQUEST_ID.fullmatch(request_id) for request_id in generated)


def test_every_answer_carries_the_request_id(boom, client, alice):
    customer = client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "John"}).get_json()
    requests = [
        ("GET", "/api/accounts/me", {"headers": alice.headers}, 200),
        ("POST", REGISTER, {"json": {"username": "carol", "password": "carol-password-1"}}, 201),
        ("POST", REGISTER, {"json": {}}, 400),
        ("POST", REGISTER, {"data": "{", "content_type": "application/json"}, 400),
        ("GET", "/api/accounts/me", {}, 401),
        ("GET", CUSTOMERS, {"headers": {"Authorization": "Bearer x"}}, 401),
        ("POST", "/api/accounts/login", {"json": {"username": "alice", "password": "wrong-password"}}, 401),
        ("GET", f"{CUSTOMERS}424242/", {"headers": alice.headers}, 404),
        ("GET", "/api/nope", {}, 404),
        ("DELETE", CUSTOMERS, {"headers": alice.headers}, 405),
        ("POST", REGISTER, {"data": "x", "content_type": "text/plain"}, 415),
        ("GET", "/api/message/customers", {"headers": alice.headers}, 200),  # served without the slash
        ("GET", "/api/test-boom", {}, 500),
        ("DELETE", f"{CUSTOMERS}{customer['id']}/", {"headers": alice.headers}, 200),
    ]
    for number, (method, path, kwargs, status) in enumerate(requests):
        headers = dict(kwargs.pop("headers", {}), **{"X-Request-ID": f"check-{number}"})
        response = client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.get_json())
        assert response.headers.get("X-Request-ID") == f"check-{number}", (method, path)
        generated = client.open(path, method=method, headers={k: v for k, v in headers.items()
                                                                if k != "X-Request-ID"}, **kwargs)
        assert SAFE_REQUEST_ID.fullmatch(generated.headers.get("X-Request-ID", "")), (method, path)


def test_413_carries_the_request_id(small_limit_client):
    response = small_limit_client.post(REGISTER, json={"password": "x" * 5000},
                                       headers={"X-Request-ID": "big-1"})
    assert response.status_code == 413
    assert response.headers["X-Request-ID"] == "big-1"


# No HTML anywhere

def test_no_error_body_is_html(boom, client, alice):
    responses = [
        client.get("/"),
        client.get("/api/"),
        client.get("/api/nope"),
        client.get("/static/x.css"),
        client.put("/api/accounts/me", headers=alice.headers),
        client.post(REGISTER, data="x", content_type="text/plain"),
        client.post(REGISTER, data="{", content_type="application/json"),
        client.get("/api/accounts/me", headers={"Authorization": "Bearer x"}),
        client.get(f"{CUSTOMERS}99999999999999999999/", headers=alice.headers),
        client.get("/api/test-boom", headers={"Accept": "text/html"}),
        client.get("/api/nope", headers={"Accept": "text/html"}),
    ]
    for response in responses:
        assert response.status_code >= 400
        body = assert_json_error(response, response.status_code)
        assert set(body) == {"detail"}
