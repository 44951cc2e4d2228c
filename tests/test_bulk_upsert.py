"""Bulk upsert (shared/spec/bulk.md "Bulk upsert", notes/bulk-decisions.md) through HTTP: statuses, per-item
outcomes and their exact errors, repeats, typed and unique keys, files that stay, the change log, ownership,
the items list's own errors, and a race with single creates."""
import io
import threading

import pytest

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
BULK = "/api/message/customer-data/bulk-upsert/"
KEYS = "/api/message/data-keys/"
WAIT = 30  # seconds a thread may take before the test gives up

VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}
REQUIRED = ["This field is required."]
BLANK = ["This field may not be blank."]


def invalid_pk(customer_id):
    return {"customer": [f'Invalid pk "{customer_id}" - object does not exist.']}


def duplicate(key):
    return {"key": [f"A data field with key '{key}' already exists for this customer. Use PUT to update it."]}


def taken(key):
    return {"value": [f"Another customer already has this value for '{key}'."]}


def archived(key):
    return {"key": [f"The key '{key}' is archived: it takes no new values."]}


def repeated(index):
    return {"key": [f"Repeated in this request (item {index})."]}


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def created(index, entry_id):
    return {"index": index, "status": "created", "id": entry_id}


def updated(index, entry_id):
    return {"index": index, "status": "updated", "id": entry_id}


def unchanged(index, entry_id):
    return {"index": index, "status": "unchanged", "id": entry_id}


def error(index, errors):
    return {"index": index, "status": "error", "errors": errors}


def answer(results, created=0, updated=0, unchanged=0, failed=0):
    return {"created": created, "updated": updated, "unchanged": unchanged, "failed": failed, "results": results}


@pytest.fixture
def bulk(client, alice):
    """bulk(items, atomic=None, user=None): the response of a bulk upsert."""

    def post(items, atomic=None, user=None):
        body = {"items": items}
        if atomic is not None:
            body["atomic"] = atomic
        return client.post(BULK, json=body, headers=(user or alice).headers)

    return post


@pytest.fixture
def new_customer(client, alice):
    def make(user=None, **fields):
        response = client.post(CUSTOMERS, json={"first_name": "C", **fields}, headers=(user or alice).headers)
        assert response.status_code == 201
        return response.get_json()["id"]

    return make


@pytest.fixture
def post_entry(client, alice):
    """post_entry(customer, key, value, file=None, user=None): an entry created through the single create."""

    def post(customer, key, value="", file=None, user=None):
        headers = (user or alice).headers
        if file is None:
            response = client.post(ENTRIES, json={"customer": customer, "key": key, "value": value}, headers=headers)
        else:
            response = client.post(ENTRIES, data={"customer": str(customer), "key": key, "value": value,
                                                  "file": (io.BytesIO(file[0]), file[1])}, headers=headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return post


@pytest.fixture
def define(client, alice):
    def define(key, type, **fields):
        response = client.post(KEYS, json={"key": key, "type": type, **fields}, headers=alice.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return define


def listed(client, user):
    """Every entry of the user, as the list answers, by id."""
    return sorted(ok(client.get(ENTRIES, headers=user.headers)), key=lambda entry: entry["id"])


def slots(client, user):
    """{(customer, key): value} of every entry of the user."""
    return {(entry["customer"], entry["key"]): entry["value"] for entry in listed(client, user)}


def entry_history(client, user, entry_id):
    """The entry's changes, newest first, without their id and `at`."""
    changes = ok(client.get(f"{ENTRIES}{entry_id}/history/", headers=user.headers))
    return [{name: change[name] for name in ("kind", "source", "request_id", "customer", "entry", "changes")}
            for change in changes]


def customer_history(client, user, customer_id):
    return ok(client.get(f"{CUSTOMERS}{customer_id}/history/", headers=user.headers))


# Statuses and outcomes

def test_every_item_created_is_a_200_with_results_in_order(client, alice, bulk, customer, new_customer):
    other = new_customer()
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": other, "key": "plan", "value": "basic"},
                    {"customer": customer, "key": "city", "value": "Berlin"}]))
    entries = {(entry["customer"], entry["key"]): entry for entry in listed(client, alice)}
    assert body == answer([created(0, entries[(customer, "plan")]["id"]), created(1, entries[(other, "plan")]["id"]),
                           created(2, entries[(customer, "city")]["id"])], created=3)
    assert {slot: entry["value"] for slot, entry in entries.items()} == {
        (customer, "plan"): "pro", (other, "plan"): "basic", (customer, "city"): "Berlin"}
    # written as a single create would have written them
    one = entries[(customer, "plan")]
    assert one["user"] == alice.id and one["file"] is None and one["file_name"] is None
    assert one["customer_name"] == "John | unknown" and one["created_at"] == one["updated_at"]


