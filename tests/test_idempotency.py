"""Idempotency-Key: a retried POST gets the first answer again and nothing runs twice."""
import io
import threading
from datetime import timedelta

import pytest

from customerdata.extensions import db
from customerdata.models import Change, CustomerData, IdempotencyKey, utcnow

ENTRIES = "/api/message/customer-data/"
OTHER_REQUEST = {"detail": "This Idempotency-Key was used with another request."}
IN_FLIGHT = {"detail": "A request with this Idempotency-Key is still being processed."}
INVALID = {"detail": "Idempotency-Key must be 1 to 255 printable ASCII characters."}


def with_key(user, key):
    return {**user.headers, "Idempotency-Key": key}


def counts(app):
    with app.app_context():
        return (db.session.scalar(db.select(db.func.count()).select_from(CustomerData)),
                db.session.scalar(db.select(db.func.count()).select_from(Change)))


def test_a_retry_gets_the_first_answer_and_nothing_runs_twice(app, client, alice, customer):
    before = counts(app)
    first = client.post(ENTRIES, json={"customer": customer, "key": "plan", "value": "pro"},
                        headers=with_key(alice, "retry-1"))
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # the same request: JSON compared as values (key order, spacing), the key bare or quoted
    again = client.post(ENTRIES, data='{"value": "pro",   "key": "plan", "customer": %d}' % customer,
                        content_type="application/json", headers=with_key(alice, '"retry-1"'))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert counts(app) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("path, body", [
    (ENTRIES, {"key": "plan", "value": "free"}),           # another body
    (ENTRIES + "?x=1", {"key": "plan", "value": "pro"}),   # another query
    ("/api/message/customers/", {"first_name": "A"}),        # another path
])
def test_the_same_key_with_another_request_is_a_422(client, alice, customer, path, body):
    assert client.post(ENTRIES, json={"customer": customer, "key": "plan", "value": "pro"},
                       headers=with_key(alice, "k")).status_code == 201
    response = client.post(path, json={"customer": customer, **body}, headers=with_key(alice, "k"))
    assert response.status_code == 422 and response.get_json() == OTHER_REQUEST


def test_an_error_answer_is_kept_too(client, alice):
    first = client.post(ENTRIES, json={"key": "plan"}, headers=with_key(alice, "bad"))
    again = client.post(ENTRIES, json={"key": "plan"}, headers=with_key(alice, "bad"))
    assert first.status_code == again.status_code == 400
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", '""', "x" * 256, "tab\there", "caf\u00e9"])
def test_an_invalid_key_is_a_400(client, alice, customer, key):
    response = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"},
                           headers=with_key(alice, key))
    assert response.status_code == 400 and response.get_json() == INVALID


