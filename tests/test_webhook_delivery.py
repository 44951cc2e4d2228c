"""Webhook deliveries as a receiver sees them (shared/spec/webhooks.md "Deliveries" and "Never a door into
the network behind the service"), in-process through `delivery.deliver_due(now)` with a fake clock: the
outbox (rollback sends nothing, commit one per subscribed endpoint with the feed's change), Standard
Webhooks signatures and rotation, the retry schedule, Retry-After, 410, 3xx, timeouts and broken
receivers, auto-disable and re-enable, redelivery, long values, erasure, SSRF at delivery time, the
write path's statements and `flask webhooks purge`. (The worker process and the endpoints API have
their own test modules.)"""
import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from feed_visibility import settle
from pytest_httpserver import HTTPServer
from sqlalchemy import select, update
from standardwebhooks import Webhook, WebhookVerificationError
from test_performance_guards import count_statements
from werkzeug import Response

from customerdata.extensions import db
from customerdata.models import WebhookAttempt, WebhookDelivery, utcnow
from customerdata.webhooks import delivery, destinations

ENDPOINTS = "/api/webhooks/endpoints/"
CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
BULK = "/api/message/customer-data/bulk-upsert/"
FEED = "/api/message/changes/"
# the contract's schedule: after the 1st … 7th failed attempt; the 8th failure is final
SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
TIMEOUT = 1
PUBLIC = "93.184.216.34"  # what a public name resolves to in these tests (never connected to)


@pytest.fixture
def app_config(app_config):
    app_config.update(WEBHOOKS_ALLOW_PRIVATE=True, WEBHOOKS_ALLOW_HTTP=True, WEBHOOKS_TIMEOUT_SECONDS=TIMEOUT)
    return app_config


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch):
    """Users are registered through the API as everywhere; their password hashes need not cost a third of a
    second each here (nothing in this module is about passwords)."""
    from functools import partial

    from werkzeug.security import generate_password_hash

    from customerdata.accounts import service

    cheap = partial(generate_password_hash, method="pbkdf2:sha256:1")
    monkeypatch.setattr(service, "generate_password_hash", cheap)


# Helpers

def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def parse_time(text):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text), text
    return datetime.fromisoformat(text.removesuffix("Z"))


def later(**delta):
    """A fake 'now' ahead of the real clock (deliveries are due from the moment of their change)."""
    return utcnow() + timedelta(seconds=1, **delta)


def deliver(app, now=None):
    """Serve every due endpoint once, in-process; the number of attempts made."""
    with app.app_context():
        return delivery.deliver_due(now)


def register(client, user, url, events=("*",), **fields):
    body = {"url": url, "events": list(events), **fields}
    return ok(client.post(ENDPOINTS, json=body, headers=user.headers), 201)


def endpoint_of(client, user, endpoint):
    return ok(client.get(f"{ENDPOINTS}{endpoint['id']}/", headers=user.headers))


def deliveries(client, user, endpoint, **params):
    path = f"{ENDPOINTS}{endpoint['id']}/deliveries/"
    return ok(client.get(path, headers=user.headers, query_string=params))


def make_customer(client, user, **fields):
    return ok(client.post(CUSTOMERS, json=fields or {"first_name": "Ann"}, headers=user.headers), 201)


def make_entry(client, user, customer_id, key="plan", value="pro"):
    return ok(client.post(ENTRIES, json={"customer": customer_id, "key": key, "value": value},
                          headers=user.headers), 201)


def feed_cursor(client, user):
    """The feed's Link after `?after=latest`: following it later answers the changes made since."""
    settle(client)
    response = client.get(FEED, headers=user.headers, query_string={"after": "latest"})
    assert ok(response) == []
    link = response.headers["Link"]
    match = re.match(r"^<http://localhost(/api/message/changes/\?[^>]+)>; rel=\"next\"$", link)
    assert match, response.headers["Link"]
    return match.group(1)


def changes_since(client, user, cursor):
    settle(client)
    return ok(client.get(cursor, headers=user.headers))


class Receiver:
    """A local HTTP receiver (pytest-httpserver) answering every POST as `status`, `headers`, `body` say."""

    def __init__(self, server):
        self.server = server
        self.status, self.headers, self.body = 204, {}, ""
        server.expect_request(re.compile("^/"), method="POST").respond_with_handler(self._answer)

    def _answer(self, request):
        return Response(self.body, status=self.status, headers=self.headers)

    def url(self, path="/hook"):
        return self.server.url_for(path)

    def requests(self, path=None):
        return [request for request, _ in self.server.log if path is None or request.path == path]

    def events(self, path=None):
        return [json.loads(request.get_data()) for request in self.requests(path)]


@pytest.fixture
def receiver(httpserver):
    return Receiver(httpserver)


@pytest.fixture
def other_server():
    """A second local HTTP server (a redirect's target): it must get nothing."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request(re.compile("^/")).respond_with_data("reached")
    server.start()
    yield server
    server.clear()
    server.stop()


@contextmanager
def raw_server(answer):
    """A TCP server on 127.0.0.1 whose every connection is handed to `answer(connection)`; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    def handle(connection):
        with connection:
            try:
                answer(connection, stop)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def read_request(connection):
    """Read what arrives for a moment (the request), so that answering does not reset the connection."""
    connection.settimeout(0.3)
    try:
        connection.recv(65536)
    except OSError:
        pass


