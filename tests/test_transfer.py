"""CSV and JSON Lines export, CSV import (shared/spec/bulk.md "CSV and JSON Lines export" and "CSV import",
notes/bulk-decisions.md) through HTTP: the file's exact bytes, escaping, filters equal to the list's, round
trips, row-numbered errors, modes, dry runs, atomic imports, structural 400s, the change log, ownership, and
a live server that exports 100,000 entries in flat memory."""
import codecs
import csv
import http.client
import io
import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, insert

from customerdata.models import CustomerData, utcnow

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
BULK = "/api/message/customer-data/bulk-upsert/"
EXPORT = "/api/message/customer-data/export/"
IMPORT = "/api/message/customer-data/import/"
KEYS = "/api/message/data-keys/"

HEADER = "id,customer,customer_name,key,value,file_name,created_at,updated_at"
COLUMNS = HEADER.split(",")
BOM = codecs.BOM_UTF8
VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}
NEEDS_COLUMNS = {"file": ["The CSV needs the columns customer, key, value."]}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def duplicate(key):
    return {"key": [f"A data field with key '{key}' already exists for this customer. Use PUT to update it."]}


def invalid_pk(customer_id):
    return {"customer": [f'Invalid pk "{customer_id}" - object does not exist.']}


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:2000])
    return response.get_json()


def report(created=0, updated=0, unchanged=0, errors=()):
    return {"created": created, "updated": updated, "unchanged": unchanged, "failed": len(errors),
            "errors": list(errors)}


def cell(text):
    """A cell as RFC 4180 and the contract's formula escaping write it."""
    text = "" if text is None else str(text)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    if any(char in text for char in ',"\r\n'):
        text = '"' + text.replace('"', '""') + '"'
    return text


def csv_of(entries, bom=False):
    """The export's exact bytes for these entries (as the list answers them)."""
    lines = [HEADER] + [",".join(cell(entry[name]) for name in COLUMNS) for entry in entries]
    return (BOM if bom else b"") + "".join(line + "\r\n" for line in lines).encode()


def rows_of(data):
    """The data rows of a CSV export, parsed, as lists of cells."""
    text = data.decode("utf-8").removeprefix("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == COLUMNS
    return rows[1:]


def write_csv(rows, delimiter=",", lineterminator="\r\n", bom=False):
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator=lineterminator).writerows(rows)
    return (BOM if bom else b"") + buffer.getvalue().encode()


def without_file_url(entry):
    return {name: value for name, value in entry.items() if name != "file_url"}


@pytest.fixture
def new_customer(client, alice):
    def make(user=None, **fields):
        response = client.post(CUSTOMERS, json=fields or {"first_name": "C"}, headers=(user or alice).headers)
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
def bulk(client, alice):
    """bulk(items): seed entries through the bulk upsert, 1,000 items a request."""

    def seed(items, user=None):
        for start in range(0, len(items), 1000):
            body = ok(client.post(BULK, json={"items": items[start:start + 1000]}, headers=(user or alice).headers))
            assert body["failed"] == 0, body

    return seed


