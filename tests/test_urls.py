"""Every route answers at its URL with and without a trailing slash: JSON either way, never a redirect
(a 308 is an HTML page, and Python's urllib refuses to follow a redirected POST)."""
import re
from urllib.parse import urlsplit

import pytest

# Files of the docs page; not API routes.
FILE_ENDPOINTS = {"openapi.static", "openapi.swagger_ui"}
VALUES = {"int": "1", "path": "customer_data/2024/01/15/x.txt"}
VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def concrete(rule):
    return VARIABLE.sub(lambda match: VALUES.get(match[1], "x"), rule)


def toggled(path):
    return path[:-1] if path.endswith("/") else path + "/"


def matched(response):
    """The request reached a view: not a redirect, not the "no such route" 404 or 405."""
    return (response.status_code not in (301, 302, 308, 405) and "Location" not in response.headers
            and response.get_json(silent=True) != {"detail": "Not found."})


def test_every_route_answers_with_and_without_its_trailing_slash(app, client, alice):
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.endpoint in FILE_ENDPOINTS or rule.endpoint == "static":
            continue
        path = concrete(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for url in (path, toggled(path)):
                response = client.open(url, method=method, headers=alice.headers, json={})
                assert matched(response), (method, url, response.status_code, response.data[:200])
                if url.startswith("/api/") and url != "/api/docs" and not url.startswith("/api/docs/"):
                    assert response.is_json, (method, url)
                checked += 1
    assert checked > 40


def test_a_list_without_its_slash_is_served_as_with_it(client, alice):
    client.post("/api/message/customers/", headers=alice.headers, json={"first_name": "John"})
    with_slash = client.get("/api/message/customers/?limit=1", headers=alice.headers)
    without = client.get("/api/message/customers?limit=1", headers=alice.headers)
    assert without.status_code == 200
    assert without.get_json() == with_slash.get_json()
    assert without.headers["X-Total-Count"] == "1"


def test_a_create_without_its_slash_creates(client, alice):
    customer = client.post("/api/message/customers", headers=alice.headers, json={"first_name": "John"})
    assert customer.status_code == 201
    entry = client.post("/api/message/customer-data", headers=alice.headers,
                        data={"customer": str(customer.get_json()["id"]), "key": "k", "value": "v"})
    assert entry.status_code == 201
    assert entry.get_json()["value"] == "v"


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_an_item_without_its_slash_is_served(client, alice, method):
    customer = client.post("/api/message/customers/", headers=alice.headers, json={"first_name": "John"})
    response = client.open(f"/api/message/customers/{customer.get_json()['id']}", method=method,
                           headers=alice.headers, json={"last_name": "Doe"})
    assert response.status_code == 200
    assert response.is_json


def test_accounts_routes_take_a_trailing_slash(client, alice):
    me = client.get("/api/accounts/me/", headers=alice.headers)
    assert me.status_code == 200
    assert me.get_json()["username"] == "alice"
    login = client.post("/api/accounts/login/", json={"username": "alice", "password": "alice-password-1"})
    assert login.status_code == 200
    assert "access" in login.get_json()


def test_a_download_link_keeps_working(client, file_entry):
    entry = file_entry("contract", b"%PDF-1.4", "contract.pdf")
    url = urlsplit(entry["file_url"])
    response = client.get(f"{url.path}?{url.query}")
    assert response.status_code == 200
    assert response.data == b"%PDF-1.4"


@pytest.mark.parametrize("path", ["/healthz", "/healthz/", "/readyz", "/readyz/"])
def test_health_checks_answer_with_and_without_a_slash(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.is_json
