"""The change log's recording and its history routes (shared/spec/changes.md "What is recorded" and
"History", notes/changes-decisions.md), through HTTP: every kind and source with its exact `changes`,
request ids, no-op and failed writes recording nothing, entry and customer history, filters, paging and
ownership."""
import io
import re

import pytest
from feed_visibility import settle

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
CHANGES = "/api/message/changes/"
CHANGE_FIELDS = ["id", "kind", "at", "source", "request_id", "customer", "entry", "data_key", "changes"]
KINDS = ["customer.created", "customer.updated", "customer.deleted", "entry.created", "entry.updated",
         "entry.deleted", "data_key.created", "data_key.updated", "data_key.deleted"]
ENTRY_NOT_FOUND = {"detail": "Customer data not found or you don't have permission to access it."}
CUSTOMER_NOT_FOUND = {"detail": "Customer not found."}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
MEDIA_PATH = re.compile(r"^/media/customer_data/\d{4}/\d\d/\d\d/[^/]+$")
LINK = re.compile(r'<([^>]*)>;\s*rel="([a-z]+)"')


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def duplicate(key):
    return {"key": [f"A data field with key '{key}' already exists for this customer. Use PUT to update it."]}


def entry_url(entry_id):
    return f"{ENTRIES}{entry_id}/"


def entry_history(client, user, entry_id, **params):
    return client.get(f"{ENTRIES}{entry_id}/history/", headers=user.headers, query_string=params)


def customer_history(client, user, customer_id, **params):
    return client.get(f"{CUSTOMERS}{customer_id}/history/", headers=user.headers, query_string=params)


def everything(client, user, **params):
    """Every change of the user's still kept, oldest first (the feed, one page)."""
    settle(client)
    return ok(client.get(CHANGES, headers=user.headers, query_string={"limit": 1000, **params}))


def links(response):
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def change(kind, changes, *, source="api", request_id=None, customer=None, entry=None, data_key=None):
    """A change as answered, without its id and `at`."""
    return {"kind": kind, "source": source, "request_id": request_id, "customer": customer, "entry": entry,
            "data_key": data_key, "changes": changes}


def without_id_and_at(found):
    """The answered change without its id and `at`, after checking both and the order of the keys."""
    expected_keys = CHANGE_FIELDS + (["deleted_data_count"] if found["kind"] == "customer.deleted" else [])
    expected_keys += ["data"] if "data" in found else []
    assert list(found) == expected_keys
    assert isinstance(found["id"], int) and TIMESTAMP.match(found["at"]), found
    return {k: v for k, v in found.items() if k not in ("id", "at")}


def set_to(**fields):
    return {name: {"from": None, "to": value} for name, value in fields.items()}


def request_id_of(response):
    return response.headers["X-Request-ID"]


@pytest.fixture
def post_entry(client, alice, customer):
    """POST an entry of alice's customer (multipart when a file is given); returns the response."""

    def post(key="plan", value="free", file=None, customer_id=None, user=None, headers=None, expect=201):
        body = {"customer": customer if customer_id is None else customer_id, "key": key, "value": value}
        all_headers = {**(user or alice).headers, **(headers or {})}
        if file is not None:
            body["file"] = (io.BytesIO(file[0]), file[1])
            body["customer"] = str(body["customer"])
            response = client.post(ENTRIES, data=body, headers=all_headers)
        else:
            response = client.post(ENTRIES, json=body, headers=all_headers)
        assert response.status_code == expect, response.get_json()
        return response

    return post


def patch_entry(client, user, entry_id, /, method="PATCH", headers=None, expect=200, **body):
    if any(isinstance(v, tuple) for v in body.values()):
        data = {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in body.items()}
        response = client.open(entry_url(entry_id), method=method, data=data,
                               headers={**user.headers, **(headers or {})})
    else:
        response = client.open(entry_url(entry_id), method=method, json=body,
                               headers={**user.headers, **(headers or {})})
    assert response.status_code == expect, response.get_json()
    return response


# customer.created / customer.updated / customer.deleted

def test_customer_created_records_every_set_field(client, alice):
    response = client.post(CUSTOMERS, headers={**alice.headers, "X-Request-ID": "create-customer-1"}, json={
        "first_name": "John", "last_name": "Doe", "username": "johndoe", "email": "john@example.com",
        "phone_number": "+1 555 0100", "source": "instagram"})
    customer_id = ok(response, 201)["id"]
    found = ok(customer_history(client, alice, customer_id))
    assert [without_id_and_at(c) for c in found] == [change(
        "customer.created",
        set_to(first_name="John", last_name="Doe", username="johndoe", email="john@example.com",
               phone_number="+1 555 0100", source="instagram"),
        request_id="create-customer-1", customer=customer_id)]


