"""Property-based fuzzing of every described operation with schemathesis, against a live server.

The schemathesis CLI runs against tests/live_server.py's gunicorn server and its own
/api/openapi.json, as a user with a customer and two entries (so that small ids exist), with the
checks the issue names. Bounded: MAX_EXAMPLES per operation and phase, a fixed seed (the same cases
every run; FUZZ_SEED=<n> explores others) and TIME_LIMIT seconds for the whole run. Rate limits
are switched off for the server (RATELIMIT_ENABLED=false) and the test fails if any request still
met a 429; tests/fuzz_hooks.py gives logout and refresh tokens of their own, and the test checks
that the fuzzing token still works once the run is over.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from live_server import api, live_server

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
HOOKS = Path(__file__).resolve().parent / "fuzz_hooks.py"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
MAX_EXAMPLES = 30
TIME_LIMIT = 180          # seconds for the whole schemathesis run
REQUEST_TIMEOUT = 20      # seconds for one request
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
USERNAME, PASSWORD = "fuzzer", "fuzzer-password-1"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")



def prepare(base_url):
    """The fuzzing user, logged in, with a customer and two entries; returns the access token."""
    credentials = {"username": USERNAME, "password": PASSWORD}
    assert api(base_url, "POST", "/api/accounts/register", credentials)[0] == 201
    status, tokens = api(base_url, "POST", "/api/accounts/login", credentials)
    assert status == 200, tokens
    token = tokens["access"]
    status, customer = api(base_url, "POST", "/api/message/customers/",
                           {"first_name": "John", "last_name": "Doe", "username": "johndoe"}, token)
    assert status == 201, customer
    for key, value in (("birthday", "1990-05-15"), ("company_email", "john@example.com")):
        status, entry = api(base_url, "POST", "/api/message/customer-data/",
                            {"customer": customer["id"], "key": key, "value": value}, token)
        assert status == 201, entry
    return token


def schemathesis_environment(server, token):
    env = {name: value for name, value in os.environ.items() if name not in PROXY_VARIABLES}
    env.update({
        "SCHEMATHESIS_HOOKS": str(HOOKS),
        "FUZZ_BASE_URL": server.base_url,
        "FUZZ_USERNAME": USERNAME,
        "FUZZ_PASSWORD": PASSWORD,
        "FUZZ_ACCESS_TOKEN": token,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


def test_schemathesis_finds_no_failure(tmp_path):
    with live_server({"RATELIMIT_ENABLED": "false"}) as server:
        token = prepare(server.base_url)
        command = [str(SCHEMATHESIS), "run", f"{server.base_url}/api/openapi.json",
                   "--checks", ",".join(CHECKS),
                   "--max-examples", str(MAX_EXAMPLES),
                   "--seed", str(SEED),
                   "--workers", "2",
                   "--request-timeout", str(REQUEST_TIMEOUT),
                   "--generation-database", "none",
                   "--no-color"]
        try:
            result = subprocess.run(command, cwd=tmp_path, env=schemathesis_environment(server, token),
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=TIME_LIMIT)
        except subprocess.TimeoutExpired as expired:
            output = expired.stdout
            if isinstance(output, bytes):
                output = output.decode(errors="replace")
            pytest.fail(f"schemathesis ran past {TIME_LIMIT}s:\n{(output or '')[-8000:]}")
        report = result.stdout + result.stderr
        assert result.returncode == 0, f"schemathesis failed ({result.returncode}):\n{report[-20000:]}"
        assert re.search(r"\b\d+ passed\b", report) or "passed" in report, report[-4000:]

        # the run used its token from start to end: neither logout nor refresh revoked it
        status, me = api(server.base_url, "GET", "/api/accounts/me", token=token)
        assert status == 200 and me["username"] == USERNAME, me
        # and no rate limit cut it short
        throttled = re.findall(r'"status":\s*429', server.log())
        assert not throttled, f"{len(throttled)} requests were rate limited during the fuzzing run"
