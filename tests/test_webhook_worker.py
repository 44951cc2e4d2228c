"""The webhook delivery worker as it runs: real `flask --app wsgi webhooks worker` processes against
the test's database, delivering to a receiver in this process (127.0.0.1 only).

Covered: a worker `kill -9`ed in the middle of a delivery (another sends it after the lease), two
workers sharing 500 deliveries on PostgreSQL exactly once, a hanging endpoint not holding up
another, SIGTERM finishing the delivery in flight, the refusal of a lease not above the timeout,
and `--once`. Every wait is bounded; every process is killed in teardown.
"""
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from live_server import BIN, REPO_ROOT, SCRUBBED
from sqlalchemy import create_engine, text, update
from standardwebhooks import Webhook

from customerdata.extensions import db
from customerdata.models import WebhookDelivery, WebhookEndpoint

START_TIMEOUT = 20   # seconds for a worker process to log that it started
WAIT_TIMEOUT = 20    # seconds for anything the tests wait for
HOLD_LIMIT = 15      # seconds a held request waits at most before the receiver lets go
STARTED = re.compile(r"webhooks worker (\S+) started")


@pytest.fixture
def app_config(app_config):
    app_config.update(WEBHOOKS_ALLOW_PRIVATE=True, WEBHOOKS_ALLOW_HTTP=True)
    return app_config


# The receiver

@dataclass
class Received:
    path: str
    webhook_id: str
    headers: dict
    body: bytes
    arrived: float                      # time.monotonic()
    arrived_utc: datetime               # naive UTC, as the database's timestamps
    answered: float | None = None       # when the answer was written (None: not yet, or never)
    status: int | None = None


class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording every POST. Each path answers 204 at once
    unless `script(path, behaviour, ...)` queued behaviours for its next requests: a behaviour
    gets the Received and returns the status to answer, after blocking as long as it likes."""

    def __init__(self):
        self.received = []
        self.changed = threading.Condition()
        self.scripts = {}
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = Received(self.path, self.headers.get("webhook-id"), dict(self.headers), body,
                                  time.monotonic(), datetime.now(UTC).replace(tzinfo=None))
                with receiver.changed:
                    receiver.received.append(record)
                    queued = receiver.scripts.get(self.path)
                    behaviour = queued.pop(0) if queued else None
                    receiver.changed.notify_all()
                status = behaviour(record) if behaviour else 204
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    self.wfile.flush()
                except OSError:  # the worker went away meanwhile (kill -9)
                    status = None
                with receiver.changed:
                    record.answered, record.status = time.monotonic(), status
                    receiver.changed.notify_all()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, path, *behaviours):
        with self.changed:
            self.scripts.setdefault(path, []).extend(behaviours)

    def hold(self, release, then=200):
        """A behaviour: keep the request open until `release` is set (or HOLD_LIMIT, or teardown)."""
        def behaviour(record):
            deadline = time.monotonic() + HOLD_LIMIT
            while not (release.is_set() or self.closing.is_set()) and time.monotonic() < deadline:
                release.wait(0.05)
            return then
        return behaviour

    def at(self, path):
        with self.changed:
            return [record for record in self.received if record.path == path]

    def wait_for(self, predicate, timeout=WAIT_TIMEOUT, what="the receiver"):
        """Wait until predicate(received) is true; returns the received list at that moment."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.received):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what}: not within {timeout}s; received "
                                         f"{[(r.path, r.webhook_id, r.status) for r in self.received]}")
                self.changed.wait(min(remaining, 0.1))
            return list(self.received)

    def close(self):
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


# Worker processes

class Worker:
    def __init__(self, process, log_path):
        self.process, self.log_path = process, log_path
        self.name = None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_started(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = STARTED.search(self.log())
            if match:
                self.name = match.group(1)
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"the worker did not start within {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker still runs {timeout}s later:\n{self.log()}") from None