def test_customer_created_leaves_out_null_fields(client, alice):
    response = client.post(CUSTOMERS, headers=alice.headers, json={"last_name": "Doe", "username": ""})
    customer_id = ok(response, 201)["id"]
    found = ok(customer_history(client, alice, customer_id))
    assert [without_id_and_at(c) for c in found] == [change(
        "customer.created", set_to(last_name="Doe", source="unknown"),
        request_id=request_id_of(response), customer=customer_id)]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_customer_updated_records_only_the_changed_fields(client, alice, method):
    created = ok(client.post(CUSTOMERS, headers=alice.headers, json={
        "first_name": "John", "username": "johndoe", "source": "telegram"}), 201)
    response = client.open(f"{CUSTOMERS}{created['id']}/", method=method, headers=alice.headers, json={
        "first_name": "John", "last_name": "Doe", "username": "", "source": "whatsapp"})
    ok(response)
    found = ok(customer_history(client, alice, created["id"]))
    assert [c["kind"] for c in found] == ["customer.updated", "customer.created"]
    assert without_id_and_at(found[0]) == change("customer.updated", {
        "last_name": {"from": None, "to": "Doe"},
        "username": {"from": "johndoe", "to": None},
        "source": {"from": "telegram", "to": "whatsapp"},
    }, request_id=request_id_of(response), customer=created["id"])
    assert found[0]["id"] > found[1]["id"]


def test_customer_deleted_records_one_change_with_the_count(client, alice, customer, post_entry):
    post_entry(key="a", value="1")
    post_entry(key="b", value="2")
    response = client.delete(f"{CUSTOMERS}{customer}/", headers=alice.headers)
    assert ok(response)["deleted_data_count"] == 2
    deleted = everything(client, alice, kind="customer.deleted")
    assert len(deleted) == 1 and deleted[0]["deleted_data_count"] == 2
    assert without_id_and_at(deleted[0]) == {
        **change("customer.deleted", {}, request_id=request_id_of(response), customer=customer),
        "deleted_data_count": 2, "data": None}
    # its entries get no entry.deleted of their own
    assert everything(client, alice, kind="entry.deleted") == []


def test_a_customer_created_from_the_cli_has_source_cli_and_no_request_id(client, alice, runner):
    result = runner.invoke(args=["customers", "create", "--owner", "alice", "--first-name", "Jane",
                                 "--source", "telegram"])
    assert result.exit_code == 0, (result.output, result.exception)
    [customer] = ok(client.get(CUSTOMERS, headers=alice.headers))
    found = ok(customer_history(client, alice, customer["id"]))
    assert [without_id_and_at(c) for c in found] == [change(
        "customer.created", set_to(first_name="Jane", source="telegram"), source="cli", request_id=None,
        customer=customer["id"])]


# entry.created / entry.updated / entry.deleted

def test_entry_created_records_key_and_value(client, alice, customer, post_entry):
    response = post_entry(key=" birthday ", value=" 1990-05-15 ")
    entry = response.get_json()
    found = ok(entry_history(client, alice, entry["id"]))
    assert [without_id_and_at(c) for c in found] == [change(
        "entry.created", set_to(key="birthday", value="1990-05-15"),
        request_id=request_id_of(response), customer=customer, entry=entry["id"])]


@pytest.mark.parametrize("value", ["", "Scan of the contract"])
def test_entry_created_with_a_file_records_the_file_and_its_name(client, alice, customer, post_entry, value):
    response = post_entry(key="contract", value=value, file=(b"%PDF-1.4", "Vertrag ü.pdf"))
    entry = response.get_json()
    assert MEDIA_PATH.match(entry["file"])
    found = ok(entry_history(client, alice, entry["id"]))
    assert [without_id_and_at(c) for c in found] == [change(
        "entry.created", set_to(key="contract", value=value, file_name="Vertrag ü.pdf", file=entry["file"]),
        request_id=request_id_of(response), customer=customer, entry=entry["id"])]


