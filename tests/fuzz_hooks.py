"""schemathesis hooks of tests/test_fuzz.py (loaded through SCHEMATHESIS_HOOKS): the token each
operation is called with.

- logout would revoke the token it is called with: each call gets an access token of its own;
- refresh takes a refresh token and rotates it: each call gets a refresh token of its own;
- every other operation gets the fuzzing user's access token, which therefore lives through the run.

The fresh tokens come from logging the fuzzing user in again (FUZZ_BASE_URL, FUZZ_USERNAME,
FUZZ_PASSWORD); the long-lived one is FUZZ_ACCESS_TOKEN.
"""
import os

import requests
import schemathesis

LOGIN_TIMEOUT = 15


def _login():
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1, never through a proxy
    credentials = {"username": os.environ["FUZZ_USERNAME"], "password": os.environ["FUZZ_PASSWORD"]}
    response = session.post(os.environ["FUZZ_BASE_URL"] + "/api/accounts/login", json=credentials,
                            timeout=LOGIN_TIMEOUT)
    response.raise_for_status()
    return response.json()


class _Bearer:
    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


# Providers are tried in the order they are registered; the first that applies sets the token.
@schemathesis.auth(refresh_interval=None).apply_to(path="/api/accounts/logout")
class OwnAccessToken(_Bearer):
    def get(self, case, context):
        return _login()["access"]


@schemathesis.auth(refresh_interval=None).apply_to(path="/api/accounts/refresh")
class OwnRefreshToken(_Bearer):
    def get(self, case, context):
        return _login()["refresh"]


@schemathesis.auth(refresh_interval=None)
class FuzzingAccessToken(_Bearer):
    def get(self, case, context):
        return os.environ["FUZZ_ACCESS_TOKEN"]
