"""POST /api/message/customer-data/{id}/revert/ (shared/spec/changes.md "Revert",
notes/changes-decisions.md), through HTTP."""
import io
from datetime import UTC, datetime, timedelta

import pytest
from feed_visibility import settle

from customerdata.extensions import db

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
NOT_A_CHANGE = {"change": ["Not a change of this entry."]}
ENTRY_NOT_FOUND = {"detail": "Customer data not found or you don't have permission to access it."}
VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def duplicate(key):
    return {"key": [f"A data field with key '{key}' already exists for this customer. Use PUT to update it."]}


def entry_url(entry_id):
    return f"{ENTRIES}{entry_id}/"


def revert(client, user, entry_id, body):
    return client.post(f"{ENTRIES}{entry_id}/revert/", headers=user.headers, json=body)


def history(client, user, entry_id):
    return ok(client.get(f"{ENTRIES}{entry_id}/history/", headers=user.headers))


def entry_of(client, user, entry_id):
    return ok(client.get(entry_url(entry_id), headers=user.headers))


@pytest.fixture
def create(client, alice, customer):
    def create(key, value="", file=None, user=None, customer_id=None):
        body = {"customer": customer if customer_id is None else customer_id, "key": key, "value": value}
        if file is not None:
            body["customer"] = str(body["customer"])
            body["file"] = (io.BytesIO(file[0]), file[1])
            return ok(client.post(ENTRIES, data=body, headers=(user or alice).headers), 201)
        return ok(client.post(ENTRIES, json=body, headers=(user or alice).headers), 201)

    return create


def update(client, user, entry_id, /, **body):
    if any(isinstance(v, tuple) for v in body.values()):
        data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in body.items()}
        return ok(client.patch(entry_url(entry_id), data=data, headers=user.headers))
    return ok(client.patch(entry_url(entry_id), json=body, headers=user.headers))


@pytest.fixture
def edited(client, alice, create):
    """An entry created as plan=free, then value pro, then renamed to tier=gold; returns
    (entry id, [change ids oldest first])."""
    entry = create("plan", "free")
    update(client, alice, entry["id"], value="pro")
    update(client, alice, entry["id"], key="tier", value="gold")
    return entry["id"], [c["id"] for c in reversed(history(client, alice, entry["id"]))]


@pytest.mark.parametrize("index, key, value", [(0, "plan", "free"), (1, "plan", "pro")])
def test_revert_puts_key_and_value_back_as_right_after_the_change(client, alice, customer, edited, index, key,
                                                                  value):
    entry_id, change_ids = edited
    response = revert(client, alice, entry_id, {"change": change_ids[index]})
    answered = ok(response)
    assert (answered["id"], answered["key"], answered["value"]) == (entry_id, key, value)
    assert answered == entry_of(client, alice, entry_id)
    found = history(client, alice, entry_id)
    assert len(found) == 4
    recorded = found[0]
    assert {k: recorded[k] for k in ("kind", "source", "request_id", "customer", "entry")} == {
        "kind": "entry.updated", "source": "revert", "request_id": response.headers["X-Request-ID"],
        "customer": customer, "entry": entry_id}
    expected = {"key": {"from": "tier", "to": key}, "value": {"from": "gold", "to": value}}
    assert recorded["changes"] == expected
    # the feed carries the entry as the revert answered it
    settle(client)
    fed = ok(client.get("/api/message/changes/", headers=alice.headers, query_string={"kind": "entry.updated"}))
    assert fed[-1]["id"] == recorded["id"]
    assert fed[-1]["data"] == {k: v for k, v in answered.items() if k != "file_url"}


def test_revert_to_the_created_change_keeps_the_entry(client, alice, create):
    entry = create("plan", "free")
    update(client, alice, entry["id"], value="pro")
    created_change = history(client, alice, entry["id"])[-1]
    assert created_change["kind"] == "entry.created"
    answered = ok(revert(client, alice, entry["id"], {"change": created_change["id"]}))
    assert (answered["key"], answered["value"]) == ("plan", "free")
    assert entry_of(client, alice, entry["id"])["value"] == "free"