def the_attempts(client, user, endpoint):
    (only,) = deliveries(client, user, endpoint)
    return only, only["attempts"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Rollback sends nothing

@pytest.fixture
def typed_age(client, alice):
    ok(client.post(KEYS, json={"key": "age", "type": "integer"}, headers=alice.headers), 201)


@pytest.mark.parametrize("refused", [
    pytest.param(lambda client, alice, customer, entry: client.post(
        ENTRIES, json={"customer": customer, "key": "age", "value": "old"}, headers=alice.headers),
        id="typed-key"),
    pytest.param(lambda client, alice, customer, entry: client.post(
        ENTRIES, json={"customer": customer, "key": "plan", "value": "again"}, headers=alice.headers),
        id="duplicate-key"),
    pytest.param(lambda client, alice, customer, entry: client.post(BULK, json={"atomic": True, "items": [
        {"customer": customer, "key": "city", "value": "Berlin"},
        {"customer": customer, "key": "age", "value": "old"}]}, headers=alice.headers), id="atomic-bulk"),
    pytest.param(lambda client, alice, customer, entry: client.put(
        f"{ENTRIES}{entry}/", json={"key": "age", "value": "x"}, headers=alice.headers),
        id="typed-key-update"),
])
def test_a_refused_write_sends_nothing(app, client, alice, customer, receiver, typed_age, refused):
    entry = make_entry(client, alice, customer, "plan", "pro")
    endpoint = register(client, alice, receiver.url())
    response = refused(client, alice, customer, entry["id"])
    assert response.status_code == 400, response.get_json()
    assert deliveries(client, alice, endpoint) == []
    assert deliver(app, later(days=1)) == 0
    assert receiver.requests() == []
    # the same endpoint does get a write that commits
    make_entry(client, alice, customer, "city", "Berlin")
    assert deliver(app) == 1
    assert [event["type"] for event in receiver.events()] == ["entry.created"]


@pytest.mark.parametrize(("write", "failing"), [
    ("create", "COMMIT"), ("create", "INSERT INTO webhook_deliveries"), ("update", "COMMIT"),
    ("delete", "COMMIT"),
])
def test_a_database_failure_mid_transaction_leaves_no_delivery(app, client, alice, customer, receiver,
                                                              monkeypatch, database_fails_on, write, failing):
    entry = make_entry(client, alice, customer)
    endpoint = register(client, alice, receiver.url())
    database_fails_on(failing)
    if write == "create":
        response = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"},
                               headers=alice.headers)
    elif write == "update":
        response = client.put(f"{ENTRIES}{entry['id']}/", json={"value": "new"}, headers=alice.headers)
    else:
        response = client.delete(f"{ENTRIES}{entry['id']}/", headers=alice.headers)
    monkeypatch.undo()
    assert response.status_code == 500, response.get_json()
    assert response.get_json() == {"detail": "Internal server error."}
    assert ok(client.get(ENTRIES, headers=alice.headers)) == [entry]
    assert deliveries(client, alice, endpoint) == []
    assert deliver(app, later(days=1)) == 0
    assert receiver.requests() == []


def test_a_failure_after_the_outbox_insert_of_a_session_write_rolls_it_back(app, client, alice, receiver,
                                                                            monkeypatch):
    """Customer writes record their change and deliveries in the ORM session: a failure after both
    were written (at commit) leaves neither."""
    from customerdata.message import changes

    endpoint = register(client, alice, receiver.url())
    record = changes.record_in_session

    def then_fail(rows):
        record(rows)
        db.session.flush()
        raise RuntimeError("database went away")

    monkeypatch.setattr(changes, "record_in_session", then_fail)
    response = client.post(CUSTOMERS, json={"first_name": "Ann"}, headers=alice.headers)
    monkeypatch.undo()
    assert response.status_code == 500
    assert ok(client.get(CUSTOMERS, headers=alice.headers)) == []
    assert deliveries(client, alice, endpoint) == []
    assert deliver(app, later(days=1)) == 0
    assert receiver.requests() == []


# Commit sends exactly one per subscribed endpoint, with the feed's change

def _entry_create(client, alice, ids):
    make_entry(client, alice, ids["customer"], "city", "Berlin")


def _entry_update(client, alice, ids):
    ok(client.patch(f"{ENTRIES}{ids['entry']}/", json={"value": "basic"}, headers=alice.headers))


def _entry_delete(client, alice, ids):
    ok(client.delete(f"{ENTRIES}{ids['entry']}/", headers=alice.headers))


def _customer_create(client, alice, ids):
    make_customer(client, alice, first_name="Bea", email="bea@example.com")


def _customer_update(client, alice, ids):
    ok(client.patch(f"{CUSTOMERS}{ids['customer']}/", json={"last_name": "Doe"}, headers=alice.headers))


def _customer_delete(client, alice, ids):
    ok(client.delete(f"{CUSTOMERS}{ids['customer']}/", headers=alice.headers))


def _data_key_create(client, alice, ids):
    ok(client.post(KEYS, json={"key": "age", "type": "integer"}, headers=alice.headers), 201)


def _bulk_upsert(client, alice, ids):
    ok(client.post(BULK, json={"items": [
        {"customer": ids["customer"], "key": "city", "value": "Paris"},
        {"customer": ids["customer"], "key": "plan", "value": "basic"},
        {"customer": ids["customer"], "key": "zip", "value": "75001"}]}, headers=alice.headers))


