"""Export and erasure of one customer (shared/spec/changes.md "Export and erasure of one customer",
notes/changes-decisions.md), through HTTP. (The 100 MB memory test lives with the implementation.)"""
import io
import json
import re
import zipfile

import pytest
from feed_visibility import settle

from customerdata.extensions import db

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
FEED = "/api/message/changes/"
CUSTOMER_NOT_FOUND = {"detail": "Customer not found."}


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def read_feed(client, headers, query_string=None):
    settle(client)
    return client.get(FEED, headers=headers, query_string=query_string)


def export(client, user, customer_id):
    return client.get(f"{CUSTOMERS}{customer_id}/export/", headers=user.headers)


def unzipped(response):
    assert response.status_code == 200, response.get_data()[:500]
    return zipfile.ZipFile(io.BytesIO(response.get_data()))


def read_json(archive, name):
    return json.loads(archive.read(name).decode("utf-8"))


def without_file_url(entries):
    return [{k: v for k, v in entry.items() if k != "file_url"} for entry in entries]


def post_entry(client, user, customer_id, key, value="", file=None):
    if file is None:
        return ok(client.post(ENTRIES, headers=user.headers,
                              json={"customer": customer_id, "key": key, "value": value}), 201)
    return ok(client.post(ENTRIES, headers=user.headers, data={
        "customer": str(customer_id), "key": key, "value": value,
        "file": (io.BytesIO(file[0]), file[1])}), 201)


@pytest.fixture
def filled(client, alice):
    """A customer of alice's with text and file entries, an update, a replaced file and a deleted entry;
    another customer beside it. Returns (customer id, {entry id: (file_name, bytes)} of current files)."""
    customer = ok(client.post(CUSTOMERS, headers=alice.headers, json={
        "first_name": "John", "last_name": "Doe", "email": "john@example.com",
        "source": "telegram"}), 201)["id"]
    other = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Other"}), 201)["id"]
    post_entry(client, alice, other, "secret", "not exported", file=(b"other bytes", "other.txt"))
    plan = post_entry(client, alice, customer, "plan", "free")
    ok(client.patch(f"{ENTRIES}{plan['id']}/", headers=alice.headers, json={"value": "pro"}))
    contract = post_entry(client, alice, customer, "contract", "signed",
                          file=(b"%PDF-1.4 old", "contract.pdf"))
    ok(client.put(f"{ENTRIES}{contract['id']}/", headers=alice.headers,
                  data={"file": (io.BytesIO(b"%PDF-1.4 new\x00\xff"), "contract.pdf")}))
    scan = post_entry(client, alice, customer, "scan", file=(b"\xff\xd8 jpeg bytes", "Ausweis \u00fc.jpg"))
    gone = post_entry(client, alice, customer, "gone", "x", file=(b"gone bytes", "gone.txt"))
    ok(client.delete(f"{ENTRIES}{gone['id']}/", headers=alice.headers))
    ok(client.patch(f"{CUSTOMERS}{customer}/", headers=alice.headers, json={"phone_number": "+4930123456"}))
    return customer, {contract["id"]: ("contract.pdf", b"%PDF-1.4 new\x00\xff"),
                      scan["id"]: ("Ausweis \u00fc.jpg", b"\xff\xd8 jpeg bytes")}


def test_export_is_a_zip_attachment(client, alice, filled):
    customer, _ = filled
    response = export(client, alice, customer)
    assert response.status_code == 200
    assert response.headers["Content-Type"].split(";")[0].strip() == "application/zip"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment;\s*filename="?customer-{customer}\.zip"?', disposition), disposition
    assert unzipped(response).testzip() is None


