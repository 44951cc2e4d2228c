"""The database under stress: concurrent writers from separate processes, and an outage."""
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from customerdata import create_app
from customerdata.extensions import db

PG_BIN = "/usr/lib/postgresql/15/bin"
WRITES_PER_PROCESS = 40


def _writer(config, token, customer, entry, worker, results):
    """One process: creates entries and updates a shared one (read, then write) as fast as it can."""
    client = create_app(config).test_client()
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    for n in range(WRITES_PER_PROCESS):
        statuses.append(client.post("/api/message/customer-data/", headers=headers, json={
            "customer": customer, "key": f"w{worker}-{n}", "value": "v"}).status_code)
        statuses.append(client.patch(f"/api/message/customer-data/{entry}/", headers=headers,
                                     json={"value": f"{worker}-{n}"}).status_code)
    results.put(statuses)


def test_concurrent_writers_from_separate_processes(app, app_config, client, alice):
    customer = client.post("/api/message/customers/", json={}, headers=alice.headers).get_json()["id"]
    entry = client.post("/api/message/customer-data/", headers=alice.headers,
                        json={"customer": customer, "key": "shared", "value": "0"}).get_json()["id"]
    token = alice.tokens["access"]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_writer, args=(app_config, token, customer, entry, w, results))
               for w in range(4)]
    for worker in workers:
        worker.start()
    statuses = [status for _ in workers for status in results.get(timeout=120)]
    for worker in workers:
        worker.join(30)
    assert statuses.count(201) == 4 * WRITES_PER_PROCESS
    assert statuses.count(200) == 4 * WRITES_PER_PROCESS
    listed = client.get("/api/message/customer-data/", headers=alice.headers).get_json()
    assert len(listed) == 4 * WRITES_PER_PROCESS + 1


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayCluster:
    """A PostgreSQL cluster of the test's own, on its own port, run as the postgres user."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="customerdata-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        shutil.chown(self.root, "postgres")
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres", "--no-sync")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/{tool}", *args], check=True,
                       capture_output=True, timeout=60)

    def start(self):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "-l", os.path.join(self.data, "log"),
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self):
        self._run("pg_ctl", "-D", self.data, "-w", "-t", "30", "-m", "immediate", "stop")

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def cluster():
    if not os.path.exists(f"{PG_BIN}/initdb") or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip(f"needs root, runuser and PostgreSQL binaries in {PG_BIN} for a throw-away cluster")
    cluster = ThrowawayCluster()
    cluster.start()
    yield cluster
    cluster.remove()


def test_database_outage_answers_503_and_recovers(app_config, cluster):
    app = create_app(app_config | {"SQLALCHEMY_DATABASE_URI": cluster.url})
    with app.app_context():
        db.create_all()
    client = app.test_client()
    from conftest import Auth

    user = Auth(client).user("outage")
    assert client.get("/api/message/customers/", headers=user.headers).status_code == 200

    cluster.stop()
    for path in ("/api/message/customers/", "/api/message/customer-data/"):
        response = client.get(path, headers=user.headers)
        assert response.status_code == 503
        assert response.get_json() == {"detail": "The database is unavailable; try again shortly."}
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200

    cluster.start()
    deadline = time.monotonic() + 30
    while client.get("/api/message/customers/", headers=user.headers).status_code != 200:
        assert time.monotonic() < deadline, "the app did not recover after the database came back"
        time.sleep(0.5)
    assert client.get("/readyz").status_code == 200
    with app.app_context():
        db.engine.dispose()
