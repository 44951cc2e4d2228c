"""Accounts through HTTP: register, login, refresh (rotation), logout (revocation), me, and every
way a bearer token can be refused (CONTRACT.md, "Accounts" and the 401 row of the error table)."""
import re
import time
import uuid
from datetime import datetime, timedelta, timezone

import jwt as pyjwt
import pytest

from customerdata import create_app
from customerdata.extensions import db as _db
from customerdata.models import User

from conftest import JWT_TEST_KEY

RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
BAD_CREDENTIALS = {"detail": "No active account found with the given credentials"}
REQUIRED = ["This field is required."]
PASSWORD = "a-long-password-1"


@pytest.fixture
def app_config(app_config):
    """These tests register and log in more often than a client is allowed to per minute."""
    return {**app_config, "RATELIMIT_ENABLED": False}


def register(client, **body):
    return client.post("/api/accounts/register", json=body)


def login(client, username, password):
    return client.post("/api/accounts/login", json={"username": username, "password": password})


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def me(client, token):
    return client.get("/api/accounts/me", headers=bearer(token))


def refresh(client, token):
    return client.post("/api/accounts/refresh", headers=bearer(token))


def assert_unauthorized(response, detail=None):
    """A 401 of the contract: {"detail": <message>} and a Bearer challenge."""
    assert response.status_code == 401, response.get_json()
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"detail"}
    assert isinstance(body["detail"], str) and body["detail"]
    if detail is not None:
        assert body["detail"] == detail
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def claims_like_flask_jwt_extended(user_id, token_type="access", **overrides):
    now = datetime.now(timezone.utc)
    claims = {
        "fresh": False,
        "iat": now,
        "jti": str(uuid.uuid4()),
        "type": token_type,
        "sub": str(user_id),
        "nbf": now,
        "exp": now + timedelta(minutes=15),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims, key=JWT_TEST_KEY, algorithm="HS256"):
    return pyjwt.encode(claims, key, algorithm=algorithm)


def decode(token):
    return pyjwt.decode(token, JWT_TEST_KEY, algorithms=["HS256"])


def assert_timestamp(value):
    assert isinstance(value, str) and RFC3339_Z.fullmatch(value), value
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=5)


# Register

def test_register_answers_201_with_the_account(client):
    response = register(client, username="alice", password=PASSWORD, email="alice@example.com")
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"id", "username", "email", "created_at"}
    assert isinstance(body["id"], int)
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert_timestamp(body["created_at"])


def test_register_without_email_gives_null_email(client):
    response = register(client, username="alice", password=PASSWORD)
    assert response.status_code == 201
    assert response.get_json()["email"] is None


def test_register_never_echoes_the_password(client):
    response = register(client, username="alice", password=PASSWORD)
    assert PASSWORD not in response.get_data(as_text=True)


def test_register_accepts_usernames_of_letters_digits_and_symbols(client):
    for username in ("a", "x" * 150, "john.doe+crm@shop-1_x", "Ærøskøbing", "علی_رضایی", "ÉCOLE", "12345"):
        response = register(client, username=username, password=PASSWORD)
        assert response.status_code == 201, (username, response.get_json())
        assert response.get_json()["username"] == username
    token = login(client, "علی_رضایی", PASSWORD).get_json()["access"]
    assert me(client, token).get_json()["username"] == "علی_رضایی"


def test_register_refuses_usernames_with_other_characters(client):
    for username in ("john doe", "john/doe", "john!", "a#b", "<script>", "naïve?", "tab\there", "a\u200bb"):
        response = register(client, username=username, password=PASSWORD)
        assert response.status_code == 400, username
        body = response.get_json()
        assert list(body) == ["username"]
        assert len(body["username"]) == 1 and isinstance(body["username"][0], str)


def test_register_refuses_a_username_over_150_characters(client):
    response = register(client, username="x" * 151, password=PASSWORD)
    assert response.status_code == 400
    assert response.get_json() == {"username": ["Ensure this field has no more than 150 characters."]}


def test_register_refuses_a_blank_username(client):
    response = register(client, username="", password=PASSWORD)
    assert response.status_code == 400
    assert response.get_json() == {"username": ["This field may not be blank."]}