def test_export_holds_the_customer_its_entries_history_and_files(client, alice, filled):
    customer, files = filled
    archive = unzipped(export(client, alice, customer))
    assert set(archive.namelist()) == {"customer.json", "entries.json", "history.json"} | {
        f"files/{entry_id}/{name}" for entry_id, (name, _) in files.items()}
    customer_answer = ok(client.get(f"{CUSTOMERS}{customer}/", headers=alice.headers))
    assert read_json(archive, "customer.json") == customer_answer
    entries = ok(client.get(f"/api/message/customer/{customer}/data/", headers=alice.headers))
    assert read_json(archive, "entries.json") == without_file_url(entries)
    assert [e["key"] for e in read_json(archive, "entries.json")] == ["scan", "contract", "plan"]
    history = ok(client.get(f"{CUSTOMERS}{customer}/history/", headers=alice.headers))
    assert read_json(archive, "history.json") == history
    assert len(history) == 9 and history[-1]["kind"] == "customer.created"
    for entry_id, (name, content) in files.items():
        assert archive.read(f"files/{entry_id}/{name}") == content


def test_export_of_a_customer_without_entries(client, alice, customer):
    archive = unzipped(export(client, alice, customer))
    assert set(archive.namelist()) == {"customer.json", "entries.json", "history.json"}
    assert read_json(archive, "entries.json") == []
    assert [c["kind"] for c in read_json(archive, "history.json")] == ["customer.created"]


def test_export_is_404_for_missing_foreign_and_deleted_customers(client, alice, bob, customer):
    gone = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Gone"}), 201)["id"]
    ok(client.delete(f"{CUSTOMERS}{gone}/", headers=alice.headers))
    for user, customer_id in [(bob, customer), (alice, 999999), (alice, gone)]:
        response = export(client, user, customer_id)
        assert response.status_code == 404
        assert response.get_json() == CUSTOMER_NOT_FOUND


def test_export_needs_a_token(client, customer):
    assert client.get(f"{CUSTOMERS}{customer}/export/").status_code == 401


# erasure

def test_deleting_a_customer_erases_its_history_but_one_customer_deleted(app, client, alice, filled):
    customer, _ = filled
    before = ok(read_feed(client, headers=alice.headers, query_string={"limit": 1000}))
    mine = [c for c in before if c["customer"] == customer]
    others = [c for c in before if c["customer"] != customer]
    assert len(mine) == 9 and others
    response = client.delete(f"{CUSTOMERS}{customer}/", headers=alice.headers)
    assert ok(response)["deleted_data_count"] == 3

    after = ok(read_feed(client, headers=alice.headers, query_string={"limit": 1000}))
    assert after[:-1] == others
    tombstone = after[-1]
    assert {k: tombstone[k] for k in tombstone if k not in ("id", "at")} == {
        "kind": "customer.deleted", "source": "api", "request_id": response.headers["X-Request-ID"],
        "customer": customer, "entry": None, "data_key": None, "changes": {}, "deleted_data_count": 3,
        "data": None}
    assert tombstone["id"] > before[-1]["id"]
    assert ok(read_feed(client, headers=alice.headers, query_string={"customer": customer})) == [tombstone]
    # the rows are gone, not hidden: one change is left of the customer and none of its entries
    from customerdata.models import Change

    erased_entries = {c["entry"] for c in mine if c["entry"] is not None}
    with app.app_context():
        left = db.session.scalars(db.select(Change.kind).where(
            (Change.customer_id == customer) | Change.entry_id.in_(erased_entries))).all()
    assert left == ["customer.deleted"]


def test_erasure_leaves_other_users_alone(client, alice, bob, customer):
    bobs = ok(client.post(CUSTOMERS, headers=bob.headers, json={"first_name": "B"}), 201)["id"]
    post_entry(client, bob, bobs, "k", "v")
    bobs_before = ok(read_feed(client, headers=bob.headers))
    ok(client.delete(f"{CUSTOMERS}{customer}/", headers=alice.headers))
    assert ok(read_feed(client, headers=bob.headers)) == bobs_before
    assert [c["kind"] for c in ok(read_feed(client, headers=alice.headers))] == ["customer.deleted"]