UPDATES = [
    # (what is sent, the `changes` expected, given the entry {"key": "plan", "value": "free"})
    ({"value": "pro"}, {"value": {"from": "free", "to": "pro"}}),
    ({"key": "tier"}, {"key": {"from": "plan", "to": "tier"}}),
    ({"key": " tier ", "value": " gold "}, {"key": {"from": "plan", "to": "tier"},
                                            "value": {"from": "free", "to": "gold"}}),
    ({"key": "plan", "value": "pro"}, {"value": {"from": "free", "to": "pro"}}),
]


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("body, changes", UPDATES)
def test_entry_updated_records_the_changed_fields(client, alice, customer, post_entry, method, body, changes):
    entry = post_entry(key="plan", value="free").get_json()
    response = patch_entry(client, alice, entry["id"], method=method, **body)
    found = ok(entry_history(client, alice, entry["id"]))
    assert [c["kind"] for c in found] == ["entry.updated", "entry.created"]
    assert without_id_and_at(found[0]) == change("entry.updated", changes, request_id=request_id_of(response),
                                                 customer=customer, entry=entry["id"])


@pytest.mark.parametrize("new_name", ["new.pdf", "old.pdf"])
def test_replacing_a_file_records_the_old_and_new_path(client, alice, customer, post_entry, new_name):
    entry = post_entry(key="contract", value="signed", file=(b"old bytes", "old.pdf")).get_json()
    response = patch_entry(client, alice, entry["id"], method="PUT", file=(b"new bytes", new_name))
    replaced = response.get_json()
    assert MEDIA_PATH.match(replaced["file"]) and replaced["file"] != entry["file"]
    expected = {"file": {"from": entry["file"], "to": replaced["file"]}}
    if new_name != "old.pdf":
        expected = {"file_name": {"from": "old.pdf", "to": new_name}, **expected}
    found = ok(entry_history(client, alice, entry["id"]))
    assert without_id_and_at(found[0]) == change(
        "entry.updated", expected, request_id=request_id_of(response), customer=customer, entry=entry["id"])
    assert found[0]["changes"] == expected  # exactly these fields, value untouched


def test_removing_a_file_records_file_and_name_going_to_null(client, alice, customer, post_entry):
    entry = post_entry(key="contract", value="signed", file=(b"bytes", "c.pdf")).get_json()
    response = patch_entry(client, alice, entry["id"], remove_file=True)
    found = ok(entry_history(client, alice, entry["id"]))
    assert without_id_and_at(found[0]) == change("entry.updated", {
        "file_name": {"from": "c.pdf", "to": None}, "file": {"from": entry["file"], "to": None}},
        request_id=request_id_of(response), customer=customer, entry=entry["id"])


def test_adding_a_file_and_changing_the_value(client, alice, customer, post_entry):
    entry = post_entry(key="contract", value="draft").get_json()
    response = patch_entry(client, alice, entry["id"], value="signed", file=(b"bytes", "c.pdf"))
    updated = response.get_json()
    found = ok(entry_history(client, alice, entry["id"]))
    assert found[0]["changes"] == {"value": {"from": "draft", "to": "signed"},
                                   "file_name": {"from": None, "to": "c.pdf"},
                                   "file": {"from": None, "to": updated["file"]}}


@pytest.mark.parametrize("with_file", [False, True])
def test_entry_deleted_records_every_field_going_to_null(client, alice, customer, post_entry, with_file):
    file = (b"bytes", "c.pdf") if with_file else None
    entry = post_entry(key="contract", value="signed", file=file).get_json()
    response = client.delete(entry_url(entry["id"]), headers=alice.headers)
    ok(response)
    found = ok(customer_history(client, alice, customer))
    assert without_id_and_at(found[0]) == change("entry.deleted", {
        "key": {"from": "contract", "to": None}, "value": {"from": "signed", "to": None},
        "file_name": {"from": "c.pdf" if with_file else None, "to": None},
        "file": {"from": entry["file"], "to": None}},
        request_id=request_id_of(response), customer=customer, entry=entry["id"])


