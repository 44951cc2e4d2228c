"""Remembering verified tokens must never keep an expired, revoked or forged token working.

Every check runs on a route of each blueprint: /api/accounts/me goes through Flask-JWT-Extended's
full check each time, the message routes take the shortcut for a token seen before.
"""
import time
from datetime import timedelta

import pytest

ROUTES = ["/api/accounts/me", "/api/message/customer-data/"]


@pytest.mark.parametrize("path", ROUTES)
def test_a_remembered_token_still_expires(app_config, request, path):
    app_config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(seconds=2)
    client = request.getfixturevalue("client")  # built after the change
    user = request.getfixturevalue("auth").user("brief")
    assert client.get(path, headers=user.headers).status_code == 200  # now remembered
    assert client.get(path, headers=user.headers).status_code == 200
    time.sleep(2.2)
    response = client.get(path, headers=user.headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token has expired."}


@pytest.mark.parametrize("path", ROUTES)
def test_a_remembered_token_is_still_revoked(client, alice, path):
    assert client.get(path, headers=alice.headers).status_code == 200
    assert client.get(path, headers=alice.headers).status_code == 200
    client.post("/api/accounts/logout", headers=alice.headers)
    response = client.get(path, headers=alice.headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token has been revoked."}
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize("path", ROUTES)
def test_a_remembered_token_stops_when_its_user_is_deleted(app, client, alice, path):
    assert client.get(path, headers=alice.headers).status_code == 200
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "delete", "alice", "--yes"]).exit_code == 0
    assert client.get(path, headers=alice.headers).status_code == 401


@pytest.mark.parametrize("path", ROUTES)
def test_only_the_exact_token_is_remembered(client, alice, path):
    assert client.get(path, headers=alice.headers).status_code == 200
    header, payload, signature = alice.tokens["access"].split(".")
    forged = f"{header}.{payload}.{signature[:-2]}AA"
    response = client.get(path, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_a_verified_refresh_token_is_never_taken_for_an_access_token(client, alice):
    for _ in range(2):  # the first request verifies (and remembers) the token, the second finds it
        response = client.get("/api/message/customer-data/", headers=alice.refresh_headers)
        assert response.status_code == 401
        assert response.get_json() == {"detail": "Token has the wrong type for this endpoint."}
    assert client.get("/api/message/customer-data/", headers=alice.headers).status_code == 200


@pytest.mark.parametrize("scheme", ["Token", "Basic", "JWT"])
def test_only_a_bearer_header_takes_the_shortcut(client, alice, scheme):
    assert client.get("/api/message/customer-data/", headers=alice.headers).status_code == 200
    response = client.get("/api/message/customer-data/",
                          headers={"Authorization": f"{scheme} {alice.tokens['access']}"})
    assert response.status_code == 401


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
@pytest.mark.parametrize("path", ROUTES)
def test_the_bearer_scheme_is_case_insensitive(client, alice, path, scheme):
    """RFC 7235: the auth-scheme is case-insensitive. The first request verifies the token, the
    second may take the remembered-token shortcut; both must accept it."""
    headers = {"Authorization": f"{scheme} {alice.tokens['access']}"}
    for _ in range(2):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_json()
    forged = {"Authorization": f"{scheme} {alice.tokens['access'][:-2]}AA"}
    assert client.get(path, headers=forged).status_code == 401


def test_refresh_and_logout_take_a_lower_case_scheme_too(client, alice):
    response = client.post("/api/accounts/refresh",
                           headers={"Authorization": f"bearer {alice.tokens['refresh']}"})
    assert response.status_code == 200, response.get_json()
    access = response.get_json()["access"]
    logout = client.post("/api/accounts/logout", headers={"Authorization": f"bearer {access}"})
    assert logout.status_code == 200
    assert client.get("/api/accounts/me", headers={"Authorization": f"Bearer {access}"}).status_code == 401
