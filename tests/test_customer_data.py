"""The seven endpoints of customer-data-api.md with CONTRACT.md's decisions, through HTTP."""
import io
import re
import threading

import pytest

from customerdata.extensions import db
from customerdata.models import CustomerData

ENTRIES = "/api/message/customer-data/"
ENTRY_FIELDS = ["id", "customer", "user", "key", "value", "file", "file_url", "file_name", "customer_name",
                "created_at", "updated_at"]
NOT_FOUND = {"detail": "Customer data not found or you don't have permission to access it."}
VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def duplicate(key):
    return {"key": [f"A data field with key '{key}' already exists for this customer. Use PUT to update it."]}


def entry_url(entry_id):
    return f"{ENTRIES}{entry_id}/"


def upload(content=b"%PDF-1.4 contract", name="contract.pdf"):
    return (io.BytesIO(content), name)


@pytest.fixture
def customer(client, alice):
    body = {"first_name": "John", "last_name": "Doe", "username": "johndoe", "source": "instagram"}
    response = client.post("/api/message/customers/", json=body, headers=alice.headers)
    assert response.status_code == 201
    return response.get_json()["id"]


@pytest.fixture
def create(client, alice, customer):
    """POST an entry for alice's customer; JSON unless files or form=True."""

    def create(key="birthday", value="1990-05-15", file=None, form=False, user=None, customer_id=None,
               expect=201):
        body = {"customer": customer if customer_id is None else customer_id, "key": key}
        if value is not None:
            body["value"] = value
        if file is not None:
            body["file"] = file
        headers = (user or alice).headers
        if file is not None or form:
            response = client.post(ENTRIES, data=body, headers=headers)
        else:
            response = client.post(ENTRIES, json=body, headers=headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    return create


def stored_files(app):
    root = app.config["UPLOAD_FOLDER"]
    import os

    return {os.path.relpath(os.path.join(folder, name), root)
            for folder, _, names in os.walk(root) for name in names}


def assert_files_match_rows(app):
    """No file without a row, no row pointing at a missing file."""
    with app.app_context():
        referenced = set(db.session.scalars(db.select(CustomerData.file).where(CustomerData.file.is_not(None))))
    assert stored_files(app) == referenced


def download(client, entry):
    return client.get(entry["file_url"].removeprefix("http://localhost"))


# Create (§2)

def test_create_json_matches_the_document(create, alice, customer):
    entry = create(key="birthday", value="1990-05-15")
    assert list(entry) == ENTRY_FIELDS
    assert entry["customer"] == customer and entry["user"] == alice.id
    assert (entry["key"], entry["value"]) == ("birthday", "1990-05-15")
    assert (entry["file"], entry["file_url"], entry["file_name"]) == (None, None, None)
    assert entry["customer_name"] == "John Doe (@johndoe) | instagram"
    assert TIMESTAMP.match(entry["created_at"]) and entry["created_at"] == entry["updated_at"]


def test_create_multipart_with_file_matches_the_document(create, app, client):
    entry = create(key="id_card", value="National ID Card", file=upload(b"\xff\xd8jpeg", "id_card.jpg"))
    assert entry["value"] == "National ID Card"
    assert re.fullmatch(r"/media/customer_data/\d{4}/\d\d/\d\d/id_card\.jpg", entry["file"])
    assert entry["file_url"].startswith("http://localhost" + entry["file"] + "?")
    assert entry["file_name"] == "id_card.jpg"
    assert stored_files(app) == {entry["file"].removeprefix("/media/")}
    assert download(client, entry).data == b"\xff\xd8jpeg"


def test_create_urlencoded_form(client, alice, customer):
    response = client.post(ENTRIES, data={"customer": str(customer), "key": "city", "value": "Berlin"},
                           headers=alice.headers, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 201
    assert response.get_json()["value"] == "Berlin"


def test_file_only_entry_has_empty_value(create):
    entry = create(key="contract", value=None, file=upload())
    assert entry["value"] == ""


def test_key_and_value_are_trimmed(create):
    entry = create(key="  birthday ", value="  1990-05-15\n")
    assert (entry["key"], entry["value"]) == ("birthday", "1990-05-15")


@pytest.mark.parametrize("form", [False, True])
def test_create_validation_messages(create, form):
    assert create(key=None, form=form, expect=400) == {"key": ["This field may not be null."]} if not form \
        else True
    assert create(key="   ", form=form, expect=400) == {"key": ["This field may not be blank."]}
    assert create(key="k" * 256, form=form, expect=400) == {
        "key": ["Ensure this field has no more than 255 characters."]}
    assert create(key="empty", value="   ", form=form, expect=400) == VALUE_OR_FILE
    assert create(key="none", value=None, form=form, expect=400) == VALUE_OR_FILE
    assert create(customer_id="abc", form=form, expect=400) == {
        "customer": ["Incorrect type. Expected pk value, received str."]}
    assert create(customer_id=99, form=form, expect=400) == {
        "customer": ['Invalid pk "99" - object does not exist.']}


def test_missing_fields_are_required(client, alice):
    response = client.post(ENTRIES, json={}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"customer": ["This field is required."], "key": ["This field is required."]}


def test_null_value_is_refused(client, alice, customer):
    response = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": None}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"value": ["This field may not be null."]}


@pytest.mark.parametrize("form", [False, True])
def test_value_length_limit(app, create, form):
    limit = app.config["MAX_VALUE_LENGTH"]
    assert create(key="long", value="v" * limit, form=form)["value"] == "v" * limit
    assert create(key="longer", value="v" * (limit + 1), form=form, expect=400) == {
        "value": [f"Ensure this field has no more than {limit} characters."]}


def test_duplicate_key_on_create(create):
    create(key="birthday")
    assert create(key="birthday", value="again", expect=400) == duplicate("birthday")
    assert create(key=" birthday ", value="again", file=upload(), expect=400) == duplicate("birthday")


def test_same_key_for_another_customer_or_user(client, create, bob, auth):
    create(key="birthday")
    other = client.post("/api/message/customers/", json={"first_name": "Jane"}, headers=bob.headers).get_json()
    create(key="birthday", user=bob, customer_id=other["id"])


def test_files_are_checked(client, alice, customer, app):
    def post(files):
        return client.post(ENTRIES, data={"customer": str(customer), "key": "doc", "file": files},
                           headers=alice.headers)

    assert post(upload(b"", "empty.txt")).get_json() == {"file": ["The submitted file is empty."]}
    assert post([upload(b"a", "a.txt"), upload(b"b", "b.txt")]).get_json() == {"file": ["Send one file."]}
    # a browser's "no file chosen" is no file at all
    assert post(upload(b"", "")).get_json() == VALUE_OR_FILE
    assert stored_files(app) == set()


def test_text_in_the_file_slot_is_not_a_file(client, alice, customer):
    response = client.post(ENTRIES, data={"customer": str(customer), "key": "doc", "file": "not a file"},
                           headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {
        "file": ["The submitted data was not a file. Check the encoding type on the form."]}


def test_unknown_fields_are_ignored(client, alice, customer):
    response = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v", "colour": "red"},
                           headers=alice.headers)
    assert response.status_code == 201


def test_unsupported_content_type(client, alice):
    response = client.post(ENTRIES, data="key=k", content_type="text/plain", headers=alice.headers)
    assert response.status_code == 415
    assert response.get_json() == {"detail": 'Unsupported media type "text/plain" in request.'}


def json_sent_as(mimetype):
    return {"detail": f'Unsupported media type "{mimetype}" in request: the body is JSON; '
                      "send it with Content-Type: application/json."}


URLENCODED = "application/x-www-form-urlencoded"


def test_json_sent_as_a_form_is_a_415_that_says_so(client, alice, customer):
    """`curl -d '{...}'` without -H sends JSON as application/x-www-form-urlencoded."""
    body = f'{{"customer": {customer}, "key": "birthday", "value": "1999-09-09"}}'
    response = client.post(ENTRIES, data=body, content_type=URLENCODED, headers=alice.headers)
    assert response.status_code == 415
    assert response.get_json() == json_sent_as(URLENCODED)
    # with "=", "&" or "+" in it, the body is still JSON however a form parser would split it
    body = f'{{"customer": {customer}, "key": "a+b", "value": "x=1&y=2"}}'
    response = client.post(ENTRIES, data=body, content_type=URLENCODED, headers=alice.headers)
    assert response.get_json() == json_sent_as(URLENCODED)
    assert client.get(ENTRIES, headers=alice.headers).get_json() == []


def test_json_sent_as_a_form_on_update_is_a_415_and_changes_nothing(client, alice, create):
    entry = create(key="birthday", value="1990-05-15")
    for method in ("PATCH", "PUT"):
        response = client.open(entry_url(entry["id"]), method=method, data='{"value": "1999-09-09"}',
                               content_type=URLENCODED, headers=alice.headers)
        assert response.status_code == 415, method
        assert response.get_json() == json_sent_as(URLENCODED)
    assert client.get(entry_url(entry["id"]), headers=alice.headers).get_json()["value"] == "1990-05-15"


def test_json_sent_as_multipart_without_a_boundary_is_a_415_that_says_so(client, alice, customer):
    body = f'  {{"customer": {customer}, "key": "birthday", "value": "1999-09-09"}}\n'
    response = client.post(ENTRIES, data=body, content_type="multipart/form-data", headers=alice.headers)
    assert response.status_code == 415
    assert response.get_json() == json_sent_as("multipart/form-data")


@pytest.mark.parametrize("body", ['{"key": ', '["not", "an", "object"]', '{key=birthday'])
def test_a_form_that_is_not_a_json_object_is_still_a_form(client, alice, body):
    response = client.post(ENTRIES, data=body, content_type=URLENCODED, headers=alice.headers)
    assert response.status_code == 400
    assert "customer" in response.get_json()


def test_a_json_value_inside_a_form_is_just_a_value(client, alice, customer):
    response = client.post(ENTRIES, data={"customer": str(customer), "key": "prefs", "value": '{"a": 1}'},
                           content_type=URLENCODED, headers=alice.headers)
    assert response.status_code == 201
    assert response.get_json()["value"] == '{"a": 1}'


def test_malformed_json(client, alice):
    response = client.post(ENTRIES, data='{"key": ', content_type="application/json", headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("JSON parse error - ")


def test_body_over_the_upload_limit(app_config, tmp_path):
    from customerdata import create_app

    app_config["MAX_CONTENT_LENGTH"] = 1024
    app = create_app(app_config)
    with app.app_context():
        db.create_all()
    client = app.test_client()
    from conftest import Auth

    user = Auth(client).user("carol")
    customer = client.post("/api/message/customers/", json={}, headers=user.headers).get_json()["id"]
    response = client.post(ENTRIES, data={"customer": str(customer), "key": "big", "file": upload(b"x" * 4096)},
                           headers=user.headers)
    assert response.status_code == 413
    assert "1024 bytes" in response.get_json()["detail"]
    assert stored_files(app) == set()
    with app.app_context():
        db.drop_all()


# Get, list (§1, §3, §6)

def test_get_one(client, alice, create):
    entry = create()
    response = client.get(entry_url(entry["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == entry


def test_list_filters_and_default_order(client, alice, create, customer):
    first = create(key="a", value="1")
    second = create(key="b", value="2")
    listed = client.get(ENTRIES, headers=alice.headers).get_json()
    assert [e["id"] for e in listed] == [second["id"], first["id"]]
    assert client.get(f"{ENTRIES}?customer={customer}", headers=alice.headers).get_json() == listed
    assert client.get(f"{ENTRIES}?customer=999", headers=alice.headers).get_json() == []
    assert client.get(f"{ENTRIES}?customer=99999999999999999999", headers=alice.headers).get_json() == []
    assert [e["key"] for e in client.get(f"{ENTRIES}?key=a", headers=alice.headers).get_json()] == ["a"]
    assert client.get(f"{ENTRIES}?key=A", headers=alice.headers).get_json() == []


def test_list_customer_filter_must_be_an_integer(client, alice):
    response = client.get(f"{ENTRIES}?customer=abc", headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"customer": ["A valid integer is required."]}


def test_ordering(client, alice, create):
    for key in ("b", "c", "a"):
        create(key=key)
    def keys(ordering):
        response = client.get(f"{ENTRIES}?ordering={ordering}", headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        return [e["key"] for e in response.get_json()]

    assert keys("key") == ["a", "b", "c"]
    assert keys("-key") == ["c", "b", "a"]
    assert keys("created_at") == ["b", "c", "a"]
    assert keys("-created_at") == ["a", "c", "b"]
    assert keys("-updated_at,key") == ["a", "c", "b"]
    response = client.get(f"{ENTRIES}?ordering=file", headers=alice.headers)
    assert response.status_code == 400
    assert list(response.get_json()) == ["ordering"]
    assert "key, created_at, updated_at, value" in response.get_json()["ordering"][0]


SEARCHED_ORDERINGS = ["", "key", "-key", "created_at", "-updated_at,key", "value", "-value"]


@pytest.mark.parametrize("ordering", SEARCHED_ORDERINGS)
def test_a_searched_page_is_a_slice_of_the_searched_list_with_its_total(client, alice, bob, create, ordering):
    """A page of a search and its X-Total-Count come from one statement (entries.py): every page,
    the one past the end included, is the same slice of the unpaged search in every order."""
    for n in range(7):
        create(key=f"note_{n % 3}_{n}", value=f"{'match' if n != 4 else 'other'} {(n * 5) % 7}")
    create(key="age", value="12")
    bob_customer = client.post("/api/message/customers/", json={"first_name": "Bo"}, headers=bob.headers)
    assert client.post(ENTRIES, json={"customer": bob_customer.get_json()["id"], "key": "note", "value": "match"},
                       headers=bob.headers).status_code == 201
    query = {"search": "MATCH", "ordering": ordering} if ordering else {"search": "MATCH"}
    everything = client.get(ENTRIES, query_string=query, headers=alice.headers)
    assert everything.status_code == 200
    listed = [entry["id"] for entry in everything.get_json()]
    assert len(listed) == 6
    for limit, offset in ((2, 0), (2, 1), (4, 4), (3, 6), (5, 9)):
        page = client.get(ENTRIES, query_string=query | {"limit": limit, "offset": offset}, headers=alice.headers)
        assert page.status_code == 200, page.get_json()
        assert [entry["id"] for entry in page.get_json()] == listed[offset:offset + limit]
        assert page.headers["X-Total-Count"] == "6"
        assert "total" not in (page.get_json() or [{}])[0]
    alone = client.get(ENTRIES, query_string=query | {"offset": 5}, headers=alice.headers)
    assert [entry["id"] for entry in alone.get_json()] == listed[5:]
    assert alone.headers["X-Total-Count"] == "6"


def test_a_searched_page_orders_a_typed_key_by_its_values(client, alice, create):
    assert client.post("/api/message/data-keys/", json={"key": "score", "type": "integer"},
                       headers=alice.headers).status_code == 201
    for value in ("9", "10", "100", "2"):  # a key once per customer
        someone = client.post("/api/message/customers/", json={"first_name": value}, headers=alice.headers)
        create(key="score", value=value, customer_id=someone.get_json()["id"])
    query = {"key": "score", "search": "score", "ordering": "-value", "limit": 3}
    page = client.get(ENTRIES, query_string=query, headers=alice.headers)
    assert page.status_code == 200, page.get_json()
    assert [entry["value"] for entry in page.get_json()] == ["100", "10", "9"]
    assert page.headers["X-Total-Count"] == "4"
    rest = client.get(ENTRIES, query_string=query | {"offset": 3}, headers=alice.headers)
    assert [entry["value"] for entry in rest.get_json()] == ["2"]


def test_search_every_term_in_key_or_value(client, alice, create):
    create(key="company_email", value="contact@company.com")
    create(key="école", value="Ärger im Büro")
    create(key="note", value="قرارداد امضا شده")
    create(key="rate", value="100% off_peak")
    create(key="plain", value="100 percent offpeak")

    def found(search):
        response = client.get(ENTRIES, query_string={"search": search}, headers=alice.headers)
        assert response.status_code == 200
        return sorted(e["key"] for e in response.get_json())

    assert found("EMAIL") == ["company_email"]
    assert found("company, CONTACT") == ["company_email"]
    assert found("company missing") == []
    assert found("ÉCOLE") == ["école"]
    assert found("ärger BÜRO") == ["école"]
    assert found("قرارداد") == ["note"]
    assert found("%") == ["rate"]
    assert found("_peak") == ["rate"]
    assert found("100%") == ["rate"]
    assert found("\\") == []
    # a term never spans the key and the value
    assert found("emailcontact") == []


def test_paging_headers(client, alice, create):
    for i in range(5):
        create(key=f"k{i}")
    response = client.get(f"{ENTRIES}?limit=2&offset=2", headers=alice.headers)
    assert [e["key"] for e in response.get_json()] == ["k2", "k1"]
    assert response.headers["X-Total-Count"] == "5"
    links = response.headers["Link"]
    assert re.search(r'offset=4&cursor=[\w-]+>; rel="next"', links) and 'offset=0>; rel="prev"' in links
    assert "X-Total-Count" not in client.get(ENTRIES, headers=alice.headers).headers
    limited = client.get(f"{ENTRIES}?limit=2", headers=alice.headers)
    assert [e["key"] for e in limited.get_json()] == ["k4", "k3"] and limited.headers["X-Total-Count"] == "5"
    skipped = client.get(f"{ENTRIES}?offset=3", headers=alice.headers)
    assert [e["key"] for e in skipped.get_json()] == ["k1", "k0"] and skipped.headers["X-Total-Count"] == "5"
    for bad in ("limit=0", "limit=1001", "limit=x"):
        response = client.get(f"{ENTRIES}?{bad}", headers=alice.headers)
        assert response.status_code == 400 and list(response.get_json()) == ["limit"]
    response = client.get(f"{ENTRIES}?offset=-1", headers=alice.headers)
    assert response.status_code == 400 and list(response.get_json()) == ["offset"]


def test_entries_of_one_customer(client, alice, bob, create, customer):
    entry = create()
    url = f"/api/message/customer/{customer}/data/"
    assert client.get(url, headers=alice.headers).get_json() == [entry]
    assert client.get(f"{url}?search=1990", headers=alice.headers).get_json() == [entry]
    for user, missing in ((bob, customer), (alice, 999)):
        response = client.get(f"/api/message/customer/{missing}/data/", headers=user.headers)
        assert response.status_code == 404
        assert response.get_json() == {"detail": "Customer not found."}


# Update (§4)

@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_value_only(client, alice, create, method):
    entry = create(key="id_card", value="National ID Card", file=upload())
    response = getattr(client, method)(entry_url(entry["id"]), json={"value": "Updated national ID information"},
                                       headers=alice.headers)
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["value"] == "Updated national ID information"
    assert (updated["key"], updated["file"], updated["file_name"]) == ("id_card", entry["file"], "contract.pdf")
    assert updated["updated_at"] > entry["updated_at"] and updated["created_at"] == entry["created_at"]


def test_update_ignores_customer_and_user(client, alice, create, bob):
    entry = create()
    response = client.put(entry_url(entry["id"]), json={"customer": 999, "user": bob.id, "value": "x"},
                          headers=alice.headers)
    assert response.status_code == 200
    assert (response.get_json()["customer"], response.get_json()["user"]) == (entry["customer"], alice.id)


def test_rename_to_an_existing_key(client, alice, create):
    create(key="birthday")
    other = create(key="anniversary")
    for body in ({"key": "birthday"}, {"key": " birthday "}):
        response = client.put(entry_url(other["id"]), json=body, headers=alice.headers)
        assert response.status_code == 400
        assert response.get_json() == duplicate("birthday")
    response = client.patch(entry_url(other["id"]), data={"key": "birthday", "file": upload()},
                            headers=alice.headers)
    assert response.get_json() == duplicate("birthday")


def test_update_rules(client, alice, create, app):
    text_only = create(key="text")
    url = entry_url(text_only["id"])
    assert client.put(url, json={"value": ""}, headers=alice.headers).get_json() == VALUE_OR_FILE
    assert client.put(url, json={"value": " ", "remove_file": True}, headers=alice.headers).get_json() == \
        VALUE_OR_FILE
    assert client.put(url, json={"value": None}, headers=alice.headers).get_json() == {
        "value": ["This field may not be null."]}
    assert client.put(url, json={"key": ""}, headers=alice.headers).get_json() == {
        "key": ["This field may not be blank."]}
    assert client.put(url, json={"remove_file": "maybe"}, headers=alice.headers).get_json() == {
        "remove_file": ["Must be a valid boolean."]}
    both = client.put(url, data={"file": upload(), "remove_file": "true"}, headers=alice.headers)
    assert both.status_code == 400
    assert both.get_json() == {"non_field_errors": ["Send either 'file' or 'remove_file', not both."]}
    assert client.put(url, json={}, headers=alice.headers).get_json() == text_only | {
        "updated_at": client.get(url, headers=alice.headers).get_json()["updated_at"]}
    assert stored_files(app) == set()


# File lifecycle, with the upload folder checked after each step

def test_file_lifecycle(client, alice, create, app, customer):
    entry = create(key="contract", value="Signed contract for 2024", file=upload(b"v1", "contract.pdf"))
    url = entry_url(entry["id"])
    assert_files_match_rows(app)

    replaced = client.put(url, data={"file": upload(b"v2", "contract.pdf")}, headers=alice.headers).get_json()
    assert replaced["file"] != entry["file"] and download(client, replaced).data == b"v2"
    assert download(client, entry).status_code == 404
    assert_files_match_rows(app)

    removed = client.put(url, json={"remove_file": True}, headers=alice.headers).get_json()
    assert (removed["file"], removed["file_url"], removed["file_name"]) == (None, None, None)
    assert removed["value"] == "Signed contract for 2024"
    assert_files_match_rows(app)
    assert stored_files(app) == set()

    again = client.patch(url, data={"file": upload(b"v3", "scan.png")}, headers=alice.headers).get_json()
    assert again["file_name"] == "scan.png"
    deleted = client.delete(url, headers=alice.headers)
    assert deleted.status_code == 200
    assert deleted.get_json() == {"message": "Customer data 'contract' deleted successfully",
                                  "deleted_key": "contract"}
    assert client.get(url, headers=alice.headers).status_code == 404
    assert stored_files(app) == set()


@pytest.mark.parametrize("remove_value", ["true", "1", "yes", "on"])
def test_remove_file_form_strings(client, alice, create, app, remove_value):
    entry = create(key="doc", value="keep", file=upload())
    response = client.put(entry_url(entry["id"]), data={"remove_file": remove_value}, headers=alice.headers)
    assert response.status_code == 200 and response.get_json()["file"] is None
    assert stored_files(app) == set()


def test_remove_file_false_keeps_it(client, alice, create, app):
    entry = create(key="doc", value="keep", file=upload())
    response = client.put(entry_url(entry["id"]), data={"remove_file": "off", "value": "new"}, headers=alice.headers)
    assert response.get_json()["file"] == entry["file"]
    assert_files_match_rows(app)


def test_bulk_delete(client, alice, bob, create, app):
    entries = [create(key=f"k{i}", file=upload(name=f"f{i}.txt")) for i in range(3)]
    keep = create(key="keep", file=upload(name="keep.txt"))
    ids = [e["id"] for e in entries]
    foreign = client.post("/api/message/customer-data/bulk-delete/", json={"data_ids": ids}, headers=bob.headers)
    assert foreign.get_json() == {"message": "Successfully deleted 0 customer data item(s)", "deleted_count": 0}
    response = client.post("/api/message/customer-data/bulk-delete/", json={"data_ids": ids + ids[:1] + [999]},
                           headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": "Successfully deleted 3 customer data item(s)", "deleted_count": 3}
    assert [e["id"] for e in client.get(ENTRIES, headers=alice.headers).get_json()] == [keep["id"]]
    assert_files_match_rows(app)
    assert len(stored_files(app)) == 1


@pytest.mark.parametrize("body, message", [
    ({}, "This field is required."),
    ({"data_ids": []}, "This list may not be empty."),
    ({"data_ids": "1,2"}, 'Expected a list of items but got type "str".'),
    ({"data_ids": [1, "x"]}, "A valid integer is required."),
    ({"data_ids": [True]}, "A valid integer is required."),
    ({"data_ids": list(range(1, 1002))}, "Ensure this field has no more than 1000 elements."),
])
def test_bulk_delete_validation(client, alice, body, message):
    response = client.post("/api/message/customer-data/bulk-delete/", json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"data_ids": [message]}


def test_customer_delete_takes_entries_and_files(client, alice, create, app, customer):
    create(key="a", file=upload(name="a.txt"))
    create(key="b")
    response = client.delete(f"/api/message/customers/{customer}/", headers=alice.headers)
    assert response.get_json() == {"message": f"Customer {customer} deleted successfully",
                                   "deleted_id": customer, "deleted_data_count": 2}
    assert client.get(ENTRIES, headers=alice.headers).get_json() == []
    assert stored_files(app) == set()
    assert_files_match_rows(app)


def test_user_delete_takes_entries_and_files(client, alice, bob, create, app, runner):
    create(key="a", file=upload(name="a.txt"))
    other = client.post("/api/message/customers/", json={"first_name": "Bo"}, headers=bob.headers).get_json()
    kept = create(key="b", file=upload(name="b.txt"), user=bob, customer_id=other["id"])
    result = runner.invoke(args=["users", "delete", "alice", "--yes"])
    assert result.exit_code == 0, result.output
    assert stored_files(app) == {kept["file"].removeprefix("/media/")}
    assert_files_match_rows(app)


@pytest.mark.parametrize(("method", "failing"), [("post", "INSERT"), ("put", "UPDATE")])
def test_failed_write_leaves_no_file(client, alice, create, app, monkeypatch, database_fails_on, method, failing):
    kept = create(key="kept", value="text")
    database_fails_on(failing)
    if method == "post":
        response = client.post(ENTRIES, data={"customer": "1", "key": "doc", "file": upload()}, headers=alice.headers)
    else:
        response = client.put(f"{ENTRIES}{kept['id']}/", data={"file": upload()}, headers=alice.headers)
    monkeypatch.undo()
    assert response.status_code == 500
    assert response.get_json() == {"detail": "Internal server error."}
    assert stored_files(app) == set()
    assert client.get(ENTRIES, headers=alice.headers).get_json() == [kept]


@pytest.fixture
def read_stale(monkeypatch):
    """The update's first read of the entry sees an older value, as if another request wrote since."""
    from customerdata.message import entries

    read = entries.get_entry
    monkeypatch.setattr(entries, "get_entry", lambda owner, entry: read(owner, entry)._replace(value="stale"))


def test_an_entry_changed_since_it_was_read_is_updated_from_a_fresh_read(client, alice, create, monkeypatch,
                                                                         read_stale):
    entry = create(key="note", value="current")
    response = client.patch(f"{ENTRIES}{entry['id']}/", json={"key": "renamed"}, headers=alice.headers)
    monkeypatch.undo()
    assert response.status_code == 200
    assert (response.get_json()["key"], response.get_json()["value"]) == ("renamed", "current")
    assert client.get(f"{ENTRIES}{entry['id']}/", headers=alice.headers).get_json() == response.get_json()


def test_a_failed_commit_of_the_redone_update_leaves_no_file(client, alice, create, app, monkeypatch, read_stale,
                                                             database_fails_on):
    kept = create(key="kept", value="text")
    database_fails_on("COMMIT")
    response = client.put(f"{ENTRIES}{kept['id']}/", data={"file": upload()}, headers=alice.headers)
    monkeypatch.undo()
    assert response.status_code == 500
    assert stored_files(app) == set()
    assert client.get(ENTRIES, headers=alice.headers).get_json() == [kept]


def test_same_file_name_never_overwrites(create, client):
    first = create(key="a", file=upload(b"first", "same.txt"))
    second = create(key="b", file=upload(b"second", "same.txt"))
    assert first["file"] != second["file"]
    assert re.fullmatch(r"/media/customer_data/.*/same_[0-9a-f]{8}\.txt", second["file"])
    assert download(client, first).data == b"first" and download(client, second).data == b"second"


@pytest.mark.parametrize("name, stored, kept", [
    ("../../etc/passwd", r"passwd", "passwd"),
    ("قرارداد.pdf", r"[0-9a-f]{16}\.pdf", "قرارداد.pdf"),
    ("日本.txt", r"[0-9a-f]{16}\.txt", "日本.txt"),
    ("photos/2024/scan copy.JPG", r"scan_copy\.jpg", "scan copy.JPG"),
])
def test_stored_and_kept_names(create, name, stored, kept):
    entry = create(key="doc", file=upload(b"data", name))
    assert re.fullmatch(r"/media/customer_data/\d{4}/\d\d/\d\d/" + stored, entry["file"]), entry["file"]
    assert entry["file_name"] == kept


# Isolation: another user's ids answer exactly as missing ones

def test_isolation_on_every_route(client, alice, bob, create, customer, app):
    entry = create(key="secret", value="alice only", file=upload())
    url = entry_url(entry["id"])
    for method, kwargs in (("get", {}), ("put", {"json": {"value": "x"}}), ("patch", {"json": {"value": "x"}}),
                           ("delete", {})):
        response = getattr(client, method)(url, headers=bob.headers, **kwargs)
        assert response.status_code == 404 and response.get_json() == NOT_FOUND
        missing = getattr(client, method)(entry_url(999), headers=bob.headers, **kwargs)
        assert missing.get_json() == NOT_FOUND
    assert client.get(ENTRIES, headers=bob.headers).get_json() == []
    assert client.get(f"{ENTRIES}?customer={customer}", headers=bob.headers).get_json() == []
    assert client.get(f"{ENTRIES}?search=alice", headers=bob.headers).get_json() == []
    response = client.post(ENTRIES, json={"customer": customer, "key": "k", "value": "v"}, headers=bob.headers)
    assert response.get_json() == {"customer": [f'Invalid pk "{customer}" - object does not exist.']}
    again = client.get(url, headers=alice.headers).get_json()
    # file_url carries its own expiry, so only the rest must be identical
    assert again | {"file_url": None} == entry | {"file_url": None}
    assert download(client, again).data == b"%PDF-1.4 contract"
    assert_files_match_rows(app)


def test_every_route_needs_a_token(client, create):
    entry = create()
    for method, path in (("get", ENTRIES), ("post", ENTRIES), ("get", entry_url(entry["id"])),
                         ("put", entry_url(entry["id"])), ("patch", entry_url(entry["id"])),
                         ("delete", entry_url(entry["id"])), ("get", "/api/message/customer/1/data/"),
                         ("post", ENTRIES + "bulk-delete/")):
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_ids_beyond_any_row(client, alice):
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(entry_url(99999999999999999999), headers=alice.headers, json={})
        assert response.status_code == 404 and response.get_json() == NOT_FOUND


# Races

def test_duplicate_key_race_gives_one_entry_and_400s(app, alice, customer):
    """Concurrent creates of one key: exactly one wins, the rest get the contract's 400, no file remains."""
    barrier = threading.Barrier(6)
    results = []

    def attempt(n):
        client = app.test_client()
        barrier.wait()
        response = client.post(ENTRIES, data={"customer": str(customer), "key": "birthday",
                                              "file": upload(b"x", f"f{n}.txt")}, headers=alice.headers)
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 400, 400, 400, 400, 400], results
    assert all(body == duplicate("birthday") for status, body in results if status == 400)
    assert_files_match_rows(app)
    assert len(stored_files(app)) == 1


def test_ids_are_never_reused(client, alice, create):
    first = create(key="a")
    client.delete(entry_url(first["id"]), headers=alice.headers)
    assert create(key="b")["id"] > first["id"]


def test_offset_alone_links_to_the_page_before(client, alice, create):
    for i in range(5):
        create(key=f"k{i}")
    response = client.get(f"{ENTRIES}?offset=2&ordering=key", headers=alice.headers)
    assert [e["key"] for e in response.get_json()] == ["k2", "k3", "k4"]
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["Link"] == (
        f'<http://localhost{ENTRIES}?offset=0&ordering=key&limit=2>; rel="prev"')
    before = client.get(response.headers["Link"][1:].split(">")[0].removeprefix("http://localhost"),
                        headers=alice.headers)
    assert [e["key"] for e in before.get_json()] == ["k0", "k1"]
    assert "Link" not in client.get(f"{ENTRIES}?offset=0", headers=alice.headers).headers
