"""What an operator relies on: health, logs, proxies, CORS, rate limits, headers."""
import json
import logging
import multiprocessing
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from customerdata import create_app
from customerdata.extensions import db, limiter

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def fresh_app(app_config, **overrides):
    app = create_app(app_config | overrides)
    with app.app_context():
        db.create_all()
    return app


# Health

def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "storage": "ok"}}


def test_readyz_is_503_when_uploads_cannot_be_written(app_config, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the upload folder should be")
    app = fresh_app(app_config, UPLOAD_FOLDER=str(blocker))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "not ready", "checks": {"database": "ok", "storage": "unavailable"}}


def test_readyz_is_503_when_the_database_is_unreachable(app_config, tmp_path):
    app = create_app(app_config | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/missing/dir/db.sqlite3"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unavailable"


# Logs

def test_one_structured_line_per_request(client, alice, caplog):
    from customerdata.logs import JsonFormatter

    caplog.set_level(logging.INFO, logger="customerdata.request")
    client.get("/api/accounts/me", headers=alice.headers | {"X-Request-ID": "trace-me-1"})
    records = [r for r in caplog.records if r.name == "customerdata.request"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["method"] == "GET" and line["path"] == "/api/accounts/me" and line["status"] == 200
    assert line["request_id"] == "trace-me-1"
    assert line["user_id"] == alice.id and isinstance(line["duration_ms"], float)


def test_request_id_in_log_lines_of_a_500(app, client, caplog):
    from customerdata.logs import JsonFormatter

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom", headers={"X-Request-ID": "abc-500"})
    assert response.get_json() == {"detail": "Internal server error."}
    assert b"secret internals" not in response.data
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors and "abc-500" in errors[0].getMessage()
    from customerdata.request_id import ENVIRON_KEY

    with app.test_request_context(environ_base={ENVIRON_KEY: "abc-500"}):
        formatted = json.loads(JsonFormatter().format(errors[0]))
    assert formatted["request_id"] == "abc-500"
    assert "RuntimeError: secret internals" in formatted["exc_info"]


# Proxies

def test_file_urls_use_the_public_scheme_and_host_behind_a_trusted_proxy(app_config, tmp_path):
    import io

    from conftest import Auth

    app = fresh_app(app_config, TRUSTED_PROXY_HOPS=1)
    client = app.test_client()
    user = Auth(client).user("proxied")
    customer = client.post("/api/message/customers/", json={}, headers=user.headers).get_json()["id"]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com"}
    entry = client.post("/api/message/customer-data/", headers=user.headers | forwarded,
                        data={"customer": str(customer), "key": "k", "file": (io.BytesIO(b"x"), "x.txt")}).get_json()
    assert entry["file_url"].startswith("https://api.example.com/media/customer_data/")


def test_forwarded_headers_are_ignored_without_a_trusted_proxy(client, alice):
    import io

    customer = client.post("/api/message/customers/", json={}, headers=alice.headers).get_json()["id"]
    entry = client.post("/api/message/customer-data/", headers=alice.headers | {"X-Forwarded-Host": "evil.test"},
                        data={"customer": str(customer), "key": "k", "file": (io.BytesIO(b"x"), "x.txt")}).get_json()
    assert entry["file_url"].startswith("http://localhost/media/")


# CORS

def test_no_cross_origin_access_by_default(client):
    response = client.options("/api/message/customer-data/", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_named_origins_get_cors_and_preflight(app_config):
    app = fresh_app(app_config, CORS_ORIGINS=["https://app.example.com"])
    client = app.test_client()
    preflight = client.options("/api/message/customer-data/", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    listed = client.get("/api/message/customer-data/", headers={"Origin": "https://app.example.com"})
    assert listed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "X-Total-Count" in listed.headers["Access-Control-Expose-Headers"]
    other = client.get("/api/message/customer-data/", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


# Rate limits

def _hammer_login(client, times):
    return [client.post("/api/accounts/login", json={"username": "nobody", "password": "wrong-password"})
            for _ in range(times)]


def test_login_is_rate_limited_per_client(app_config):
    app = fresh_app(app_config, LOGIN_RATE_LIMIT="3 per minute")
    responses = _hammer_login(app.test_client(), 4)
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    throttled = responses[-1]
    assert throttled.get_json() == {
        "detail": "Request was throttled: the limit is 3 per 1 minute. Try again later."}
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    other_client = app.test_client().post("/api/accounts/login", json={"username": "x", "password": "y" * 8},
                                          environ_base={"REMOTE_ADDR": "10.0.0.2"})
    assert other_client.status_code == 401


def test_register_and_refresh_limits_are_configurable(app_config):
    app = fresh_app(app_config, REGISTER_RATE_LIMIT="1 per minute", REFRESH_RATE_LIMIT="1 per minute")
    client = app.test_client()
    body = {"username": "first", "password": "long-enough-1"}
    assert client.post("/api/accounts/register", json=body).status_code == 201
    assert client.post("/api/accounts/register", json=body | {"username": "second"}).status_code == 429
    assert client.post("/api/accounts/refresh").status_code == 401
    assert client.post("/api/accounts/refresh").status_code == 429


def test_retry_after_is_only_on_the_429(app_config):
    """Retry-After tells a client to wait; on a 201 or a plain 401 it tells it something false."""
    app = fresh_app(app_config, LOGIN_RATE_LIMIT="2 per minute")
    client = app.test_client()
    body = {"username": "carol", "password": "carol-password-1"}
    registered = client.post("/api/accounts/register", json=body)
    assert registered.status_code == 201
    assert "Retry-After" not in registered.headers
    logged_in = client.post("/api/accounts/login", json=body)
    assert logged_in.status_code == 200
    refreshed = client.post("/api/accounts/refresh",
                            headers={"Authorization": f"Bearer {logged_in.get_json()['refresh']}"})
    assert refreshed.status_code == 200
    wrong = client.post("/api/accounts/login", json=body | {"password": "wrong-password"})
    assert wrong.status_code == 401
    throttled = client.post("/api/accounts/login", json=body)
    assert throttled.status_code == 429
    for response in (registered, logged_in, refreshed, wrong):
        assert "Retry-After" not in response.headers, response.status_code
    assert 0 < int(throttled.headers["Retry-After"]) <= 60


def test_rate_limit_headers_come_from_the_limited_routes_only(app_config, monkeypatch):
    """flask-limiter's after-request pass runs for a request that checked a limit, and only then."""
    app = fresh_app(app_config, LOGIN_RATE_LIMIT="5 per minute")
    # the limiter is one object for every app of the process, and reads RATELIMIT_HEADERS_ENABLED
    # from the first one only
    monkeypatch.setattr(limiter, "_headers_enabled", True)
    client = app.test_client()
    limited = _hammer_login(client, 2)[-1]
    assert limited.status_code == 401
    assert (limited.headers["X-RateLimit-Limit"], limited.headers["X-RateLimit-Remaining"]) == ("5", "3")
    unlimited = client.get("/healthz")
    assert unlimited.status_code == 200
    assert not [name for name in unlimited.headers.keys() if name.startswith("X-RateLimit")]


def test_default_limits_are_the_documented_ones(app):
    assert (app.config["LOGIN_RATE_LIMIT"], app.config["REGISTER_RATE_LIMIT"], app.config["REFRESH_RATE_LIMIT"]) \
        == ("10 per minute", "10 per minute", "30 per minute")


@pytest.fixture
def redis_url():
    """A Redis database of the tests' own (db 15), emptied before use."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()
    except redis.exceptions.ConnectionError:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    return REDIS_URL


def test_limits_shared_through_redis_across_app_instances(app_config, redis_url):
    """Two app instances with one Redis count one client's attempts together."""
    settings = {"LOGIN_RATE_LIMIT": "3 per minute", "RATELIMIT_STORAGE_URI": redis_url}
    first = fresh_app(app_config, **settings)
    assert [r.status_code for r in _hammer_login(first.test_client(), 2)] == [401, 401]
    second = fresh_app(app_config, **settings)
    assert [r.status_code for r in _hammer_login(second.test_client(), 2)] == [401, 429]
    # the control: in-memory counting starts afresh with every instance
    in_memory = settings | {"RATELIMIT_STORAGE_URI": "memory://"}
    fresh_app(app_config, **in_memory)
    assert [r.status_code for r in _hammer_login(fresh_app(app_config, **in_memory).test_client(), 2)] == [401, 401]


def test_the_default_store_is_shared_by_every_app_of_an_instance_folder(app_config):
    """Without RATELIMIT_STORAGE_URI the counters live in the instance folder, so every worker
    process of a host (each its own app) counts one client's attempts together."""
    first = fresh_app(app_config, LOGIN_RATE_LIMIT="3 per minute")
    assert first.config["RATELIMIT_STORAGE_URI"].startswith("sqlite:///")
    assert [r.status_code for r in _hammer_login(first.test_client(), 2)] == [401, 401]
    second = fresh_app(app_config, LOGIN_RATE_LIMIT="3 per minute")
    assert [r.status_code for r in _hammer_login(second.test_client(), 2)] == [401, 429]
    assert [r.status_code for r in _hammer_login(first.test_client(), 1)] == [429]


def test_the_sqlite_store_starts_a_new_window_when_the_old_one_ends(tmp_path):
    from customerdata.rate_limits import SQLiteStorage

    store = SQLiteStorage(f"sqlite:///{tmp_path / 'limits.sqlite3'}")
    assert [store.incr("k", 1) for _ in range(3)] == [1, 2, 3]
    assert store.get("k") == 3 and store.get("other") == 0
    assert time.time() < store.get_expiry("k") <= time.time() + 1
    time.sleep(1.1)
    assert store.get("k") == 0
    assert store.incr("k", 60, amount=2) == 2
    store.clear("k")
    assert store.get("k") == 0 and store.check()


def _open_store(path, barrier, outcomes):
    from customerdata.rate_limits import SQLiteStorage
    barrier.wait()
    try:
        SQLiteStorage(f"sqlite:///{path}")
        outcomes.put("opened")
    except Exception as error:  # what a worker that fails to boot would die of
        outcomes.put(repr(error))


def test_workers_starting_together_all_open_a_fresh_sqlite_store(tmp_path):
    """The workers of a fresh instance start side by side, each switching the new file to WAL;
    one of eight used to fail with "database is locked" about once in twenty opens."""
    context = multiprocessing.get_context("fork")
    for round_ in range(10):
        barrier, outcomes = context.Barrier(8), context.Queue()
        workers = [context.Process(target=_open_store, args=(tmp_path / f"limits{round_}.sqlite3", barrier, outcomes))
                   for _ in range(8)]
        for worker in workers:
            worker.start()
        answers = [outcomes.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(30)
        assert answers == ["opened"] * 8, answers


def test_the_login_limit_holds_across_gunicorn_workers():
    """The README's 10 per minute, under gunicorn with several workers and the default store:
    with memory:// each worker counted alone and about 30 of 50 attempts got through."""
    from live_server import api, live_server

    settings = {"RATELIMIT_STORAGE_URI": None, "RATELIMIT_ENABLED": None, "LOGIN_RATE_LIMIT": None,
                # gunicorn's access log names the worker: "worker=<pid> /api/accounts/login"
                "GUNICORN_CMD_ARGS": "--access-logformat 'worker=%(p)s %(U)s'"}
    with live_server(settings, workers=5) as server, ThreadPoolExecutor(5) as pool:
        # at once, so that a sync worker busy with one attempt leaves the next to another worker
        statuses = sorted(pool.map(lambda _: api(server.base_url, "POST", "/api/accounts/login",
                                                 {"username": "nobody", "password": "wrong-password"})[0],
                                   range(15)))
        deadline = time.monotonic() + 5  # gunicorn writes an access line after its answer
        while len(served_by := re.findall(r"worker=<(\d+)> /api/accounts/login", server.log())) < 15 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
    assert statuses == [401] * 10 + [429] * 5, statuses
    assert len(served_by) == 15 and len(set(served_by)) > 1, served_by  # several workers counted together


# Headers

def test_security_headers_on_every_answer(client, alice):
    for response in (client.get("/healthz"), client.get("/api/nope"), client.get("/api/accounts/me",
                                                                                  headers=alice.headers)):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_authenticated_answers_are_not_stored(client, alice):
    assert client.get("/api/accounts/me", headers=alice.headers).headers["Cache-Control"] == "no-store"
    assert client.get("/api/message/customer-data/", headers=alice.headers).headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/healthz").headers.get("Cache-Control", "")


def test_rate_limits_can_be_turned_off(app_config):
    app = fresh_app(app_config, RATELIMIT_ENABLED=False, LOGIN_RATE_LIMIT="1 per minute")
    assert [r.status_code for r in _hammer_login(app.test_client(), 3)] == [401, 401, 401]