def test_bulk_delete_records_one_entry_deleted_each_with_source_bulk(client, alice, customer, post_entry):
    first = post_entry(key="a", value="1").get_json()
    second = post_entry(key="b", value="", file=(b"bytes", "b.txt")).get_json()
    kept = post_entry(key="c", value="3").get_json()
    response = client.post(f"{ENTRIES}bulk-delete/", headers=alice.headers,
                           json={"data_ids": [first["id"], second["id"], 999999]})
    ok(response)
    deleted = everything(client, alice, kind="entry.deleted")
    assert sorted((without_id_and_at(c) for c in deleted), key=lambda c: c["entry"]) == [
        {**change("entry.deleted", {"key": {"from": "a", "to": None}, "value": {"from": "1", "to": None},
                                    "file_name": {"from": None, "to": None},
                                    "file": {"from": None, "to": None}},
                  source="bulk", request_id=request_id_of(response), customer=customer, entry=first["id"]),
         "data": None},
        {**change("entry.deleted", {"key": {"from": "b", "to": None}, "value": {"from": "", "to": None},
                                    "file_name": {"from": "b.txt", "to": None},
                                    "file": {"from": second["file"], "to": None}},
                  source="bulk", request_id=request_id_of(response), customer=customer, entry=second["id"]),
         "data": None},
    ]
    assert [c["kind"] for c in ok(entry_history(client, alice, kept["id"]))] == ["entry.created"]


# data_key.created / data_key.updated / data_key.deleted and values rewritten by a definition

def test_definition_writes_are_recorded(client, alice):
    created = client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer", "min": "18",
                                                             "unique": True, "description": "How old."})
    definition = ok(created, 201)
    updated = client.patch(f"{KEYS}{definition['id']}/", headers=alice.headers,
                           json={"label": "Age", "position": 2, "min": 21, "description": "How old."})
    ok(updated)
    deleted = client.delete(f"{KEYS}{definition['id']}/", headers=alice.headers)
    ok(deleted)
    found = everything(client, alice)
    assert [without_id_and_at(c) for c in found] == [
        {**change("data_key.created", set_to(key="age", type="integer", label="age", description="How old.",
                                             position=0, min=18, unique=True),
                  request_id=request_id_of(created), data_key=definition["id"]),
         "data": definition},
        {**change("data_key.updated", {"label": {"from": "age", "to": "Age"},
                                       "position": {"from": 0, "to": 2},
                                       "min": {"from": 18, "to": 21}},
                  request_id=request_id_of(updated), data_key=definition["id"]),
         "data": updated.get_json()},
        {**change("data_key.deleted", {}, request_id=request_id_of(deleted), data_key=definition["id"]),
         "data": None},
    ]


def test_a_definition_with_choices_records_them_as_answered(client, alice):
    created = client.post(KEYS, headers=alice.headers, json={
        "key": "plan", "type": "choice", "label": "Plan", "archived": True, "choices": ["free", "pro"]})
    definition = ok(created, 201)
    [recorded] = everything(client, alice)
    assert recorded["changes"] == set_to(key="plan", type="choice", label="Plan", description="", position=0,
                                         archived=True, choices=definition["choices"])


def test_a_definition_rewriting_values_records_entry_updated_with_source_definition(
        client, alice, customer, post_entry):
    other = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Ann"}), 201)["id"]
    rewritten = post_entry(key="age", value="+042").get_json()
    kept = post_entry(key="age", value="7", customer_id=other).get_json()
    response = client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"})
    definition = ok(response, 201)
    found = ok(entry_history(client, alice, rewritten["id"]))
    assert [(c["kind"], c["source"]) for c in found] == [("entry.updated", "definition"),
                                                         ("entry.created", "api")]
    recorded = without_id_and_at(found[0])
    recorded.pop("data_key")  # the definition's id or null: changes.md leaves it open for entry changes
    expected = change("entry.updated", {"value": {"from": "+042", "to": "42"}}, source="definition",
                      request_id=request_id_of(response), customer=customer, entry=rewritten["id"])
    expected.pop("data_key")
    assert recorded == expected
    # an entry whose value is already canonical gets no change
    assert [c["kind"] for c in ok(entry_history(client, alice, kept["id"]))] == ["entry.created"]
    # both the definition and the rewritten value are recorded
    feed_kinds = [(c["kind"], c["entry"] or c["data_key"]) for c in everything(client, alice)]
    assert ("data_key.created", definition["id"]) in feed_kinds
    assert ("entry.updated", rewritten["id"]) in feed_kinds


