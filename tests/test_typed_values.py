"""Typed keys on the entry writes (shared/spec/data-keys.md, notes/typed-keys-decisions.md), through HTTP:
every write (JSON, multipart and urlencoded create, JSON and multipart PATCH) validates the value against
its key's definition and stores the canonical form."""

import io
import threading

import pytest

ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
MODES = ["json", "multipart", "urlencoded", "patch_json", "patch_multipart"]
VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}
NEEDS_FILE = {"file": ["This key needs a file."]}

INTEGER = "A valid integer is required."
NUMBER = "A valid number is required."
DIGITS = "Ensure that there are no more than 15 digits in total."
BOOLEAN = "Must be a valid boolean."
DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
DATETIME = (
    "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or Z."
)
EMAIL = "Enter a valid email address."
URL = "Enter a valid URL."
PHONE = "Enter a valid phone number."
PATTERN = "This value does not match the required pattern."
PLAN = {"choices": [{"value": "pro", "label": "Pro plan"}, "Basic", {"value": "free trial"}]}
COLOURS = {"choices": ["red", "Green", "blue"]}
DE = {"region": "DE"}


def entry_url(entry_id):
    return f"{ENTRIES}{entry_id}/"


def upload(content=b"data", name="file.txt"):
    return (io.BytesIO(content), name)


def archived(key):
    return {"key": [f"The key '{key}' is archived: it takes no new values."]}


def taken(key):
    return {"value": [f"Another customer already has this value for '{key}'."]}


def invalid_choice(value):
    return f'"{value}" is not a valid choice.'