def test_created_updated_and_unchanged_in_one_request(client, alice, bulk, customer, post_entry):
    kept = post_entry(customer, "plan", "pro")
    changed = post_entry(customer, "city", "Berlin")
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "city", "value": "Paris"},
                    {"customer": customer, "key": "age", "value": "42"}]))
    entries = {entry["key"]: entry for entry in listed(client, alice)}
    assert body == answer([unchanged(0, kept["id"]), updated(1, changed["id"]), created(2, entries["age"]["id"])],
                          created=1, updated=1, unchanged=1)
    assert entries["plan"] == {**kept, "file_url": None}  # untouched, updated_at included
    assert entries["city"]["value"] == "Paris" and entries["city"]["created_at"] == changed["created_at"]
    assert entries["city"]["updated_at"] != changed["updated_at"]


def test_keys_and_values_are_trimmed_and_numbers_taken_as_text(client, alice, bulk, customer, post_entry):
    existing = post_entry(customer, "plan", "pro")
    body = ok(bulk([{"customer": customer, "key": " plan ", "value": "  pro\n"},
                    {"customer": customer, "key": "\tage", "value": 42},
                    {"customer": customer, "key": "ratio", "value": 1.5}]))
    assert body["results"][0] == unchanged(0, existing["id"])
    assert [result["status"] for result in body["results"]] == ["unchanged", "created", "created"]
    assert slots(client, alice) == {(customer, "plan"): "pro", (customer, "age"): "42", (customer, "ratio"): "1.5"}


def test_some_items_failing_is_a_207_and_the_others_are_written(client, alice, bulk, customer, post_entry):
    existing = post_entry(customer, "plan", "free")
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "city", "value": ""},
                    {"customer": customer, "key": "age", "value": "42"}]), 207)
    age = {entry["key"]: entry for entry in listed(client, alice)}["age"]
    assert body == answer([updated(0, existing["id"]), error(1, {"value": BLANK}), created(2, age["id"])],
                          created=1, updated=1, failed=1)
    assert slots(client, alice) == {(customer, "plan"): "pro", (customer, "age"): "42"}


def test_every_item_failing_is_still_a_207_and_writes_nothing(client, alice, bulk, customer):
    body = ok(bulk([{"customer": customer, "key": "plan"}, {"customer": 999999, "key": "plan", "value": "x"}]), 207)
    assert body == answer([error(0, {"value": REQUIRED}), error(1, invalid_pk(999999))], failed=2)
    assert listed(client, alice) == []


@pytest.mark.parametrize("atomic", [True, "true", 1])
def test_atomic_without_failures_writes_like_non_atomic(client, alice, bulk, customer, post_entry, atomic):
    existing = post_entry(customer, "plan", "free")
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "age", "value": "42"}], atomic=atomic))
    age = {entry["key"]: entry for entry in listed(client, alice)}["age"]
    assert body == answer([updated(0, existing["id"]), created(1, age["id"])], created=1, updated=1)