def test_a_rewrite_of_many_values_records_each_change_exactly_chunk_by_chunk(client, alice, monkeypatch):
    """The changes of a rewrite are written a chunk at a time in one statement each (changes.py):
    every one as a single write records it, in entry order (with deliveries: test_webhook_delivery.py)."""
    from customerdata.message import changes as recording

    monkeypatch.setattr(recording, "CHUNK", 2)
    written = []
    for value in ["+1", "2", "03", "+4", "-5", "+6"]:
        customer_id = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "C"}), 201)["id"]
        written.append(ok(client.post(ENTRIES, headers=alice.headers,
                                      json={"customer": customer_id, "key": "n", "value": value}), 201))
    response = client.post(KEYS, headers=alice.headers, json={"key": "n", "type": "integer"})
    definition = ok(response, 201)
    found = everything(client, alice, kind="entry.updated")
    rewritten = [entry for entry in written if entry["value"] != "2" and entry["value"] != "-5"]
    assert [c["entry"] for c in found] == [entry["id"] for entry in rewritten]
    assert found == sorted(found, key=lambda c: c["id"])
    for change_found, before in zip(found, rewritten):
        after = ok(client.get(entry_url(before["id"]), headers=alice.headers))
        assert after["value"] == str(int(before["value"]))
        assert change_found["at"] == after["updated_at"]
        assert without_id_and_at(change_found) == {
            **change("entry.updated", {"value": {"from": before["value"], "to": after["value"]}},
                     source="definition", request_id=request_id_of(response), customer=before["customer"],
                     entry=before["id"]),
            "data": {name: value for name, value in after.items() if name != "file_url"}}
    kinds = [c["kind"] for c in everything(client, alice)]
    assert kinds.count("data_key.created") == 1 and kinds[-4:] == ["entry.updated"] * 4
    assert ok(client.get(f"{KEYS}{definition['id']}/", headers=alice.headers)) == definition


# request_id

@pytest.mark.parametrize("sent", [None, "client-id_1.2", "not valid!"])
def test_request_id_is_the_one_the_write_answered_with(client, alice, customer, post_entry, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    created = post_entry(key="a", value="1", headers=headers)
    updated = patch_entry(client, alice, created.get_json()["id"], value="2", headers=headers)
    deleted = client.delete(entry_url(created.get_json()["id"]), headers={**alice.headers, **headers})
    ok(deleted)
    answered = [request_id_of(r) for r in (deleted, updated, created)]
    if sent == "client-id_1.2":
        assert answered == [sent] * 3
    else:
        assert sent not in answered
    found = ok(customer_history(client, alice, customer))
    assert [c["request_id"] for c in found[:3]] == answered


# no-op writes and failed writes record nothing

ENTRY_NO_OPS = [
    ("PATCH", {"value": "free"}),
    ("PATCH", {"value": "  free  "}),
    ("PATCH", {}),
    ("PUT", {"key": "plan", "value": "free"}),
    ("PATCH", {"key": " plan "}),
    ("PATCH", {"customer": 999, "user": 999}),
]


@pytest.mark.parametrize("method, body", ENTRY_NO_OPS)
def test_an_entry_write_that_changes_nothing_records_nothing(client, alice, post_entry, method, body):
    entry = post_entry(key="plan", value="free").get_json()
    before = everything(client, alice)
    answered = patch_entry(client, alice, entry["id"], method=method, **body).get_json()
    assert answered == ok(client.get(entry_url(entry["id"]), headers=alice.headers))
    assert answered["updated_at"] == entry["updated_at"]
    assert everything(client, alice) == before
    assert [c["kind"] for c in ok(entry_history(client, alice, entry["id"]))] == ["entry.created"]


def test_a_file_entry_written_with_the_same_value_records_nothing(client, alice, post_entry):
    entry = post_entry(key="contract", value="signed", file=(b"bytes", "c.pdf")).get_json()
    answered = patch_entry(client, alice, entry["id"], value="signed").get_json()
    assert (answered["updated_at"], answered["file"]) == (entry["updated_at"], entry["file"])
    assert [c["kind"] for c in ok(entry_history(client, alice, entry["id"]))] == ["entry.created"]


CUSTOMER_NO_OPS = [
    ("PATCH", {"first_name": "John"}),
    ("PATCH", {}),
    ("PUT", {"first_name": "John", "source": "unknown"}),
    ("PATCH", {"email": "", "last_name": ""}),
]


@pytest.mark.parametrize("method, body", CUSTOMER_NO_OPS)
def test_a_customer_write_that_changes_nothing_records_nothing(client, alice, method, body):
    created = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "John"}), 201)
    before = everything(client, alice)
    answered = ok(client.open(f"{CUSTOMERS}{created['id']}/", method=method, headers=alice.headers,
                              json=body))
    assert answered["updated_at"] == created["updated_at"]
    assert ok(client.get(f"{CUSTOMERS}{created['id']}/", headers=alice.headers)) == created
    assert everything(client, alice) == before