@pytest.fixture
def define(client, alice):
    def define(key, type, **fields):
        response = client.post(KEYS, json={"key": key, "type": type, **fields}, headers=alice.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return define


def export(client, user, **params):
    return client.get(EXPORT, headers=user.headers, query_string=params)


def import_csv(client, user, content, name="data.csv", **params):
    if isinstance(content, str):
        content = content.encode()
    return client.post(IMPORT, headers=user.headers, query_string=params,
                       data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def listed(client, user, **params):
    response = client.get(ENTRIES, headers=user.headers, query_string=params)
    return ok(response)


def by_id(client, user):
    """The user's entries by id, without `file_url` (its signature expires, so it changes by the second)."""
    return sorted(map(without_file_url, listed(client, user)), key=lambda entry: entry["id"])


def slots(client, user):
    return {(entry["customer"], entry["key"]): entry["value"] for entry in listed(client, user)}


def history(client, user, customer_id):
    return ok(client.get(f"{CUSTOMERS}{customer_id}/history/", headers=user.headers))


def seed_rows(db, owner_id, customer_id, values):
    """Entries written straight to the database: values the API would trim (leading tab or CR)."""
    now = utcnow()
    db.session.execute(insert(CustomerData), [
        {"customer_id": customer_id, "user_id": owner_id, "key": key, "value": value,
         "search_text": CustomerData.search_text_for(key, value), "created_at": now + timedelta(microseconds=n),
         "updated_at": now + timedelta(microseconds=n)} for n, (key, value) in enumerate(values)])
    db.session.commit()


# Values that need quoting or escaping, with Unicode (none has surrounding white space: the API trims it)
TRICKY = [
    ("plain", "pro"),
    ("comma", "a,b,c"),
    ("quote", 'say "hi", then "bye"'),
    ("newline", "line one\nline two"),
    ("crlf", "line one\r\nline two"),
    ("unicode", "Grüße, 東京 😀 قرارداد"),
    ("formula", "=SUM(A1:A2)"),
    ("plus", "+49 30 123456"),
    ("minus", "-5"),
    ("at", "@home"),
    ("apostrophe", "'quoted"),
    ("apostrophes", "''twice"),
    ("-minus-key", "key starts with a minus"),
    ("=eq", '=HYPERLINK("http://x")'),
    ("tab-inside", "a\tb"),
]


@pytest.fixture
def tricky(client, alice, new_customer, post_entry):
    """Alice's entries with every kind of cell (a file-only entry and a file entry with a value among them);
    returns the first customer's id."""
    first = new_customer(first_name="Zoë", last_name="Ünal", username="zoe", source="telegram")
    second = new_customer(first_name="=cmd|' /C calc'!A0")
    ok(client.post(BULK, json={"items": [{"customer": first, "key": key, "value": value} for key, value in TRICKY]},
                   headers=alice.headers))
    post_entry(second, "contract", "", file=(b"%PDF", "Vertrag, final.pdf"))
    post_entry(second, "id_card", "National ID", file=(b"\xff\xd8", "id_card.jpg"))
    post_entry(second, "note", "@mention")
    return first


# Export: the CSV

def test_the_csv_is_exactly_the_lists_entries_by_id_with_crlf_and_rfc_4180_quoting(client, alice, tricky):
    response = export(client, alice)
    assert response.status_code == 200
    entries = by_id(client, alice)
    assert len(entries) == len(TRICKY) + 3
    assert response.data == csv_of(entries)
    assert response.data.startswith((HEADER + "\r\n").encode())
    # every line ends in CRLF: a bare LF or CR only ever inside a quoted value
    outside_quotes = response.data.decode().split('"')[::2]
    assert all("\n" not in part.replace("\r\n", "") and "\r" not in part.replace("\r\n", "")
               for part in outside_quotes)
    rows = rows_of(response.data)
    assert [row[0] for row in rows] == [str(entry["id"]) for entry in entries]


@pytest.mark.parametrize(("key", "value", "line_cells"), [
    ("comma", "a,b,c", '"a,b,c"'),
    ("quote", 'say "hi", then "bye"', '"say ""hi"", then ""bye"""'),
    ("newline", "line one\nline two", '"line one\nline two"'),
    ("crlf", "line one\r\nline two", '"line one\r\nline two"'),
    ("unicode", "Grüße, 東京 😀 قرارداد", '"Grüße, 東京 😀 قرارداد"'),
    ("plain", "Grüße", "Grüße"),
    ("formula", "=SUM(A1:A2)", "'=SUM(A1:A2)"),
    ("plus", "+49", "'+49"),
    ("minus", "-5", "'-5"),
    ("at", "@home", "'@home"),
    ("apostrophe", "'quoted", "''quoted"),
    ("formula-comma", '=HYPERLINK("x","y")', '"\'=HYPERLINK(""x"",""y"")"'),
    ("inside", "a=b+c-d@e", "a=b+c-d@e"),
])
def test_a_cell_is_quoted_and_escaped_exactly(client, alice, customer, key, value, line_cells):
    entry = ok(client.post(ENTRIES, json={"customer": customer, "key": key, "value": value}, headers=alice.headers),
               201)
    data = export(client, alice).data
    expected = (f'{entry["id"]},{customer},John | unknown,{key},{line_cells},,{entry["created_at"]},'
                f'{entry["updated_at"]}\r\n')
    assert data == (HEADER + "\r\n" + expected).encode()
    assert rows_of(data)[0][4] == ("'" + value if value.startswith(FORMULA_STARTS) else value)


def test_cells_starting_with_tab_or_carriage_return_get_an_apostrophe_too(client, alice, db, customer):
    seed_rows(db, alice.id, customer, [("tab", "\tcmd"), ("cr", "\rcmd"), ("plain", "cmd")])
    rows = rows_of(export(client, alice).data)
    assert [(row[3], row[4]) for row in rows] == [("tab", "'\tcmd"), ("cr", "'\rcmd"), ("plain", "cmd")]
    assert b",\"'\rcmd\"," in export(client, alice).data


def test_keys_customer_names_and_file_names_are_escaped_too(client, alice, new_customer, post_entry):
    evil = new_customer(first_name="=cmd", last_name="x")
    post_entry(evil, "@key", "v")
    post_entry(evil, "doc", "", file=(b"x", "+file.txt"))
    rows = rows_of(export(client, alice).data)
    assert [(row[2], row[3], row[5]) for row in rows] == [("'=cmd x | unknown", "'@key", ""),
                                                          ("'=cmd x | unknown", "doc", "'+file.txt")]


def test_a_null_file_name_is_an_empty_cell_and_times_are_as_answered(client, alice, customer, post_entry):
    text = post_entry(customer, "a", "v")
    with_file = post_entry(customer, "b", "", file=(b"x", "Ærø.txt"))
    rows = rows_of(export(client, alice).data)
    assert rows == [
        [str(text["id"]), str(customer), "John | unknown", "a", "v", "", text["created_at"], text["updated_at"]],
        [str(with_file["id"]), str(customer), "John | unknown", "b", "", "Ærø.txt", with_file["created_at"],
         with_file["updated_at"]]]


@pytest.mark.parametrize(("bom", "starts"), [("true", BOM + b"id,"), ("1", BOM + b"id,"), ("false", b"id,"),
                                             (None, b"id,")])
def test_bom_true_prefixes_a_utf8_bom(client, alice, customer, post_entry, bom, starts):
    post_entry(customer, "unicode", "Grüße")
    params = {} if bom is None else {"bom": bom}
    response = export(client, alice, **params)
    assert response.data.startswith(starts)
    assert response.data.count(BOM) == (1 if starts.startswith(BOM) else 0)
    assert response.data.removeprefix(BOM) == csv_of(by_id(client, alice))


def test_an_empty_export_is_the_header_alone(client, alice):
    assert export(client, alice).data == (HEADER + "\r\n").encode()
    assert export(client, alice, format="jsonl").data == b""


def test_the_default_order_is_id(client, alice, customer, new_customer, post_entry):
    other = new_customer()
    made = [post_entry(customer, "zeta", "1"), post_entry(other, "alpha", "2"), post_entry(customer, "mid", "3")]
    ok(client.put(f"{ENTRIES}{made[0]['id']}/", json={"value": "updated last"}, headers=alice.headers))
    ids = [int(row[0]) for row in rows_of(export(client, alice).data)]
    assert ids == [entry["id"] for entry in made]
    lines = export(client, alice, format="jsonl").data.decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ids


@pytest.mark.parametrize(("content_format", "filename", "mimetype"), [
    (None, "customer-data.csv", "text/csv"), ("csv", "customer-data.csv", "text/csv"),
    ("jsonl", "customer-data.jsonl", None)])
def test_content_disposition_and_type(client, alice, customer, post_entry, content_format, filename, mimetype):
    post_entry(customer, "a", "v")
    response = export(client, alice, **({"format": content_format} if content_format else {}))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == f'attachment; filename="{filename}"'
    if mimetype:
        assert response.mimetype == mimetype
        assert response.mimetype_params.get("charset", "").lower() in ("utf-8", "")
    else:
        assert response.mimetype in ("application/jsonl", "application/x-ndjson", "application/x-jsonlines",
                                     "application/json-lines")


# Export: filters and JSON Lines

FILTERS = [
    {"customer": "{first}"},
    {"customer": "{second}"},
    {"customer": "999999"},
    {"key": "plan"},
    {"key": "Plan"},
    {"search": "ber"},
    {"search": "ÉCOLE"},
    {"search": "pro, plan"},
    {"search": "50%"},
    {"key": "age", "value__gte": "30"},
    {"key": "age", "value__lt": "30", "customer": "{first}"},
    {"key": "age", "value__in": "25,41"},
    {"key": "age", "value": "041"},
    {"key": "plan", "value__ne": "pro"},
    {"key": "city", "value__contains": "ERL"},
    {"ordering": "key"},
    {"ordering": "-key"},
    {"ordering": "-updated_at,key"},
    {"ordering": "created_at"},
    {"key": "age", "ordering": "-value"},
    {"key": "age", "ordering": "value"},
    {"ordering": "value"},
    {"search": "e", "ordering": "key", "customer": "{first}"},
]


@pytest.fixture
def filterable(client, alice, new_customer, define, bulk):
    define("age", "integer")
    first, second = new_customer(), new_customer()
    bulk([{"customer": first, "key": "plan", "value": "pro"}, {"customer": first, "key": "city", "value": "Berlin"},
          {"customer": first, "key": "age", "value": "41"}, {"customer": first, "key": "school", "value": "école"},
          {"customer": first, "key": "Plan", "value": "upper"}, {"customer": first, "key": "discount",
                                                                  "value": "50% off"},
          {"customer": second, "key": "plan", "value": "basic"}, {"customer": second, "key": "age", "value": "25"},
          {"customer": second, "key": "city", "value": "Bern"}, {"customer": second, "key": "note",
                                                                  "value": "500 percent"}])
    bulk([{"customer": second, "key": "age", "value": "9"}, {"customer": first, "key": "plan", "value": "pro plan"}])
    return {"first": str(first), "second": str(second)}


@pytest.mark.parametrize("params", FILTERS, ids=["&".join(f"{k}={v}" for k, v in p.items()) for p in FILTERS])
def test_export_answers_the_entries_the_list_answers(client, alice, filterable, params):
    params = {name: value.format(**filterable) for name, value in params.items()}
    answered = listed(client, alice, **params)
    expected = answered if "ordering" in params else sorted(answered, key=lambda entry: entry["id"])
    data = export(client, alice, **params).data
    assert data == csv_of(expected)
    lines = export(client, alice, format="jsonl", **params).data.decode()
    assert lines.count("\n") == len(expected)
    assert [json.loads(line) for line in lines.splitlines()] == [without_file_url(entry) for entry in expected]


def test_some_filters_match_something(client, alice, filterable):
    """The table above is not vacuous."""
    assert len(rows_of(export(client, alice, key="age", value__gte="30").data)) == 1
    assert len(rows_of(export(client, alice, search="ber").data)) == 2
    assert len(rows_of(export(client, alice, search="ÉCOLE").data)) == 1
    assert len(rows_of(export(client, alice, search="50%").data)) == 1
    assert len(rows_of(export(client, alice, customer=filterable["first"]).data)) == 6


def test_jsonl_lines_are_the_list_items_without_file_url(client, alice, tricky):
    lines = export(client, alice, format="jsonl").data.decode("utf-8")
    assert lines.endswith("\n")
    parsed = [json.loads(line) for line in lines.split("\n")[:-1]]
    entries = by_id(client, alice)
    assert parsed == entries
    assert all(list(found) == list(entry) for found, entry in zip(parsed, entries))
    assert any(entry["file"] for entry in parsed) and not any("file_url" in entry for entry in parsed)


def test_limit_and_offset_are_not_taken(client, alice, customer, post_entry):
    for n in range(3):
        post_entry(customer, f"k{n}", "v")
    response = export(client, alice, limit="1", offset="1")
    assert response.status_code == 200
    assert len(rows_of(response.data)) == 3
    assert "X-Total-Count" not in response.headers and "Link" not in response.headers


@pytest.mark.parametrize("params", [
    {"customer": "abc"}, {"ordering": "value,bogus"}, {"ordering": "id"}, {"value": "x"},
    {"key": "age", "value__gt": "old"},
    {"key": "city", "value__gt": "a"}, {"value__in": "a,b"},
], ids=["customer", "ordering", "ordering-id", "value-without-key", "value-not-integer", "lookup-for-text",
        "in-without-key"])
def test_a_bad_parameter_is_the_lists_400(client, alice, define, params):
    define("age", "integer")
    listed_answer = client.get(ENTRIES, headers=alice.headers, query_string=params)
    assert listed_answer.status_code == 400
    response = export(client, alice, **params)
    assert response.status_code == 400
    assert response.get_json() == listed_answer.get_json()


@pytest.mark.parametrize("fmt", ["xml", "CSV", "json", ""])
def test_a_format_other_than_csv_or_jsonl_is_a_400(client, alice, fmt):
    response = export(client, alice, format=fmt)
    assert response.status_code == 400
    assert response.get_json() == {"format": [f'"{fmt}" is not a valid choice.']}


def test_export_shows_only_the_callers_entries(client, alice, bob, customer, new_customer, post_entry):
    mine = post_entry(customer, "plan", "pro")
    bobs_customer = new_customer(user=bob)
    post_entry(bobs_customer, "plan", "bob's", user=bob)
    assert rows_of(export(client, alice).data) == [[str(mine["id"]), str(customer), "John | unknown", "plan", "pro",
                                                    "", mine["created_at"], mine["updated_at"]]]
    assert export(client, alice, customer=str(bobs_customer)).data == (HEADER + "\r\n").encode()
    assert export(client, alice, customer=str(bobs_customer), format="jsonl").data == b""
    assert [row[4] for row in rows_of(export(client, bob).data)] == ["bob's"]


def test_export_and_import_need_a_token(client):
    assert client.get(EXPORT).status_code == 401
    response = client.post(IMPORT, data={"file": (io.BytesIO(b"customer,key,value\r\n"), "a.csv")})
    assert response.status_code == 401


# Import: round trips

def semicolons(data):
    """The same file `;` separated, as a spreadsheet in a comma-decimal locale saves it."""
    text = data.decode("utf-8")
    return write_csv(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")), delimiter=";",
                     bom=text.startswith("\ufeff"))


@pytest.mark.parametrize("variant", ["as-exported", "bom", "semicolons", "semicolons-bom", "lf-line-ends"])
def test_an_export_imports_back_unchanged(client, alice, tricky, variant):
    data = export(client, alice, **({"bom": "true"} if "bom" in variant else {})).data
    if variant.startswith("semicolons"):
        data = semicolons(data)
        assert data.removeprefix(BOM).startswith(b"id;customer;customer_name;key;value;")
    if variant == "lf-line-ends":
        data = write_csv(csv.reader(io.StringIO(data.decode(), newline="")), lineterminator="\n")
    before = by_id(client, alice)
    changes_before = history(client, alice, tricky)
    body = ok(import_csv(client, alice, data))
    assert body == report(unchanged=len(before))
    assert by_id(client, alice) == before
    assert history(client, alice, tricky) == changes_before


def test_an_export_imports_back_into_emptied_slots_as_the_same_values(client, alice, customer, bulk):
    """The escaped cells (', =, +, -, @), quotes, newlines and Unicode come back as they were sent."""
    bulk([{"customer": customer, "key": key, "value": value} for key, value in TRICKY])
    data = export(client, alice).data
    before = slots(client, alice)
    ok(client.post(f"{ENTRIES}bulk-delete/", json={"data_ids": [entry["id"] for entry in listed(client, alice)]},
                   headers=alice.headers))
    body = ok(import_csv(client, alice, data))
    assert body == report(created=len(TRICKY))
    assert slots(client, alice) == before


def test_a_leading_apostrophe_is_removed_once_from_customer_key_and_value(client, alice, customer):
    data = f"customer,key,value\r\n'{customer},'=k,'=1+1\r\n{customer},''a,''b\r\n{customer},plain,don't\r\n"
    assert ok(import_csv(client, alice, data)) == report(created=3)
    assert slots(client, alice) == {(customer, "=k"): "=1+1", (customer, "'a"): "'b", (customer, "plain"): "don't"}


def test_other_columns_are_ignored_and_any_column_order_is_taken(client, alice, customer, new_customer):
    other = new_customer()
    data = (f"note,value,id,key,customer\r\nignored,pro,1,plan,{customer}\r\n"
            f"x,\"Berlin, DE\",999,city,{other}\r\n")
    assert ok(import_csv(client, alice, data)) == report(created=2)
    assert slots(client, alice) == {(customer, "plan"): "pro", (other, "city"): "Berlin, DE"}


def test_a_semicolon_separated_file_keeps_commas_in_values(client, alice, customer):
    data = f"customer;key;value\r\n{customer};price;1,50\r\n{customer};list;\"a;b\"\r\n".encode()
    assert ok(import_csv(client, alice, BOM + data)) == report(created=2)
    assert slots(client, alice) == {(customer, "price"): "1,50", (customer, "list"): "a;b"}


def test_created_updated_and_unchanged_rows_and_their_changes_with_source_import(client, alice, customer,
                                                                              post_entry):
    plan = post_entry(customer, "plan", "free")
    city = post_entry(customer, "city", "Rome")
    response = import_csv(client, alice, f"customer,key,value\r\n{customer},plan,pro\r\n{customer},city,Rome\r\n"
                                         f"{customer},age,42\r\n")
    assert ok(response) == report(created=1, updated=1, unchanged=1)
    age = {entry["key"]: entry for entry in listed(client, alice)}["age"]
    request_id = response.headers["X-Request-ID"]
    recorded = [{name: change[name] for name in ("kind", "source", "request_id", "customer", "entry", "changes")}
                for change in history(client, alice, customer) if change["source"] == "import"]
    assert sorted(recorded, key=lambda change: change["entry"]) == sorted([
        {"kind": "entry.updated", "source": "import", "request_id": request_id, "customer": customer,
         "entry": plan["id"], "changes": {"value": {"from": "free", "to": "pro"}}},
        {"kind": "entry.created", "source": "import", "request_id": request_id, "customer": customer,
         "entry": age["id"], "changes": {"key": {"from": None, "to": "age"}, "value": {"from": None, "to": "42"}}},
    ], key=lambda change: change["entry"])
    assert [change["source"] for change in ok(client.get(f"{ENTRIES}{city['id']}/history/",
                                                         headers=alice.headers))] == ["api"]


def test_10000_exported_entries_import_back_unchanged_and_3_edited_rows_are_3_updates(client, alice, new_customer,
                                                                                     bulk):
    customers = [new_customer() for _ in range(4)]
    for start in range(0, 10_000, 1000):
        bulk([{"customer": customers[n % 4], "key": f"key {n // 4:04d}", "value": f"value, {n} ü"}
              for n in range(start, start + 1000)])
    data = export(client, alice).data
    rows = rows_of(data)
    assert len(rows) == 10_000
    assert ok(import_csv(client, alice, data)) == report(unchanged=10_000)
    edited = {3: "edited, one", 5000: 'edited "two"', 9999: "=edited+three"}
    for index, value in edited.items():
        rows[index][4] = "'" + value if value.startswith("=") else value
    body = ok(import_csv(client, alice, write_csv([COLUMNS, *rows])))
    assert body == report(updated=3, unchanged=9997)
    now = {str(entry["id"]): entry["value"] for entry in listed(client, alice)}
    assert {index: now[rows[index][0]] for index in edited} == edited
    assert sum(value.startswith("value, ") for value in now.values()) == 9997


# Import: row errors

def test_row_errors_are_numbered_as_a_spreadsheet_numbers_rows(client, alice, customer, post_entry):
    post_entry(customer, "kept", "x")
    data = "\r\n".join([
        "customer,key,value",          # 1
        f"{customer},plan,pro",         # 2
        "",                             # 3: blank, skipped but counted
        "abc,plan,pro",                 # 4
        f"{customer},empty,",           # 5
        f"{customer}, plan ,gold",      # 6: the key is trimmed, so a repeat of row 2
        f"{customer},kept,",            # 7: no value, the entry exists: unchanged
        "999999,x,y",                   # 8
        ",,",                           # 9: blank cells, skipped
        f"{customer},{'k' * 256},v",    # 10
        f"{customer},ok,fine",          # 11
    ]) + "\r\n"
    body = ok(import_csv(client, alice, data), 207)
    assert body == report(created=2, unchanged=1, errors=[
        {"row": 4, "errors": {"customer": ["Incorrect type. Expected pk value, received str."]}},
        {"row": 5, "errors": VALUE_OR_FILE},
        {"row": 6, "errors": {"key": ["Repeated in this file (row 2)."]}},
        {"row": 8, "errors": invalid_pk(999999)},
        {"row": 10, "errors": {"key": ["Ensure this field has no more than 255 characters."]}},
    ])
    assert slots(client, alice) == {(customer, "kept"): "x", (customer, "plan"): "pro", (customer, "ok"): "fine"}


def test_every_row_failing_is_a_207(client, alice, customer):
    body = ok(import_csv(client, alice, f"customer,key,value\r\n{customer},,v\r\n{customer},k,\r\n"), 207)
    assert body == report(errors=[{"row": 2, "errors": {"key": ["This field may not be blank."]}},
                                  {"row": 3, "errors": VALUE_OR_FILE}])
    assert listed(client, alice) == []


@pytest.mark.parametrize("error_row", ["invalid", "ragged"])
def test_a_quoted_newline_does_not_shift_the_row_numbers(client, alice, customer, error_row):
    """A cell with a line break is one spreadsheet row: the row after it is row 3, not 4."""
    bad = "abc,k,v" if error_row == "invalid" else f"{customer},k,v,extra"
    data = f'customer,key,value\r\n{customer},address,"Main St 1\r\nBerlin"\r\n{bad}\r\n'
    response = import_csv(client, alice, data)
    if error_row == "invalid":
        assert ok(response, 207) == report(created=1, errors=[
            {"row": 3, "errors": {"customer": ["Incorrect type. Expected pk value, received str."]}}])
    else:
        assert response.status_code == 400
        assert response.get_json() == {"file": ["Row 3 has 4 cells; the header has 3."]}


def test_typed_keys_unique_values_archived_keys_and_ownership_are_row_errors(client, alice, bob, customer,
                                                                            new_customer, define, post_entry):
    define("age", "integer")
    define("company_email", "email", unique=True)
    define("contract", "file")
    post_entry(customer, "company_email", "ann@example.com")
    archived = define("old", "text")
    ok(client.patch(f"{KEYS}{archived['id']}/", json={"archived": True}, headers=alice.headers))
    other, third = new_customer(), new_customer()
    bobs = new_customer(user=bob)
    data = "\r\n".join(["customer,key,value", f"{third},age,forty", f"{other},age,+042",
                        f"{other},company_email,ann@EXAMPLE.com", f"{other},old,x", f"{other},contract,text",
                        f"{bobs},age,1"]) + "\r\n"
    body = ok(import_csv(client, alice, data), 207)
    assert body == report(created=1, errors=[
        {"row": 2, "errors": {"value": ["A valid integer is required."]}},
        {"row": 4, "errors": {"value": ["Another customer already has this value for 'company_email'."]}},
        {"row": 5, "errors": {"key": ["The key 'old' is archived: it takes no new values."]}},
        {"row": 6, "errors": {"file": ["This key needs a file."]}},
        {"row": 7, "errors": invalid_pk(bobs)},
    ])
    assert slots(client, alice) == {(customer, "company_email"): "ann@example.com", (other, "age"): "42"}
    assert listed(client, bob) == []


def test_at_most_1000_errors_are_listed(client, alice):
    data = "customer,key,value\r\n" + "".join(f"abc,k{n},v\r\n" for n in range(1001))
    body = ok(import_csv(client, alice, data), 207)
    assert (body["created"], body["updated"], body["unchanged"], body["failed"]) == (0, 0, 0, 1001)
    assert len(body["errors"]) == 1000
    assert [error["row"] for error in body["errors"]] == list(range(2, 1002))


# Import: empty values

def test_an_empty_value_leaves_an_existing_entry_unchanged_and_is_an_error_without_one(client, alice, customer,
                                                                                     post_entry):
    text = post_entry(customer, "plan", "pro")
    only_file = post_entry(customer, "contract", "", file=(b"%PDF", "c.pdf"))
    before = by_id(client, alice)
    data = f'customer,key,value\r\n{customer},plan,\r\n{customer},contract,""\r\n{customer},new,   \r\n'
    body = ok(import_csv(client, alice, data), 207)
    assert body == report(unchanged=2, errors=[{"row": 4, "errors": VALUE_OR_FILE}])
    assert by_id(client, alice) == before
    assert [entry["id"] for entry in before] == [text["id"], only_file["id"]]


# Import: modes, dry runs, atomic

def test_mode_create_makes_an_existing_key_an_error_row(client, alice, customer, post_entry):
    post_entry(customer, "plan", "free")
    data = f"customer,key,value\r\n{customer},plan,pro\r\n{customer},age,42\r\n{customer},plan2,\r\n"
    body = ok(import_csv(client, alice, data, mode="create"), 207)
    assert body == report(created=1, errors=[{"row": 2, "errors": duplicate("plan")},
                                             {"row": 4, "errors": VALUE_OR_FILE}])
    assert slots(client, alice) == {(customer, "plan"): "free", (customer, "age"): "42"}
    # an empty value for an existing key is the same error in create mode
    body = ok(import_csv(client, alice, f"customer,key,value\r\n{customer},age,\r\n", mode="create"), 207)
    assert body == report(errors=[{"row": 2, "errors": duplicate("age")}])


def test_mode_upsert_is_the_default_and_other_modes_are_refused(client, alice, customer, post_entry):
    post_entry(customer, "plan", "free")
    data = f"customer,key,value\r\n{customer},plan,pro\r\n"
    assert ok(import_csv(client, alice, data, mode="upsert")) == report(updated=1)
    response = import_csv(client, alice, data, mode="replace")
    assert response.status_code == 400
    assert response.get_json() == {"mode": ['"replace" is not a valid choice.']}
    assert slots(client, alice) == {(customer, "plan"): "pro"}


@pytest.mark.parametrize("mode", ["upsert", "create"])
def test_a_dry_run_counts_what_the_import_would_do_and_writes_nothing(client, alice, customer, post_entry, mode):
    post_entry(customer, "plan", "free")
    post_entry(customer, "city", "Rome")
    data = "\r\n".join(["customer,key,value", f"{customer},plan,pro", f"{customer},city,Rome",
                        f"{customer},age,42", f"{customer},x,", "abc,y,z"]) + "\r\n"
    before = by_id(client, alice)
    changes_before = history(client, alice, customer)
    dry = ok(import_csv(client, alice, data, mode=mode, dry_run="true"), 200)
    assert by_id(client, alice) == before
    assert history(client, alice, customer) == changes_before
    real = ok(import_csv(client, alice, data, mode=mode), 207)
    assert dry == real
    if mode == "upsert":
        assert real == report(created=1, updated=1, unchanged=1, errors=[
            {"row": 5, "errors": VALUE_OR_FILE},
            {"row": 6, "errors": {"customer": ["Incorrect type. Expected pk value, received str."]}}])


def test_a_dry_run_without_failures_is_a_200_too(client, alice, customer):
    body = ok(import_csv(client, alice, f"customer,key,value\r\n{customer},a,1\r\n{customer},b,2\r\n", dry_run="1"))
    assert body == report(created=2)
    assert listed(client, alice) == []


def test_an_atomic_failure_is_a_400_that_lists_the_rows_and_writes_nothing(client, alice, customer, post_entry):
    post_entry(customer, "plan", "free")
    before = by_id(client, alice)
    changes_before = history(client, alice, customer)
    data = f"customer,key,value\r\n{customer},plan,pro\r\n{customer},age,42\r\n\r\n{customer},x,\r\n"
    response = import_csv(client, alice, data, atomic="true")
    assert response.status_code == 400
    body = response.get_json()
    assert set(body) == {"created", "updated", "unchanged", "failed", "errors"}
    assert body["failed"] == 1 and body["errors"] == [{"row": 5, "errors": VALUE_OR_FILE}]
    assert by_id(client, alice) == before
    assert history(client, alice, customer) == changes_before


def test_an_atomic_import_without_failures_writes_every_row(client, alice, customer, post_entry):
    post_entry(customer, "plan", "free")
    data = f"customer,key,value\r\n{customer},plan,pro\r\n{customer},age,42\r\n"
    assert ok(import_csv(client, alice, data, atomic="true")) == report(created=1, updated=1)
    assert slots(client, alice) == {(customer, "plan"): "pro", (customer, "age"): "42"}


def test_an_atomic_import_takes_at_most_1000_rows(client, alice, customer):
    rows = [f"{customer},k{n:04d},v" for n in range(1001)]
    response = import_csv(client, alice, "customer,key,value\r\n" + "\r\n".join(rows) + "\r\n", atomic="true")
    assert response.status_code == 400
    assert response.get_json() == {"atomic": ["An atomic import takes at most 1000 rows."]}
    assert listed(client, alice) == []
    body = ok(import_csv(client, alice, "customer,key,value\r\n" + "\r\n".join(rows[:1000]) + "\r\n", atomic="true"))
    assert body == report(created=1000)


# Import: the file's structure

@pytest.mark.parametrize(("content", "errors"), [
    (b"\r\n", NEEDS_COLUMNS),
    (b"customer,key\r\n1,a\r\n", NEEDS_COLUMNS),
    (b"id,key,value\r\n1,a,b\r\n", NEEDS_COLUMNS),
    (b"{c},plan,pro\r\n{c},city,Rome\r\n", NEEDS_COLUMNS),
    (b"customer,key,value\r\n{c},a,1\r\n{c},b,2\r\n\r\n{c},c,3,4\r\n",
     {"file": ["Row 5 has 4 cells; the header has 3."]}),
    (b"customer,key,value\r\n{c},a,1\r\n{c},b\r\n", {"file": ["Row 3 has 2 cells; the header has 3."]}),
    (b"customer,key,value,note\r\n{c},a,1,n\r\n{c},b,2,n,x\r\n", {"file": ["Row 3 has 5 cells; the header has 4."]}),
    (b"customer,key,value\r\n{c},a,1\r\n{c},b,2\r\n\r\n{c},c,3\r\n{c},d,4\r\n{c},e,\xff\xfe\r\n",
     {"file": ["Row 7 is not valid UTF-8."]}),
    (b"customer,key,value\r\n{c},a,caf\xe9\r\n", {"file": ["Row 2 is not valid UTF-8."]}),
], ids=["no-header", "missing-column", "no-customer-column", "data-without-header", "ragged-wider",
        "ragged-narrower", "ragged-extra-column", "bad-utf8-row-7", "latin-1"])
def test_a_structural_problem_is_a_400_on_file_and_writes_nothing(client, alice, customer, content, errors):
    response = import_csv(client, alice, content.replace(b"{c}", str(customer).encode()))
    assert response.status_code == 400
    assert response.get_json() == errors
    assert listed(client, alice) == []


def test_an_empty_file_needs_the_columns(client, alice):
    """notes/bulk-decisions.md: "an empty file or no header: {"file": ["The CSV needs the columns customer, key,
    value."]}"."""
    response = import_csv(client, alice, b"")
    assert response.status_code == 400
    assert response.get_json() == NEEDS_COLUMNS


def test_a_missing_file_is_no_file_submitted(client, alice):
    response = client.post(IMPORT, headers=alice.headers, data={"other": "x"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert response.get_json() == {"file": ["No file was submitted."]}


def test_more_than_100000_data_rows_are_refused(client, alice, customer):
    row = f"{customer},k,v\r\n".encode()
    data = b"customer,key,value\r\n" + row * 100_001
    response = import_csv(client, alice, data)
    assert response.status_code == 400
    assert response.get_json() == {"file": ["Ensure the file has no more than 100000 rows."]}
    assert listed(client, alice) == []


def test_a_header_only_file_imports_nothing(client, alice):
    assert ok(import_csv(client, alice, "customer,key,value\r\n")) == report()


# Ownership

def test_import_never_touches_another_users_entries(client, alice, bob, customer, new_customer, post_entry):
    bobs_customer = new_customer(user=bob)
    bobs = post_entry(bobs_customer, "plan", "free", user=bob)
    body = ok(import_csv(client, alice, f"customer,key,value\r\n{bobs_customer},plan,pro\r\n{customer},plan,pro\r\n"),
              207)
    assert body == report(created=1, errors=[{"row": 2, "errors": invalid_pk(bobs_customer)}])
    assert listed(client, bob) == [{**bobs, "file_url": None}]
    assert slots(client, alice) == {(customer, "plan"): "pro"}


# A live server: 100,000 entries exported in flat memory

def _worker_pid(master_pid):
    with open(f"/proc/{master_pid}/task/{master_pid}/children") as listing:
        children = listing.read().split()
    assert len(children) == 1, children
    return int(children[0])


def _worker_peak_rss_kb(master_pid):
    with open(f"/proc/{_worker_pid(master_pid)}/status") as proc_status:
        status = proc_status.read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _reset_worker_peak_rss(master_pid):
    """Set the worker's peak RSS back to its current RSS (Linux: "5" to clear_refs), so that a peak of its
    start-up (which lies well above its steady RSS) cannot hide the growth measured next. Where the kernel
    does not allow it the old peak stays, and the measure is only less strict."""
    try:
        with open(f"/proc/{_worker_pid(master_pid)}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass


def _read_export(base_url, path, token):
    """GET a streamed export a chunk at a time, chunks dropped; (bytes, lines, last line)."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        assert response.status == 200, response.read()[:1000]
        size = lines = 0
        tail = b""
        while chunk := response.read(1024 * 1024):
            size += len(chunk)
            lines += chunk.count(b"\r\n")
            tail = (tail + chunk)[-200:]
        return size, lines, tail
    finally:
        connection.close()


def test_a_live_export_of_100000_entries_adds_less_than_20_mib_to_the_worker():
    from live_server import api, live_server

    from customerdata.config import normalize_database_url

    def call(base, path, body, token=None):
        status, answer = api(base, "POST", path, body, token)
        assert status in (200, 201), answer
        return answer

    count = 100_000
    started = time.monotonic()
    with live_server(workers=1) as server:
        base = server.base_url
        user = call(base, "/api/accounts/register", {"username": "big", "password": "big-exports-1"})
        token = call(base, "/api/accounts/login", {"username": "big", "password": "big-exports-1"})["access"]
        big = call(base, "/api/message/customers/", {"first_name": "Big"}, token)["id"]
        small = call(base, "/api/message/customers/", {"first_name": "Small"}, token)["id"]
        engine = create_engine(normalize_database_url(server.database_url))
        try:
            now = utcnow()
            with engine.begin() as connection:
                for start in range(0, count, 10_000):
                    connection.execute(insert(CustomerData.__table__), [
                        {"customer_id": big, "user_id": user["id"], "key": f"key {n:06d}", "value": f"value, {n}",
                         "search_text": CustomerData.search_text_for(f"key {n:06d}", f"value, {n}"),
                         "created_at": now, "updated_at": now} for n in range(start, start + 10_000)])
                connection.execute(insert(CustomerData.__table__), [
                    {"customer_id": small, "user_id": user["id"], "key": f"k{n}", "value": "v",
                     "search_text": CustomerData.search_text_for(f"k{n}", "v"), "created_at": now,
                     "updated_at": now} for n in range(10)])
        finally:
            engine.dispose()
        seeded = time.monotonic()
        # warm the worker up with a small export, so that the baseline holds every import and pool
        _, lines, _ = _read_export(base, f"{EXPORT}?customer={small}", token)
        assert lines == 11
        _reset_worker_peak_rss(server.process.pid)
        before = _worker_peak_rss_kb(server.process.pid)
        size, lines, tail = _read_export(base, f"{EXPORT}?customer={big}", token)
        growth_kb = _worker_peak_rss_kb(server.process.pid) - before
        assert lines == count + 1
        assert f',Big | unknown,key {count - 1:06d},"value, {count - 1}",,'.encode() in tail
        print(f"seeded {count:,} in {seeded - started:.1f}s; exported {size / 1048576:.1f} MiB in "
              f"{time.monotonic() - seeded:.1f}s; worker peak RSS grew by {growth_kb / 1024:.1f} MiB")
        assert growth_kb < 20 * 1024, f"peak RSS grew by {growth_kb} kB"
