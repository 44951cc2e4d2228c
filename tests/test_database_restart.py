"""A PostgreSQL restart under the app: no request after it fails, without pool_pre_ping.

A private cluster (initdb as the postgres user, on a free port of 127.0.0.1, in a temporary
directory) is restarted between requests through the Flask test client. Its pooled connections
are then dead: each request after the restart must still answer as before."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile

import pytest
from sqlalchemy import event

from customerdata import create_app, database
from customerdata.extensions import db

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _why_not():
    if not PG_BIN:
        return "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed"
    if os.geteuid() != 0:
        return "needs root, to run initdb and pg_ctl as the postgres user"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "no postgres user to run the cluster as"
    return None


class Cluster:
    def __init__(self):
        self.bin = os.path.dirname(PG_BIN[-1])
        self.dir = tempfile.mkdtemp(prefix="customerdata-pg-")
        shutil.chown(self.dir, "postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._as_postgres("initdb", "-D", f"{self.dir}/data", "-A", "trust", "-U", "postgres", "-N",
                          "-E", "UTF8", "--locale=C")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/{tool}", *args], check=True,
                       capture_output=True, timeout=60)

    def pg_ctl(self, action, *args):
        self._as_postgres("pg_ctl", action, "-D", f"{self.dir}/data", "-w", "-l", f"{self.dir}/log",
                          "-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                          *args)

    def remove(self):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/pg_ctl", "stop", "-D",
                        f"{self.dir}/data", "-m", "immediate"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    cluster = Cluster()
    try:
        cluster.pg_ctl("start")
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture
def restart_app(cluster, app_config):
    app_config["SQLALCHEMY_DATABASE_URI"] = cluster.url
    app = create_app(app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_no_request_fails_after_a_restart_and_no_checkout_is_pinged(cluster, restart_app, monkeypatch):
    app = restart_app
    client = app.test_client()
    assert "pool_pre_ping" not in app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    with app.app_context():
        engine = db.engine
    assert engine.pool._pre_ping is False
    pings = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping",
                        lambda dbapi_connection: pings.append(1) or ping(dbapi_connection))

    password = "alice-password-1"
    response = client.post("/api/accounts/register", json={"username": "alice", "password": password})
    assert response.status_code == 201

    def login():
        response = client.post("/api/accounts/login", json={"username": "alice", "password": password})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['access']}"}

    headers = login()
    response = client.post("/api/message/customers/", json={"first_name": "John"}, headers=headers)
    assert response.status_code == 201
    customer = response.get_json()["id"]
    entry = client.post("/api/message/customer-data/", json={"customer": customer, "key": "k", "value": "v"},
                        headers=headers).get_json()["id"]

    def every_route_answers():
        """Requests whose first statement is on the driver (token check), or the ORM's."""
        for method, path, body, status in [
                ("get", f"/api/message/customer-data/{entry}/", None, 200),
                ("get", "/api/message/customer-data/", None, 200),
                ("patch", f"/api/message/customer-data/{entry}/", {"value": "w"}, 200),
                ("post", "/api/message/customer-data/", {"customer": customer, "key": f"k{len(checkouts)}",
                                                         "value": "v"}, 201),
                ("get", "/api/message/customers/", None, 200)]:
            response = getattr(client, method)(path, json=body, headers=headers)
            assert response.status_code == status, (method, path, response.get_json())

    checkouts = []
    event.listen(engine, "checkout", lambda *args: checkouts.append(1))
    every_route_answers()
    # a request takes two pooled connections at once (the driver's and the session's): both die
    assert engine.pool.checkedin() >= 2
    assert checkouts and not pings  # while the database stays up, no checkout costs a round trip

    # 1. restart; the first request after it starts on the driver (token check)
    cluster.pg_ctl("restart", "-m", "fast")
    every_route_answers()
    assert client.get("/readyz").status_code == 200

    # 2. restart; the first requests after it start in the ORM session (login, readiness)
    cluster.pg_ctl("restart", "-m", "fast")
    assert client.get("/readyz").status_code == 200
    headers = login()
    every_route_answers()

    # 3. restart, and the dead connections do not show it on their sockets (a server host that
    # went away without closing them): the driver's first statement fails and runs again on a
    # connection pinged first, and the pool replaces the others
    monkeypatch.setattr(database, "_has_input", lambda dbapi_connection: False)
    cluster.pg_ctl("restart", "-m", "fast")
    every_route_answers()
    headers = login()
    every_route_answers()
    assert pings  # the suspect connections were pinged