@pytest.mark.parametrize("body", [{"label": "age"}, {}, {"type": "integer", "min": 18}])
def test_a_definition_write_that_changes_nothing_records_nothing(client, alice, body):
    created = ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer", "min": 18}),
                 201)
    before = everything(client, alice)
    answered = ok(client.patch(f"{KEYS}{created['id']}/", headers=alice.headers, json=body))
    assert answered["updated_at"] == created["updated_at"]
    assert everything(client, alice) == before


def _duplicate_on_create(client, alice, customer, entries):
    response = client.post(ENTRIES, headers=alice.headers,
                           json={"customer": customer, "key": "a", "value": "x"})
    return response, duplicate("a")


def _duplicate_on_rename(client, alice, customer, entries):
    response = client.patch(entry_url(entries["b"]), headers=alice.headers, json={"key": "a"})
    return response, duplicate("a")


def _refused_value_on_create(client, alice, customer, entries):
    response = client.post(ENTRIES, headers=alice.headers,
                           json={"customer": customer, "key": "age", "value": "x"})
    return response, {"value": ["A valid integer is required."]}


def _refused_value_on_update(client, alice, customer, entries):
    response = client.patch(entry_url(entries["age"]), headers=alice.headers, json={"value": "old"})
    return response, {"value": ["A valid integer is required."]}


def _invalid_customer_email(client, alice, customer, entries):
    response = client.patch(f"{CUSTOMERS}{customer}/", headers=alice.headers,
                            json={"first_name": "Jo", "email": "nope"})
    return response, {"email": ["Enter a valid email address."]}


def _invalid_customer_source(client, alice, customer, entries):
    response = client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Jo", "source": "fax"})
    return response, {"source": ['"fax" is not a valid choice.']}


def _definition_over_unfit_values(client, alice, customer, entries):
    response = client.post(KEYS, headers=alice.headers, json={"key": "b", "type": "integer"})
    return response, None


FAILED_WRITES = {
    "duplicate key on create": (_duplicate_on_create, 400),
    "duplicate key on rename": (_duplicate_on_rename, 400),
    "value the definition refuses on create": (_refused_value_on_create, 400),
    "value the definition refuses on update": (_refused_value_on_update, 400),
    "customer update with a bad email": (_invalid_customer_email, 400),
    "customer create with a bad source": (_invalid_customer_source, 400),
    "definition over values that do not fit": (_definition_over_unfit_values, 409),
}


@pytest.mark.parametrize("case", list(FAILED_WRITES))
def test_a_write_that_fails_records_nothing(client, alice, customer, post_entry, case):
    write, status = FAILED_WRITES[case]
    entries = {"a": post_entry(key="a", value="1").get_json()["id"],
               "b": post_entry(key="b", value="not a number").get_json()["id"]}
    ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    entries["age"] = post_entry(key="age", value="30").get_json()["id"]
    before = everything(client, alice)
    response, body = write(client, alice, customer, entries)
    assert response.status_code == status, response.get_json()
    if body is not None:
        assert response.get_json() == body
    assert everything(client, alice) == before


def test_deletes_that_find_nothing_record_nothing(client, alice, bob, post_entry):
    entry = post_entry(key="a", value="1").get_json()
    before = everything(client, alice)
    response = client.post(f"{ENTRIES}bulk-delete/", headers=alice.headers, json={"data_ids": [999998, 999999]})
    assert ok(response)["deleted_count"] == 0
    assert client.delete(entry_url(999999), headers=alice.headers).status_code == 404
    assert client.delete(entry_url(entry["id"]), headers=bob.headers).status_code == 404
    bobs = client.post(f"{ENTRIES}bulk-delete/", headers=bob.headers, json={"data_ids": [entry["id"]]})
    assert ok(bobs)["deleted_count"] == 0
    assert everything(client, alice) == before and everything(client, bob) == []


# entry history