def test_a_definitions_rewrite_sends_one_delivery_per_rewritten_value(app, client, alice, receiver, monkeypatch):
    """Its changes are written a chunk at a time, their ids read back for the outbox (changes.py)."""
    from customerdata.message import changes

    monkeypatch.setattr(changes, "CHUNK", 2)
    for value in ("+1", "2", "03", "+4", "05"):
        make_entry(client, alice, make_customer(client, alice)["id"], "n", value)
    endpoint = register(client, alice, receiver.url(), ["entry.updated"])
    cursor = feed_cursor(client, alice)
    ok(client.post(KEYS, json={"key": "n", "type": "integer"}, headers=alice.headers), 201)
    fed = [change for change in changes_since(client, alice, cursor) if change["kind"] == "entry.updated"]
    assert [change["changes"]["value"]["to"] for change in fed] == ["1", "3", "4", "5"]
    queued = deliveries(client, alice, endpoint, limit=100)
    assert sorted(delivery["event_id"] for delivery in queued) == sorted(f"evt_{change['id']}" for change in fed)
    assert deliver(app) == 4
    assert deliver(app, later(days=1)) == 0


@pytest.mark.parametrize(("write", "kinds"), [
    (_entry_create, ["entry.created"]),
    (_entry_update, ["entry.updated"]),
    (_entry_delete, ["entry.deleted"]),
    (_customer_create, ["customer.created"]),
    (_customer_update, ["customer.updated"]),
    (_customer_delete, ["customer.deleted"]),
    (_data_key_create, ["data_key.created"]),
    (_bulk_upsert, ["entry.created", "entry.updated", "entry.created"]),
], ids=lambda value: value.__name__.strip("_") if callable(value) else None)
def test_a_commit_sends_one_delivery_per_subscribed_endpoint_with_the_feeds_change(
        app, client, alice, bob, customer, receiver, write, kinds):
    entry = make_entry(client, alice, customer, "plan", "pro")
    every = register(client, alice, receiver.url("/every"), ["*"])
    created = register(client, alice, receiver.url("/created"), ["entry.created"])
    other = register(client, alice, receiver.url("/other"), ["data_key.deleted", "customer.updated"]
                     if "customer.updated" not in kinds else ["data_key.deleted"])
    register(client, bob, receiver.url("/bob"), ["*"])  # another user's endpoint gets none of alice's changes
    cursor = feed_cursor(client, alice)

    write(client, alice, {"customer": customer, "entry": entry["id"]})
    fed = changes_since(client, alice, cursor)
    assert sorted(change["kind"] for change in fed) == sorted(kinds)
    kinds = [change["kind"] for change in fed]  # in the feed's order, which deliveries keep
    sent_to_created = [change for change in fed if change["kind"] == "entry.created"]
    assert deliver(app) == len(fed) + len(sent_to_created)
    assert deliver(app, later(days=1)) == 0  # each exactly once

    every_events = receiver.events("/every")
    assert [event["data"] for event in every_events] == [{"change": change} for change in fed]
    assert [event["type"] for event in every_events] == kinds
    for event, change in zip(every_events, fed):
        assert set(event) == {"type", "timestamp", "data"}
        assert abs(parse_time(event["timestamp"]) - parse_time(change["at"])) < timedelta(seconds=5)
    assert [event["data"] for event in receiver.events("/created")] == [
        {"change": change} for change in sent_to_created]
    assert receiver.requests("/other") == [] and receiver.requests("/bob") == []
    # one webhook-id per change, the same for every endpoint
    ids = [request.headers["webhook-id"] for request in receiver.requests("/every")]
    assert len(set(ids)) == len(ids)
    assert [request.headers["webhook-id"] for request in receiver.requests("/created")] == [
        webhook_id for webhook_id, change in zip(ids, fed) if change["kind"] == "entry.created"]
    for request in receiver.requests():
        assert request.headers["Content-Type"] == "application/json"
    log = deliveries(client, alice, every)
    assert [(d["type"], d["status"], d["next_attempt_at"]) for d in log] == [
        (kind, "delivered", None) for kind in reversed(kinds)]  # newest first
    assert [d["event_id"] for d in log] == ids[::-1]
    assert all(len(d["attempts"]) == 1 and d["attempts"][0]["status_code"] == 204 for d in log)
    assert len(deliveries(client, alice, created)) == len(sent_to_created)
    assert deliveries(client, alice, other) == []


def test_a_disabled_endpoint_gets_no_delivery(app, client, alice, customer, receiver):
    register(client, alice, receiver.url("/off"), enabled=False)
    on = register(client, alice, receiver.url("/on"))
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    assert len(receiver.requests("/on")) == 1 and receiver.requests("/off") == []
    assert len(deliveries(client, alice, on)) == 1


def test_a_test_event_is_delivered_with_a_null_change(app, client, alice, receiver):
    endpoint = register(client, alice, receiver.url(), ["data_key.deleted"])
    queued = ok(client.post(f"{ENDPOINTS}{endpoint['id']}/test/", headers=alice.headers), 202)
    assert deliver(app) == 1
    (event,) = receiver.events()
    assert event["type"] == "webhook.test" and event["data"] == {"change": None}
    parse_time(event["timestamp"])
    (request,) = receiver.requests()
    Webhook(endpoint["secret"]).verify(request.get_data(), dict(request.headers))
    assert [(d["id"], d["status"]) for d in deliveries(client, alice, endpoint)] == [
        (queued["delivery"], "delivered")]


# Signatures