def test_an_atomic_failure_is_a_400_in_the_list_shape_and_writes_nothing(client, alice, bulk, customer,
                                                                       post_entry, define):
    define("age", "integer")
    existing = post_entry(customer, "plan", "free")
    before = listed(client, alice)
    history_before = customer_history(client, alice, customer)
    response = bulk([{"customer": customer, "key": "plan", "value": "pro"},
                     {"customer": customer, "key": "age", "value": "forty"},
                     {"customer": customer, "key": "city", "value": "Berlin"},
                     {"customer": customer, "key": "plan", "value": "basic"},
                     {"customer": 999999, "key": "x", "value": "y"},
                     {"customer": customer, "key": "plan", "value": "free"}], atomic=True)
    assert response.status_code == 400
    assert response.get_json() == {"items": [{}, {"value": ["A valid integer is required."]}, {},
                                             {"key": ["Repeated in this request (item 0)."]}, invalid_pk(999999),
                                             {"key": ["Repeated in this request (item 0)."]}]}
    assert listed(client, alice) == before
    assert listed(client, alice)[0]["value"] == existing["value"] == "free"
    assert customer_history(client, alice, customer) == history_before


def test_an_atomic_request_whose_every_item_fails_is_a_400(client, alice, bulk, customer):
    response = bulk([{"customer": customer, "key": "", "value": "x"}, "nope"], atomic=True)
    assert response.status_code == 400
    assert response.get_json() == {"items": [{"key": BLANK}, {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}]}
    assert listed(client, alice) == []


def test_atomic_must_be_a_boolean(client, alice, bulk, customer):
    response = bulk([{"customer": customer, "key": "plan", "value": "pro"}], atomic="maybe")
    assert response.status_code == 400
    assert response.get_json() == {"atomic": ["Must be a valid boolean."]}
    assert listed(client, alice) == []


# Per-item errors

LONG_KEY = "k" * 256