@pytest.fixture
def define(client, alice):
    def define(key, type, user=None, **fields):
        response = client.post(
            KEYS, json={"key": key, "type": type, **fields}, headers=(user or alice).headers
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return define


@pytest.fixture
def new_customer(client, alice):
    def make():
        response = client.post("/api/message/customers/", json={"first_name": "C"}, headers=alice.headers)
        assert response.status_code == 201
        return response.get_json()["id"]

    return make


@pytest.fixture
def post(client, alice):
    """post(customer, key, value=None, file=None, how="json"): the response of an entry create."""

    def post(customer, key, value=None, file=None, how="json", user=None):
        headers = (user or alice).headers
        body = {"customer": customer, "key": key}
        if value is not None:
            body["value"] = value
        if how == "json" and file is None:
            return client.post(ENTRIES, json=body, headers=headers)
        body["customer"] = str(customer)
        if file is not None:
            body["file"] = file
            return client.post(ENTRIES, data=body, headers=headers)
        content_type = "multipart/form-data" if how == "multipart" else "application/x-www-form-urlencoded"
        return client.post(ENTRIES, data=body, headers=headers, content_type=content_type)

    return post


@pytest.fixture
def patch(client, alice):
    """patch(entry_id, body, how="json"): the answer to a PATCH (multipart for how="multipart" or a file)."""

    def patch(entry_id, body, how="json"):
        if how == "json" and not any(isinstance(v, tuple) for v in body.values()):
            return client.patch(entry_url(entry_id), json=body, headers=alice.headers)
        return client.patch(
            entry_url(entry_id), data=body, headers=alice.headers, content_type="multipart/form-data"
        )

    return patch


@pytest.fixture
def write(client, alice, new_customer, post, patch):
    """write(key, value, mode): a new customer's entry of `key` written with `value` in one of MODES.
    The PATCH modes start from an entry holding only a file (empty value), which fits every non-file type."""

    def write(key, value, mode):
        customer = new_customer()
        if mode in ("json", "multipart", "urlencoded"):
            return post(customer, key, value, how=mode)
        holder = post(customer, key, file=upload())
        assert holder.status_code == 201, holder.get_json()
        return patch(holder.get_json()["id"], {"value": value}, how=mode.removeprefix("patch_"))

    return write


@pytest.fixture
def values_of(client, alice):
    def read(key):
        response = client.get(ENTRIES, query_string={"key": key}, headers=alice.headers)
        assert response.status_code == 200
        return sorted(e["value"] for e in response.get_json())

    return read


# Each type's accepted inputs and their stored form, on every write

ACCEPTED = [
    ("text", {}, "  any text ٤٢ ", "any text ٤٢"),
    ("text", {}, "+042", "+042"),
    ("integer", {}, "42", "42"),
    ("integer", {}, "+042", "42"),
    ("integer", {}, "007", "7"),
    ("integer", {}, "-15", "-15"),
    ("integer", {}, "-0", "0"),
    ("integer", {}, " 12 ", "12"),
    ("integer", {}, "9007199254740991", "9007199254740991"),
    ("integer", {}, "-9007199254740991", "-9007199254740991"),
    ("decimal", {}, "1.5", "1.5"),
    ("decimal", {}, "1.50", "1.5"),
    ("decimal", {}, "+1.0", "1"),
    ("decimal", {}, "-0.25", "-0.25"),
    ("decimal", {}, "1e3", "1000"),
    ("decimal", {}, "1E3", "1000"),
    ("decimal", {}, "2.5e-3", "0.0025"),
    ("decimal", {}, "100", "100"),
    ("decimal", {}, "0100.00", "100"),
    ("decimal", {}, "123456789012345", "123456789012345"),
    ("decimal", {}, "1.23456789012345", "1.23456789012345"),
    ("boolean", {}, "true", "true"),
    ("boolean", {}, "YES", "true"),
    ("boolean", {}, "On", "true"),
    ("boolean", {}, "1", "true"),
    ("boolean", {}, "TRUE", "true"),
    ("boolean", {}, "False", "false"),
    ("boolean", {}, "no", "false"),
    ("boolean", {}, "OFF", "false"),
    ("boolean", {}, "0", "false"),
    ("date", {}, "2024-02-29", "2024-02-29"),
    ("date", {}, " 1990-05-15 ", "1990-05-15"),
    ("datetime", {}, "2024-05-01T12:30:00Z", "2024-05-01T12:30:00Z"),
    ("datetime", {}, "2024-05-01T12:30Z", "2024-05-01T12:30:00Z"),
    ("datetime", {}, "2024-05-01T14:30:00+02:00", "2024-05-01T12:30:00Z"),
    ("datetime", {}, "2024-05-01T00:30:00-05:30", "2024-05-01T06:00:00Z"),
    ("datetime", {}, "2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
    ("datetime", {}, "2024-05-01T12:30:00+00:00", "2024-05-01T12:30:00Z"),
    ("datetime", {}, "2024-05-01T12:30:00.5Z", "2024-05-01T12:30:00.500000Z"),
    ("datetime", {}, "2024-05-01T12:30:00.000Z", "2024-05-01T12:30:00Z"),
    ("datetime", {}, "2024-05-01T13:30:00.123456+01:00", "2024-05-01T12:30:00.123456Z"),
    ("email", {}, "Bob@EXAMPLE.COM", "Bob@example.com"),
    ("email", {}, "a.b+tag@Sub.Example.org", "a.b+tag@sub.example.org"),
    ("url", {}, "https://example.com/path?q=1#frag", "https://example.com/path?q=1#frag"),
    ("url", {}, "http://example.com", "http://example.com"),
    ("url", {}, "http://localhost:8000/x", "http://localhost:8000/x"),
    ("phone", {}, "+14155552671", "+14155552671"),
    ("phone", {}, "+1 415 555 2671", "+14155552671"),
    ("phone", {}, "+49 30 123456", "+4930123456"),
    ("phone", DE, "030 123456", "+4930123456"),
    ("phone", DE, "030123456", "+4930123456"),
    ("phone", DE, "+14155552671", "+14155552671"),
    ("choice", PLAN, "pro", "pro"),
    ("choice", PLAN, "PRO", "pro"),
    ("choice", PLAN, "basic", "Basic"),
    ("choice", PLAN, " Free Trial ", "free trial"),
    ("multi_choice", COLOURS, "blue,red", "red,blue"),
    ("multi_choice", COLOURS, "RED, red ,green", "red,Green"),
    ("multi_choice", COLOURS, "green", "Green"),
    ("multi_choice", COLOURS, "blue, GREEN,Red,blue", "red,Green,blue"),
]


def by_type(table):
    """The rows of a table grouped by type: one test per type (a test's setup costs more than its calls)."""
    grouped = {}
    for type_, *row in table:
        grouped.setdefault(type_, []).append(row)
    return [pytest.param(type_, rows, id=type_) for type_, rows in grouped.items()]


@pytest.fixture
def key_for(define):
    """key_for(type, definition): the key defined so (one definition per distinct constraint set)."""
    keys = {}

    def key_for(type_, definition):
        name = repr(sorted(definition.items()))
        if name not in keys:
            keys[name] = f"k{len(keys)}"
            define(keys[name], type_, **definition)
        return keys[name]

    return key_for


def expected_status(mode):
    return 200 if mode.startswith("patch") else 201


@pytest.mark.parametrize("type_, rows", by_type(ACCEPTED))
def test_accepted_values_are_stored_in_canonical_form(key_for, write, values_of, type_, rows):
    wrong, stored_by_key = [], {}
    for definition, given, stored in rows:
        key = key_for(type_, definition)
        for mode in MODES:
            response = write(key, given, mode)
            got = (response.status_code, response.get_json().get("value"))
            if got != (expected_status(mode), stored):
                wrong.append((given, mode, response.status_code, response.get_json()))
            stored_by_key.setdefault(key, []).append(stored)
    assert wrong == []
    # what the answers showed is what is stored
    for key, stored in stored_by_key.items():
        assert values_of(key) == sorted(stored)


REJECTED = [
    ("integer", {}, "٤٢", INTEGER),
    ("integer", {}, "４２", INTEGER),
    ("integer", {}, "1_000", INTEGER),
    ("integer", {}, "1 000", INTEGER),
    ("integer", {}, "4.0", INTEGER),
    ("integer", {}, "4.5", INTEGER),
    ("integer", {}, "1e3", INTEGER),
    ("integer", {}, "0x10", INTEGER),
    ("integer", {}, "forty", INTEGER),
    ("integer", {}, "+", INTEGER),
    ("integer", {}, "--1", INTEGER),
    ("integer", {}, "9007199254740992", "Ensure this value is less than or equal to 9007199254740991."),
    ("integer", {}, "1" * 40, "Ensure this value is less than or equal to 9007199254740991."),
    ("integer", {}, "-9007199254740992", "Ensure this value is greater than or equal to -9007199254740991."),
    ("decimal", {}, "abc", NUMBER),
    ("decimal", {}, "1,5", NUMBER),
    ("decimal", {}, "٤٢", NUMBER),
    ("decimal", {}, "1_000.5", NUMBER),
    ("decimal", {}, "NaN", NUMBER),
    ("decimal", {}, "Infinity", NUMBER),
    ("decimal", {}, "-inf", NUMBER),
    ("decimal", {}, "1e", NUMBER),
    ("decimal", {}, "0x1", NUMBER),
    ("decimal", {}, "1234567890123456", DIGITS),
    ("decimal", {}, "1.234567890123456", DIGITS),
    ("boolean", {}, "y", BOOLEAN),
    ("boolean", {}, "2", BOOLEAN),
    ("boolean", {}, "t", BOOLEAN),
    ("boolean", {}, "maybe", BOOLEAN),
    ("boolean", {}, "truee", BOOLEAN),
    ("date", {}, "2023-02-29", DATE),
    ("date", {}, "2024-13-01", DATE),
    ("date", {}, "2024-2-9", DATE),
    ("date", {}, "20240229", DATE),
    ("date", {}, "2024/02/29", DATE),
    ("date", {}, "29.02.2024", DATE),
    ("date", {}, "2024-02-29T00:00:00", DATE),
    ("date", {}, "٢٠٢٤-٠٢-٢٩", DATE),
    ("date", {}, "yesterday", DATE),
    ("datetime", {}, "2024-05-01T12:30:00", DATETIME),
    ("datetime", {}, "2024-05-01T12:30", DATETIME),
    ("datetime", {}, "2024-05-01", DATETIME),
    ("datetime", {}, "2024-05-01T25:00:00Z", DATETIME),
    ("datetime", {}, "٢٠٢٤-05-01T12:30:00Z", DATETIME),
    ("datetime", {}, "now", DATETIME),
    ("email", {}, "not-an-email", EMAIL),
    ("email", {}, "a@", EMAIL),
    ("email", {}, "@example.com", EMAIL),
    ("email", {}, "a@b@example.com", EMAIL),
    ("email", {}, "a b@example.com", EMAIL),
    ("url", {}, "ftp://example.com/file", URL),
    ("url", {}, "example.com", URL),
    ("url", {}, "https://", URL),
    ("url", {}, "http:///path", URL),
    ("url", {}, "mailto:a@example.com", URL),
    ("url", {}, "javascript:alert(1)", URL),
    ("url", {}, "/relative/path", URL),
    ("phone", {}, "4155552671", PHONE),
    ("phone", {}, "030 123456", PHONE),
    ("phone", {}, "+1234", PHONE),
    ("phone", {}, "+4930", PHONE),
    ("phone", {}, "call me", PHONE),
    ("phone", DE, "12345", PHONE),
    ("choice", PLAN, "enterprise", invalid_choice("enterprise")),
    ("choice", PLAN, " gold ", invalid_choice("gold")),
    ("choice", PLAN, "pro,Basic", invalid_choice("pro,Basic")),
    ("multi_choice", COLOURS, "red,purple", invalid_choice("purple")),
    ("multi_choice", COLOURS, "red,,blue", invalid_choice("")),
    ("multi_choice", COLOURS, "red,", invalid_choice("")),
]


@pytest.mark.parametrize("type_, rows", by_type(REJECTED))
def test_rejected_values(key_for, write, values_of, type_, rows):
    wrong, keys = [], set()
    for definition, given, message in rows:
        key = key_for(type_, definition)
        keys.add(key)
        for mode in MODES:
            response = write(key, given, mode)
            if (response.status_code, response.get_json()) != (400, {"value": [message]}):
                wrong.append((given, mode, response.status_code, response.get_json()))
    assert wrong == []
    # only the file holders of the PATCH modes, unchanged
    assert sum(len(values_of(key)) for key in keys) == 2 * len(rows)
    assert all(value == "" for key in keys for value in values_of(key))


@pytest.mark.parametrize(
    "type_, value, stored",
    [
        ("integer", 42, "42"),
        ("integer", -7, "-7"),
        ("decimal", 1.5, "1.5"),
        ("decimal", 12, "12"),
        ("text", 42, "42"),
    ],
)
def test_a_json_number_is_taken_as_its_text(define, new_customer, post, type_, value, stored):
    define("k", type_)
    response = post(new_customer(), "k", value)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["value"] == stored


def test_a_json_number_out_of_the_integer_range(define, new_customer, post):
    define("k", "integer")
    response = post(new_customer(), "k", 9007199254740993)
    assert response.status_code == 400
    assert response.get_json() == {"value": ["Ensure this value is less than or equal to 9007199254740991."]}


# Constraints on the values

CONSTRAINED = [
    ("integer", {"min": 18, "max": 120}, "18", "18"),
    ("integer", {"min": 18, "max": 120}, "+0120", "120"),
    ("integer", {"min": 18, "max": 120}, "17", "Ensure this value is greater than or equal to 18."),
    ("integer", {"min": 18, "max": 120}, "121", "Ensure this value is less than or equal to 120."),
    ("integer", {"min": -5}, "-6", "Ensure this value is greater than or equal to -5."),
    ("decimal", {"min": 0.5, "max": "10"}, "0.50", "0.5"),
    ("decimal", {"min": 0.5, "max": "10"}, "1e1", "10"),
    ("decimal", {"min": 0.5, "max": "10"}, "0.49", "Ensure this value is greater than or equal to 0.5."),
    ("decimal", {"min": 0.5, "max": "10"}, "10.01", "Ensure this value is less than or equal to 10."),
    ("date", {"min": "2000-01-01", "max": "2010-12-31"}, "2000-01-01", "2000-01-01"),
    (
        "date",
        {"min": "2000-01-01", "max": "2010-12-31"},
        "1999-12-31",
        "Ensure this value is greater than or equal to 2000-01-01.",
    ),
    (
        "date",
        {"min": "2000-01-01", "max": "2010-12-31"},
        "2011-01-01",
        "Ensure this value is less than or equal to 2010-12-31.",
    ),
    ("datetime", {"min": "2024-01-01T00:00:00Z"}, "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z"),
    (
        "datetime",
        {"min": "2024-01-01T00:00:00Z"},
        "2024-01-01T00:30:00+01:00",
        "Ensure this value is greater than or equal to 2024-01-01T00:00:00Z.",
    ),
    (
        "datetime",
        {"max": "2024-01-01T00:00:00Z"},
        "2024-01-01T00:00:00.000001Z",
        "Ensure this value is less than or equal to 2024-01-01T00:00:00Z.",
    ),
    ("text", {"min_length": 3, "max_length": 5}, "äöü", "äöü"),
    ("text", {"min_length": 3, "max_length": 5}, "ab", "Ensure this field has at least 3 characters."),
    ("text", {"min_length": 3, "max_length": 5}, " ab ", "Ensure this field has at least 3 characters."),
    (
        "text",
        {"min_length": 3, "max_length": 5},
        "abcdef",
        "Ensure this field has no more than 5 characters.",
    ),
    ("text", {"pattern": r"[A-Z]{2}\d{4}"}, "AB1234", "AB1234"),
    ("text", {"pattern": r"[A-Z]{2}\d{4}"}, "AB12345", PATTERN),
    ("text", {"pattern": r"[A-Z]{2}\d{4}"}, "xAB1234", PATTERN),
    ("text", {"pattern": r"[A-Z]{2}\d{4}"}, "ab1234", PATTERN),
    ("text", {"pattern": "a|ab"}, "ab", "ab"),
]


@pytest.mark.parametrize("type_, rows", by_type(CONSTRAINED))
def test_constraints(key_for, write, type_, rows):
    """`outcome` is the stored value, or the error message (every message ends with a dot, no value does)."""
    wrong = []
    for definition, given, outcome in rows:
        key = key_for(type_, definition)
        for mode in ("json", "patch_multipart"):
            response = write(key, given, mode)
            if outcome.endswith("."):
                expected = (400, {"value": [outcome]})
                got = (response.status_code, response.get_json())
            else:
                expected = (expected_status(mode), outcome)
                got = (response.status_code, response.get_json().get("value"))
            if got != expected:
                wrong.append((definition, given, mode, response.status_code, response.get_json()))
    assert wrong == []


def test_a_catastrophic_pattern_answers(define, new_customer, post):
    define("k", "text", pattern="(a+)+$")
    response = post(new_customer(), "k", "a" * 50000 + "!")
    assert response.status_code == 400
    assert response.get_json() == {"value": [PATTERN]}
    assert post(new_customer(), "k", "a" * 50000).status_code == 201


# The file type


def test_file_type(client, alice, define, new_customer, post, patch, values_of):
    define("contract", "file", max_size=10, extensions=["pdf", "JPG"])
    customer = new_customer()
    assert post(customer, "contract", "just text").get_json() == NEEDS_FILE
    assert post(customer, "contract", "just text", how="multipart").get_json() == NEEDS_FILE
    too_big = post(customer, "contract", file=upload(b"x" * 11, "a.pdf"))
    assert too_big.status_code == 400
    assert too_big.get_json() == {"file": ["The file is larger than 10 bytes."]}
    wrong = post(customer, "contract", file=upload(b"x", "setup.exe"))
    assert wrong.status_code == 400
    assert wrong.get_json() == {
        "file": ['File extension "exe" is not allowed. Allowed extensions are: pdf, jpg.']
    }
    assert values_of("contract") == []

    only_file = post(customer, "contract", file=upload(b"x" * 10, "SCAN.PDF"))
    assert only_file.status_code == 201, only_file.get_json()
    assert (only_file.get_json()["value"], only_file.get_json()["file_name"]) == ("", "SCAN.PDF")
    with_text = post(new_customer(), "contract", "Signed +042 YES", file=upload(b"jpeg", "photo.jpg"))
    assert with_text.status_code == 201
    assert with_text.get_json()["value"] == "Signed +042 YES"

    # remove_file on an entry that keeps a value: the file rule, not "value or file"
    for body, how in (({"remove_file": True}, "json"), ({"remove_file": "true", "value": "x"}, "multipart")):
        response = patch(with_text.get_json()["id"], body, how)
        assert response.status_code == 400
        assert response.get_json() == NEEDS_FILE
    entry_id = only_file.get_json()["id"]
    assert patch(entry_id, {"remove_file": True}).status_code == 400
    big = patch(entry_id, {"file": upload(b"x" * 11, "b.pdf")})
    assert big.get_json() == {"file": ["The file is larger than 10 bytes."]}
    exe = patch(entry_id, {"file": upload(b"x", "b.exe")})
    assert exe.get_json() == {
        "file": ['File extension "exe" is not allowed. Allowed extensions are: pdf, jpg.']
    }
    text = patch(entry_id, {"value": "any note"})
    assert text.status_code == 200 and text.get_json()["value"] == "any note"
    replaced = patch(entry_id, {"file": upload(b"new", "new.jpg")})
    assert replaced.status_code == 200 and replaced.get_json()["file_name"] == "new.jpg"
    assert client.get(entry_url(entry_id), headers=alice.headers).get_json()["file_name"] == "new.jpg"


def test_file_type_without_constraints_takes_any_file(define, new_customer, post):
    define("doc", "file")
    response = post(new_customer(), "doc", file=upload(b"x" * 1000, "anything.exe"))
    assert response.status_code == 201


@pytest.mark.parametrize(
    "type_, definition",
    [
        ("text", {"min_length": 3, "pattern": "[a-z]+"}),
        ("integer", {"min": 1}),
        ("decimal", {}),
        ("boolean", {}),
        ("date", {}),
        ("datetime", {}),
        ("email", {"unique": True}),
        ("url", {}),
        ("phone", DE),
        ("choice", PLAN),
        ("multi_choice", COLOURS),
    ],
)
def test_an_empty_value_with_a_file_passes_every_other_type(
    define, new_customer, post, patch, type_, definition
):
    define("k", type_, **definition)
    for value in ("", "   "):
        response = post(new_customer(), "k", value, file=upload())
        assert response.status_code == 201, response.get_json()
        assert response.get_json()["value"] == ""
        assert patch(response.get_json()["id"], {"value": value}).status_code == 200
    # without a file an empty value is still "not provided"
    assert post(new_customer(), "k", "  ").get_json() == VALUE_OR_FILE


# unique


@pytest.mark.parametrize(
    "type_, definition, first, second",
    [
        ("email", {}, "a@EXAMPLE.com", "a@example.COM"),
        ("integer", {}, "+042", "42"),
        ("decimal", {}, "1.50", "15e-1"),
        ("boolean", {}, "YES", "on"),
        ("date", {}, "2024-01-01", "2024-01-01"),
        ("datetime", {}, "2024-01-01T01:00:00+01:00", "2024-01-01T00:00Z"),
        ("phone", DE, "030 123456", "+49 30 123456"),
        ("choice", PLAN, "PRO", "pro"),
        ("multi_choice", COLOURS, "blue,red", "RED,Blue,red"),
        ("text", {}, "same", " same "),
        ("url", {}, "https://example.com/", "https://example.com/"),
    ],
)
def test_unique_refuses_another_customers_equal_value(
    define, new_customer, post, type_, definition, first, second
):
    define("company_email", type_, unique=True, **definition)
    assert post(new_customer(), "company_email", first).status_code == 201
    response = post(new_customer(), "company_email", second)
    assert response.status_code == 400
    assert response.get_json() == taken("company_email")
    form = post(new_customer(), "company_email", second, how="multipart")
    assert form.get_json() == taken("company_email")


def test_unique_on_updates(client, alice, define, new_customer, post, patch, values_of):
    define("company_email", "email", unique=True)
    first = post(new_customer(), "company_email", "Bob@Example.com").get_json()
    assert first["value"] == "Bob@example.com"
    # the local part keeps its case, so this is another value
    other = post(new_customer(), "company_email", "bob@example.com")
    assert other.status_code == 201
    response = patch(other.get_json()["id"], {"value": "Bob@EXAMPLE.com"})
    assert response.status_code == 400 and response.get_json() == taken("company_email")
    form = patch(other.get_json()["id"], {"value": "Bob@EXAMPLE.com"}, how="multipart")
    assert form.get_json() == taken("company_email")
    # an entry never conflicts with itself
    itself = patch(first["id"], {"value": "Bob@example.COM"})
    assert itself.status_code == 200 and itself.get_json()["value"] == "Bob@example.com"
    # empty values do not count
    for _ in range(2):
        assert post(new_customer(), "company_email", file=upload()).status_code == 201
    # a value freed by a delete can be taken
    client.delete(entry_url(first["id"]), headers=alice.headers)
    assert patch(other.get_json()["id"], {"value": "Bob@example.com"}).status_code == 200
    assert values_of("company_email") == ["", "", "Bob@example.com"]


def test_unique_holds_for_values_of_a_mebibyte(app, define, new_customer, post):
    define("blob", "text", unique=True)
    limit = app.config["MAX_VALUE_LENGTH"]
    big = "v" * (limit - 1) + "a"
    assert post(new_customer(), "blob", big).status_code == 201
    assert post(new_customer(), "blob", big).get_json() == taken("blob")
    assert post(new_customer(), "blob", big[:-1] + "b").status_code == 201


def test_unique_is_per_key_and_per_user(client, alice, bob, define, new_customer, post):
    define("company_email", "email", unique=True)
    customer = new_customer()
    assert post(customer, "company_email", "a@x.com").status_code == 201
    assert post(new_customer(), "other_email", "a@x.com").status_code == 201
    bobs = client.post("/api/message/customers/", json={}, headers=bob.headers).get_json()["id"]
    define("company_email", "email", unique=True, user=bob)
    assert post(bobs, "company_email", "a@x.com", user=bob).status_code == 201


def test_unique_race_gives_one_entry(app, alice, define, new_customer, values_of):
    define("company_email", "email", unique=True)
    customers = [new_customer() for _ in range(6)]
    spellings = [
        "race@EXAMPLE.com",
        "race@example.com",
        "race@Example.Com",
        "race@example.COM",
        "race@EXAMPLE.COM",
        "race@eXample.com",
    ]
    barrier = threading.Barrier(len(customers))
    results = []

    def attempt(customer, value):
        client = app.test_client()
        barrier.wait()
        response = client.post(
            ENTRIES,
            json={"customer": customer, "key": "company_email", "value": value},
            headers=alice.headers,
        )
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=attempt, args=pair) for pair in zip(customers, spellings)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(status for status, _ in results) == [201, 400, 400, 400, 400, 400], results
    assert all(body == taken("company_email") for status, body in results if status == 400)
    assert values_of("company_email") == ["race@example.com"]


# archived keys


def test_an_archived_key_takes_no_new_values(client, alice, define, new_customer, post, patch, values_of):
    first, second = new_customer(), new_customer()
    kept = post(first, "plan", "pro").get_json()
    note = post(second, "note", "x").get_json()
    define("plan", "text", archived=True)

    for how in ("json", "multipart", "urlencoded"):
        response = post(second, "plan", "basic", how=how)
        assert response.status_code == 400
        assert response.get_json() == archived("plan")
    assert post(second, "plan", file=upload()).get_json() == archived("plan")
    for body, how in (
        ({"value": "basic"}, "json"),
        ({"value": "basic"}, "multipart"),
        ({"file": upload()}, "json"),
    ):
        response = patch(kept["id"], body, how)
        assert response.status_code == 400
        assert response.get_json() == archived("plan")
    # a rename to or from the key
    assert patch(note["id"], {"key": "plan"}).get_json() == archived("plan")
    assert patch(kept["id"], {"key": "old_plan"}).get_json() == archived("plan")

    # a PATCH that changes nothing passes; reads, filters and deletes work
    assert patch(kept["id"], {"value": "pro"}).status_code == 200
    assert patch(kept["id"], {}).status_code == 200
    assert client.get(entry_url(kept["id"]), headers=alice.headers).get_json()["value"] == "pro"
    assert values_of("plan") == ["pro"]
    assert (
        client.get(ENTRIES, query_string={"search": "pro"}, headers=alice.headers).get_json()[0]["id"]
        == kept["id"]
    )
    deleted = client.delete(entry_url(kept["id"]), headers=alice.headers)
    assert deleted.status_code == 200
    assert values_of("plan") == []
    assert client.get(entry_url(note["id"]), headers=alice.headers).get_json()["key"] == "note"


def test_bulk_and_customer_delete_work_on_an_archived_key(client, alice, define, new_customer, post):
    first, second = new_customer(), new_customer()
    a = post(first, "plan", "pro").get_json()
    post(second, "plan", "basic")
    define("plan", "choice", choices=["pro", "basic"], archived=True)
    response = client.post(ENTRIES + "bulk-delete/", json={"data_ids": [a["id"]]}, headers=alice.headers)
    assert response.get_json()["deleted_count"] == 1
    assert client.delete(f"/api/message/customers/{second}/", headers=alice.headers).status_code == 200
    assert client.get(ENTRIES, headers=alice.headers).get_json() == []


def test_unarchiving_takes_values_again(client, alice, define, new_customer, post):
    created = define("plan", "text", archived=True)
    assert post(new_customer(), "plan", "pro").get_json() == archived("plan")
    client.patch(f"{KEYS}{created['id']}/", json={"archived": False}, headers=alice.headers)
    assert post(new_customer(), "plan", "pro").status_code == 201


# Renames


def test_a_rename_checks_the_value_against_the_new_keys_definition(define, new_customer, post, patch):
    define("age", "integer", min=18)
    define("contract", "file")
    define("company_email", "email", unique=True)
    entries = {
        value: post(new_customer(), "note", value).get_json()["id"]
        for value in ("abc", "10", "+042", "a@x.com", "a@X.COM")
    }

    assert patch(entries["abc"], {"key": "age"}).get_json() == {"value": [INTEGER]}
    assert patch(entries["10"], {"key": "age"}, how="multipart").get_json() == {
        "value": ["Ensure this value is greater than or equal to 18."]
    }
    renamed = patch(entries["+042"], {"key": "age"})
    assert renamed.status_code == 200
    assert (renamed.get_json()["key"], renamed.get_json()["value"]) == ("age", "42")
    both = patch(entries["abc"], {"key": " age ", "value": "30"})
    assert both.status_code == 200 and both.get_json()["value"] == "30"
    assert patch(entries["10"], {"key": "contract"}).get_json() == NEEDS_FILE
    assert patch(entries["a@x.com"], {"key": "company_email"}).get_json()["value"] == "a@x.com"
    assert patch(entries["a@X.COM"], {"key": "company_email"}).get_json() == taken("company_email")
    # renamed away from a typed key, the value is text again
    back = patch(entries["+042"], {"key": "note", "value": "forty-two"})
    assert back.status_code == 200 and back.get_json()["value"] == "forty-two"


# Keys without a definition


@pytest.mark.parametrize("mode", MODES)
def test_keys_without_a_definition_behave_as_before(client, bob, write, mode):
    # another user's definition of the key does not apply to alice's entries
    client.post(KEYS, json={"key": "age", "type": "integer"}, headers=bob.headers)
    for key, value in (
        ("age", "forty"),
        ("flag", "YES"),
        ("when", "2024-5-1"),
        ("mail", "A@EXAMPLE.COM"),
        ("n", "+042"),
    ):
        response = write(key, value, mode)
        assert response.status_code in (200, 201), response.get_json()
        assert response.get_json()["value"] == value


# What a value without a definition stores beside its text: the number of a decimal in canonical
# form, as a `decimal` key would store it (so that such a definition over them writes none of them)
UNTYPED_NUMBERS = [
    ("12.5", 12.5), ("0", 0.0), ("-0.25", -0.25), ("123456789012345", 123456789012345.0),
    ("0.000000000000001", 1e-15), ("+3", None), ("12.50", None), ("007", None), ("1e3", None), ("-0", None),
    (".5", None), ("1234567890123456", None), ("٤٢", None), ("abc", None), ("1,5", None),
]


@pytest.mark.parametrize("mode", MODES)
def test_a_number_without_a_definition_is_stored_with_its_typed_form(write, typed_columns_of, mode):
    written = {}
    for value, number in UNTYPED_NUMBERS:
        response = write("n", value, mode)
        assert response.status_code in (200, 201), response.get_json()
        assert response.get_json()["value"] == value  # still text, as before
        written[response.get_json()["id"]] = (number, None, None)
    assert typed_columns_of("n") == written


def test_every_write_of_a_key_without_a_definition_keeps_its_number(
        client, alice, define, new_customer, post, patch, typed_columns_of):
    """Updates, renames (to and from a typed key), bulk upserts, imports and reverts alike."""
    customer = new_customer()
    entry = post(customer, "n", "7").get_json()
    assert typed_columns_of("n") == {entry["id"]: (7.0, None, None)}
    assert patch(entry["id"], {"value": "seven"}).status_code == 200
    assert typed_columns_of("n") == {entry["id"]: (None, None, None)}
    assert patch(entry["id"], {"value": "7.5"}, how="multipart").status_code == 200
    assert typed_columns_of("n") == {entry["id"]: (7.5, None, None)}
    # renamed to a typed key, its type's form; back, the untyped one again
    define("when", "date")
    dated = post(customer, "d", "2024-05-01").get_json()
    assert typed_columns_of("d") == {dated["id"]: (None, None, None)}
    assert patch(dated["id"], {"key": "when"}).status_code == 200
    assert typed_columns_of("when")[dated["id"]][1] is not None
    define("plan", "choice", choices=["5", "10"])
    chosen = post(customer, "plan", "10").get_json()
    assert typed_columns_of("plan") == {chosen["id"]: (1.0, None, None)}  # its position
    assert patch(chosen["id"], {"key": "m"}).status_code == 200
    assert typed_columns_of("m") == {chosen["id"]: (10.0, None, None)}
    # bulk upsert and import: created and updated
    other = new_customer()
    bulk = client.post(f"{ENTRIES}bulk-upsert/", headers=alice.headers, json={"items": [
        {"customer": customer, "key": "n", "value": "8"}, {"customer": other, "key": "n", "value": "-1.5"}]})
    assert bulk.status_code == 200, bulk.get_json()
    created = bulk.get_json()["results"][1]["id"]
    assert typed_columns_of("n") == {entry["id"]: (8.0, None, None), created: (-1.5, None, None)}
    csv = f"customer,key,value\r\n{customer},n,x\r\n{other},b,42\r\n".encode()
    imported = client.post(f"{ENTRIES}import/", headers=alice.headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(csv), "data.csv")})
    assert imported.status_code == 200, imported.get_json()
    assert typed_columns_of("n") == {entry["id"]: (None, None, None), created: (-1.5, None, None)}
    assert list(typed_columns_of("b").values()) == [(42.0, None, None)]
    # a revert to the value right after an earlier change
    history = client.get(f"{ENTRIES}{entry['id']}/history/", headers=alice.headers).get_json()
    to_seven_and_a_half = next(c for c in history if c["changes"].get("value", {}).get("to") == "7.5")
    reverted = client.post(f"{ENTRIES}{entry['id']}/revert/", headers=alice.headers,
                           json={"change": to_seven_and_a_half["id"]})
    assert reverted.status_code == 200 and reverted.get_json()["value"] == "7.5"
    assert typed_columns_of("n")[entry["id"]] == (7.5, None, None)