def test_keys_are_per_user(client, alice, bob, customer):
    assert client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"},
                       headers=with_key(alice, "shared")).status_code == 201
    bobs = client.post("/api/message/customers/", json={"first_name": "B"}, headers=bob.headers).get_json()["id"]
    response = client.post(ENTRIES, json={"customer": bobs, "key": "k", "value": "v"}, headers=with_key(bob, "shared"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert response.get_json()["customer"] == bobs


def test_a_retried_multipart_upload_matches_by_fields_and_file_contents(client, alice, customer):
    def upload(content, name="scan.pdf"):
        return client.post(ENTRIES, headers=with_key(alice, "upload"), data={
            "customer": str(customer), "key": "scan", "file": (io.BytesIO(content), name)})

    first = upload(b"%PDF-1 scan")
    again = upload(b"%PDF-1 scan")  # a new multipart boundary, the same fields and file
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json()["id"] == first.get_json()["id"]
    assert upload(b"%PDF-1 another scan").get_json() == OTHER_REQUEST
    assert upload(b"%PDF-1 scan", name="other.pdf").get_json() == OTHER_REQUEST


def test_a_server_error_is_not_kept_so_the_retry_runs(client, alice, customer, database_fails_on, monkeypatch):
    database_fails_on("INSERT INTO customer_data")
    failed = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"}, headers=with_key(alice, "5xx"))
    assert failed.status_code >= 500
    monkeypatch.undo()
    retried = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"}, headers=with_key(alice, "5xx"))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_while_the_first_request_runs_the_retry_is_a_409(app, client, alice, customer, monkeypatch):
    from customerdata.message import entries

    inside, release = threading.Event(), threading.Event()
    create = entries.create_entry

    def slow_create(*args, **kwargs):
        inside.set()
        assert release.wait(10)
        return create(*args, **kwargs)

    monkeypatch.setattr(entries, "create_entry", slow_create)
    body = {"customer": customer, "key": "k", "value": "v"}
    box = {}
    first = threading.Thread(target=lambda: box.setdefault("first", client.post(
        ENTRIES, json=body, headers=with_key(alice, "busy"))))
    first.start()
    assert inside.wait(10)
    during = client.post(ENTRIES, json=body, headers=with_key(alice, "busy"))
    release.set()
    first.join(10)
    assert during.status_code == 409 and during.get_json() == IN_FLIGHT
    assert box["first"].status_code == 201
    after = client.post(ENTRIES, json=body, headers=with_key(alice, "busy"))
    assert after.headers["Idempotent-Replayed"] == "true" and after.get_json() == box["first"].get_json()


def test_two_concurrent_requests_with_one_key_run_once(app, client, alice, customer):
    barrier = threading.Barrier(4)
    answers = []

    def send():
        barrier.wait()
        answers.append(client.post(ENTRIES, json={"customer": customer, "key": "once", "value": "v"},
                                   headers=with_key(alice, "race")))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
    assert len({answer.get_json()["id"] for answer in answers if answer.status_code == 201}) == 1
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(CustomerData)
                                 .where(CustomerData.key == "once")) == 1


def test_a_claim_whose_worker_died_is_released_after_the_worker_timeout(app_config, app, client, alice, customer):
    app.config["IDEMPOTENCY_RUNNING_SECONDS"] = 60
    body = {"customer": customer, "key": "k", "value": "v"}
    with app.app_context():
        db.session.add(IdempotencyKey(user_id=alice.id, key="dead", fingerprint="?", created_at=utcnow(),
                                      expires_at=utcnow() + timedelta(hours=1)))
        db.session.commit()
    assert client.post(ENTRIES, json=body, headers=with_key(alice, "dead")).status_code == 422  # not yet
    with app.app_context():
        db.session.execute(db.update(IdempotencyKey).values(created_at=utcnow() - timedelta(seconds=61)))
        db.session.commit()
    response = client.post(ENTRIES, json=body, headers=with_key(alice, "dead"))
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers


def test_expired_keys_run_again_and_are_purged(app, client, runner, alice, customer):
    body = {"customer": customer, "key": "k", "value": "v"}
    assert client.post(ENTRIES, json=body, headers=with_key(alice, "old")).status_code == 201
    with app.app_context():
        db.session.execute(db.update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    result = runner.invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0 and "Purged 1 expired Idempotency-Key(s)." in result.output
    again = client.post(ENTRIES, json=body, headers=with_key(alice, "old"))
    assert again.status_code == 400 and "Idempotent-Replayed" not in again.headers  # it ran: the key exists now


@pytest.mark.parametrize("path, body", [
    ("/api/message/customers/", {"first_name": "Ann"}),
    ("/api/message/customer-data/bulk-upsert/", None),
    ("/api/message/data-keys/", {"key": "age", "type": "integer"}),
])
def test_every_post_under_message_takes_the_key(client, alice, customer, path, body):
    body = body or {"items": [{"customer": customer, "key": "k", "value": "v"}]}
    first = client.post(path, json=body, headers=with_key(alice, "any"))
    again = client.post(path, json=body, headers=with_key(alice, "any"))
    assert first.status_code in (200, 201) and again.status_code == first.status_code
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