def test_deliveries_verify_with_the_reference_library_and_a_tampered_body_does_not(
        app, client, alice, customer, receiver):
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    (request,) = receiver.requests()
    body, headers = request.get_data(), dict(request.headers)
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["Webhook-Signature"])  # one signature
    assert abs(int(headers["Webhook-Timestamp"]) - time.time()) < 60
    assert Webhook(endpoint["secret"]).verify(body, headers) == json.loads(body)
    for tampered_body, tampered_headers in (
            (body.replace(b'"pro"', b'"max"'), headers),
            (body + b" ", headers),
            (body, {**headers, "Webhook-Id": headers["Webhook-Id"] + "0"}),
            (body, {**headers, "Webhook-Timestamp": str(int(headers["Webhook-Timestamp"]) + 1)})):
        with pytest.raises(WebhookVerificationError):
            Webhook(endpoint["secret"]).verify(tampered_body, tampered_headers)
    other_secret = register(client, alice, receiver.url("/other"), ["data_key.deleted"])["secret"]
    with pytest.raises(WebhookVerificationError):
        Webhook(other_secret).verify(body, headers)
    # the secret is nowhere in the delivery log
    assert endpoint["secret"] not in json.dumps(deliveries(client, alice, endpoint))


def test_during_a_rotation_both_secrets_verify_and_after_24_hours_only_the_new_one(
        app, client, alice, customer, receiver):
    endpoint = register(client, alice, receiver.url())
    old = endpoint["secret"]
    rotated = ok(client.post(f"{ENDPOINTS}{endpoint['id']}/rotate-secret/", headers=alice.headers))
    new = rotated["secret"]
    assert new != old and re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", new)

    make_entry(client, alice, customer, "a")
    assert deliver(app) == 1
    (during,) = receiver.requests()
    signatures = during.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (old, new):
        assert Webhook(secret).verify(during.get_data(), dict(during.headers))["type"] == "entry.created"

    make_entry(client, alice, customer, "b")
    assert deliver(app, later(hours=24, minutes=1)) == 1
    after = receiver.requests()[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert Webhook(new).verify(after.get_data(), dict(after.headers))["data"]["change"]["data"]["key"] == "b"
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.get_data(), dict(after.headers))


# The retry schedule (fake clock)

def test_a_failing_receiver_is_retried_on_the_schedule_then_the_delivery_fails(app, client, alice, customer,
                                                                               receiver):
    receiver.status, receiver.body = 500, "try later"
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    now = later()
    assert deliver(app, now) == 1
    for failed, delay in enumerate(SCHEDULE, start=1):
        found, attempts = the_attempts(client, alice, endpoint)
        assert found["status"] == "pending"
        assert len(attempts) == failed
        assert parse_time(attempts[-1]["at"]) == now
        assert (attempts[-1]["status_code"], attempts[-1]["response"]) == (500, "try later")
        due = parse_time(found["next_attempt_at"])
        assert delay * 0.9 <= (due - now).total_seconds() <= delay * 1.1, (failed, due - now)
        # not sent before it is due
        assert deliver(app, due - timedelta(seconds=1)) == 0
        assert len(receiver.requests()) == failed
        now = due
        assert deliver(app, now) == 1
    found, attempts = the_attempts(client, alice, endpoint)
    assert (found["status"], found["next_attempt_at"], len(attempts)) == ("failed", None, 8)
    assert deliver(app, now + timedelta(days=1)) == 0
    requests = receiver.requests()
    assert len(requests) == 8
    assert len({request.headers["webhook-id"] for request in requests}) == 1  # the same event every time
    assert len({request.get_data() for request in requests}) == 1
    assert deliveries(client, alice, endpoint, status="failed") == [found]
    assert deliveries(client, alice, endpoint, status="pending") == []
    assert endpoint_of(client, alice, endpoint)["enabled"] is True  # about 28 hours of failures, not 3 days


def test_retries_are_jittered(app, client, alice, customer, receiver):
    receiver.status = 503
    endpoint = register(client, alice, receiver.url())
    for n in range(6):
        make_entry(client, alice, customer, f"k{n}")
    now = later()
    assert deliver(app, now) == 6
    delays = {(parse_time(found["next_attempt_at"]) - now).total_seconds()
              for found in deliveries(client, alice, endpoint)}
    assert all(4.5 <= delay <= 5.5 for delay in delays), delays
    assert len(delays) > 1, delays


@pytest.mark.parametrize(("status", "retry_after", "at_least"), [
    (429, "120", 120), (503, "120", 120), (429, "3600", 3600),
    (429, lambda now: format_datetime(now + timedelta(seconds=600), usegmt=True), 600),
])
def test_retry_after_on_429_and_503_is_honoured(app, client, alice, customer, receiver, status, retry_after,
                                                at_least):
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    now = later(milliseconds=1500).replace(microsecond=0)
    receiver.status = status
    receiver.headers = {"Retry-After": retry_after(now.replace(tzinfo=UTC))
                        if callable(retry_after) else retry_after}
    assert deliver(app, now) == 1
    found, _ = the_attempts(client, alice, endpoint)
    due = parse_time(found["next_attempt_at"])
    assert at_least <= (due - now).total_seconds() <= at_least * 1.1 + 1
    assert deliver(app, now + timedelta(seconds=at_least - 1)) == 0
    assert len(receiver.requests()) == 1
    receiver.status, receiver.headers = 200, {}
    assert deliver(app, due) == 1
    assert the_attempts(client, alice, endpoint)[0]["status"] == "delivered"


def test_a_success_after_failures_delivers_and_the_next_change_goes_out_at_once(app, client, alice, customer,
                                                                                 receiver):
    receiver.status = 500
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer, "a")
    now = later()
    assert deliver(app, now) == 1
    receiver.status = 200
    assert deliver(app, now + timedelta(seconds=6)) == 1
    found, attempts = the_attempts(client, alice, endpoint)
    assert (found["status"], found["next_attempt_at"]) == ("delivered", None)
    assert [a["status_code"] for a in attempts] == [500, 200]