def test_a_revert_can_itself_be_reverted(client, alice, edited):
    entry_id, change_ids = edited
    ok(revert(client, alice, entry_id, {"change": change_ids[0]}))
    answered = ok(revert(client, alice, entry_id, {"change": change_ids[2]}))
    assert (answered["key"], answered["value"]) == ("tier", "gold")
    assert [c["source"] for c in history(client, alice, entry_id)][:2] == ["revert", "revert"]


def test_nothing_to_change_answers_200_and_records_nothing(client, alice, edited):
    entry_id, change_ids = edited
    before = entry_of(client, alice, entry_id)
    answered = ok(revert(client, alice, entry_id, {"change": change_ids[-1]}))
    assert answered == before
    assert len(history(client, alice, entry_id)) == 3


def test_the_file_stays_as_it_is(client, alice, create):
    entry = create("contract", "draft", file=(b"first bytes", "first.pdf"))
    replaced = update(client, alice, entry["id"], value="signed", file=(b"second bytes", "second.pdf"))
    created_change = history(client, alice, entry["id"])[-1]
    answered = ok(revert(client, alice, entry["id"], {"change": created_change["id"]}))
    assert answered["value"] == "draft"
    assert (answered["file"], answered["file_name"]) == (replaced["file"], "second.pdf")
    assert history(client, alice, entry["id"])[0]["changes"] == {"value": {"from": "signed", "to": "draft"}}
    download = client.get(answered["file_url"].removeprefix("http://localhost"))
    assert download.status_code == 200 and download.data == b"second bytes"


def test_a_result_with_neither_value_nor_file_is_refused(client, alice, create):
    entry = create("contract", "", file=(b"bytes", "c.pdf"))
    update(client, alice, entry["id"], value="signed")
    update(client, alice, entry["id"], remove_file=True)
    before = entry_of(client, alice, entry["id"])
    created_change = history(client, alice, entry["id"])[-1]
    response = revert(client, alice, entry["id"], {"change": created_change["id"]})
    assert response.status_code == 400
    assert response.get_json() == VALUE_OR_FILE
    assert entry_of(client, alice, entry["id"]) == before
    assert len(history(client, alice, entry["id"])) == 3


def _other_entrys_change(client, alice, bob, create, customer):
    other = create("other", "x")
    return history(client, alice, other["id"])[0]["id"]


def _customers_change(client, alice, bob, create, customer):
    return ok(client.get(f"{CUSTOMERS}{customer}/history/", headers=alice.headers))[-1]["id"]


def _definitions_change(client, alice, bob, create, customer):
    ok(client.post(KEYS, headers=alice.headers, json={"key": "nickname", "type": "text"}), 201)
    settle(client)
    found = ok(client.get("/api/message/changes/", headers=alice.headers,
                          query_string={"kind": "data_key.created"}))
    return found[0]["id"]


def _bobs_change(client, alice, bob, create, customer):
    bobs = ok(client.post(CUSTOMERS, headers=bob.headers, json={"first_name": "B"}), 201)["id"]
    entry = create("plan", "bob's", user=bob, customer_id=bobs)
    return history(client, bob, entry["id"])[0]["id"]


def _unknown_change(client, alice, bob, create, customer):
    return 99999999


def _huge_change(client, alice, bob, create, customer):
    return 2**63


NOT_OF_THIS_ENTRY = {"another entry's": _other_entrys_change, "the customer's": _customers_change,
                     "a definition's": _definitions_change, "bob's": _bobs_change, "unknown": _unknown_change,
                     "beyond 64 bits": _huge_change}