def test_register_refuses_a_duplicate_username_regardless_of_case(client):
    for first, duplicates in (("alice", ("alice", "Alice", "ALICE")), ("école", ("ÉCOLE", "École"))):
        assert register(client, username=first, password=PASSWORD).status_code == 201
        for second in duplicates:
            response = register(client, username=second, password=PASSWORD)
            assert response.status_code == 400, second
            assert response.get_json() == {"username": ["A user with that username already exists."]}


def test_register_keeps_the_case_the_user_chose(client):
    assert register(client, username="AliceW", password=PASSWORD).get_json()["username"] == "AliceW"


def test_register_refuses_a_short_password(client):
    response = register(client, username="alice", password="1234567")
    assert response.status_code == 400
    assert response.get_json() == {"password": ["Ensure this field has at least 8 characters."]}


def test_register_accepts_a_password_of_exactly_8_characters(client):
    assert register(client, username="alice", password="12345678").status_code == 201
    assert login(client, "alice", "12345678").status_code == 200


def test_register_requires_username_and_password(client):
    response = register(client)
    assert response.status_code == 400
    assert response.get_json() == {"username": REQUIRED, "password": REQUIRED}


def test_register_names_the_missing_field(client):
    for missing in ("username", "password"):
        body = {"username": "alice", "password": PASSWORD}
        del body[missing]
        response = register(client, **body)
        assert response.status_code == 400, missing
        assert response.get_json() == {missing: REQUIRED}


def test_register_refuses_an_invalid_email(client):
    for email in ("not-an-email", "alice@", "@example.com", "alice at example.com"):
        response = register(client, username="alice", password=PASSWORD, email=email)
        assert response.status_code == 400, email
        assert response.get_json() == {"email": ["Enter a valid email address."]}


def test_register_reports_every_invalid_field_at_once(client):
    response = register(client, username="bad name", password="short", email="nope")
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"username", "password", "email"}
    assert body["password"] == ["Ensure this field has at least 8 characters."]
    assert body["email"] == ["Enter a valid email address."]


def test_register_ignores_unknown_fields(client):
    response = register(client, username="alice", password=PASSWORD, is_staff=True, id=999)
    assert response.status_code == 201
    assert set(response.get_json()) == {"id", "username", "email", "created_at"}


def test_a_failed_registration_creates_no_account(client):
    register(client, username="alice", password="short")
    assert_unauthorized(login(client, "alice", "short"), BAD_CREDENTIALS["detail"])
    assert register(client, username="alice", password=PASSWORD).status_code == 201


# Login

def test_login_answers_a_token_pair(app, client):
    account = register(client, username="alice", password=PASSWORD).get_json()
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    lifetime = app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
    assert body["expires_in"] == lifetime and isinstance(body["expires_in"], int)
    access, refresh_ = decode(body["access"]), decode(body["refresh"])
    assert access["sub"] == str(account["id"]) and refresh_["sub"] == str(account["id"])
    assert access["type"] == "access" and refresh_["type"] == "refresh"
    assert access["exp"] - access["iat"] == body["expires_in"]
    assert access["jti"] != refresh_["jti"]


def test_login_matches_the_username_regardless_of_case(client):
    register(client, username="Alice", password=PASSWORD)
    assert login(client, "aLICE", PASSWORD).status_code == 200


def test_login_with_a_wrong_password_is_refused(client):
    register(client, username="alice", password=PASSWORD)
    response = login(client, "alice", PASSWORD + "x")
    assert_unauthorized(response)
    assert response.get_json() == BAD_CREDENTIALS


def test_login_of_an_unknown_user_is_refused_alike(client):
    response = login(client, "nobody", PASSWORD)
    assert_unauthorized(response)
    assert response.get_json() == BAD_CREDENTIALS


def test_login_password_is_case_sensitive(client):
    register(client, username="alice", password=PASSWORD)
    assert_unauthorized(login(client, "alice", PASSWORD.upper()), BAD_CREDENTIALS["detail"])


def test_login_requires_both_fields(client):
    response = client.post("/api/accounts/login", json={})
    assert response.status_code == 400
    assert response.get_json() == {"username": REQUIRED, "password": REQUIRED}


def test_login_tokens_work(client, alice):
    response = me(client, alice.tokens["access"])
    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"


# Me