# Answers that are not a success

def test_410_gone_fails_the_delivery_and_disables_the_endpoint(app, client, alice, customer, receiver):
    receiver.status = 410
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer, "a")
    make_entry(client, alice, customer, "b")
    assert deliver(app) == 1  # the second is not sent to a gone endpoint
    assert len(receiver.requests()) == 1
    now_off = endpoint_of(client, alice, endpoint)
    assert now_off["enabled"] is False
    assert isinstance(now_off["disabled_reason"], str) and "410" in now_off["disabled_reason"]
    second, first = deliveries(client, alice, endpoint)
    assert (first["status"], first["next_attempt_at"]) == ("failed", None)
    assert [a["status_code"] for a in first["attempts"]] == [410]
    assert (second["status"], second["attempts"]) == ("pending", [])
    assert deliver(app, later(days=2)) == 0
    assert len(receiver.requests()) == 1


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_redirect_is_a_failure_and_is_not_followed(app, client, alice, customer, receiver, other_server,
                                                     status):
    receiver.status, receiver.headers = status, {"Location": other_server.url_for("/elsewhere")}
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    now = later()
    assert deliver(app, now) == 1
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert attempt["status_code"] == status
    assert found["status"] == "pending"
    assert 4.5 <= (parse_time(found["next_attempt_at"]) - now).total_seconds() <= 5.5
    assert len(receiver.requests()) == 1
    assert other_server.log == []


def _never_answers(connection, stop):
    read_request(connection)
    stop.wait(5)


def _trickles(connection, stop):
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\n")
    while not stop.wait(0.1):
        connection.sendall(b"X-Slow: 1\r\n")


@pytest.mark.parametrize("answer", [_never_answers, _trickles], ids=["silent", "trickling"])
def test_a_receiver_slower_than_the_timeout_costs_the_timeout(app, client, alice, customer, answer):
    with raw_server(answer) as port:
        endpoint = register(client, alice, f"http://127.0.0.1:{port}/hook")
        make_entry(client, alice, customer)
        started = time.monotonic()
        assert deliver(app) == 1
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 1.5, elapsed
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert attempt["status_code"] is None
    assert isinstance(attempt["error"], str) and attempt["error"]
    assert TIMEOUT * 1000 * 0.9 <= attempt["duration_ms"] <= TIMEOUT * 1000 + 1000, attempt
    assert found["status"] == "pending" and found["next_attempt_at"] is not None


def test_a_refused_connection_is_a_failure(app, client, alice, customer):
    endpoint = register(client, alice, f"http://127.0.0.1:{free_port()}/hook")
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert (attempt["status_code"], attempt["response"]) == (None, "")
    assert isinstance(attempt["error"], str) and attempt["error"]
    assert attempt["duration_ms"] < 1000
    assert found["status"] == "pending"


@pytest.mark.parametrize("status", [200, 500])
def test_only_the_first_1024_bytes_of_an_answer_are_kept(app, client, alice, customer, receiver, status):
    receiver.status, receiver.body = status, "a" * 1000 + "b" * 3000
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert attempt["response"] == "a" * 1000 + "b" * 24
    assert attempt["status_code"] == status
    assert found["status"] == ("delivered" if status == 200 else "pending")


@pytest.mark.parametrize("status", [200, 500])
def test_an_answer_with_nul_bytes_is_recorded_not_a_crash(app, client, alice, customer, receiver, status):
    receiver.status, receiver.body = status, b"ok\x00\x00done"
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert attempt["status_code"] == status
    assert attempt["response"].startswith("ok") and attempt["response"].endswith("done")
    assert found["status"] == ("delivered" if status == 200 else "pending")


def _endless_body(connection, stop):
    read_request(connection)
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n")
    chunk = b"z" * 65536
    while not stop.is_set():
        connection.sendall(chunk)


def test_a_1_gb_answer_costs_1024_bytes(app, client, alice, customer):
    with raw_server(_endless_body) as port:
        endpoint = register(client, alice, f"http://127.0.0.1:{port}/hook")
        make_entry(client, alice, customer)
        started = time.monotonic()
        assert deliver(app) == 1
        elapsed = time.monotonic() - started
    assert elapsed < TIMEOUT + 0.5, elapsed  # and a reader of the whole body would have timed out (below)
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert (attempt["status_code"], attempt["response"], found["status"]) == (200, "z" * 1024, "delivered")


@pytest.mark.parametrize("garbage", [
    b"garbage\r\n\r\n", b"\x00\xff\xfe\x01" * 100, b"", b"HTTP/1.1 abc Nope\r\n\r\n",
    b"SSH-2.0-OpenSSH_9.6\r\n",
], ids=["text", "binary", "closed", "bad-status", "ssh"])
def test_a_garbage_answer_is_a_failure_not_a_crash(app, client, alice, customer, garbage):
    def answer(connection, stop):
        read_request(connection)
        connection.sendall(garbage)

    with raw_server(answer) as port:
        endpoint = register(client, alice, f"http://127.0.0.1:{port}/hook")
        make_entry(client, alice, customer)
        assert deliver(app) == 1
    found, (attempt,) = the_attempts(client, alice, endpoint)
    assert attempt["status_code"] is None
    assert isinstance(attempt["error"], str) and attempt["error"]
    assert found["status"] == "pending"


# Auto-disable after 3 days of failures, and enabling again