@pytest.mark.parametrize("case", list(NOT_OF_THIS_ENTRY))
def test_a_change_not_of_this_entry_is_refused(client, alice, bob, create, customer, edited, case):
    entry_id, _ = edited
    change_id = NOT_OF_THIS_ENTRY[case](client, alice, bob, create, customer)
    before = entry_of(client, alice, entry_id)
    response = revert(client, alice, entry_id, {"change": change_id})
    assert response.status_code == 400
    assert response.get_json() == NOT_A_CHANGE
    assert entry_of(client, alice, entry_id) == before
    assert len(history(client, alice, entry_id)) == 3


@pytest.mark.parametrize("body, errors", [
    ({}, {"change": ["This field is required."]}),
    ({"change": "abc"}, {"change": ["A valid integer is required."]}),
    ({"change": None}, {"change": ["This field may not be null."]}),
])
def test_the_body_is_validated(client, alice, edited, body, errors):
    entry_id, _ = edited
    response = revert(client, alice, entry_id, body)
    assert response.status_code == 400
    assert response.get_json() == errors


def test_revert_of_a_missing_or_foreign_entry_is_404(client, alice, bob, edited):
    entry_id, change_ids = edited
    for user, target in [(bob, entry_id), (alice, 999999)]:
        response = revert(client, user, target, {"change": change_ids[0]})
        assert response.status_code == 404
        assert response.get_json() == ENTRY_NOT_FOUND
    assert entry_of(client, alice, entry_id)["key"] == "tier"


def test_revert_of_a_deleted_entry_is_404(client, alice, edited):
    entry_id, change_ids = edited
    ok(client.delete(entry_url(entry_id), headers=alice.headers))
    response = revert(client, alice, entry_id, {"change": change_ids[0]})
    assert response.status_code == 404
    assert response.get_json() == ENTRY_NOT_FOUND


def test_a_key_now_taken_by_another_entry_is_the_duplicate_key_400(client, alice, create):
    entry = create("phone", "111")
    update(client, alice, entry["id"], key="mobile")
    create("phone", "222")
    created_change = history(client, alice, entry["id"])[-1]
    before = entry_of(client, alice, entry["id"])
    response = revert(client, alice, entry["id"], {"change": created_change["id"]})
    assert response.status_code == 400
    assert response.get_json() == duplicate("phone")
    assert entry_of(client, alice, entry["id"]) == before
    assert len(history(client, alice, entry["id"])) == 2


def test_a_value_the_definition_now_refuses_is_the_value_400(client, alice, create):
    entry = create("age", "unknown")
    update(client, alice, entry["id"], value="30")
    ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    created_change = history(client, alice, entry["id"])[-1]
    before = entry_of(client, alice, entry["id"])
    response = revert(client, alice, entry["id"], {"change": created_change["id"]})
    assert response.status_code == 400
    assert response.get_json() == {"value": ["A valid integer is required."]}
    assert entry_of(client, alice, entry["id"]) == before
    assert len(history(client, alice, entry["id"])) == 2


def test_a_reverted_value_is_stored_in_the_definitions_canonical_form(client, alice, create):
    entry = create("age", "+042")
    update(client, alice, entry["id"], value="50")
    ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    created_change = history(client, alice, entry["id"])[-1]
    answered = ok(revert(client, alice, entry["id"], {"change": created_change["id"]}))
    assert answered["value"] == "42"


def test_a_purged_change_is_not_a_change_of_this_entry(app, client, alice, create, runner):
    from customerdata.models import Change

    entry = create("plan", "free")
    update(client, alice, entry["id"], value="pro")
    oldest = history(client, alice, entry["id"])[-1]["id"]
    with app.app_context():  # past the default retention of 365 days
        db.session.execute(db.update(Change).where(Change.id == oldest).values(
            at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400)))
        db.session.commit()
    result = runner.invoke(args=["changes", "purge"])
    assert result.exit_code == 0, (result.output, result.exception)
    response = revert(client, alice, entry["id"], {"change": oldest})
    assert response.status_code == 400
    assert response.get_json() == NOT_A_CHANGE