def test_me_answers_the_caller(client):
    account = register(client, username="alice", password=PASSWORD, email="a@example.com").get_json()
    token = login(client, "alice", PASSWORD).get_json()["access"]
    response = me(client, token)
    assert response.status_code == 200
    assert response.get_json() == account


def test_me_answers_each_user_their_own_account(client, alice, bob):
    assert me(client, alice.tokens["access"]).get_json()["id"] == alice.id
    assert me(client, bob.tokens["access"]).get_json()["id"] == bob.id
    assert alice.id != bob.id


# Refresh (rotation)

def test_refresh_answers_a_new_pair(app, client, alice):
    response = refresh(client, alice.tokens["refresh"])
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access", "refresh", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds()
    assert body["access"] != alice.tokens["access"]
    assert body["refresh"] != alice.tokens["refresh"]
    assert decode(body["access"])["sub"] == str(alice.id)
    assert me(client, body["access"]).get_json()["id"] == alice.id


def test_refresh_rotates_the_refresh_token(client, alice):
    new = refresh(client, alice.tokens["refresh"]).get_json()
    assert_unauthorized(refresh(client, alice.tokens["refresh"]))
    newer = refresh(client, new["refresh"])
    assert newer.status_code == 200
    assert_unauthorized(refresh(client, new["refresh"]))
    assert me(client, newer.get_json()["access"]).status_code == 200


def test_refresh_leaves_the_old_access_token_working(client, alice):
    refresh(client, alice.tokens["refresh"])
    assert me(client, alice.tokens["access"]).status_code == 200


def test_refresh_refuses_an_access_token(client, alice):
    assert_unauthorized(refresh(client, alice.tokens["access"]))
    # the refresh token was not consumed by the refused attempt
    assert refresh(client, alice.tokens["refresh"]).status_code == 200


def test_refresh_without_a_token_is_refused(client):
    assert_unauthorized(client.post("/api/accounts/refresh"))


def test_a_refresh_token_is_not_an_access_token(client, alice):
    assert_unauthorized(me(client, alice.tokens["refresh"]))
    response = client.get("/api/message/customers/", headers=bearer(alice.tokens["refresh"]))
    assert_unauthorized(response)


# Logout (revocation)