def test_a_deleted_definition_frees_the_key(client, alice, define, new_customer, post):
    created = define("age", "integer")
    assert post(new_customer(), "age", "forty").get_json() == {"value": [INTEGER]}
    client.delete(f"{KEYS}{created['id']}/", headers=alice.headers)
    assert post(new_customer(), "age", "forty").get_json()["value"] == "forty"


# A refused write leaves no file behind


def test_a_refused_value_with_a_file_stores_no_file(app, define, new_customer, post, patch):
    import os

    define("age", "integer")
    response = post(new_customer(), "age", "forty", file=upload(b"scan", "scan.pdf"))
    assert response.status_code == 400
    assert response.get_json() == {"value": [INTEGER]}
    holder = post(new_customer(), "age", "", file=upload(b"one", "one.pdf")).get_json()
    refused = patch(holder["id"], {"value": "forty", "file": upload(b"two", "two.pdf")})
    assert refused.get_json() == {"value": [INTEGER]}
    root = app.config["UPLOAD_FOLDER"]
    stored = [name for _, _, names in os.walk(root) for name in names]
    assert stored == [holder["file"].rsplit("/", 1)[1]]


# A definition change racing entry writes


def test_a_definition_racing_entry_writes_leaves_no_value_that_does_not_fit(
    app, alice, new_customer, values_of
):
    customers = [new_customer() for _ in range(5)]
    barrier = threading.Barrier(len(customers) + 1)
    results = {}

    def write(customer):
        client = app.test_client()
        barrier.wait()
        response = client.post(
            ENTRIES, json={"customer": customer, "key": "age", "value": "forty"}, headers=alice.headers
        )
        results[customer] = response.status_code

    def define():
        client = app.test_client()
        barrier.wait()
        response = client.post(KEYS, json={"key": "age", "type": "integer"}, headers=alice.headers)
        results["definition"] = response.status_code

    threads = [threading.Thread(target=write, args=(c,)) for c in customers] + [
        threading.Thread(target=define)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results["definition"] in (201, 409), results
    stored = values_of("age")
    if results["definition"] == 201:
        assert stored == [], results
        assert all(results[c] == 400 for c in customers), results
    else:
        assert stored == ["forty"] * sum(results[c] == 201 for c in customers) and stored, results
