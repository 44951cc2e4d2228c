"""Remembering verified tokens must never keep an expired, revoked or forged token working."""
import time
from datetime import timedelta

from customerdata import create_app
from customerdata.extensions import db


def test_a_remembered_token_still_expires(app_config):
    app = create_app(app_config | {"JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=2)})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    from conftest import Auth

    user = Auth(client).user("brief")
    assert client.get("/api/accounts/me", headers=user.headers).status_code == 200  # now remembered
    time.sleep(2.2)
    response = client.get("/api/accounts/me", headers=user.headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Token has expired."}


def test_a_remembered_token_is_still_revoked(client, alice):
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 200
    client.post("/api/accounts/logout", headers=alice.headers)
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 401


def test_only_the_exact_token_is_remembered(client, alice):
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 200
    header, payload, signature = alice.tokens["access"].split(".")
    forged = f"{header}.{payload}.{signature[:-2]}AA"
    response = client.get("/api/accounts/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
