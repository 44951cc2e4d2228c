"""Fixtures: an app on a fresh, empty database per test (SQLite, or TEST_DATABASE_URL), a client,
a CLI runner and `auth`, which registers and logs in real users through the API."""
import importlib.util
import io
import os
import secrets

import pytest

from customerdata import create_app
from customerdata.extensions import db as _db

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
JWT_TEST_KEY = "test-jwt-key-that-is-long-enough-for-hs256-0123456789"


@pytest.fixture
def app_config(tmp_path):
    """Overrides for create_app; a test may change them before `app` is built."""
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.sqlite3'}",
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "SECRET_KEY": "test-secret-key",
        "JWT_SECRET_KEY": JWT_TEST_KEY,
    }


@pytest.fixture
def app(app_config):
    app = create_app(app_config)
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


POSTGRESQL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def postgresql_app(app_config):
    """An app on a throwaway PostgreSQL database, on the SQLite pass of the suite too: what only
    PostgreSQL has (its planner, its indexes) is tested on every run that has a server."""
    import psycopg
    from live_server import _is_postgresql, _throwaway_postgresql

    server = TEST_DATABASE_URL if TEST_DATABASE_URL and _is_postgresql(TEST_DATABASE_URL) else POSTGRESQL_SERVER
    database = _throwaway_postgresql(server)
    try:
        url = database.__enter__()
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {server}: {error}")
    try:
        app = create_app(app_config | {"SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            _db.create_all()
        yield app  # with no app context pushed: each request of a test client has its own
        with app.app_context():
            _db.session.remove()
            _db.engine.dispose()
    finally:
        database.__exit__(None, None, None)


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    """Real users through the real endpoints: every API test passes the real @jwt_required()."""

    def __init__(self, client):
        self.client = client

    def register(self, username="alice", password="alice-password-1", email=None):
        body = {"username": username, "password": password}
        if email is not None:
            body["email"] = email
        response = self.client.post("/api/accounts/register", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def login(self, username="alice", password="alice-password-1"):
        response = self.client.post("/api/accounts/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def user(self, username="alice", password=None):
        """Register and log in; returns an object with id, tokens and ready headers."""
        password = password or f"{username}-password-1"
        account = self.register(username, password)
        tokens = self.login(username, password)
        return LoggedIn(account["id"], username, tokens)


class LoggedIn:
    def __init__(self, id, username, tokens):
        self.id, self.username, self.tokens = id, username, tokens
        self.headers = {"Authorization": f"Bearer {tokens['access']}"}
        self.refresh_headers = {"Authorization": f"Bearer {tokens['refresh']}"}


@pytest.fixture
def customer(client, alice):
    """The id of a customer of alice's."""
    response = client.post("/api/message/customers/", json={"first_name": "John"}, headers=alice.headers)
    assert response.status_code == 201
    return response.get_json()["id"]


@pytest.fixture
def file_entry(client, alice, customer):
    """file_entry(key, content, name, value): an entry of alice's holding an uploaded file, as answered."""
    def create(key, content=b"data", name="file.txt", value=""):
        response = client.post("/api/message/customer-data/", headers=alice.headers, data={
            "customer": str(customer), "key": key, "value": value, "file": (io.BytesIO(content), name)})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return create


@pytest.fixture
def typed_columns_of(app):
    """typed_columns_of(key): {entry id: (number, instant, unique_hash)} of the key's entries, read
    from the database: what no answer shows, but what makes a definition over them cheap (a value
    without a definition carries the number of a canonical decimal, value_types.untyped)."""
    from sqlalchemy import select

    from customerdata.models import CustomerData

    def read(key):
        with app.app_context():
            rows = _db.session.execute(select(CustomerData.id, CustomerData.number, CustomerData.instant,
                                              CustomerData.unique_hash).where(CustomerData.key == key))
            found = {row[0]: tuple(row[1:]) for row in rows}
            _db.session.rollback()
            return found

    return read


@pytest.fixture
def database_fails_on(monkeypatch):
    """fail_on("COMMIT"): the driver statements starting so fail as if the database went away;
    `monkeypatch.undo()` ends it."""
    from customerdata import prepared

    run = prepared._on_driver

    def fail_on(first_word):
        def went_away(sql, *rest):
            if sql.startswith(first_word):
                raise RuntimeError("database went away")
            return run(sql, *rest)

        monkeypatch.setattr(prepared, "_on_driver", went_away)

    return fail_on


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def alice(auth):
    return auth.user("alice")


@pytest.fixture
def bob(auth):
    return auth.user("bob")


S3_TEST_BUCKET = "customerdata-tests"


@pytest.fixture(scope="session")
def s3_server():
    """moto's standalone S3 server on 127.0.0.1 for the whole run, with one bucket (tests/s3_server.py)."""
    missing = [name for name in ("boto3", "moto", "flask_cors") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the S3 tests need boto3 and moto[server] "
                    "(pip install -r requirements-dev.txt)")
    from s3_server import s3_server as start_s3_server

    with start_s3_server() as server:
        server.bucket = S3_TEST_BUCKET
        server.client().create_bucket(Bucket=S3_TEST_BUCKET)
        yield server


@pytest.fixture
def s3_config(s3_server, app_config, monkeypatch):
    """`app_config` on the S3 backend, under a key prefix of the test's own; boto3's environment set."""
    from s3_server import ENV, REGION, UNSET

    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    app_config.update({"STORAGE_BACKEND": "s3", "S3_BUCKET": s3_server.bucket,
                       "S3_PREFIX": f"test-{secrets.token_hex(6)}", "S3_ENDPOINT_URL": s3_server.endpoint_url,
                       "S3_REGION": REGION})
    return app_config


# Under .ci/run every outside service is provided, so a skip there means a check did not run.
REQUIRE_ALL = os.environ.get("CUSTOMERDATA_NO_SKIP") == "1"
_skipped = []


def pytest_runtest_logreport(report):
    if REQUIRE_ALL and report.skipped:
        _skipped.append(f"{report.nodeid}: {report.longrepr}")


def pytest_sessionfinish(session, exitstatus):
    if _skipped:
        print("\nCUSTOMERDATA_NO_SKIP=1 but these tests skipped:\n  " + "\n  ".join(_skipped))
        session.exitstatus = 1