def test_three_days_of_failures_disable_the_endpoint_and_enabling_resumes_it(app, client, alice, customer,
                                                                             receiver):
    receiver.status = 500
    endpoint = register(client, alice, receiver.url())
    made = [make_entry(client, alice, customer, "k0")]
    t0 = later()
    assert deliver(app, t0) == 1
    offsets = (timedelta(days=1), timedelta(days=2), timedelta(days=3, hours=-1))
    for day, offset in enumerate(offsets, start=1):
        made.append(make_entry(client, alice, customer, f"k{day}"))
        assert deliver(app, t0 + offset) == day + 1  # every pending delivery fails again
        assert endpoint_of(client, alice, endpoint)["enabled"] is True
    assert deliver(app, t0 + timedelta(days=3, minutes=1)) >= 1
    disabled = endpoint_of(client, alice, endpoint)
    assert disabled["enabled"] is False
    assert isinstance(disabled["disabled_reason"], str) and disabled["disabled_reason"]
    pending = deliveries(client, alice, endpoint, status="pending")
    assert len(pending) == 4
    assert deliver(app, t0 + timedelta(days=5)) == 0  # nothing goes to a disabled endpoint

    while_off = make_entry(client, alice, customer, "while-off")
    assert len(deliveries(client, alice, endpoint)) == 4

    enabled = ok(client.patch(f"{ENDPOINTS}{endpoint['id']}/", json={"enabled": True}, headers=alice.headers))
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    assert endpoint_of(client, alice, endpoint) == enabled
    receiver.status = 200
    receiver.server.clear_log()
    assert deliver(app, t0 + timedelta(days=5)) == 4
    assert sorted(event["data"]["change"]["entry"] for event in receiver.events()) == [e["id"] for e in made]
    assert all(d["status"] == "delivered" for d in deliveries(client, alice, endpoint))
    # the change made while it was off is never sent; the next one is
    after = make_entry(client, alice, customer, "after")
    assert deliver(app, t0 + timedelta(days=5)) == 1
    sent = [event["data"]["change"]["entry"] for event in receiver.events()]
    assert while_off["id"] not in sent and sent[-1] == after["id"]
    assert endpoint_of(client, alice, endpoint)["enabled"] is True


def test_a_success_restarts_the_three_days(app, client, alice, customer, receiver):
    receiver.status = 500
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer, "k0")
    t0 = later()
    assert deliver(app, t0) == 1
    receiver.status = 200
    make_entry(client, alice, customer, "k1")
    assert deliver(app, t0 + timedelta(days=2)) == 2
    receiver.status = 500
    make_entry(client, alice, customer, "k2")
    assert deliver(app, t0 + timedelta(days=2, hours=1)) == 1
    make_entry(client, alice, customer, "k3")
    assert deliver(app, t0 + timedelta(days=3, hours=1)) == 2
    assert endpoint_of(client, alice, endpoint)["enabled"] is True  # failing for 1 day only


# Redelivery

def test_redeliver_sends_the_same_event_with_the_same_webhook_id_and_body(app, client, alice, customer,
                                                                          receiver):
    endpoint = register(client, alice, receiver.url())
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    (first,) = deliveries(client, alice, endpoint)
    queued = ok(client.post(f"{ENDPOINTS}{endpoint['id']}/deliveries/{first['id']}/redeliver/",
                            headers=alice.headers), 202)
    assert set(queued) == {"delivery"} and queued["delivery"] != first["id"]
    assert deliver(app) == 1
    original, again = receiver.requests()
    assert again.headers["webhook-id"] == original.headers["webhook-id"] == first["event_id"]
    assert again.get_data() == original.get_data()
    assert Webhook(endpoint["secret"]).verify(again.get_data(), dict(again.headers))
    log = deliveries(client, alice, endpoint)
    assert [(d["id"], d["event_id"], d["status"]) for d in log] == [
        (queued["delivery"], first["event_id"], "delivered"), (first["id"], first["event_id"], "delivered")]


# Long values

LIMIT = 8192


@pytest.mark.parametrize(("before", "after", "omitted"), [
    (None, "v" * LIMIT, set()),
    (None, "v" * (LIMIT + 1), {"data", "to"}),
    ("short", "v" * (LIMIT + 1), {"data", "to"}),
    ("v" * (LIMIT + 1), "short", {"from"}),
    ("v" * (LIMIT + 1), "w" * (LIMIT + 1), {"data", "from", "to"}),
    ("v" * LIMIT, "w" * LIMIT, set()),
])
def test_a_value_over_8192_characters_is_left_out_of_the_body(app, client, alice, customer, receiver, before,
                                                              after, omitted):
    entry = make_entry(client, alice, customer, "note", before) if before is not None else None
    register(client, alice, receiver.url())
    cursor = feed_cursor(client, alice)
    if entry is None:
        make_entry(client, alice, customer, "note", after)
    else:
        ok(client.patch(f"{ENTRIES}{entry['id']}/", json={"value": after}, headers=alice.headers))
    (change,) = changes_since(client, alice, cursor)
    assert deliver(app) == 1
    (event,) = receiver.events()
    expected = json.loads(json.dumps(change))
    if "data" in omitted:
        expected["data"]["value"] = None
    for side in {"from", "to"} & omitted:
        expected["changes"]["value"][side] = None
    if omitted:
        expected["value_omitted"] = True
    assert event["data"] == {"change": expected}
    assert ("value_omitted" in event["data"]["change"]) == bool(omitted)


# Erasure