@pytest.mark.parametrize(("item", "errors"), [
    ({"key": "plan", "value": "pro"}, {"customer": REQUIRED}),
    ({"customer": 999999, "key": "plan", "value": "pro"}, invalid_pk(999999)),
    ({"customer": "abc", "key": "plan", "value": "pro"},
     {"customer": ["Incorrect type. Expected pk value, received str."]}),
    ({"customer": 1.5, "key": "plan", "value": "pro"},
     {"customer": ["Incorrect type. Expected pk value, received float."]}),
    ({"customer": "{c}", "value": "pro"}, {"key": REQUIRED}),
    ({"customer": "{c}", "key": "", "value": "pro"}, {"key": BLANK}),
    ({"customer": "{c}", "key": "   ", "value": "pro"}, {"key": BLANK}),
    ({"customer": "{c}", "key": LONG_KEY, "value": "pro"},
     {"key": ["Ensure this field has no more than 255 characters."]}),
    ({"customer": "{c}", "key": "plan"}, {"value": REQUIRED}),
    ({"customer": "{c}", "key": "plan", "value": ""}, {"value": BLANK}),
    ({"customer": "{c}", "key": "plan", "value": " \t\n"}, {"value": BLANK}),
    ({"customer": "{c}", "key": "plan", "value": None}, {"value": ["This field may not be null."]}),
    ({}, {"customer": REQUIRED, "key": REQUIRED, "value": REQUIRED}),
    ("plan", {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
    ([1, 2], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    (7, {"non_field_errors": ["Invalid data. Expected a dictionary, but got int."]}),
    (None, {"non_field_errors": ["Invalid data. Expected a dictionary, but got NoneType."]}),
], ids=["customer-missing", "customer-unknown", "customer-str", "customer-float", "key-missing", "key-empty",
        "key-spaces", "key-too-long", "value-missing", "value-empty", "value-spaces", "value-null", "all-missing",
        "item-str", "item-list", "item-int", "item-null"])
def test_an_item_error_is_its_result_and_the_others_are_written(client, alice, bulk, customer, item, errors):
    if isinstance(item, dict):
        item = {name: (customer if value == "{c}" else value) for name, value in item.items()}
    body = ok(bulk([{"customer": customer, "key": "ok", "value": "fine"}, item]), 207)
    kept = listed(client, alice)
    assert body == answer([created(0, kept[0]["id"]), error(1, errors)], created=1, failed=1)
    assert slots(client, alice) == {(customer, "ok"): "fine"}


def test_value_length_limit(app, client, alice, bulk, customer):
    limit = app.config["MAX_VALUE_LENGTH"]
    body = ok(bulk([{"customer": customer, "key": "long", "value": "v" * limit},
                    {"customer": customer, "key": "longer", "value": "v" * (limit + 1)}]), 207)
    assert body["results"][1] == error(1, {"value": [f"Ensure this field has no more than {limit} characters."]})
    assert slots(client, alice) == {(customer, "long"): "v" * limit}


@pytest.mark.parametrize(("type", "fields", "refused", "message", "accepted", "stored"), [
    ("integer", {}, "forty", "A valid integer is required.", "+042", "42"),
    ("integer", {"min": 18}, "17", "Ensure this value is greater than or equal to 18.", "18", "18"),
    ("decimal", {}, "1,5", "A valid number is required.", "1.50", "1.5"),
    ("boolean", {}, "maybe", "Must be a valid boolean.", "YES", "true"),
    ("date", {}, "15.05.1990", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
     "1990-05-15", "1990-05-15"),
    ("email", {}, "not-an-address", "Enter a valid email address.", "Ann@EXAMPLE.com", "Ann@example.com"),
    ("choice", {"choices": ["pro", "basic"]}, "gold", '"gold" is not a valid choice.', "PRO", "pro"),
    ("text", {"max_length": 3}, "four", "Ensure this field has no more than 3 characters.", "abc", "abc"),
])
def test_a_typed_key_refuses_what_its_definition_refuses_and_stores_the_canonical_form(
        client, alice, bulk, customer, new_customer, define, type, fields, refused, message, accepted, stored):
    define("k", type, **fields)
    other = new_customer()
    body = ok(bulk([{"customer": customer, "key": "k", "value": refused},
                    {"customer": other, "key": "k", "value": accepted}]), 207)
    entry = listed(client, alice)[0]
    assert body == answer([error(0, {"value": [message]}), created(1, entry["id"])], created=1, failed=1)
    assert slots(client, alice) == {(other, "k"): stored}
    # the same value in another spelling is no change
    assert ok(bulk([{"customer": other, "key": "k", "value": accepted}])) == answer([unchanged(0, entry["id"])],
                                                                                   unchanged=1)
    assert ok(bulk([{"customer": other, "key": "k", "value": stored}])) == answer([unchanged(0, entry["id"])],
                                                                                 unchanged=1)


def test_an_archived_key_takes_no_new_or_changed_values(client, alice, bulk, customer, new_customer, post_entry):
    existing = post_entry(customer, "plan", "free")
    definition = ok(client.post(KEYS, json={"key": "plan", "type": "text"}, headers=alice.headers), 201)
    ok(client.patch(f"{KEYS}{definition['id']}/", json={"archived": True}, headers=alice.headers))
    other = new_customer()
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": other, "key": "plan", "value": "pro"},
                    {"customer": other, "key": "city", "value": "Rome"}]), 207)
    city = {entry["key"]: entry for entry in listed(client, alice)}["city"]
    assert body == answer([error(0, archived("plan")), error(1, archived("plan")), created(2, city["id"])],
                          created=1, failed=2)
    assert slots(client, alice) == {(customer, "plan"): existing["value"], (other, "city"): "Rome"}