def test_logout_answers_200_and_revokes_the_access_token(client, alice):
    response = client.post("/api/accounts/logout", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {"detail": "Successfully logged out."}
    assert_unauthorized(me(client, alice.tokens["access"]))
    assert_unauthorized(client.get("/api/message/customers/", headers=alice.headers))


def test_logout_without_refresh_leaves_the_refresh_token_working(client, alice):
    client.post("/api/accounts/logout", headers=alice.headers)
    response = refresh(client, alice.tokens["refresh"])
    assert response.status_code == 200
    assert me(client, response.get_json()["access"]).status_code == 200


def test_logout_with_refresh_revokes_both(client, alice):
    response = client.post("/api/accounts/logout", headers=alice.headers,
                           json={"refresh": alice.tokens["refresh"]})
    assert response.status_code == 200
    assert response.get_json() == {"detail": "Successfully logged out."}
    assert_unauthorized(me(client, alice.tokens["access"]))
    assert_unauthorized(refresh(client, alice.tokens["refresh"]))


def test_logout_leaves_other_sessions_working(client, alice):
    second = login(client, "alice", "alice-password-1").get_json()
    client.post("/api/accounts/logout", headers=alice.headers, json={"refresh": alice.tokens["refresh"]})
    assert me(client, second["access"]).status_code == 200
    assert refresh(client, second["refresh"]).status_code == 200


def test_logout_with_an_invalid_refresh_token_is_a_400(client, alice):
    for refresh_value in ["garbage", "a.b.c", 12, ["x"]]:
        response = client.post("/api/accounts/logout", headers=alice.headers, json={"refresh": refresh_value})
        assert response.status_code == 400, refresh_value
        body = response.get_json()
        assert list(body) == ["refresh"]
        assert isinstance(body["refresh"], list) and len(body["refresh"]) == 1
        assert isinstance(body["refresh"][0], str)
    # a refused logout changes nothing
    assert me(client, alice.tokens["access"]).status_code == 200


def test_logout_refuses_an_access_token_as_the_refresh_token(client, alice):
    response = client.post("/api/accounts/logout", headers=alice.headers,
                           json={"refresh": alice.tokens["access"]})
    assert response.status_code == 400
    assert list(response.get_json()) == ["refresh"]


def test_logout_refuses_another_users_refresh_token(client, alice, bob):
    response = client.post("/api/accounts/logout", headers=alice.headers,
                           json={"refresh": bob.tokens["refresh"]})
    assert response.status_code == 400
    assert list(response.get_json()) == ["refresh"]
    assert refresh(client, bob.tokens["refresh"]).status_code == 200


def test_logout_refuses_a_refresh_token_signed_with_another_key(client, alice):
    forged = sign(claims_like_flask_jwt_extended(alice.id, "refresh"), key="another-key-" + "x" * 40)
    response = client.post("/api/accounts/logout", headers=alice.headers, json={"refresh": forged})
    assert response.status_code == 400
    assert list(response.get_json()) == ["refresh"]


def test_logout_needs_an_access_token(client, alice):
    assert_unauthorized(client.post("/api/accounts/logout"))
    assert_unauthorized(client.post("/api/accounts/logout", headers=alice.refresh_headers))
    assert me(client, alice.tokens["access"]).status_code == 200


def test_logout_twice_with_the_same_token_is_refused(client, alice):
    assert client.post("/api/accounts/logout", headers=alice.headers).status_code == 200
    assert_unauthorized(client.post("/api/accounts/logout", headers=alice.headers))


def test_revocation_is_shared_by_every_app_instance(app_config, app, client, alice):
    other = create_app(app_config)
    other_client = other.test_client()
    try:
        assert me(other_client, alice.tokens["access"]).status_code == 200
        assert client.post("/api/accounts/logout", headers=alice.headers,
                           json={"refresh": alice.tokens["refresh"]}).status_code == 200
        assert_unauthorized(me(other_client, alice.tokens["access"]))
        assert_unauthorized(refresh(other_client, alice.tokens["refresh"]))
    finally:
        with other.app_context():
            _db.session.remove()
            _db.engine.dispose()


def test_rotation_is_shared_by_every_app_instance(app_config, app, client, alice):
    other = create_app(app_config)
    try:
        assert refresh(client, alice.tokens["refresh"]).status_code == 200
        assert_unauthorized(refresh(other.test_client(), alice.tokens["refresh"]))
    finally:
        with other.app_context():
            _db.session.remove()
            _db.engine.dispose()


# Token failures: always 401 {"detail": ...} with WWW-Authenticate: Bearer

def test_missing_authorization_header(client):
    response = client.get("/api/accounts/me")
    assert_unauthorized(response, "Authentication credentials were not provided.")


@pytest.mark.parametrize("header", [
    "Bearer garbage",
    "Bearer ",
    "Bearer a.b.c",
    "Bearer eyJhbGciOiJIUzI1NiJ9.e30.",
    "Token abc",
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    "garbage",
])
def test_malformed_authorization_is_refused(client, header):
    assert_unauthorized(client.get("/api/accounts/me", headers={"Authorization": header}))


def test_token_signed_with_another_key_is_refused(client, alice):
    token = sign(claims_like_flask_jwt_extended(alice.id), key="not-the-servers-key-" + "y" * 40)
    assert_unauthorized(me(client, token))


def test_token_with_a_tampered_payload_is_refused(client, alice, bob):
    header, _, signature = alice.tokens["access"].split(".")
    forged_payload = sign(claims_like_flask_jwt_extended(bob.id)).split(".")[1]
    assert_unauthorized(me(client, f"{header}.{forged_payload}.{signature}"))


def test_alg_none_token_is_refused(client, alice):
    token = pyjwt.encode(claims_like_flask_jwt_extended(alice.id), None, algorithm="none")
    assert_unauthorized(me(client, token))
    assert_unauthorized(me(client, token.rstrip(".") + "."))


def test_token_with_another_hs_algorithm_is_refused(client, alice):
    token = sign(claims_like_flask_jwt_extended(alice.id), algorithm="HS384")
    assert_unauthorized(me(client, token))


def test_a_correctly_signed_token_is_accepted(client, alice):
    """The control for the hand-signed tokens below: with all claims, the same signing works."""
    token = sign(claims_like_flask_jwt_extended(alice.id))
    assert me(client, token).status_code == 200


def test_token_without_exp_is_refused(client, alice):
    token = sign(claims_like_flask_jwt_extended(alice.id, exp=None))
    assert "exp" not in decode(token)
    assert_unauthorized(me(client, token))


def test_refresh_token_without_exp_is_refused(client, alice):
    token = sign(claims_like_flask_jwt_extended(alice.id, "refresh", exp=None))
    assert_unauthorized(refresh(client, token))


def test_expired_token_is_refused(client, alice):
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    claims = claims_like_flask_jwt_extended(alice.id, iat=past, nbf=past, exp=past + timedelta(minutes=15))
    token = sign(claims)
    assert_unauthorized(me(client, token))


def test_expired_refresh_token_is_refused(client, alice):
    past = datetime.now(timezone.utc) - timedelta(days=30)
    claims = claims_like_flask_jwt_extended(alice.id, "refresh", iat=past, nbf=past,
                                            exp=past + timedelta(days=7))
    token = sign(claims)
    assert_unauthorized(refresh(client, token))


def test_token_issued_by_the_app_expires(request, app_config):
    app_config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=1)
    client = request.getfixturevalue("client")  # built after the change
    register(client, username="alice", password=PASSWORD)
    token = login(client, "alice", PASSWORD).get_json()["access"]
    assert me(client, token).status_code == 200
    time.sleep(2.1)
    assert_unauthorized(me(client, token))