def test_deleting_a_customer_drops_its_deliveries_and_attempts_and_delivers_the_tombstone(app, client, alice,
                                                                                          receiver):
    receiver.status = 500
    endpoint = register(client, alice, receiver.url())
    erased = make_customer(client, alice, first_name="Erased")
    make_entry(client, alice, erased["id"], "a", "secret stuff")
    kept = make_customer(client, alice, first_name="Kept")
    kept_entry = make_entry(client, alice, kept["id"], "b")
    now = later()
    assert deliver(app, now) == 4
    before = {d["id"]: d for d in deliveries(client, alice, endpoint)}
    cursor = feed_cursor(client, alice)

    ok(client.delete(f"{CUSTOMERS}{erased['id']}/", headers=alice.headers))
    (tombstone,) = changes_since(client, alice, cursor)
    assert tombstone["kind"] == "customer.deleted"
    after = deliveries(client, alice, endpoint)
    assert [d["type"] for d in after] == ["customer.deleted", "entry.created", "customer.created"]
    assert after[0]["attempts"] == [] and after[0]["status"] == "pending"
    assert {d["id"] for d in after[1:]} < set(before)
    dropped = set(before) - {d["id"] for d in after}
    assert len(dropped) == 2
    with app.app_context():
        assert db.session.scalars(select(WebhookAttempt.id).where(
            WebhookAttempt.delivery_id.in_(dropped))).all() == []
        assert db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.id.in_(dropped))).all() == []
        assert db.session.scalars(select(WebhookDelivery.id).where(
            WebhookDelivery.customer_id == erased["id"])).all() == [after[0]["id"]]

    receiver.status = 204
    receiver.server.clear_log()
    assert deliver(app, now + timedelta(hours=1)) == 3
    events = receiver.events()
    assert [event["data"]["change"]["customer"] for event in events] == [kept["id"], kept["id"], erased["id"]]
    assert events[1]["data"]["change"]["entry"] == kept_entry["id"]
    assert events[2] == {"type": "customer.deleted", "timestamp": events[2]["timestamp"],
                         "data": {"change": tombstone}}
    assert b"secret stuff" not in b"".join(request.get_data() for request in receiver.requests())


# SSRF at delivery time

@pytest.fixture
def public_names(monkeypatch):
    """Stand in for DNS: `names[host] = [addresses]`; other hosts resolve as usual."""
    names = {}
    real = destinations.resolve
    monkeypatch.setattr(destinations, "resolve", lambda host, port: list(names[host]) if host in names
                        else real(host, port))
    return names


@pytest.fixture
def no_private(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)


@pytest.fixture
def two_hosts():
    """An 'outside' receiver on 127.0.0.2 (treated as public by `outside_is_public`) and an 'inside' one on
    127.0.0.1 on the same port: where a delivery lands shows which address it connected to."""
    outside = HTTPServer(host="127.0.0.2", port=0)
    outside.start()
    inside = HTTPServer(host="127.0.0.1", port=outside.port)
    inside.start()
    for server in (outside, inside):
        server.expect_request(re.compile("^/")).respond_with_data("ok")
    yield outside, inside
    for server in (outside, inside):
        server.clear()
        server.stop()


@pytest.fixture
def outside_is_public(monkeypatch):
    real = destinations.is_public
    monkeypatch.setattr(destinations, "is_public", lambda address: address == "127.0.0.2" or real(address))