def test_a_file_key_cannot_be_created_through_bulk_but_its_file_entry_takes_a_new_value(
        client, alice, bulk, customer, new_customer, post_entry, define):
    define("contract", "file")
    with_file = post_entry(customer, "contract", "v1", file=(b"%PDF", "contract.pdf"))
    other = new_customer()
    body = ok(bulk([{"customer": other, "key": "contract", "value": "v1"},
                    {"customer": customer, "key": "contract", "value": "v2"}]), 207)
    assert body == answer([error(0, {"file": ["This key needs a file."]}), updated(1, with_file["id"])],
                          updated=1, failed=1)
    entry = ok(client.get(f"{ENTRIES}{with_file['id']}/", headers=alice.headers))
    assert entry["value"] == "v2"
    assert (entry["file"], entry["file_name"]) == (with_file["file"], "contract.pdf")
    assert len(listed(client, alice)) == 1


def test_an_existing_entrys_file_stays_on_update(client, alice, bulk, customer, post_entry):
    with_file = post_entry(customer, "id_card", "", file=(b"\xff\xd8jpeg", "id_card.jpg"))
    body = ok(bulk([{"customer": customer, "key": "id_card", "value": "National ID"}]))
    assert body == answer([updated(0, with_file["id"])], updated=1)
    entry = ok(client.get(f"{ENTRIES}{with_file['id']}/", headers=alice.headers))
    assert entry["value"] == "National ID"
    assert (entry["file"], entry["file_name"]) == (with_file["file"], "id_card.jpg")
    download = client.get(entry["file_url"].removeprefix("http://localhost"))
    assert download.status_code == 200 and download.data == b"\xff\xd8jpeg"
    assert entry_history(client, alice, with_file["id"])[0]["changes"] == {"value": {"from": "", "to": "National ID"}}


def test_a_unique_value_taken_by_another_customer_or_repeated_in_the_request(client, alice, bulk, customer,
                                                                            new_customer, post_entry, define):
    define("company_email", "email", unique=True)
    owner = post_entry(customer, "company_email", "ann@example.com")
    second, third, fourth = new_customer(), new_customer(), new_customer()
    body = ok(bulk([{"customer": second, "key": "company_email", "value": "ann@EXAMPLE.com"},
                    {"customer": third, "key": "company_email", "value": "new@example.com"},
                    {"customer": fourth, "key": "company_email", "value": "new@EXAMPLE.com"},
                    {"customer": customer, "key": "company_email", "value": "ann@EXAMPLE.COM"}]), 207)
    third_entry = {entry["customer"]: entry for entry in listed(client, alice)}[third]
    assert body == answer([error(0, taken("company_email")), created(1, third_entry["id"]),
                           error(2, taken("company_email")), unchanged(3, owner["id"])],
                          created=1, unchanged=1, failed=2)
    assert slots(client, alice) == {(customer, "company_email"): "ann@example.com",
                                    (third, "company_email"): "new@example.com"}


# Repeats

def test_a_repeated_customer_and_key_is_an_error_naming_the_first_item(client, alice, bulk, customer,
                                                                      new_customer):
    other = new_customer()
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": other, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "city", "value": "Rome"},
                    {"customer": customer, "key": " plan", "value": "basic"},
                    {"customer": other, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "Plan", "value": "gold"}]), 207)
    ids = {(entry["customer"], entry["key"]): entry["id"] for entry in listed(client, alice)}
    assert body == answer([created(0, ids[(customer, "plan")]), created(1, ids[(other, "plan")]),
                           created(2, ids[(customer, "city")]), error(3, repeated(0)), error(4, repeated(1)),
                           created(5, ids[(customer, "Plan")])], created=4, failed=2)
    assert body["results"][3]["errors"] == {"key": ["Repeated in this request (item 0)."]}
    assert slots(client, alice)[(customer, "plan")] == "pro"


# The change log