def test_entry_history_is_the_entrys_changes_newest_first(client, alice, customer, post_entry):
    entry = post_entry(key="plan", value="free").get_json()
    other = post_entry(key="other", value="x").get_json()
    patch_entry(client, alice, entry["id"], value="pro")
    patch_entry(client, alice, other["id"], value="y")
    patch_entry(client, alice, entry["id"], key="tier")
    found = ok(entry_history(client, alice, entry["id"]))
    assert [(c["kind"], c["changes"]) for c in found] == [
        ("entry.updated", {"key": {"from": "plan", "to": "tier"}}),
        ("entry.updated", {"value": {"from": "free", "to": "pro"}}),
        ("entry.created", set_to(key="plan", value="free")),
    ]
    assert [c["id"] for c in found] == sorted((c["id"] for c in found), reverse=True)
    assert {c["entry"] for c in found} == {entry["id"]}


def test_entry_history_is_404_for_missing_foreign_and_deleted_entries(client, alice, bob, post_entry):
    entry = post_entry(key="plan", value="free").get_json()
    gone = post_entry(key="gone", value="x").get_json()
    ok(client.delete(entry_url(gone["id"]), headers=alice.headers))
    for user, entry_id in [(alice, 999999), (bob, entry["id"]), (alice, gone["id"])]:
        response = entry_history(client, user, entry_id)
        assert response.status_code == 404
        assert response.get_json() == ENTRY_NOT_FOUND


def test_entry_history_pages(client, alice, post_entry):
    entry = post_entry(key="n", value="0").get_json()
    for n in range(1, 5):
        patch_entry(client, alice, entry["id"], value=str(n))
    full = ok(entry_history(client, alice, entry["id"]))
    assert len(full) == 5 and "X-Total-Count" not in entry_history(client, alice, entry["id"]).headers
    response = entry_history(client, alice, entry["id"], limit=2, offset=2)
    assert ok(response) == full[2:4]
    assert response.headers["X-Total-Count"] == "5"
    assert set(links(response)) == {"next", "prev"}


# customer history

@pytest.fixture
def story(client, alice, customer, post_entry):
    """A customer's life: entries created, updated, renamed and deleted, the customer updated, and writes
    of another customer of alice's in between; returns the ids."""
    other = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Other"}), 201)["id"]
    phone = post_entry(key="phone", value="111").get_json()["id"]
    post_entry(key="phone", value="999", customer_id=other)
    patch_entry(client, alice, phone, value="222")
    email = post_entry(key="email", value="a@example.com").get_json()["id"]
    patch_entry(client, alice, phone, key="mobile")
    ok(client.patch(f"{CUSTOMERS}{customer}/", headers=alice.headers, json={"last_name": "Doe"}))
    patch_entry(client, alice, phone, value="333")
    ok(client.delete(entry_url(email), headers=alice.headers))
    ok(client.patch(f"{CUSTOMERS}{other}/", headers=alice.headers, json={"last_name": "Roe"}))
    return {"customer": customer, "other": other, "phone": phone, "email": email}


def test_customer_history_has_its_and_its_entries_changes_deleted_ones_included(client, alice, story):
    found = ok(customer_history(client, alice, story["customer"]))
    assert [(c["kind"], c["entry"]) for c in found] == [
        ("entry.deleted", story["email"]),
        ("entry.updated", story["phone"]),
        ("customer.updated", None),
        ("entry.updated", story["phone"]),
        ("entry.created", story["email"]),
        ("entry.updated", story["phone"]),
        ("entry.created", story["phone"]),
        ("customer.created", None),
    ]
    assert {c["customer"] for c in found} == {story["customer"]}
    assert [c["id"] for c in found] == sorted((c["id"] for c in found), reverse=True)
    assert found[2]["changes"] == {"last_name": {"from": None, "to": "Doe"}}
    assert all(list(c)[:len(CHANGE_FIELDS)] == CHANGE_FIELDS and "data" not in c for c in found)


@pytest.mark.parametrize("key, expected", [
    ("phone", [("entry.updated", {"key": {"from": "phone", "to": "mobile"}}),
               ("entry.updated", {"value": {"from": "111", "to": "222"}}),
               ("entry.created", set_to(key="phone", value="111"))]),
    ("mobile", [("entry.updated", {"value": {"from": "222", "to": "333"}}),
                ("entry.updated", {"key": {"from": "phone", "to": "mobile"}})]),
    ("email", [("entry.deleted", {"key": {"from": "email", "to": None},
                                  "value": {"from": "a@example.com", "to": None},
                                  "file_name": {"from": None, "to": None},
                                  "file": {"from": None, "to": None}}),
               ("entry.created", set_to(key="email", value="a@example.com"))]),
    ("Phone", []),
    ("nothing", []),
])
def test_customer_history_by_key_before_or_after_the_change(client, alice, story, key, expected):
    found = ok(customer_history(client, alice, story["customer"], key=key))
    assert [(c["kind"], c["changes"]) for c in found] == expected