def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(
        app, client, alice, customer, no_private, public_names, outside_is_public, two_hosts):
    outside, inside = two_hosts
    public_names["hooks.example.com"] = ["127.0.0.2"]
    endpoint = register(client, alice, f"http://hooks.example.com:{outside.port}/hook")
    make_entry(client, alice, customer, "a")
    assert deliver(app) == 1
    assert len(outside.log) == 1  # while it resolves to the public address it is delivered there

    public_names["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding
    make_entry(client, alice, customer, "b")
    assert deliver(app) == 1
    assert inside.log == [] and len(outside.log) == 1
    refused, delivered = deliveries(client, alice, endpoint)
    assert delivered["status"] == "delivered"
    (attempt,) = refused["attempts"]
    assert attempt["status_code"] is None and isinstance(attempt["error"], str) and attempt["error"]
    assert refused["status"] == "pending"


@pytest.mark.parametrize("private", [["127.0.0.1"], ["::1"], ["10.1.2.3"], ["169.254.169.254"],
                                     ["::ffff:127.0.0.1"], ["0.0.0.0"]])
def test_a_public_name_resolving_to_a_private_address_at_delivery_is_refused_without_connecting(
        app, client, alice, customer, receiver, no_private, public_names, monkeypatch, private):
    public_names["hooks.example.com"] = [PUBLIC]
    endpoint = register(client, alice, f"http://hooks.example.com:{receiver.server.port}/hook")
    public_names["hooks.example.com"] = private
    connected = []
    real_connect = socket.socket.connect

    def recording_connect(sock, address):
        connected.append(address[0])
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    monkeypatch.setattr(socket.socket, "connect", real_connect)
    assert not set(private) & set(connected), connected
    assert receiver.requests() == []
    (found,) = deliveries(client, alice, endpoint)
    (attempt,) = found["attempts"]
    assert attempt["status_code"] is None and isinstance(attempt["error"], str) and attempt["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "[::ffff:127.0.0.1]", "0x7f.1"])
def test_a_private_url_is_refused_at_delivery_once_private_addresses_are_not_allowed(
        app, client, alice, customer, monkeypatch, two_hosts, host):
    _, inside = two_hosts
    endpoint = register(client, alice, f"http://{host}:{inside.port}/hook")  # allowed while registering
    make_entry(client, alice, customer, "a")
    assert deliver(app) == 1
    assert len(inside.log) == 1  # the URL does reach the inside receiver

    monkeypatch.setitem(app.config, "WEBHOOKS_ALLOW_PRIVATE", False)
    make_entry(client, alice, customer, "b")
    assert deliver(app) == 1
    assert len(inside.log) == 1
    refused = deliveries(client, alice, endpoint)[0]
    assert refused["attempts"][0]["status_code"] is None and refused["attempts"][0]["error"]


def test_a_redirect_to_loopback_is_not_followed(app, client, alice, customer, no_private, public_names,
                                                outside_is_public, two_hosts):
    outside, inside = two_hosts
    outside.clear_all_handlers()
    outside.expect_request(re.compile("^/")).respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.1:{inside.port}/admin"})
    public_names["hooks.example.com"] = ["127.0.0.2"]
    endpoint = register(client, alice, f"http://hooks.example.com:{outside.port}/hook")
    make_entry(client, alice, customer)
    assert deliver(app) == 1
    assert len(outside.log) == 1 and inside.log == []
    (found,) = deliveries(client, alice, endpoint)
    assert found["attempts"][0]["status_code"] == 302 and found["status"] == "pending"


# The write path's statements

def words(statements):
    return [sql.split()[0] for sql in statements]


@pytest.mark.parametrize(("endpoints", "extra"), [
    ([], 0), ([{"enabled": False}], 0), ([{"events": ["data_key.deleted"]}], 1), ([{}], 1), ([{}, {}], 1),
], ids=["none", "disabled", "not-subscribed", "one", "two"])
@pytest.mark.parametrize("write", ["create", "update"])
def test_the_outbox_costs_one_insert_and_nothing_without_an_endpoint(app, client, alice, customer, receiver,
                                                                     endpoints, extra, write):
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
    begin = ["BEGIN", "SELECT"] if postgresql else ["BEGIN"]
    entry = make_entry(client, alice, customer, "k", "v")
    for n, fields in enumerate(endpoints):
        register(client, alice, receiver.url(f"/{n}"), **{"events": ["*"], **fields})
    if write == "create":
        _, statements = count_statements(app, client, ENTRIES, alice.headers, "POST",
                                         json={"customer": customer, "key": "new", "value": "v"})
        expected = ["SELECT", "SELECT", *begin, "SELECT", "INSERT", "INSERT", *["INSERT"] * extra, "COMMIT"]
    else:
        _, statements = count_statements(app, client, f"{ENTRIES}{entry['id']}/", alice.headers, "PUT",
                                         json={"value": "w"})
        read_first = ["SELECT"] if postgresql else []  # the entry's key, whose lock comes first
        expected = ["SELECT", *read_first, *begin, "SELECT", "UPDATE", "INSERT", *["INSERT"] * extra, "COMMIT"]
    assert words(statements) == expected, statements
    outbox_inserts = [sql for sql in statements if "webhook_deliveries" in sql]
    assert len(outbox_inserts) == extra, statements
    wanted = sum(1 for fields in endpoints if fields.get("enabled", True) and "events" not in fields)
    assert deliver(app) == wanted


# Purging the log

@pytest.mark.parametrize("log_days", [None, 7])
def test_purge_drops_finished_deliveries_older_than_the_log_days_and_keeps_the_rest(
        app, client, alice, customer, receiver, runner, log_days):
    if log_days is not None:
        app.config["WEBHOOKS_LOG_DAYS"] = log_days
    days = log_days or 30
    endpoint = register(client, alice, receiver.url())
    for key in ("old-delivered", "old-failed", "recent-delivered", "recent-failed"):
        make_entry(client, alice, customer, key)
    assert deliver(app) == 4
    receiver.status = 500
    make_entry(client, alice, customer, "old-pending")
    assert deliver(app) == 1  # pending with a failed attempt
    with app.app_context():
        ids = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)).all()
        keys = ("old-delivered", "old-failed", "recent-delivered", "recent-failed", "old-pending")
        by_key = dict(zip(keys, ids, strict=True))
        now = utcnow()
        ages = {"old-delivered": days + 1, "old-failed": days + 1, "recent-delivered": days - 1,
                "recent-failed": days - 1}
        for key, age in ages.items():
            values = {"finished_at": now - timedelta(days=age), "created_at": now - timedelta(days=age)}
            if key.endswith("failed"):
                values["status"] = "failed"
            db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == by_key[key])
                               .values(**values))
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == by_key["old-pending"]).values(
            created_at=now - timedelta(days=days + 5)))
        db.session.commit()
        purged_attempts = db.session.scalars(select(WebhookAttempt.id).where(WebhookAttempt.delivery_id.in_(
            [by_key["old-delivered"], by_key["old-failed"]]))).all()
        assert len(purged_attempts) == 2

    result = runner.invoke(args=["webhooks", "purge"])
    assert result.exit_code == 0, result.output
    assert result.output == f"Purged 2 finished deliver(ies) older than {days} day(s).\n"
    kept = {d["id"] for d in deliveries(client, alice, endpoint)}
    assert kept == {by_key[key] for key in ("recent-delivered", "recent-failed", "old-pending")}
    with app.app_context():
        assert db.session.scalars(select(WebhookAttempt.id).where(
            WebhookAttempt.id.in_(purged_attempts))).all() == []
    # the pending one is still sent
    receiver.status = 200
    assert deliver(app, later(days=1)) == 1
    result = runner.invoke(args=["webhooks", "purge"])
    assert result.output == f"Purged 0 finished deliver(ies) older than {days} day(s).\n"
