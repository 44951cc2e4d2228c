"""Typed keys: GET /api/message/data-keys/schema/, the JSON Schema (2020-12) of one customer's data
(data-keys.md, "The JSON Schema"), checked against the meta-schema, the definitions and real data."""
import io
import re

import pytest
from jsonschema import Draft202012Validator

KEYS = "/api/message/data-keys/"
SCHEMA = "/api/message/data-keys/schema/"
ENTRIES = "/api/message/customer-data/"
CUSTOMERS = "/api/message/customers/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = ("type", "x-type", "title", "description", "x-position")


def define(client, user, key, type_name, **fields):
    response = client.post(KEYS, json={"key": key, "type": type_name, **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def archive(client, user, definition):
    response = client.patch(f"{KEYS}{definition['id']}/", json={"archived": True}, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["archived"] is True


def new_customer(client, user):
    response = client.post(CUSTOMERS, json={"first_name": "Ann"}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def post_entry(client, user, customer_id, key, value, with_file=False):
    if with_file:
        body = {"customer": str(customer_id), "key": key, "file": (io.BytesIO(b"%PDF-1.4"), "contract.pdf")}
        if value is not None:
            body["value"] = value
        return client.post(ENTRIES, data=body, headers=user.headers)
    return client.post(ENTRIES, json={"customer": customer_id, "key": key, "value": value},
                       headers=user.headers)


def schema_of(client, user):
    response = client.get(SCHEMA, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    assert response.headers["Content-Type"].startswith("application/json")
    schema = response.get_json()
    Draft202012Validator.check_schema(schema)
    return schema


def validator(schema):
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def matches(pattern, value):
    """As a JSON Schema validator applies `pattern`: a search, which the anchors make a full match."""
    return re.search(pattern, value) is not None


# One fragment per type: (definition, the fragment's fields beside the base ones, the pattern:
# None for none, a string for exactly that one, or (values it takes, values it refuses))

PLAN = [{"value": "pro", "label": "Pro plan"}, {"value": "free"}]
FRAGMENTS = {
    "text": ({}, {}, None),
    "text with constraints": (
        {"label": "Nick", "description": "Short name, lower case", "position": 3, "min_length": 2,
         "max_length": 5, "pattern": "[a-z]+"},
        {"minLength": 2, "maxLength": 5}, "^(?:[a-z]+)$"),
    "text with max_length only": ({"max_length": 20}, {"maxLength": 20}, None),
    "integer": ({"min": 18, "max": 130, "position": -2},
                {"x-minimum": 18, "x-maximum": 130},
                (["42", "0", "-3", "18", "9007199254740991"], ["4.5", "abc", "42a", "4 2", "1e3", "1_000"])),
    "integer without bounds": ({}, {}, (["42", "-1"], ["x", "1.0"])),
    "decimal": ({"min": -1.5, "max": 100},
                {"x-minimum": -1.5, "x-maximum": 100},
                (["1.5", "-0.5", "1000", "10", "0.001"], ["abc", "1,5", "1.5.1", "--1"])),
    "boolean": ({}, {}, (["true", "false"], ["maybe", "2", "truefalse"])),
    "date": ({"min": "1900-01-01", "max": "2100-12-31"},
             {"format": "date", "x-minimum": "1900-01-01", "x-maximum": "2100-12-31"}, None),
    "datetime": ({"min": "2000-01-01T00:00:00+01:00"},
                 {"format": "date-time", "x-minimum": "1999-12-31T23:00:00Z"}, None),
    "email": ({"unique": True}, {"format": "email"}, None),
    "url": ({}, {"format": "uri"}, None),
    "phone": ({"region": "DE"}, {}, (["+4930123456", "+16502530000"], ["abc", "++49", "+49 30 123456x"])),
    "choice": ({"choices": PLAN},
               {"enum": ["pro", "free"],
                "x-choices": [{"value": "pro", "label": "Pro plan"}, {"value": "free", "label": "free"}]},
               None),
    "multi_choice": ({"choices": ["red", "green", "blue"]},
                     {"x-choices": [{"value": "red", "label": "red"}, {"value": "green", "label": "green"},
                                    {"value": "blue", "label": "blue"}]},
                     (["red", "green", "red,blue", "red,green,blue"], ["purple", "red,purple", "red,", ",red",
                                                                       "redgreen", "red;blue"])),
}


@pytest.mark.parametrize("name", list(FRAGMENTS))
def test_the_fragment_of_each_type(client, alice, name):
    body, extra, pattern = FRAGMENTS[name]
    type_name = name.split(" ")[0]
    definition = define(client, alice, "k", type_name, **body)
    schema = schema_of(client, alice)
    assert schema.get("$schema", DRAFT) == DRAFT
    assert schema["type"] == "object"
    assert schema["additionalProperties"] == {"type": "string"}
    assert list(schema["properties"]) == ["k"]
    assert schema.get("x-file-keys", []) == []
    fragment = schema["properties"]["k"]
    expected = {"type": "string", "x-type": type_name, "title": body.get("label", "k"),
                "description": body.get("description", ""), "x-position": body.get("position", 0), **extra}
    assert {field: fragment.get(field) for field in expected} == expected
    assert (definition["label"], definition["description"], definition["position"]) == (
        fragment["title"], fragment["description"], fragment["x-position"])
    expected_fields = set(expected) | ({"pattern"} if pattern is not None else set())
    assert set(fragment) == expected_fields, fragment
    if isinstance(pattern, str):
        assert fragment["pattern"] == pattern
    elif pattern is not None:
        assert re.fullmatch(r"\^\(\?:.*\)\$", fragment["pattern"]), fragment["pattern"]
        takes, refuses = pattern
        assert [value for value in takes if not matches(fragment["pattern"], value)] == []
        assert [value for value in refuses if matches(fragment["pattern"], value)] == []


def test_file_keys_are_listed_apart_and_archived_keys_are_read_only(client, alice):
    define(client, alice, "contract", "file", extensions=["pdf"], max_size=1000)
    define(client, alice, "id_card", "file")
    legacy = define(client, alice, "legacy", "integer", label="Old number", position=7)
    customer_id = new_customer(client, alice)
    assert post_entry(client, alice, customer_id, "legacy", "12").status_code == 201
    archive(client, alice, legacy)
    schema = schema_of(client, alice)
    assert list(schema["properties"]) == ["legacy"]
    assert sorted(schema["x-file-keys"]) == ["contract", "id_card"]
    fragment = schema["properties"]["legacy"]
    assert fragment["readOnly"] is True
    assert {name: fragment[name] for name in BASE} == {
        "type": "string", "x-type": "integer", "title": "Old number", "description": "", "x-position": 7}
    # a file key is still a string when sent: the schema takes any text under it
    assert validator(schema).is_valid({"contract": "signed copy", "legacy": "12"})


def test_no_definitions_is_an_object_of_strings(client, alice):
    schema = schema_of(client, alice)
    assert schema["type"] == "object"
    assert schema.get("properties", {}) == {}
    assert schema.get("x-file-keys", []) == []
    assert schema["additionalProperties"] == {"type": "string"}
    assert validator(schema).is_valid({"anything": "text"})
    assert not validator(schema).is_valid({"anything": 42})


def test_the_schema_needs_a_token(client):
    response = client.get(SCHEMA)
    assert response.status_code == 401


# A customer's real data validates; what the API refuses, the schema refuses

EVERY_TYPE = {
    "nickname": ("text", {"label": "Nick", "min_length": 2, "max_length": 5, "pattern": "[a-z]+"}),
    "note": ("text", {}),
    "age": ("integer", {"min": 18, "max": 130}),
    "score": ("decimal", {"min": -1.5, "max": 100}),
    "vip": ("boolean", {}),
    "birthday": ("date", {"min": "1900-01-01"}),
    "last_login": ("datetime", {}),
    "work_email": ("email", {"unique": True}),
    "homepage": ("url", {}),
    "mobile": ("phone", {"region": "DE"}),
    "plan": ("choice", {"choices": PLAN}),
    "colors": ("multi_choice", {"choices": ["red", "green", "blue"]}),
    "contract": ("file", {"extensions": ["pdf"]}),
    "legacy": ("text", {}),
}
WRITTEN = {  # as written: the API stores their canonical form
    "nickname": "ann", "note": "Ärger im Büro, 100% sure", "age": "+042", "score": "2e1", "vip": "YES",
    "birthday": "1990-05-15", "last_login": "2024-01-01T12:30:00+02:00", "work_email": "Ann@Example.COM",
    "homepage": "https://example.com/a?b=c", "mobile": "030 123456", "plan": "PRO", "colors": "blue,red",
    "legacy": "old", "extra": "a key without a definition",
}


def define_every_type(client, user):
    return {key: define(client, user, key, type_name, **body)
            for key, (type_name, body) in EVERY_TYPE.items()}


def test_a_customers_real_data_validates(client, alice):
    definitions = define_every_type(client, alice)
    customer_id = new_customer(client, alice)
    for key, value in WRITTEN.items():
        response = post_entry(client, alice, customer_id, key, value)
        assert response.status_code == 201, (key, response.get_json())
    response = post_entry(client, alice, customer_id, "contract", "signed", with_file=True)
    assert response.status_code == 201, response.get_json()
    archive(client, alice, definitions["legacy"])
    response = client.get(f"/api/message/customer/{customer_id}/data/", headers=alice.headers)
    assert response.status_code == 200
    data = {entry["key"]: entry["value"] for entry in response.get_json()}
    assert data == {**WRITTEN, "age": "42", "score": "20", "vip": "true",
                    "last_login": "2024-01-01T10:30:00Z", "work_email": "Ann@example.com",
                    "mobile": "+4930123456", "plan": "pro", "colors": "red,blue", "contract": "signed"}
    schema = schema_of(client, alice)
    assert set(schema["properties"]) == set(EVERY_TYPE) - {"contract"}
    assert schema["x-file-keys"] == ["contract"]
    assert schema["properties"]["legacy"]["readOnly"] is True
    assert [error.message for error in validator(schema).iter_errors(data)] == []


DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or Z.")
REFUSED = [
    ("plan", "gold", '"gold" is not a valid choice.'),
    ("colors", "red,purple", '"purple" is not a valid choice.'),
    ("nickname", "ABC", "This value does not match the required pattern."),
    ("nickname", "ann1", "This value does not match the required pattern."),
    ("nickname", "abcdef", "Ensure this field has no more than 5 characters."),
    ("nickname", "a", "Ensure this field has at least 2 characters."),
    ("age", "4.5", "A valid integer is required."),
    ("age", "forty", "A valid integer is required."),
    ("score", "abc", "A valid number is required."),
    ("vip", "maybe", "Must be a valid boolean."),
    ("vip", "2", "Must be a valid boolean."),
    ("mobile", "abc", "Enter a valid phone number."),
    ("birthday", "15/05/1990", "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."),
    ("last_login", "2024-01-01T10:00:00", DATETIME),
]


def test_what_the_api_refuses_the_schema_refuses(client, alice):
    define_every_type(client, alice)
    customer_id = new_customer(client, alice)
    check = validator(schema_of(client, alice))
    wrong = []
    for key, value, message in REFUSED:
        response = post_entry(client, alice, customer_id, key, value)
        if (response.status_code, response.get_json()) != (400, {"value": [message]}):
            wrong.append(("api", key, value, response.status_code, response.get_json()))
        if check.is_valid({key: value}):
            wrong.append(("schema takes it", key, value))
    assert wrong == []


def test_each_user_sees_only_their_keys(client, alice, bob, auth):
    define(client, alice, "age", "integer")
    define(client, alice, "contract", "file")
    define(client, bob, "bob_key", "choice", choices=["x", "y"])
    define(client, bob, "bob_file", "file")
    define(client, bob, "age", "boolean")
    mine, theirs = schema_of(client, alice), schema_of(client, bob)
    assert list(mine["properties"]) == ["age"] and mine["x-file-keys"] == ["contract"]
    assert mine["properties"]["age"]["x-type"] == "integer"
    assert sorted(theirs["properties"]) == ["age", "bob_key"] and theirs["x-file-keys"] == ["bob_file"]
    assert theirs["properties"]["age"]["x-type"] == "boolean"
    carol = auth.user("carol")
    assert schema_of(client, carol).get("properties", {}) == {}