class Workers:
    """Start worker processes on the test's database; every one is killed in teardown."""

    def __init__(self, app, tmp_path):
        self.tmp_path, self.started = tmp_path, []
        env = {name: value for name, value in os.environ.items()
               if name not in SCRUBBED and not name.startswith("WEBHOOKS_")}
        env.update({
            "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "INSTANCE_PATH": str(tmp_path / "worker-instance"),
            "UPLOAD_FOLDER": str(tmp_path / "worker-uploads"),
            "SECRET_KEY": "worker-secret-key",
            "JWT_SECRET_KEY": "worker-jwt-secret-key-that-is-long-enough-0123456789",
            "WEBHOOKS_ALLOW_PRIVATE": "true",
            "WEBHOOKS_ALLOW_HTTP": "true",
            "PYTHONUNBUFFERED": "1",
        })
        self.env = env

    def _env(self, settings):
        return self.env | {name: str(value) for name, value in settings.items()}

    def _command(self, *args):
        return [str(BIN / "flask"), "--app", "wsgi", "webhooks", "worker", *args]

    def start(self, *args, **settings):
        """A running worker (`flask webhooks worker`), settings as environment variables."""
        log_path = self.tmp_path / f"worker-{len(self.started)}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(self._command(*args), cwd=REPO_ROOT, env=self._env(settings),
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        worker = Worker(process, log_path)
        self.started.append(worker)
        return worker

    def run(self, *args, timeout=30, **settings):
        """A worker run to its end (`--once`, or a refusal): the CompletedProcess."""
        return subprocess.run(self._command(*args), cwd=REPO_ROOT, env=self._env(settings),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    def kill_all(self):
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
            try:
                worker.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def workers(app, tmp_path):
    """Depends on `app`: its teardown (dropping the tables) comes after every worker is dead."""
    started = Workers(app, tmp_path)
    yield started
    started.kill_all()


# The service, through its API

def add_endpoint(client, user, url, events=("*",)):
    response = client.post("/api/webhooks/endpoints/", json={"url": url, "events": list(events)},
                           headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_customer(client, user):
    response = client.post("/api/message/customers/", json={"first_name": "John"}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def add_entry(client, user, customer, key, value="v"):
    response = client.post("/api/message/customer-data/", headers=user.headers,
                           json={"customer": customer, "key": key, "value": value})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def deliveries(client, user, endpoint):
    """The endpoint's deliveries, oldest first (the API answers newest first)."""
    response = client.get(f"/api/webhooks/endpoints/{endpoint['id']}/deliveries/", headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()[::-1]


def wait_for_deliveries(client, user, endpoint, done, timeout=WAIT_TIMEOUT, what="deliveries"):
    deadline = time.monotonic() + timeout
    while True:
        found = deliveries(client, user, endpoint)
        if done(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s: {found}")
        time.sleep(0.05)


def all_delivered(found):
    return bool(found) and all(delivery["status"] == "delivered" for delivery in found)


def lease_of(app, endpoint):
    with app.app_context():
        row = db.session.get(WebhookEndpoint, endpoint["id"], populate_existing=True)
        lease = (row.leased_until, row.lease_owner)
        db.session.rollback()
        return lease


# 1. kill -9 in the middle of a delivery

def test_a_delivery_of_a_worker_killed_mid_request_is_sent_by_another_after_the_lease(
        app, client, alice, customer, receiver, workers):
    endpoint = add_endpoint(client, alice, receiver.url("/kill"), events=["entry.created"])
    release = threading.Event()
    receiver.script("/kill", receiver.hold(release))  # the first request is held open; later ones answer 204
    # Both workers poll from the start: the one that claims the endpoint first (A) is killed in the
    # middle of its request; the other (B), polling all along, must wait for A's lease to run out.
    settings = {"WEBHOOKS_TIMEOUT_SECONDS": 2, "WEBHOOKS_LEASE_SECONDS": 3}
    started = [workers.start(**settings), workers.start(**settings)]
    for worker in started:
        worker.wait_started()
    for key in ("first", "second", "third"):
        add_entry(client, alice, customer, key)

    held = receiver.wait_for(lambda got: len(got) >= 1, what="the first worker's request")[0]
    leased_until, owner = lease_of(app, endpoint)
    a, b = started if owner == started[0].name else started[::-1]
    a.process.send_signal(signal.SIGKILL)  # well before A's 2 s timeout could end its attempt
    assert owner == a.name and leased_until is not None, (owner, leased_until)
    assert a.wait_exit(5) == -signal.SIGKILL
    killed_at = time.monotonic()
    assert held.answered is None, "the receiver answered before the worker was killed"
    event_ids = [delivery["event_id"] for delivery in deliveries(client, alice, endpoint)]
    assert len(set(event_ids)) == 3 and held.webhook_id == event_ids[0]

    got = receiver.wait_for(lambda got: len(got) >= 4, what="worker B's deliveries")
    release.set()
    redelivered = got[1]
    assert [record.webhook_id for record in got] == [event_ids[0], *event_ids], \
        "B sends the killed delivery again (same webhook-id), then the rest, in order"
    assert redelivered.body == held.body
    # A renewed its lease (3 s) just before its request: B may send it again only once that ran out
    assert redelivered.arrived_utc >= leased_until, (
        f"sent again at {redelivered.arrived_utc}, before A's lease ran out at {leased_until}")
    assert redelivered.arrived - killed_at < 10

    found = wait_for_deliveries(client, alice, endpoint, all_delivered, what="all delivered")
    assert [delivery["event_id"] for delivery in found] == event_ids, "nothing lost, nothing added"
    for delivery in found:  # A died before recording anything; B's one attempt each succeeded
        assert [attempt["status_code"] for attempt in delivery["attempts"]] == [204], delivery
        assert delivery["next_attempt_at"] is None

    b.process.send_signal(signal.SIGTERM)
    assert b.wait_exit(10) == 0
    time.sleep(0.3)
    assert len(receiver.received) == 4, "nothing sent a third time"


# 2. two workers, 500 deliveries, each exactly once: on PostgreSQL the claim skips locked rows (FOR UPDATE SKIP
# LOCKED); on SQLite the same claim works because its writers take turns

ENDPOINTS, CHANGES = 5, 100


def test_two_workers_deliver_500_events_exactly_once_each(
        app, client, alice, customer, receiver, workers):
    endpoints = [add_endpoint(client, alice, receiver.url(f"/e{index}"), events=["entry.created"])
                 for index in range(ENDPOINTS)]
    settings = {"WEBHOOKS_TIMEOUT_SECONDS": 5, "WEBHOOKS_LEASE_SECONDS": 10,
                "WEBHOOKS_CONCURRENCY": 2}  # 2 endpoints at a time each: 5 endpoints need both
    pair = [workers.start(**settings), workers.start(**settings)]
    for worker in pair:
        worker.wait_started()

    owners, sampling = set(), threading.Event()
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])

    def sample_lease_owners():
        with engine.connect() as connection:
            while not sampling.is_set():
                owners.update(connection.execute(text(
                    "SELECT lease_owner FROM webhook_endpoints WHERE lease_owner IS NOT NULL")).scalars())
                connection.rollback()
                sampling.wait(0.02)

    sampler = threading.Thread(target=sample_lease_owners, daemon=True)
    sampler.start()
    total = ENDPOINTS * CHANGES
    try:
        started = time.monotonic()
        # 100 changes in one transaction while both workers poll: 5 x 100 deliveries at once
        items = [{"customer": customer, "key": f"k{n}", "value": f"v{n}"} for n in range(CHANGES)]
        response = client.post("/api/message/customer-data/bulk-upsert/", json={"items": items},
                               headers=alice.headers)
        assert response.status_code == 200 and response.get_json()["created"] == CHANGES, response.get_json()
        receiver.wait_for(lambda got: len(got) >= total, timeout=40, what=f"{total} deliveries")
        elapsed = time.monotonic() - started
        time.sleep(0.5)  # a duplicate sent late would show up now
    finally:
        sampling.set()
        sampler.join(5)
        engine.dispose()

    assert len(receiver.received) == total, f"{len(receiver.received) - total} more requests than deliveries"
    events = None
    for index, endpoint in enumerate(endpoints):
        found = deliveries(client, alice, endpoint)
        expected = [delivery["event_id"] for delivery in found]
        assert len(expected) == CHANGES and len(set(expected)) == CHANGES
        assert events is None or expected == events, "one event per change, the same for every endpoint"
        events = expected
        got = [record.webhook_id for record in receiver.at(f"/e{index}")]
        duplicates = sorted({event for event in got if got.count(event) > 1})
        assert not duplicates, f"endpoint {index}: sent twice: {duplicates}"
        assert sorted(got) == sorted(expected), f"endpoint {index}: missing {set(expected) - set(got)}"
        assert got == expected, f"endpoint {index}: not in change order"
        assert all(record.status == 204 for record in receiver.at(f"/e{index}"))
        not_delivered = [(d["id"], d["status"], d["attempts"]) for d in found
                         if d["status"] != "delivered" or len(d["attempts"]) != 1]
        assert not not_delivered, f"endpoint {index}: {not_delivered[:5]}"
    assert {pair[0].name, pair[1].name} <= owners, f"both workers should have served endpoints: {owners}"
    print(f"\n{total} deliveries by two workers in {elapsed:.2f}s")

    for worker in pair:
        worker.process.send_signal(signal.SIGTERM)
    for worker in pair:
        assert worker.wait_exit(10) == 0, worker.log()


# 3. a hanging endpoint does not hold up another

def test_an_endpoint_that_hangs_does_not_delay_another_endpoints_deliveries(
        app, client, alice, bob, receiver, workers):
    x = add_endpoint(client, alice, receiver.url("/x"), events=["entry.created"])
    y = add_endpoint(client, bob, receiver.url("/y"), events=["entry.created"])
    add_entry(client, alice, add_customer(client, alice), "for-x")
    bobs_customer = add_customer(client, bob)

    release_x = threading.Event()
    receiver.script("/x", receiver.hold(release_x))  # hangs up to 15 s, longer than the 5 s timeout
    worker = workers.start(WEBHOOKS_TIMEOUT_SECONDS=5, WEBHOOKS_LEASE_SECONDS=10).wait_started()
    try:
        hanging = receiver.wait_for(lambda got: len(got) >= 1, what="X's request")[0]
        assert hanging.path == "/x"

        add_entry(client, bob, bobs_customer, "for-y")
        written = time.monotonic()
        receiver.wait_for(lambda got: any(r.path == "/y" for r in got), timeout=5, what="Y's request")
        y_request = receiver.at("/y")[0]
        assert y_request.arrived - written < 1.5, \
            f"Y's delivery came {y_request.arrived - written:.2f}s after its change, while X hung"
        y_found = wait_for_deliveries(client, bob, y, all_delivered, timeout=3, what="Y delivered")
        assert time.monotonic() - written < 3
        assert [attempt["status_code"] for attempt in y_found[0]["attempts"]] == [204]
        assert hanging.answered is None, "X stopped hanging before Y's delivery was recorded"
        x_found = deliveries(client, alice, x)
        assert [(d["status"], d["attempts"]) for d in x_found] == [("pending", [])]
    finally:
        release_x.set()
    x_found = wait_for_deliveries(client, alice, x, all_delivered, what="X delivered once released")
    assert [attempt["status_code"] for attempt in x_found[0]["attempts"]] == [200]

    worker.process.send_signal(signal.SIGTERM)
    assert worker.wait_exit(10) == 0
    assert [record.path for record in receiver.received] == ["/x", "/y"]


# 4. SIGTERM during a delivery

def test_sigterm_lets_the_delivery_in_flight_finish_and_exits(
        app, client, alice, customer, receiver, workers):
    endpoint = add_endpoint(client, alice, receiver.url("/term"), events=["entry.created"])
    add_entry(client, alice, customer, "first")
    add_entry(client, alice, customer, "second")
    first, second = [delivery["event_id"] for delivery in deliveries(client, alice, endpoint)]

    terminated = threading.Event()

    def answer_a_second_after_sigterm(record):
        terminated.wait(HOLD_LIMIT)
        time.sleep(1.0)
        return 200

    receiver.script("/term", answer_a_second_after_sigterm)
    worker = workers.start(WEBHOOKS_TIMEOUT_SECONDS=5, WEBHOOKS_LEASE_SECONDS=30).wait_started()
    in_flight = receiver.wait_for(lambda got: len(got) >= 1, what="the first delivery")[0]
    assert in_flight.webhook_id == first

    worker.process.send_signal(signal.SIGTERM)
    sent_at = time.monotonic()
    terminated.set()
    assert worker.wait_exit(6) == 0, worker.log()
    exited_at = time.monotonic()
    receiver.wait_for(lambda got: in_flight.answered is not None, timeout=2, what="the answer in flight")
    assert in_flight.status == 200, "the delivery in flight was cut off"
    assert exited_at - sent_at < 5, f"exited {exited_at - sent_at:.2f}s after SIGTERM"
    assert [record.webhook_id for record in receiver.received] == [first], "nothing new starts after SIGTERM"

    found = deliveries(client, alice, endpoint)
    assert [(d["event_id"], d["status"]) for d in found] == [(first, "delivered"), (second, "pending")]
    assert [attempt["status_code"] for attempt in found[0]["attempts"]] == [200]
    assert found[1]["attempts"] == []
    assert lease_of(app, endpoint) == (None, None), "the lease is given back on the way out"

    # a later worker sends what was left, not the delivery finished in flight
    result = workers.run("--once", WEBHOOKS_TIMEOUT_SECONDS=5, WEBHOOKS_LEASE_SECONDS=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Made 1 delivery attempt(s)." in result.stdout
    assert [record.webhook_id for record in receiver.received] == [first, second]
    assert all_delivered(deliveries(client, alice, endpoint))


# 5. a lease not above the timeout is refused

@pytest.mark.parametrize("lease, timeout, args", [(5, 5, ()), (3, 5, ("--once",))])
def test_the_worker_refuses_a_lease_not_above_the_delivery_timeout(
        app, client, alice, customer, receiver, workers, lease, timeout, args):
    add_endpoint(client, alice, receiver.url("/refused"))
    add_entry(client, alice, customer, "due")
    result = workers.run(*args, timeout=30, WEBHOOKS_TIMEOUT_SECONDS=timeout, WEBHOOKS_LEASE_SECONDS=lease)
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "WEBHOOKS_LEASE_SECONDS" in lines[0] and "WEBHOOKS_TIMEOUT_SECONDS" in lines[0], lines
    assert f"({lease})" in lines[0] and f"({timeout})" in lines[0], lines
    assert "Traceback" not in result.stderr
    time.sleep(0.2)
    assert receiver.received == [], "a refused worker sends nothing"


# 6. --once

def test_once_sends_what_is_due_and_exits(app, client, alice, bob, customer, receiver, workers):
    a = add_endpoint(client, alice, receiver.url("/alice"), events=["entry.created", "entry.updated"])
    b = add_endpoint(client, bob, receiver.url("/bob"), events=["customer.created"])
    entry = add_entry(client, alice, customer, "colour", "red")
    response = client.patch(f"/api/message/customer-data/{entry}/", json={"value": "blue"},
                            headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    add_customer(client, bob)
    queued = client.post(f"/api/webhooks/endpoints/{b['id']}/test/", headers=bob.headers)
    assert queued.status_code == 202, queued.get_json()
    later = queued.get_json()["delivery"]
    with app.app_context():  # as if waiting for a retry in an hour: not due
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == later).values(
            next_attempt_at=datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=1)))
        db.session.commit()

    started = time.monotonic()
    result = workers.run("--once", timeout=30, WEBHOOKS_TIMEOUT_SECONDS=5, WEBHOOKS_LEASE_SECONDS=10)
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "Made 3 delivery attempt(s).", result.stdout
    assert took < 15

    alice_found, (*bob_found, not_due) = deliveries(client, alice, a), deliveries(client, bob, b)
    assert all_delivered(alice_found) and all_delivered(bob_found)
    assert (not_due["id"], not_due["status"], not_due["attempts"]) == (later, "pending", [])
    assert not_due["type"] == "webhook.test"
    assert [d["type"] for d in alice_found] == ["entry.created", "entry.updated"]
    assert [d["type"] for d in bob_found] == ["customer.created"]
    assert [record.webhook_id for record in receiver.at("/alice")] == [d["event_id"] for d in alice_found]
    assert [record.webhook_id for record in receiver.at("/bob")] == [d["event_id"] for d in bob_found]
    secret = {"/alice": a["secret"], "/bob": b["secret"]}
    for record in receiver.received:
        payload = Webhook(secret[record.path]).verify(record.body, record.headers)
        assert payload["data"]["change"]["id"] is not None
    assert [Webhook(a["secret"]).verify(r.body, r.headers)["data"]["change"]["data"]["value"]
            for r in receiver.at("/alice")] == ["red", "blue"]

    for endpoint in (a, b):  # given back: the next worker (or --once) finds them free
        assert lease_of(app, endpoint) == (None, None)