def test_creates_and_updates_record_changes_with_source_bulk(client, alice, bulk, customer, post_entry):
    existing = post_entry(customer, "plan", "free")
    same = post_entry(customer, "city", "Rome")
    response = bulk([{"customer": customer, "key": "plan", "value": "pro"},
                     {"customer": customer, "key": "age", "value": "42"},
                     {"customer": customer, "key": "city", "value": "Rome"}])
    body = ok(response)
    age_id = body["results"][1]["id"]
    request_id = response.headers["X-Request-ID"]
    assert entry_history(client, alice, existing["id"])[0] == {
        "kind": "entry.updated", "source": "bulk", "request_id": request_id, "customer": customer,
        "entry": existing["id"], "changes": {"value": {"from": "free", "to": "pro"}}}
    assert entry_history(client, alice, age_id) == [{
        "kind": "entry.created", "source": "bulk", "request_id": request_id, "customer": customer, "entry": age_id,
        "changes": {"key": {"from": None, "to": "age"}, "value": {"from": None, "to": "42"}}}]
    # the unchanged item records nothing
    assert [change["source"] for change in entry_history(client, alice, same["id"])] == ["api"]
    bulk_changes = [change for change in customer_history(client, alice, customer) if change["source"] == "bulk"]
    assert sorted((change["kind"], change["entry"]) for change in bulk_changes) == sorted(
        [("entry.updated", existing["id"]), ("entry.created", age_id)])


def test_an_all_unchanged_request_records_nothing(client, alice, bulk, customer, post_entry):
    first = post_entry(customer, "plan", "pro")
    second = post_entry(customer, "age", "42")
    before = customer_history(client, alice, customer)
    body = ok(bulk([{"customer": customer, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "age", "value": " 42 "}]))
    assert body == answer([unchanged(0, first["id"]), unchanged(1, second["id"])], unchanged=2)
    assert customer_history(client, alice, customer) == before
    assert listed(client, alice) == sorted([{**first, "file_url": None}, {**second, "file_url": None}],
                                           key=lambda entry: entry["id"])


def test_failed_items_and_atomic_failures_record_nothing(client, alice, bulk, customer):
    before = customer_history(client, alice, customer)
    ok(bulk([{"customer": customer, "key": "plan", "value": ""}]), 207)
    assert bulk([{"customer": customer, "key": "plan", "value": "pro"},
                 {"customer": customer, "key": "age", "value": None}], atomic=True).status_code == 400
    assert customer_history(client, alice, customer) == before


# Ownership

def test_another_users_customers_are_invalid_pks_and_their_entries_untouched(client, alice, bob, bulk, customer,
                                                                           new_customer, post_entry):
    bobs_customer = new_customer(user=bob)
    bobs_entry = post_entry(bobs_customer, "plan", "free", user=bob)
    body = ok(bulk([{"customer": bobs_customer, "key": "plan", "value": "pro"},
                    {"customer": bobs_customer, "key": "new", "value": "x"},
                    {"customer": customer, "key": "plan", "value": "pro"}]), 207)
    mine = listed(client, alice)
    assert body == answer([error(0, invalid_pk(bobs_customer)), error(1, invalid_pk(bobs_customer)),
                           created(2, mine[0]["id"])], created=1, failed=2)
    assert listed(client, bob) == [{**bobs_entry, "file_url": None}]
    assert [entry["customer"] for entry in mine] == [customer]


def test_bobs_bulk_upsert_never_touches_alices_entries(client, alice, bob, bulk, customer, post_entry,
                                                      new_customer):
    alices = post_entry(customer, "plan", "free")
    bobs_customer = new_customer(user=bob)
    body = ok(bulk([{"customer": bobs_customer, "key": "plan", "value": "pro"},
                    {"customer": customer, "key": "plan", "value": "pro"}], user=bob), 207)
    assert body["results"][1] == error(1, invalid_pk(customer))
    assert listed(client, alice) == [{**alices, "file_url": None}]
    assert slots(client, bob) == {(bobs_customer, "plan"): "pro"}


def test_bulk_upsert_needs_a_token(client, customer):
    response = client.post(BULK, json={"items": [{"customer": customer, "key": "plan", "value": "pro"}]})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# The items list