@pytest.mark.parametrize("kind, expected", [
    ("customer.created", 1), ("customer.updated", 1), ("entry.created", 2), ("entry.updated", 3),
    ("entry.deleted", 1), ("customer.deleted", 0), ("data_key.created", 0),
])
def test_customer_history_by_kind(client, alice, story, kind, expected):
    found = ok(customer_history(client, alice, story["customer"], kind=kind))
    assert len(found) == expected and {c["kind"] for c in found} <= {kind}


@pytest.mark.parametrize("kind", ["x", "entry", "entry.moved", "ENTRY.CREATED"])
def test_customer_history_refuses_an_unknown_kind(client, alice, customer, kind):
    response = customer_history(client, alice, customer, kind=kind)
    assert response.status_code == 400
    assert response.get_json() == {"kind": [f'"{kind}" is not a valid choice.']}


def test_customer_history_filters_combine(client, alice, story):
    found = ok(customer_history(client, alice, story["customer"], key="phone", kind="entry.updated"))
    assert [c["changes"] for c in found] == [{"key": {"from": "phone", "to": "mobile"}},
                                             {"value": {"from": "111", "to": "222"}}]


def test_customer_history_pages_like_lists(client, alice, story):
    full = ok(customer_history(client, alice, story["customer"]))
    assert "X-Total-Count" not in customer_history(client, alice, story["customer"]).headers
    response = customer_history(client, alice, story["customer"], limit=3)
    assert ok(response) == full[:3]
    assert response.headers["X-Total-Count"] == str(len(full))
    assert set(links(response)) == {"next"}
    seen = ok(response)
    while "next" in links(response):
        response = client.get(links(response)["next"], headers=alice.headers)
        seen += ok(response)
    assert seen == full
    filtered = customer_history(client, alice, story["customer"], kind="entry.updated", limit=1)
    assert filtered.headers["X-Total-Count"] == "3" and "kind=entry.updated" in links(filtered)["next"]
    for bad in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        response = customer_history(client, alice, story["customer"], **bad)
        assert response.status_code == 400 and list(response.get_json()) == ["limit"]
    response = customer_history(client, alice, story["customer"], offset=-1)
    assert response.status_code == 400 and list(response.get_json()) == ["offset"]


def test_customer_history_is_404_for_missing_foreign_and_deleted_customers(client, alice, bob, customer):
    gone = ok(client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "Gone"}), 201)["id"]
    ok(client.delete(f"{CUSTOMERS}{gone}/", headers=alice.headers))
    for user, customer_id in [(alice, 999999), (bob, customer), (alice, gone)]:
        response = customer_history(client, user, customer_id)
        assert response.status_code == 404
        assert response.get_json() == CUSTOMER_NOT_FOUND


def test_bob_never_sees_alices_history(client, alice, bob, story):
    bobs = ok(client.post(CUSTOMERS, headers=bob.headers, json={"first_name": "Bob's"}), 201)["id"]
    entry = ok(client.post(ENTRIES, headers=bob.headers,
                           json={"customer": bobs, "key": "phone", "value": "1"}), 201)
    found = ok(customer_history(client, bob, bobs))
    assert [(c["kind"], c["entry"]) for c in found] == [("entry.created", entry["id"]),
                                                        ("customer.created", None)]
    assert ok(customer_history(client, bob, bobs, key="mobile")) == []
    for url in (f"{CUSTOMERS}{story['customer']}/history/", f"{ENTRIES}{story['phone']}/history/"):
        assert client.get(url, headers=bob.headers).status_code == 404
    alices = ok(customer_history(client, alice, story["customer"], kind="customer.created"))
    assert [c["kind"] for c in alices] == ["customer.created"]
    assert entry["id"] not in {c["entry"] for c in ok(customer_history(client, alice, story["customer"]))}


def test_history_needs_a_token(client, customer, post_entry):
    entry = post_entry().get_json()
    for url in (f"{CUSTOMERS}{customer}/history/", f"{ENTRIES}{entry['id']}/history/"):
        assert client.get(url).status_code == 401