def test_token_not_yet_valid_is_refused(client, alice):
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    token = sign(claims_like_flask_jwt_extended(alice.id, nbf=future, iat=future))
    assert_unauthorized(me(client, token))


def test_revoked_token_is_refused(client, alice):
    client.post("/api/accounts/logout", headers=alice.headers)
    assert_unauthorized(me(client, alice.tokens["access"]))


def test_token_of_the_wrong_type_is_refused_as_access(client, alice):
    assert_unauthorized(me(client, sign(claims_like_flask_jwt_extended(alice.id, "refresh"))))


def test_token_of_the_wrong_type_is_refused_as_refresh(client, alice):
    assert_unauthorized(refresh(client, sign(claims_like_flask_jwt_extended(alice.id, "access"))))


@pytest.mark.parametrize("subject", ["alice", "", "1.5", None])
def test_token_whose_subject_is_not_a_user_id_is_refused(client, alice, subject):
    claims = claims_like_flask_jwt_extended(alice.id)
    if subject is None:
        del claims["sub"]
    else:
        claims["sub"] = subject
    assert_unauthorized(me(client, sign(claims)))


def test_token_whose_subject_is_a_number_is_refused(client, alice):
    assert_unauthorized(me(client, sign(claims_like_flask_jwt_extended(alice.id, sub=alice.id))))


def test_token_for_a_user_that_never_existed_is_refused(client, alice):
    assert_unauthorized(me(client, sign(claims_like_flask_jwt_extended(alice.id + 1000))))


def test_token_for_a_deleted_user_is_refused(app, client, alice):
    with app.app_context():
        _db.session.delete(_db.session.get(User, alice.id))
        _db.session.commit()
    assert_unauthorized(me(client, alice.tokens["access"]))
    assert_unauthorized(refresh(client, alice.tokens["refresh"]))
    assert_unauthorized(client.get("/api/message/customers/", headers=alice.headers))


def test_token_of_a_deleted_user_never_serves_the_next_user(app, client, alice):
    with app.app_context():
        _db.session.delete(_db.session.get(User, alice.id))
        _db.session.commit()
    newcomer = register(client, username="mallory", password=PASSWORD).get_json()
    assert_unauthorized(me(client, alice.tokens["access"]))
    assert_unauthorized(refresh(client, alice.tokens["refresh"]))
    token = login(client, "mallory", PASSWORD).get_json()["access"]
    assert me(client, token).get_json()["id"] == newcomer["id"]


def test_token_failures_never_leak_the_library_shape(client, alice):
    """Flask-JWT-Extended's own answers are 422 {"msg": ...}; none may get through."""
    tokens = ["garbage", pyjwt.encode(claims_like_flask_jwt_extended(alice.id), None, algorithm="none"),
              alice.tokens["refresh"], sign(claims_like_flask_jwt_extended(alice.id, exp=None))]
    for token in tokens:
        response = me(client, token)
        assert response.status_code == 401
        assert "msg" not in response.get_json()
