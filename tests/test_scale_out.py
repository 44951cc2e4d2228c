"""Scale-out: two app instances (two gunicorn processes on two ports) with the same SECRET_KEY and
JWT_SECRET_KEY, sharing one PostgreSQL database, one S3 bucket (moto's server) and one Redis.

Whatever one instance writes, revokes or counts, the other sees. Skips with the reason when
PostgreSQL, Redis or moto are not available (`.ci/run` provides all three).
"""
import contextlib
import io
import os
import secrets
import subprocess

import pytest

from live_server import BIN, REPO_ROOT, SCRUBBED, _is_postgresql, _throwaway_postgresql, live_server

requests = pytest.importorskip("requests", reason="needs requests (moto[server] brings it)")

REDIS_URL = os.environ.get("TEST_SCALE_OUT_REDIS_URL", "redis://127.0.0.1:6379/14")
DEFAULT_POSTGRESQL = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "alice-password-1"
HTTP = requests.Session()
HTTP.trust_env = False   # 127.0.0.1 directly, whatever proxy the environment names


def _postgresql_server():
    url = os.environ.get("TEST_DATABASE_URL")
    return url if url and _is_postgresql(url) else DEFAULT_POSTGRESQL


def _redis_or_skip():
    redis = pytest.importorskip("redis")
    connection = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.flushdb()
    except redis.exceptions.ConnectionError as error:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {error}")
    return connection


def _upgrade(env):
    result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class Instance:
    def __init__(self, server):
        self.server, self.base_url = server, server.base_url
        self.http = requests.Session()
        self.http.trust_env = False   # 127.0.0.1 directly, whatever proxy the environment names

    def __getattr__(self, method):    # .get/.post/.put/.patch/.delete with a path
        return lambda path, **kwargs: self.http.request(method.upper(), self.base_url + path, timeout=30,
                                                        allow_redirects=False, **kwargs)

    def login(self, username="alice", password=PASSWORD):
        return self.post("/api/accounts/login", json={"username": username, "password": password})


@pytest.fixture(scope="module")
def pair(s3_server):
    """Instances A and B on one throwaway PostgreSQL database, one bucket prefix and one Redis."""
    from s3_server import ENV, REGION, UNSET

    psycopg = pytest.importorskip("psycopg")
    _redis_or_skip()
    server = _postgresql_server()
    with contextlib.ExitStack() as stack:
        try:
            database_url = stack.enter_context(_throwaway_postgresql(server))
        except psycopg.OperationalError as error:
            pytest.skip(f"PostgreSQL is not reachable at {server}: {error}")
        prefix = f"scale-out-{secrets.token_hex(6)}"
        shared = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "STORAGE_BACKEND": "s3", "S3_BUCKET": s3_server.bucket, "S3_PREFIX": prefix,
            "S3_ENDPOINT_URL": s3_server.endpoint_url, "S3_REGION": REGION,
            "RATELIMIT_STORAGE_URI": REDIS_URL, "LOGIN_RATE_LIMIT": "4 per minute",
            **ENV, **{name: None for name in UNSET},
        }
        env = {name: value for name, value in os.environ.items() if name not in (*SCRUBBED, *UNSET)}
        _upgrade(env | {name: value for name, value in shared.items() if value is not None})
        a = Instance(stack.enter_context(live_server(shared)))
        b = Instance(stack.enter_context(live_server(shared)))
        assert a.base_url != b.base_url
        yield a, b, Objects(s3_server, prefix + "/")


class Objects:
    def __init__(self, s3_server, prefix):
        self.client, self.bucket, self.prefix = s3_server.client(), s3_server.bucket, prefix

    def paths(self):
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix).get("Contents", [])
        return {item["Key"].removeprefix(self.prefix) for item in listed}


@pytest.fixture
def limits():
    """Rate-limit counters start at zero for each test (every login counts)."""
    connection = _redis_or_skip()
    yield connection
    connection.flushdb()


@pytest.fixture
def alice(pair, limits):
    a, _, _ = pair
    if a.login().status_code != 200:
        registered = a.post("/api/accounts/register", json={"username": "alice", "password": PASSWORD})
        assert registered.status_code == 201, registered.text
    tokens = a.login().json()
    limits.flushdb()
    return tokens


def bearer(tokens, kind="access"):
    return {"Authorization": f"Bearer {tokens[kind]}"}


def signed_path(url):
    """The path and query of a file_url, to ask any instance for it."""
    return url[url.index("/media/"):]


def test_an_entry_written_through_one_is_listed_updated_and_downloaded_through_the_other(pair, alice):
    a, b, objects = pair
    headers = bearer(alice)
    customer = b.post("/api/message/customers/", json={"first_name": "John"}, headers=headers)
    assert customer.status_code == 201, customer.text
    customer_id = customer.json()["id"]

    created = a.post("/api/message/customer-data/", headers=headers, data={
        "customer": str(customer_id), "key": "contract", "value": "v1"},
        files={"file": ("Vertrag Müller.pdf", io.BytesIO(b"%PDF-1 first"))})
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["file_url"].startswith(a.base_url + "/media/customer_data/")
    assert objects.paths() == {entry["file"].removeprefix("/media/")}

    listed = b.get(f"/api/message/customer/{customer_id}/data/", headers=headers)
    assert [item["id"] for item in listed.json()] == [entry["id"]]

    for instance in (a, b):   # the link A signed works on B: both hold the same SECRET_KEY
        redirect = instance.get(signed_path(entry["file_url"]))
        assert redirect.status_code == 302, redirect.text
        fetched = HTTP.get(redirect.headers["Location"], timeout=10)
        assert fetched.content == b"%PDF-1 first"
        assert fetched.headers["Content-Disposition"].startswith("attachment;")

    updated = b.patch(f"/api/message/customer-data/{entry['id']}/", headers=headers, data={"value": "v2"},
                      files={"file": ("second.pdf", io.BytesIO(b"%PDF-1 second"))})
    assert updated.status_code == 200, updated.text
    assert a.get(f"/api/message/customer-data/{entry['id']}/", headers=headers).json()["value"] == "v2"
    new_url = updated.json()["file_url"]
    assert HTTP.get(a.get(signed_path(new_url)).headers["Location"], timeout=10).content == b"%PDF-1 second"
    assert a.get(signed_path(entry["file_url"])).status_code == 404   # the replaced file is gone for both
    assert objects.paths() == {updated.json()["file"].removeprefix("/media/")}

    assert a.delete(f"/api/message/customers/{customer_id}/", headers=headers).status_code == 200
    assert b.get("/api/message/customer-data/", headers=headers).json() == []
    assert objects.paths() == set()


def test_a_token_revoked_through_one_is_refused_by_the_other(pair, alice):
    a, b, _ = pair
    assert b.get("/api/accounts/me", headers=bearer(alice)).status_code == 200
    logout = a.post("/api/accounts/logout", headers=bearer(alice), json={"refresh": alice["refresh"]})
    assert logout.status_code == 200, logout.text
    assert b.get("/api/accounts/me", headers=bearer(alice)).status_code == 401
    assert b.post("/api/accounts/refresh", headers=bearer(alice, "refresh")).status_code == 401


def test_the_login_rate_limit_counts_across_both(pair, alice):
    a, b, _ = pair
    attempts = [instance.login(password="wrong-password") for instance in (a, a, b, b)]
    assert [response.status_code for response in attempts] == [401, 401, 401, 401]
    fifth_a, fifth_b = a.login(password="wrong-password"), b.login()
    assert (fifth_a.status_code, fifth_b.status_code) == (429, 429)
    assert "Retry-After" in fifth_b.headers