@pytest.mark.parametrize(("body", "errors"), [
    ({"items": "abc"}, {"items": ['Expected a list of items but got type "str".']}),
    ({"items": {"customer": 1, "key": "a", "value": "b"}},
     {"items": ['Expected a list of items but got type "dict".']}),
    ({"items": 5}, {"items": ['Expected a list of items but got type "int".']}),
    ({"items": []}, {"items": ["This list may not be empty."]}),
    ({}, {"items": REQUIRED}),
    ({"atomic": True}, {"items": REQUIRED}),
], ids=["str", "dict", "int", "empty", "missing", "missing-atomic"])
def test_items_must_be_a_non_empty_list(client, alice, customer, body, errors):
    response = client.post(BULK, json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == errors
    assert listed(client, alice) == []


def test_a_body_that_is_not_an_object_is_a_400_on_the_body(client, alice):
    """As on every JSON route: the body as a whole is refused."""
    response = client.post(BULK, json="abc", headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"non_field_errors": ["Invalid data. Expected a JSON object."]}


def test_1000_items_are_taken_and_1001_are_refused(client, alice, bulk, customer):
    items = [{"customer": customer, "key": f"k{n:04d}", "value": str(n)} for n in range(1001)]
    response = bulk(items)
    assert response.status_code == 400
    assert response.get_json() == {"items": ["Ensure this field has no more than 1000 elements."]}
    assert listed(client, alice) == []
    body = ok(bulk(items[:1000]))
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (1000, 0, 0, 0)
    assert [result["index"] for result in body["results"]] == list(range(1000))
    ids = {entry["key"]: entry["id"] for entry in listed(client, alice)}
    assert len(ids) == 1000
    assert body["results"] == [created(n, ids[f"k{n:04d}"]) for n in range(1000)]


def test_bulk_upsert_takes_json_only(client, alice, customer):
    response = client.post(BULK, data={"items": "x"}, headers=alice.headers)
    assert response.status_code == 415
    assert listed(client, alice) == []


# Races

@pytest.mark.parametrize("round_", range(3))
def test_bulk_upserts_racing_a_single_create_never_500_and_leave_one_entry(app, alice, customer, round_):
    """Two bulk upserts and a single create of the same (customer, key) at once: every answer is the
    contract's, and the key ends with exactly one entry holding one of the values sent."""
    key = f"race{round_}"
    barrier = threading.Barrier(3)
    results = {}

    def bulk_upsert(name, value):
        client = app.test_client()
        items = [{"customer": customer, "key": key, "value": value},
                 *({"customer": customer, "key": f"{name}-{n}", "value": "x"} for n in range(20))]
        barrier.wait(WAIT)
        results[name] = client.post(BULK, json={"items": items}, headers=alice.headers)

    def single_create():
        client = app.test_client()
        barrier.wait(WAIT)
        results["single"] = client.post(ENTRIES, json={"customer": customer, "key": key, "value": "single"},
                                        headers=alice.headers)

    threads = [threading.Thread(target=bulk_upsert, args=("first", "one")),
               threading.Thread(target=bulk_upsert, args=("second", "two")),
               threading.Thread(target=single_create)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    answers = {name: (response.status_code, response.get_json()) for name, response in results.items()}
    assert set(answers) == {"first", "second", "single"}
    assert all(status < 500 for status, _ in answers.values()), answers
    status, body = answers["single"]
    assert (status == 201 and body["key"] == key) or (status == 400 and body == duplicate(key)), answers
    for name in ("first", "second"):
        status, body = answers[name]
        assert status == 200, answers
        assert body["failed"] == 0 and body["created"] + body["updated"] + body["unchanged"] == 21, answers
        assert body["results"][0]["status"] in ("created", "updated", "unchanged"), answers
    client = app.test_client()
    mine = ok(client.get(ENTRIES, headers=alice.headers, query_string={"key": key}))
    assert len(mine) == 1, mine
    assert mine[0]["value"] in ("one", "two", "single")
    # every answer that names the entry names the one that stayed
    named = {body["results"][0]["id"] for name, (_, body) in answers.items() if name != "single"}
    if answers["single"][0] == 201:
        named.add(answers["single"][1]["id"])
    assert named == {mine[0]["id"]}, answers
    assert len(listed(client, alice)) == 41


def test_a_single_create_committing_between_the_bulk_read_and_write_is_an_update_of_its_entry(
        app, alice, customer, monkeypatch):
    """The bulk upsert found no entry for the key; a single create commits one (where the database lets it
    meanwhile: PostgreSQL; SQLite serialises the two); then the bulk writes. Never a 500, one entry, and
    the outcome and the change log say what happened to it: one entry.created, the bulk's write an update."""
    from customerdata.message import bulk as bulk_module

    inside, release = threading.Event(), threading.Event()
    original = bulk_module._existing

    def paused(*args, **kwargs):
        found = original(*args, **kwargs)
        if not inside.is_set():
            inside.set()
            assert release.wait(WAIT)
        return found

    monkeypatch.setattr(bulk_module, "_existing", paused)
    results = {}

    def bulk_upsert():
        results["bulk"] = app.test_client().post(
            BULK, json={"items": [{"customer": customer, "key": "plan", "value": "bulk"}]}, headers=alice.headers)

    def single_create():
        results["single"] = app.test_client().post(
            ENTRIES, json={"customer": customer, "key": "plan", "value": "single"}, headers=alice.headers)

    first = threading.Thread(target=bulk_upsert)
    first.start()
    assert inside.wait(WAIT)
    second = threading.Thread(target=single_create)
    second.start()
    second.join(1)  # PostgreSQL: committed by now; SQLite: waiting for the bulk's write lock
    release.set()
    first.join(WAIT)
    second.join(WAIT)
    bulk_status, bulk_body = results["bulk"].status_code, results["bulk"].get_json()
    single_status, single_body = results["single"].status_code, results["single"].get_json()
    assert bulk_status == 200 and single_status in (201, 400), (bulk_body, single_body)
    client = app.test_client()
    mine = ok(client.get(ENTRIES, headers=alice.headers))
    assert len(mine) == 1
    changes = entry_history(client, alice, mine[0]["id"])
    assert [change["kind"] for change in changes].count("entry.created") == 1, changes
    if single_status == 201:
        assert mine[0]["value"] == "bulk"
        assert bulk_body["results"] == [updated(0, single_body["id"])], bulk_body
        assert changes[0]["changes"] == {"value": {"from": "single", "to": "bulk"}}
    else:
        assert single_body == duplicate("plan")
        assert bulk_body["results"] == [created(0, mine[0]["id"])]
        assert mine[0]["value"] == "bulk"


@pytest.fixture
def two_bulk_calls_a_minute(app_config):
    app_config.update({"BULK_RATE_LIMIT": "2 per minute", "RATELIMIT_ENABLED": True})
    return app_config


def test_bulk_upsert_import_and_export_share_the_per_user_bulk_limit(two_bulk_calls_a_minute, client, alice, bob,
                                                                    customer):
    items = {"items": [{"customer": customer, "key": "k", "value": "v"}]}
    assert client.post(BULK, json=items, headers=alice.headers).status_code == 200
    assert client.get("/api/message/customer-data/export/", headers=alice.headers).status_code == 200
    limited = client.post("/api/message/customer-data/import/", headers=alice.headers,
                          data={"file": (io.BytesIO(b"customer,key,value\r\n"), "a.csv")})
    assert limited.status_code == 429 and "Retry-After" in limited.headers
    assert list(limited.get_json()) == ["detail"]
    # per user: bob's calls count on their own
    assert client.get("/api/message/customer-data/export/", headers=bob.headers).status_code == 200
