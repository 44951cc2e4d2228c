"""Typed keys: filtering and ordering entries by value (data-keys.md, "Filtering and ordering entries
by value", with the decisions of notes/typed-keys-decisions.md), on both entry lists, through HTTP."""
import io

import pytest

KEYS = "/api/message/data-keys/"
ENTRIES = "/api/message/customer-data/"
CUSTOMERS = "/api/message/customers/"
NEEDS_KEY = {"key": ["Filtering on value needs a key."]}


def customer_entries(customer_id):
    return f"/api/message/customer/{customer_id}/data/"


def not_available(type_name):
    return [f'Not available for type "{type_name}".']


# Module-level helpers: definitions, customers and entries through the API

def define(client, user, key, type_name, **fields):
    response = client.post(KEYS, json={"key": key, "type": type_name, **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_customer(client, user, **fields):
    response = client.post(CUSTOMERS, json=fields, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def add_entry(client, user, customer_id, key, value, with_file=False):
    """An entry as answered; `value=None` with `with_file` is an entry that holds just a file."""
    if with_file or value is None:
        body = {"customer": str(customer_id), "key": key, "file": (io.BytesIO(b"file content"), "doc.pdf")}
        if value is not None:
            body["value"] = value
        response = client.post(ENTRIES, data=body, headers=user.headers)
    else:
        response = client.post(ENTRIES, json={"customer": customer_id, "key": key, "value": value},
                               headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def keyed(client, user, key, type_name, values, definition=None, with_file=False):
    """Define `key` (unless `type_name` is None) and give each value to a customer of its own.

    `values` are (written, stored) pairs or plain strings (stored as written); None is an entry that
    holds just a file. Returns the entries as answered, in creation order."""
    if type_name is not None:
        define(client, user, key, type_name, **(definition or {}))
    created = []
    for value in values:
        written, stored = value if isinstance(value, tuple) else (value, value)
        entry = add_entry(client, user, new_customer(client, user), key, written, with_file=with_file)
        assert entry["value"] == ("" if stored is None else stored), (written, entry)
        created.append(entry)
    return created


def get(client, user, params, path=ENTRIES):
    return client.get(path, query_string=params, headers=user.headers)


def listed(client, user, params, path=ENTRIES):
    response = get(client, user, params, path)
    assert response.status_code == 200, (params, response.get_json())
    return response.get_json()


def assert_found_on_both_lists(client, user, key, entries, params, expected):
    """The entries of `key` the filter finds are those whose stored value is in `expected` (a list of
    stored values, repeats allowed), on the list of all entries and on each customer's list."""
    query = {"key": key, **params}
    found = listed(client, user, query)
    assert sorted(e["value"] for e in found) == sorted(expected), query
    assert all(e["key"] == key for e in found), query
    for entry in entries:
        own = [without_file_url(e) for e in listed(client, user, query, customer_entries(entry["customer"]))]
        wanted = [without_file_url(entry)] if entry["value"] in expected else []
        assert own == wanted, (query, entry["value"], own)


def without_file_url(entry):
    """An entry without its file_url, whose signature carries the second it was made in."""
    return {name: value for name, value in entry.items() if name != "file_url"}


def assert_refused_on_both_lists(client, user, params, body, customer_id):
    for path in (ENTRIES, customer_entries(customer_id)):
        response = get(client, user, params, path)
        assert response.status_code == 400, (path, params, response.get_json())
        assert response.get_json() == body, (path, params)


# Per type: the values written (with their stored form), the filters and what each finds

CHOICES = [{"value": "pro", "label": "Pro"}, {"value": "free", "label": "Free"},
           {"value": "Enterprise", "label": "Enterprise plan"}]
COLOURS = ["red", "green", "blue", "reddish"]
TEXTS = ["Ärger im Büro", "apple", "Banana", "100% off_peak", "100 percent offpeak"]
TEXT_CASES = [
    ({"value": "apple"}, ["apple"]),
    ({"value": "APPLE"}, []),  # text is stored as given: equality is exact
    ({"value": "Ärger im Büro"}, ["Ärger im Büro"]),
    ({"value__ne": "apple"}, ["Ärger im Büro", "Banana", "100% off_peak", "100 percent offpeak"]),
    ({"value__in": "apple,Banana,cherry"}, ["apple", "Banana"]),
    ({"value__contains": "ÄRGER"}, ["Ärger im Büro"]),
    ({"value__contains": "bü"}, ["Ärger im Büro"]),
    ({"value__contains": "AN"}, ["Banana"]),
    ({"value__contains": "%"}, ["100% off_peak"]),
    ({"value__contains": "_"}, ["100% off_peak"]),
    ({"value__contains": "0%"}, ["100% off_peak"]),
    ({"value__contains": "100"}, ["100% off_peak", "100 percent offpeak"]),
    ({"value__contains": "\\"}, []),
]

FILTER_TABLE = {
    "text": ("text", {}, TEXTS, TEXT_CASES),
    "no definition": (None, {}, TEXTS, TEXT_CASES),
    "integer": ("integer", {}, ["9", "10", "-3", ("042", "42"), ("+1000", "1000")], [
        ({"value": "42"}, ["42"]),
        ({"value": "042"}, ["42"]),
        ({"value": "+42"}, ["42"]),
        ({"value": "-3"}, ["-3"]),
        ({"value__ne": "9"}, ["10", "-3", "42", "1000"]),
        ({"value__gt": "9"}, ["10", "42", "1000"]),
        ({"value__gte": "10"}, ["10", "42", "1000"]),
        ({"value__lt": "10"}, ["9", "-3"]),
        ({"value__lte": "-3"}, ["-3"]),
        ({"value__gt": "-4"}, ["9", "10", "-3", "42", "1000"]),
        ({"value__lt": "-3"}, []),
        ({"value__in": "9,042,7"}, ["9", "42"]),
        ({"value__gte": "10", "value__lt": "1000"}, ["10", "42"]),
    ]),
    "decimal": ("decimal", {}, ["1.5", "1.25", "-0.5", ("10.0", "10"), ("2e1", "20"), "9.99"], [
        ({"value": "1.50"}, ["1.5"]),
        ({"value": "15e-1"}, ["1.5"]),
        ({"value": "20"}, ["20"]),
        ({"value__ne": "10"}, ["1.5", "1.25", "-0.5", "20", "9.99"]),
        ({"value__gt": "9.99"}, ["10", "20"]),
        ({"value__gte": "9.99"}, ["9.99", "10", "20"]),
        ({"value__lt": "1.5"}, ["1.25", "-0.5"]),
        ({"value__lte": "-0.5"}, ["-0.5"]),
        ({"value__gt": "-1"}, ["1.5", "1.25", "-0.5", "10", "20", "9.99"]),
        ({"value__in": "10,2E1,3"}, ["10", "20"]),
    ]),
    "boolean": ("boolean", {}, ["true", ("No", "false"), ("YES", "true"), ("off", "false"), ("1", "true")], [
        ({"value": "on"}, ["true", "true", "true"]),
        ({"value": "FALSE"}, ["false", "false"]),
        ({"value": "0"}, ["false", "false"]),
        ({"value__ne": "true"}, ["false", "false"]),
        ({"value__in": "0,yes"}, ["true", "false", "true", "false", "true"]),
        ({"value__in": "no"}, ["false", "false"]),
    ]),
    "date": ("date", {}, ["2024-01-15", "2023-12-31", "2024-02-01", "1999-05-05"], [
        ({"value": "2024-01-15"}, ["2024-01-15"]),
        ({"value__ne": "1999-05-05"}, ["2024-01-15", "2023-12-31", "2024-02-01"]),
        ({"value__gt": "2023-12-31"}, ["2024-01-15", "2024-02-01"]),
        ({"value__gte": "2023-12-31"}, ["2024-01-15", "2023-12-31", "2024-02-01"]),
        ({"value__lt": "2024-01-15"}, ["2023-12-31", "1999-05-05"]),
        ({"value__lte": "1999-05-05"}, ["1999-05-05"]),
        ({"value__gt": "2024-02-01"}, []),
        ({"value__in": "2024-01-15,1999-05-05,2000-01-01"}, ["2024-01-15", "1999-05-05"]),
    ]),
    "datetime": ("datetime", {}, [
        "2024-01-01T10:00:00Z",
        ("2024-01-01T12:30:00+02:00", "2024-01-01T10:30:00Z"),
        ("2024-01-01T09:00-02:00", "2024-01-01T11:00:00Z"),
        ("2023-12-31T23:59:59.5Z", "2023-12-31T23:59:59.500000Z"),
    ], [
        ({"value": "2024-01-01T11:00:00+01:00"}, ["2024-01-01T10:00:00Z"]),
        ({"value": "2024-01-01T10:30Z"}, ["2024-01-01T10:30:00Z"]),
        ({"value__ne": "2024-01-01T10:00:00Z"},
         ["2024-01-01T10:30:00Z", "2024-01-01T11:00:00Z", "2023-12-31T23:59:59.500000Z"]),
        # 12:00+02:00 is 10:00Z: later as text than every stored value, but not later in time
        ({"value__gt": "2024-01-01T12:00:00+02:00"}, ["2024-01-01T10:30:00Z", "2024-01-01T11:00:00Z"]),
        ({"value__gte": "2024-01-01T12:00:00+02:00"},
         ["2024-01-01T10:00:00Z", "2024-01-01T10:30:00Z", "2024-01-01T11:00:00Z"]),
        ({"value__lt": "2024-01-01T11:15:00+01:00"}, ["2024-01-01T10:00:00Z", "2023-12-31T23:59:59.500000Z"]),
        ({"value__lte": "2023-12-31T23:59:59.500000Z"}, ["2023-12-31T23:59:59.500000Z"]),
        ({"value__gt": "2023-12-31T23:59:59Z"}, ["2024-01-01T10:00:00Z", "2024-01-01T10:30:00Z",
                                                 "2024-01-01T11:00:00Z", "2023-12-31T23:59:59.500000Z"]),
        ({"value__lt": "2023-12-31T23:59:59Z"}, []),
        ({"value__in": "2024-01-01T10:00:00Z,2024-01-01T13:00:00+02:00"},
         ["2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z"]),
    ]),
    "email": ("email", {}, [("Ann@Example.COM", "Ann@example.com"), "bob@example.org", "carol@other.net"], [
        ({"value": "Ann@EXAMPLE.com"}, ["Ann@example.com"]),
        ({"value": "Ann@example.com"}, ["Ann@example.com"]),
        ({"value__ne": "bob@Example.ORG"}, ["Ann@example.com", "carol@other.net"]),
        ({"value__in": "carol@OTHER.net,bob@example.org"}, ["carol@other.net", "bob@example.org"]),
        ({"value__contains": "EXAMPLE"}, ["Ann@example.com", "bob@example.org"]),
        ({"value__contains": "ann@"}, ["Ann@example.com"]),
        ({"value__contains": "%"}, []),
    ]),
    "url": ("url", {}, ["https://Example.com/Path_1", "http://shop.example.com/a%20b",
                        "https://example.org/"], [
        ({"value": "https://example.org/"}, ["https://example.org/"]),
        ({"value__ne": "https://example.org/"},
         ["https://Example.com/Path_1", "http://shop.example.com/a%20b"]),
        ({"value__in": "https://example.org/,http://shop.example.com/a%20b"},
         ["https://example.org/", "http://shop.example.com/a%20b"]),
        ({"value__contains": "//EXAMPLE."}, ["https://Example.com/Path_1", "https://example.org/"]),
        ({"value__contains": "path_"}, ["https://Example.com/Path_1"]),
        ({"value__contains": "_"}, ["https://Example.com/Path_1"]),
        ({"value__contains": "%"}, ["http://shop.example.com/a%20b"]),
    ]),
    "phone": ("phone", {"region": "DE"}, [("+49 30 123456", "+4930123456"), ("030 1234567", "+49301234567"),
                                          ("+1 650 253 0000", "+16502530000")], [
        ({"value": "030123456"}, ["+4930123456"]),
        ({"value": "+49 30 123456"}, ["+4930123456"]),
        ({"value__ne": "+16502530000"}, ["+4930123456", "+49301234567"]),
        ({"value__in": "030 1234567,+1 650 253 0000"}, ["+49301234567", "+16502530000"]),
        ({"value__contains": "650"}, ["+16502530000"]),
        ({"value__contains": "+49"}, ["+4930123456", "+49301234567"]),
        ({"value__contains": "1234567"}, ["+49301234567"]),
    ]),
    "choice": ("choice", {"choices": CHOICES},
               [("PRO", "pro"), "free", ("enterprise", "Enterprise"), ("Pro", "pro")], [
        ({"value": "Pro"}, ["pro", "pro"]),
        ({"value": "ENTERPRISE"}, ["Enterprise"]),
        ({"value__ne": "pro"}, ["free", "Enterprise"]),
        ({"value__in": "FREE,enterprise"}, ["free", "Enterprise"]),
        ({"value__in": "pro"}, ["pro", "pro"]),
    ]),
    "multi_choice": ("multi_choice", {"choices": COLOURS}, [
        ("blue,red", "red,blue"), ("GREEN", "green"), ("blue, green ,RED,red", "red,green,blue"),
        "reddish", "red",
    ], [
        # holds every listed choice; "reddish" is another choice, not a match for "red"
        ({"value__contains": "red"}, ["red,blue", "red,green,blue", "red"]),
        ({"value__contains": "BLUE,red"}, ["red,blue", "red,green,blue"]),
        ({"value__contains": "green,blue"}, ["red,green,blue"]),
        ({"value__contains": "reddish"}, ["reddish"]),
        ({"value": "Blue,Red"}, ["red,blue"]),
        ({"value": "red"}, ["red"]),
        ({"value__ne": "red"}, ["red,blue", "green", "red,green,blue", "reddish"]),
    ]),
    "file": ("file", {}, ["Signed contract", "draft", "Draft"], [
        ({"value": "draft"}, ["draft"]),
        ({"value__ne": "draft"}, ["Signed contract", "Draft"]),
        ({"value__in": "draft,Draft"}, ["draft", "Draft"]),
    ]),
}


@pytest.mark.parametrize("name", list(FILTER_TABLE))
def test_value_filters_per_type(client, alice, name):
    type_name, definition, values, cases = FILTER_TABLE[name]
    entries = keyed(client, alice, "k", type_name, values, definition, with_file=type_name == "file")
    # another key of the same customer, with the same value, is never found by a filter on "k"
    add_entry(client, alice, entries[0]["customer"], "decoy", entries[0]["value"])
    for params, expected in cases:
        assert_found_on_both_lists(client, alice, "k", entries, params, expected)


# Lookups a type does not take: 400 on that parameter

def refusals_that_differ(client, user, cases, customer_id):
    """[(params, path, status, body)] of each (params, expected body) not answered so on both lists."""
    wrong = []
    for params, body in cases:
        for path in (ENTRIES, customer_entries(customer_id)):
            response = get(client, user, params, path)
            if (response.status_code, response.get_json()) != (400, body):
                wrong.append((params, path, response.status_code, response.get_json()))
    return wrong


UNAVAILABLE = [
    ("text", {}, "a", ["value__gt", "value__gte", "value__lt", "value__lte"]),
    (None, {}, "a", ["value__gt", "value__gte", "value__lt", "value__lte"]),
    ("integer", {}, "1", ["value__contains"]),
    ("decimal", {}, "1.5", ["value__contains"]),
    ("date", {}, "2024-01-01", ["value__contains"]),
    ("datetime", {}, "2024-01-01T00:00:00Z", ["value__contains"]),
    ("boolean", {}, "true", ["value__gt", "value__gte", "value__lt", "value__lte", "value__contains"]),
    ("email", {}, "a@example.com", ["value__gt", "value__lte"]),
    ("url", {}, "https://example.com/", ["value__gte", "value__lt"]),
    ("phone", {"region": "DE"}, "+4930123456", ["value__gt", "value__lt"]),
    ("choice", {"choices": CHOICES}, "pro", ["value__gt", "value__lte", "value__contains"]),
    ("multi_choice", {"choices": COLOURS}, "red", ["value__in", "value__gt", "value__gte"]),
    ("file", {}, "scan", ["value__gt", "value__lt", "value__contains"]),
]


def test_a_lookup_the_type_does_not_take_is_a_400_on_that_parameter(client, alice):
    customer_id = new_customer(client, alice)
    cases = []
    for type_name, definition, value, lookups in UNAVAILABLE:
        key = f"k_{type_name}"
        if type_name is not None:
            define(client, alice, key, type_name, **definition)
        add_entry(client, alice, customer_id, key, value, with_file=type_name == "file")
        message = not_available(type_name or "text")
        cases += [({"key": key, lookup: value}, {lookup: message}) for lookup in lookups]
    assert refusals_that_differ(client, alice, cases, customer_id) == []


# Values that do not parse as the type: 400 on that parameter, with the type's own message

INTEGER = "A valid integer is required."
NUMBER = "A valid number is required."
BOOLEAN = "Must be a valid boolean."
DATE = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or Z.")
UNPARSED = {  # type: (definition, [(parameter, value, message)])
    "integer": ({}, [("value__gt", "abc", INTEGER), ("value", "4.5", INTEGER), ("value__lte", "٤٢", INTEGER),
                     ("value__gte", "1_000", INTEGER), ("value__in", "1,x", INTEGER),
                     ("value__ne", "ten", INTEGER)]),
    "decimal": ({}, [("value__lt", "abc", NUMBER), ("value", "1,5", NUMBER)]),
    "boolean": ({}, [("value", "maybe", BOOLEAN), ("value__in", "true,perhaps", BOOLEAN)]),
    "date": ({}, [("value__gte", "2024-1-5", DATE), ("value", "15/01/2024", DATE)]),
    "datetime": ({}, [("value__gt", "2024-01-01T10:00:00", DATETIME), ("value__lt", "2024-01-01", DATETIME)]),
    "email": ({}, [("value", "nope", "Enter a valid email address.")]),
    "url": ({}, [("value", "ftp://files.example.com/a", "Enter a valid URL."),
                 ("value__ne", "example.com", "Enter a valid URL.")]),
    "phone": ({"region": "DE"}, [("value", "abc", "Enter a valid phone number.")]),
    "choice": ({"choices": CHOICES}, [("value", "gold", '"gold" is not a valid choice.'),
                                      ("value__in", "pro,gold", '"gold" is not a valid choice.')]),
    "multi_choice": ({"choices": COLOURS}, [
        ("value__contains", "red,purple", '"purple" is not a valid choice.'),
        ("value", "purple", '"purple" is not a valid choice.')]),
}


def test_a_value_that_does_not_parse_is_a_400_on_that_parameter(client, alice):
    customer_id = new_customer(client, alice)
    cases = []
    for type_name, (definition, rows) in UNPARSED.items():
        define(client, alice, type_name, type_name, **definition)
        cases += [({"key": type_name, parameter: value}, {parameter: [message]})
                  for parameter, value, message in rows]
    assert refusals_that_differ(client, alice, cases, customer_id) == []


def test_a_value_filter_needs_a_key(client, alice):
    [entry] = keyed(client, alice, "age", "integer", ["42"])
    cases = []
    for parameter in ("value", "value__ne", "value__gt", "value__gte", "value__lt", "value__lte", "value__in",
                      "value__contains"):
        cases.append(({parameter: "42"}, NEEDS_KEY))
        cases.append(({parameter: "42", "customer": str(entry["customer"])}, NEEDS_KEY))
    assert refusals_that_differ(client, alice, cases, entry["customer"]) == []


def test_the_list_of_one_customer_takes_key(client, alice):
    customer_id = new_customer(client, alice)
    age = add_entry(client, alice, customer_id, "age", "42")
    add_entry(client, alice, customer_id, "Age", "43")
    add_entry(client, alice, customer_id, "plan", "pro")
    assert listed(client, alice, {"key": "age"}, customer_entries(customer_id)) == [age]
    assert listed(client, alice, {"key": "ag"}, customer_entries(customer_id)) == []


@pytest.mark.parametrize("count, status", [(100, 200), (101, 400)])
def test_value_in_takes_at_most_100_items(client, alice, count, status):
    [entry] = keyed(client, alice, "n", "integer", ["7"])
    params = {"key": "n", "value__in": ",".join(str(n) for n in range(count))}
    for path in (ENTRIES, customer_entries(entry["customer"])):
        response = get(client, alice, params, path)
        assert response.status_code == status, response.get_json()
        if status == 200:
            assert response.get_json() == [entry]
        else:
            assert response.get_json() == {"value__in": ["Ensure this field has no more than 100 elements."]}


def test_value_in_over_100_items_on_a_text_key(client, alice):
    [entry] = keyed(client, alice, "tag", None, ["x"])
    params = {"key": "tag", "value__in": ",".join(f"t{n}" for n in range(101))}
    assert_refused_on_both_lists(client, alice, params,
                                 {"value__in": ["Ensure this field has no more than 100 elements."]},
                                 entry["customer"])


# Ordering by value

ORDER_TABLE = {
    # type: (definition, values written in this order (None: an entry holding just a file),
    #        the stored values in ascending order; the file-only entry ("") comes last both ways)
    "integer": ({}, ["9", "10", None, "-3", "100"], ["-3", "9", "10", "100"]),
    "decimal": ({}, ["1.5", None, "1.25", "10", "-0.5", "9.75"], ["-0.5", "1.25", "1.5", "9.75", "10"]),
    "date": ({}, ["2024-01-15", "2023-12-31", None, "2024-02-01", "1999-05-05"],
             ["1999-05-05", "2023-12-31", "2024-01-15", "2024-02-01"]),
    "datetime": ({}, ["2024-01-01T12:30:00+02:00", "2024-01-01T10:45:00Z", None, "2023-12-31T23:59:59.5Z",
                      "2023-12-31T23:59:59Z"],
                 ["2023-12-31T23:59:59Z", "2023-12-31T23:59:59.500000Z", "2024-01-01T10:30:00Z",
                  "2024-01-01T10:45:00Z"]),
    "choice": ({"choices": CHOICES}, ["Enterprise", "pro", None, "free"], ["pro", "free", "Enterprise"]),
    "boolean": ({}, ["true", None, "false", "yes"], ["false", "true", "true"]),
    "text": ({}, ["b", "a", None, "10", "9"], ["10", "9", "a", "b"]),
    "no definition": ({}, ["b", "a", None, "10", "9"], ["10", "9", "a", "b"]),
}


@pytest.mark.parametrize("name", list(ORDER_TABLE))
def test_ordering_by_value_is_typed_with_empty_values_last_both_ways(client, alice, name):
    definition, values, ascending = ORDER_TABLE[name]
    type_name = None if name == "no definition" else name
    define_it = type_name is not None
    if define_it:
        define(client, alice, "k", type_name, **definition)
    for value in values:
        add_entry(client, alice, new_customer(client, alice), "k", value)
    up = [e["value"] for e in listed(client, alice, {"key": "k", "ordering": "value"})]
    down = [e["value"] for e in listed(client, alice, {"key": "k", "ordering": "-value"})]
    assert up == ascending + [""]
    assert down == ascending[::-1] + [""]


def test_ordering_by_value_ties_newest_first(client, alice):
    define(client, alice, "vip", "boolean")
    entries = [add_entry(client, alice, new_customer(client, alice), "vip", value)
               for value in ("true", "false", "true", "false")]
    ids = [e["id"] for e in listed(client, alice, {"key": "vip", "ordering": "value"})]
    assert ids == [entries[3]["id"], entries[1]["id"], entries[2]["id"], entries[0]["id"]]
    ids = [e["id"] for e in listed(client, alice, {"key": "vip", "ordering": "-value"})]
    assert ids == [entries[2]["id"], entries[0]["id"], entries[3]["id"], entries[1]["id"]]


def test_ordering_by_value_without_a_key_is_text_on_both_lists(client, alice):
    define(client, alice, "age", "integer")
    customer_id = new_customer(client, alice)
    for key, value in (("age", "9"), ("b", "10"), ("c", "a"), ("d", None), ("e", "b")):
        add_entry(client, alice, customer_id, key, value)
    def values(ordering, path):
        return [e["value"] for e in listed(client, alice, {"ordering": ordering}, path)]

    for path in (ENTRIES, customer_entries(customer_id)):
        assert values("value", path) == ["10", "9", "a", "b", ""]
        assert values("-value", path) == ["b", "a", "9", "10", ""]
        # and value with the other fields
        keys = [e["key"] for e in listed(client, alice, {"ordering": "-value,key"}, path)]
        assert keys == ["e", "c", "age", "b", "d"]


def test_ordering_by_value_on_the_list_of_one_customer(client, alice):
    define(client, alice, "n", "integer")
    customer_id = new_customer(client, alice)
    entry = add_entry(client, alice, customer_id, "n", "10")
    for ordering in ("value", "-value"):
        params = {"key": "n", "ordering": ordering}
        assert listed(client, alice, params, customer_entries(customer_id)) == [entry]


def test_ordering_by_value_with_paging_and_a_filter(client, alice):
    define(client, alice, "n", "integer")
    for value in ("9", "100", None, "10", "-3", "42"):
        add_entry(client, alice, new_customer(client, alice), "n", value)

    def page(**params):
        response = get(client, alice, {"key": "n", **params})
        assert response.status_code == 200, response.get_json()
        return [e["value"] for e in response.get_json()], response.headers["X-Total-Count"]

    assert page(ordering="value", limit=2) == (["-3", "9"], "6")
    assert page(ordering="value", limit=2, offset=2) == (["10", "42"], "6")
    assert page(ordering="value", limit=2, offset=4) == (["100", ""], "6")
    assert page(ordering="-value", limit=3, offset=2) == (["10", "9", "-3"], "6")
    assert page(ordering="-value", offset=5) == ([""], "6")
    assert page(ordering="-value", value__gte="10", limit=2) == (["100", "42"], "3")
    assert page(ordering="value", value__gte="10", limit=2, offset=2) == (["100"], "3")
    assert page(ordering="value", value__lt="0", limit=10) == (["-3"], "1")


# Numbers written without a definition carry a typed form (value_types.untyped) that no filter or
# ordering reads until a numeric definition is in force

def test_numbers_without_a_definition_filter_and_order_as_text_before_and_after_one(client, alice):
    entries = keyed(client, alice, "n", None, ["+3", "9", "10", "-0.5", "1.25", "2.50", None])

    def values(**params):
        return [e["value"] for e in listed(client, alice, {"key": "n", **params})]

    def as_text(stored):
        text_order = sorted(stored)
        assert values(ordering="value") == text_order + [""]
        assert values(ordering="-value") == text_order[::-1] + [""]
        assert_found_on_both_lists(client, alice, "n", entries, {"value": "10"}, ["10"])
        assert_found_on_both_lists(client, alice, "n", entries, {"value__in": "9, 1.250"}, ["9"])
        assert_found_on_both_lists(client, alice, "n", entries, {"value__contains": "1"},
                                   [v for v in stored if "1" in v])
        for lookup in ("value__gt", "value__lte"):
            assert_refused_on_both_lists(client, alice, {"key": "n", lookup: "1"},
                                         {lookup: not_available("text")}, entries[0]["customer"])

    as_text(["+3", "9", "10", "-0.5", "1.25", "2.50"])
    created = define(client, alice, "n", "decimal")
    entries = listed(client, alice, {"key": "n"})
    assert values(ordering="value") == ["-0.5", "1.25", "2.5", "3", "9", "10", ""]
    assert values(ordering="-value") == ["10", "9", "3", "2.5", "1.25", "-0.5", ""]
    assert_found_on_both_lists(client, alice, "n", entries, {"value__gt": "2.5"}, ["3", "9", "10"])
    assert_found_on_both_lists(client, alice, "n", entries, {"value__lte": "1.25"}, ["-0.5", "1.25"])
    assert_found_on_both_lists(client, alice, "n", entries, {"value": "3.0"}, ["3"])
    assert_found_on_both_lists(client, alice, "n", entries, {"value__in": "9, 1.250"}, ["9", "1.25"])
    response = get(client, alice, {"key": "n", "value__gte": "0", "ordering": "value", "limit": 2})
    assert [e["value"] for e in response.get_json()] == ["1.25", "2.5"]
    assert response.headers["X-Total-Count"] == "5"
    assert client.delete(f"{KEYS}{created['id']}/", headers=alice.headers).status_code == 200
    as_text(["3", "9", "10", "-0.5", "1.25", "2.5"])


def test_an_integer_definition_over_numbers_without_one_and_a_decimal_after_it(client, alice):
    keyed(client, alice, "n", None, ["7", "1000000000000000", "-12", "+5"])
    created = define(client, alice, "n", "integer")
    assert [e["value"] for e in listed(client, alice, {"key": "n", "ordering": "value"})] == [
        "-12", "5", "7", "1000000000000000"]
    assert sorted(e["value"] for e in listed(client, alice, {"key": "n", "value__gte": "6"})) == [
        "1000000000000000", "7"]
    assert client.delete(f"{KEYS}{created['id']}/", headers=alice.headers).status_code == 200
    # 16 digits are more than a decimal takes: the 409 names that value alone
    response = client.post(KEYS, json={"key": "n", "type": "decimal"}, headers=alice.headers)
    assert response.status_code == 409
    assert [item["value"] for item in response.get_json()["invalid"]] == ["1000000000000000"]
    big = listed(client, alice, {"key": "n", "value": "1000000000000000"})[0]
    assert client.delete(f"{ENTRIES}{big['id']}/", headers=alice.headers).status_code == 200
    define(client, alice, "n", "decimal")
    assert [e["value"] for e in listed(client, alice, {"key": "n", "ordering": "-value"})] == ["7", "5", "-12"]
    assert [e["value"] for e in listed(client, alice, {"key": "n", "value__lt": "5"})] == ["-12"]


# Ownership: another user's entries and definitions never show, count or apply

def test_another_users_entries_and_definitions_never_show_or_count(client, alice, bob):
    mine = keyed(client, alice, "age", "integer", ["9", "10"])
    theirs = keyed(client, bob, "age", None, ["100", "abc"])
    define(client, bob, "plan", "choice", choices=CHOICES)
    keyed(client, alice, "plan", None, ["zzz", "Pro"])

    response = get(client, alice, {"key": "age", "value__gt": "5", "limit": 10})
    assert [e["value"] for e in response.get_json()] == ["10", "9"]
    assert response.headers["X-Total-Count"] == "2"
    response = get(client, alice, {"key": "age", "ordering": "-value", "limit": 10})
    assert [e["value"] for e in response.get_json()] == ["10", "9"]
    assert response.headers["X-Total-Count"] == "2"
    assert listed(client, alice, {"key": "age", "value__in": "100,9"}) == [mine[0]]
    # alice's integer definition does not apply to bob's "age"; bob's choice none to alice's "plan"
    response = get(client, bob, {"key": "age", "value__gt": "5"})
    assert response.status_code == 400
    assert response.get_json() == {"value__gt": not_available("text")}
    assert listed(client, bob, {"key": "age", "value": "abc"}) == [theirs[1]]
    assert [e["value"] for e in listed(client, bob, {"key": "age", "ordering": "value"})] == ["100", "abc"]
    assert [e["value"] for e in listed(client, alice, {"key": "plan", "value__contains": "PRO"})] == ["Pro"]
    assert [e["value"] for e in listed(client, alice, {"key": "plan", "ordering": "value"})] == ["Pro", "zzz"]
    assert listed(client, alice, {"key": "plan", "value": "pro"}) == []
    # another user's customer answers as a missing one, filter or not
    for params in ({"key": "age"}, {"key": "age", "value": "100"}):
        response = get(client, alice, params, customer_entries(theirs[0]["customer"]))
        assert response.status_code == 404
        assert response.get_json() == {"detail": "Customer not found."}


@pytest.mark.parametrize("window", ["holds every page", "holds too few"])
def test_every_page_of_a_filtered_list_is_that_slice_of_the_whole_list(client, alice, app, monkeypatch, window):
    """On SQLite a page is looked for among the owner's newest entries first (entries._recent_page);
    whether they hold it or it is read the whole way, the page is the same slice."""
    from customerdata.message import entries
    if window == "holds too few":  # the newest offset + limit entries: half of them are notes
        monkeypatch.setattr(entries, "RECENT_WINDOW_MIN", 1)
        monkeypatch.setattr(entries, "RECENT_WINDOW_PER_ROW", 1)
    found_among_newest = []
    recent_page = entries._recent_page

    def recorded(*args):
        found = recent_page(*args)
        found_among_newest.append(found is not None)
        return found

    monkeypatch.setattr(entries, "_recent_page", recorded)
    define(client, alice, "age", "integer")
    for index in range(12):
        customer_id = new_customer(client, alice)
        add_entry(client, alice, customer_id, "age", str(20 + 3 * index))
        add_entry(client, alice, customer_id, "note", f"note {index}")
    params = {"key": "age", "value__gte": "30"}
    whole = listed(client, alice, params)
    assert [entry["value"] for entry in whole] == [str(20 + 3 * index) for index in range(11, 3, -1)]
    for limit in (1, 3, 8, 10):
        for offset in range(0, 10):
            response = get(client, alice, {**params, "limit": limit, "offset": offset})
            assert response.status_code == 200
            assert response.get_json() == whole[offset:offset + limit], (limit, offset)
            assert response.headers["X-Total-Count"] == "8"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        if window == "holds every page":
            assert all(found_among_newest)
        else:  # an empty page past the end needs no rows; every other page is read the whole way
            assert set(found_among_newest) == {True, False}
    else:  # PostgreSQL plans each such list for its owner
        assert not any(found_among_newest)
