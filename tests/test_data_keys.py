"""The definition resource of typed keys (shared/spec/data-keys.md, notes/typed-keys-decisions.md),
through HTTP: list, create, get, update, delete, constraint rules, the 500-definition limit and the check
of existing values."""

import io

import pytest

ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
DEFINITION_FIELDS = [
    "id",
    "key",
    "type",
    "label",
    "description",
    "position",
    "archived",
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "choices",
    "region",
    "max_size",
    "extensions",
    "unique",
    "created_at",
    "updated_at",
]
CONSTRAINT_FIELDS = [
    "min",
    "max",
    "min_length",
    "max_length",
    "pattern",
    "choices",
    "region",
    "max_size",
    "extensions",
]
NOT_FOUND = {"detail": "Definition not found."}
TYPES = [
    "text",
    "integer",
    "decimal",
    "boolean",
    "date",
    "datetime",
    "email",
    "url",
    "phone",
    "choice",
    "multi_choice",
    "file",
]
# which types use which constraint
USED_BY = {
    "min": {"integer", "decimal", "date", "datetime"},
    "max": {"integer", "decimal", "date", "datetime"},
    "min_length": {"text"},
    "max_length": {"text"},
    "pattern": {"text"},
    "choices": {"choice", "multi_choice"},
    "region": {"phone"},
    "max_size": {"file"},
    "extensions": {"file"},
}
# a value of each constraint that would be fine for a type that uses it
SAMPLE = {
    "min": "1",
    "max": "5",
    "min_length": 1,
    "max_length": 5,
    "pattern": "[a-z]+",
    "choices": ["a", "b"],
    "region": "DE",
    "max_size": 100,
    "extensions": ["pdf"],
}
CHOICES = [{"value": "a", "label": "a"}, {"value": "b", "label": "b"}]


def item_url(definition_id):
    return f"{KEYS}{definition_id}/"


def not_used(field, type_):
    return {field: [f'Not used by type "{type_}".']}


def conflict(count, invalid):
    return {
        "detail": f"{count} existing values do not fit this definition.",
        "invalid_count": count,
        "invalid": invalid,
    }


@pytest.fixture
def define(client, alice):
    """POST a definition of alice's; returns the answer body (asserting the status)."""

    def define(key="age", type="integer", expect=201, user=None, query="", **fields):
        body = {"key": key, "type": type, **fields}
        if type is None:
            del body["type"]
        response = client.post(KEYS + query, json=body, headers=(user or alice).headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    return define


@pytest.fixture
def customers(client, alice):
    """customers(n): the ids of n new customers of alice's."""

    def make(n):
        ids = []
        for i in range(n):
            response = client.post(
                "/api/message/customers/", json={"first_name": f"C{i}"}, headers=alice.headers
            )
            assert response.status_code == 201
            ids.append(response.get_json()["id"])
        return ids

    return make


@pytest.fixture
def entry(client, alice):
    """entry(customer, key, value): an entry of alice's as answered (201 asserted)."""

    def make(customer, key, value, file=None):
        if file is None:
            response = client.post(
                ENTRIES, json={"customer": customer, "key": key, "value": value}, headers=alice.headers
            )
        else:
            response = client.post(
                ENTRIES,
                data={
                    "customer": str(customer),
                    "key": key,
                    "value": value,
                    "file": (io.BytesIO(file), "f.txt"),
                },
                headers=alice.headers,
            )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def values_of(client, alice):
    """values_of(key): {entry id: stored value} of alice's entries of one key."""

    def read(key):
        response = client.get(ENTRIES, query_string={"key": key}, headers=alice.headers)
        assert response.status_code == 200
        return {e["id"]: e["value"] for e in response.get_json()}

    return read


def definitions(client, user, query=""):
    response = client.get(KEYS + query, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# Create, get


def test_create_answers_every_field_with_defaults(client, alice, define):
    created = define(key="age", type="integer")
    assert list(created) == DEFINITION_FIELDS
    assert isinstance(created["id"], int)
    assert {k: v for k, v in created.items() if k not in ("id", "created_at", "updated_at")} == {
        "key": "age",
        "type": "integer",
        "label": "age",
        "description": "",
        "position": 0,
        "archived": False,
        "min": None,
        "max": None,
        "min_length": None,
        "max_length": None,
        "pattern": None,
        "choices": None,
        "region": None,
        "max_size": None,
        "extensions": None,
        "unique": False,
    }
    assert created["created_at"].endswith("Z") and created["updated_at"].endswith("Z")
    response = client.get(item_url(created["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == created


def test_create_with_every_field(define):
    created = define(
        key=" age ",
        type="integer",
        label="  Age in years ",
        description="How old.",
        position=3,
        archived=True,
        min=18,
        max="120",
        unique=True,
        colour="red",
    )
    assert {
        k: created[k] for k in ("key", "label", "description", "position", "archived", "min", "max", "unique")
    } == {
        "key": "age",
        "label": "Age in years",
        "description": "How old.",
        "position": 3,
        "archived": True,
        "min": 18,
        "max": 120,
        "unique": True,
    }
    assert "colour" not in created


@pytest.mark.parametrize(
    "type_, given, answered",
    [
        ("integer", {"min": "-5", "max": 10}, {"min": -5, "max": 10}),
        ("integer", {"min": "+007"}, {"min": 7, "max": None}),
        ("decimal", {"min": "0.50", "max": 1e3}, {"min": 0.5, "max": 1000}),
        ("date", {"min": "2000-01-01", "max": "2010-12-31"}, {"min": "2000-01-01", "max": "2010-12-31"}),
        (
            "datetime",
            {"min": "2024-01-01T02:00:00+02:00", "max": "2024-12-31T23:59:59.500Z"},
            {"min": "2024-01-01T00:00:00Z", "max": "2024-12-31T23:59:59.500000Z"},
        ),
    ],
)
def test_min_max_are_answered_in_the_types_form(define, type_, given, answered):
    created = define(key="bound", type=type_, **given)
    assert {"min": created["min"], "max": created["max"]} == answered
    if type_ == "integer":
        assert all(isinstance(created[f], int) or created[f] is None for f in ("min", "max"))
    if type_ == "decimal":
        assert all(isinstance(created[f], (int, float)) for f in ("min", "max"))


def test_choices_are_answered_as_value_label_objects(define):
    created = define(
        key="plan", type="choice", choices=["free", {"value": "pro", "label": "Pro plan"}, {"value": "team"}]
    )
    assert created["choices"] == [
        {"value": "free", "label": "free"},
        {"value": "pro", "label": "Pro plan"},
        {"value": "team", "label": "team"},
    ]


def test_region_extensions_and_blank_label(define):
    phone = define(key="mobile", type="phone", region="de", label="   ")
    assert (phone["region"], phone["label"]) == ("DE", "mobile")
    file = define(key="contract", type="file", extensions=[".PDF", "jpg", "pdf", "JPG"], max_size=1024)
    assert (file["extensions"], file["max_size"]) == (["pdf", "jpg"], 1024)


def test_text_constraints_are_answered(define):
    created = define(key="code", type="text", min_length=0, max_length=10, pattern=r"[A-Z]{2}\d+")
    assert (created["min_length"], created["max_length"], created["pattern"]) == (0, 10, r"[A-Z]{2}\d+")


def test_null_constraints_are_accepted_by_every_type(define):
    for type_ in TYPES:
        fields = {field: None for field in CONSTRAINT_FIELDS}
        if type_ in ("choice", "multi_choice"):
            fields["choices"] = ["a", "b"]
        created = define(key=f"k_{type_}", type=type_, **fields)
        assert created["type"] == type_
        assert all(created[field] is None for field in CONSTRAINT_FIELDS if field != "choices")


def refusals(client, user, cases, url=KEYS):
    """POST each body; the cases whose answer is not 400 with exactly `errors` (all, not only the first)."""
    wrong = []
    for body, errors in cases:
        response = client.post(url, json=body, headers=user.headers)
        if (response.status_code, response.get_json()) != (400, errors):
            wrong.append(
                (body if len(str(body)) < 200 else str(body)[:200], response.status_code, response.get_json())
            )
    return wrong


CREATE_REFUSALS = {
    "type": [
        ({"key": "age"}, {"type": ["This field is required."]}),
        ({"key": "age", "type": "x"}, {"type": ['"x" is not a valid choice.']}),
        ({"key": "age", "type": "Integer"}, {"type": ['"Integer" is not a valid choice.']}),
    ],
    "key": [
        ({"type": "text"}, {"key": ["This field is required."]}),
        ({"key": "   ", "type": "text"}, {"key": ["This field may not be blank."]}),
        ({"key": "k" * 256, "type": "text"}, {"key": ["Ensure this field has no more than 255 characters."]}),
    ],
    "label, description": [
        (
            {"key": "k", "type": "text", "label": "l" * 101},
            {"label": ["Ensure this field has no more than 100 characters."]},
        ),
        (
            {"key": "k", "type": "text", "description": "d" * 1001},
            {"description": ["Ensure this field has no more than 1000 characters."]},
        ),
    ],
    "position": [
        ({"key": "k", "type": "text", "position": "first"}, {"position": ["A valid integer is required."]}),
    ],
}


@pytest.mark.parametrize("field", list(CREATE_REFUSALS))
def test_create_validation_messages(client, alice, field):
    assert refusals(client, alice, CREATE_REFUSALS[field]) == []
    assert definitions(client, alice) == []


def test_position_range(client, alice, define):
    assert define(key="low", type="text", position=-2147483648)["position"] == -2147483648
    assert define(key="high", type="text", position=2147483647)["position"] == 2147483647
    for position in (2147483648, -2147483649):
        response = client.post(
            KEYS, json={"key": "k", "type": "text", "position": position}, headers=alice.headers
        )
        assert response.status_code == 400
        # the wording of the range error is not fixed by the contract or the decisions
        assert list(response.get_json()) == ["position"]


def test_key_up_to_255_characters(define):
    definition = define(key="k" * 255, type="text")
    assert definition["key"] == "k" * 255
    assert definition["label"] == "k" * 100  # the default label is the key, cut to a label's 100 characters


def test_a_key_is_checked_like_an_entry_key(client, alice):
    response = client.post(KEYS, json={"key": "a\x00b", "type": "text"}, headers=alice.headers)
    assert response.status_code == 400
    assert list(response.get_json()) == ["key"]
    assert definitions(client, alice) == []


def test_a_second_definition_of_a_key_is_refused(client, alice, bob, define):
    define(key="age", type="integer")
    for key in ("age", " age "):
        assert define(key=key, type="text", expect=400) == {"key": ["This key already has a definition."]}
    # the same key of another user is another key
    assert define(key="age", type="text", user=bob)["key"] == "age"
    assert define(key="Age", type="text")["key"] == "Age"


# Constraints a type does not use


@pytest.mark.parametrize("field", CONSTRAINT_FIELDS)
def test_a_constraint_is_refused_by_the_types_that_do_not_use_it(client, alice, field):
    for type_ in TYPES:
        if type_ in USED_BY[field]:
            continue
        body = {"key": "k", "type": type_, field: SAMPLE[field]}
        if type_ in ("choice", "multi_choice"):
            body["choices"] = ["a", "b"]
        response = client.post(KEYS, json=body, headers=alice.headers)
        assert (type_, response.status_code) == (type_, 400)
        assert response.get_json() == not_used(field, type_), type_
    assert definitions(client, alice) == []


def test_unique_is_used_by_every_type_but_file(define):
    for type_ in sorted(set(TYPES) - {"file"}):
        extra = {"choices": ["a"]} if type_ in ("choice", "multi_choice") else {}
        assert define(key=f"k_{type_}", type=type_, unique=True, **extra)["unique"] is True


def test_unique_is_not_used_by_file(define):
    assert define(key="doc", type="file", unique=True, expect=400) == not_used("unique", "file")
    assert define(key="doc", type="file", unique=False)["unique"] is False


def test_a_patch_setting_a_constraint_the_type_does_not_use_is_refused(client, alice, define):
    created = define(key="note", type="text")
    response = client.patch(item_url(created["id"]), json={"min": 3}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == not_used("min", "text")
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created


# Constraint values

CONSTRAINT_REFUSALS = [
    ({"type": "choice"}, {"choices": ["This field is required."]}),
    ({"type": "multi_choice"}, {"choices": ["This field is required."]}),
    ({"type": "choice", "choices": None}, {"choices": ["This field is required."]}),
    ({"type": "choice", "choices": []}, {"choices": ["Ensure this field has at least 1 elements."]}),
    (
        {"type": "choice", "choices": [f"c{i}" for i in range(501)]},
        {"choices": ["Ensure this field has no more than 500 elements."]},
    ),
    (
        {"type": "choice", "choices": ["Pro", "pro"]},
        {"choices": ["Choice values must be unique regardless of case."]},
    ),
    (
        {"type": "multi_choice", "choices": [{"value": "a"}, {"value": "A", "label": "other"}]},
        {"choices": ["Choice values must be unique regardless of case."]},
    ),
    ({"type": "multi_choice", "choices": ["a,b"]}, {"choices": ["Choice values may not contain commas."]}),
    (
        {"type": "choice", "choices": ["x" * 101]},
        {"choices": ["Ensure this field has no more than 100 characters."]},
    ),
    ({"type": "choice", "choices": [{"value": ""}]}, {"choices": ["This field may not be blank."]}),
    ({"type": "text", "pattern": "("}, {"pattern": ["Enter a valid regular expression (RE2 syntax)."]}),
    ({"type": "text", "pattern": r"(a)\1"}, {"pattern": ["Enter a valid regular expression (RE2 syntax)."]}),
    ({"type": "text", "pattern": "(?=a)a"}, {"pattern": ["Enter a valid regular expression (RE2 syntax)."]}),
    (
        {"type": "text", "pattern": "a" * 501},
        {"pattern": ["Ensure this field has no more than 500 characters."]},
    ),
    ({"type": "phone", "region": "XX"}, {"region": ['"XX" is not a valid region.']}),
    (
        {"type": "integer", "min": 10, "max": 5},
        {"max": ["Ensure this value is greater than or equal to min."]},
    ),
    (
        {"type": "decimal", "min": "1.5", "max": "1.49"},
        {"max": ["Ensure this value is greater than or equal to min."]},
    ),
    (
        {"type": "date", "min": "2020-01-02", "max": "2020-01-01"},
        {"max": ["Ensure this value is greater than or equal to min."]},
    ),
    (
        {"type": "datetime", "min": "2020-01-01T00:00:00Z", "max": "2020-01-01T01:00:00+02:00"},
        {"max": ["Ensure this value is greater than or equal to min."]},
    ),
    (
        {"type": "text", "min_length": 5, "max_length": 4},
        {"max_length": ["Ensure this value is greater than or equal to min_length."]},
    ),
    ({"type": "integer", "min": "abc"}, {"min": ["A valid integer is required."]}),
    ({"type": "integer", "max": "1.5"}, {"max": ["A valid integer is required."]}),
    ({"type": "decimal", "min": "abc"}, {"min": ["A valid number is required."]}),
    (
        {"type": "date", "min": "2020/01/01"},
        {"min": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
    ),
    (
        {"type": "datetime", "max": "2020-01-01T00:00:00"},
        {
            "max": [
                "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or Z."
            ]
        },
    ),
    (
        {"type": "text", "min_length": -1},
        {"min_length": ["Ensure this value is greater than or equal to 0."]},
    ),
    ({"type": "text", "max_length": 0}, {"max_length": ["Ensure this value is greater than or equal to 1."]}),
    ({"type": "file", "max_size": 0}, {"max_size": ["Ensure this value is greater than or equal to 1."]}),
]


@pytest.mark.parametrize("field", sorted({field for _, errors in CONSTRAINT_REFUSALS for field in errors}))
def test_constraint_validation(client, alice, field):
    cases = [({"key": "k", **body}, errors) for body, errors in CONSTRAINT_REFUSALS if field in errors]
    assert refusals(client, alice, cases) == []
    assert definitions(client, alice) == []


@pytest.mark.parametrize("extensions", [[], [""], ["."], "pdf"])
def test_extensions_must_be_a_non_empty_list_of_names(client, alice, extensions):
    response = client.post(
        KEYS, json={"key": "doc", "type": "file", "extensions": extensions}, headers=alice.headers
    )
    assert response.status_code == 400
    assert list(response.get_json()) == ["extensions"]


def test_equal_bounds_and_500_choices_are_fine(define):
    assert define(key="n", type="integer", min=5, max=5)["max"] == 5
    assert define(key="t", type="text", min_length=4, max_length=4)["max_length"] == 4
    assert len(define(key="c", type="choice", choices=[f"c{i}" for i in range(500)])["choices"]) == 500
    assert define(key="p", type="text", pattern="a" * 500)["pattern"] == "a" * 500


# List


def test_list_is_ordered_by_position_then_key(client, alice, bob, define):
    for key, position in (("b", 1), ("a", 1), ("c", 0), ("z", -5), ("d", 0)):
        define(key=key, type="text", position=position)
    define(key="bobs", type="text", user=bob)
    assert [d["key"] for d in definitions(client, alice)] == ["z", "c", "d", "a", "b"]
    assert [d["key"] for d in definitions(client, bob)] == ["bobs"]


def test_list_filters(client, alice, define):
    age = define(key="age", type="integer")
    old = define(key="old", type="text", archived=True)
    define(key="Age2", type="text")
    assert definitions(client, alice, "?key=age") == [age]
    assert definitions(client, alice, "?key=AGE") == []
    assert definitions(client, alice, "?key=ag") == []
    assert definitions(client, alice, "?archived=true") == [old]
    assert [d["key"] for d in definitions(client, alice, "?archived=false")] == ["Age2", "age"]
    assert definitions(client, alice, "?key=old&archived=false") == []


# Update


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_is_partial(client, alice, define, method):
    created = define(key="age", type="integer", label="Age", min=18, description="years", position=2)
    response = getattr(client, method)(
        item_url(created["id"]), json={"label": "Age in years", "max": 99}, headers=alice.headers
    )
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    assert list(updated) == DEFINITION_FIELDS
    assert updated == created | {"label": "Age in years", "max": 99, "updated_at": updated["updated_at"]}
    assert updated["updated_at"] >= created["updated_at"]
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == updated


def test_the_key_of_a_definition_never_changes(client, alice, define):
    created = define(key="age", type="integer")
    for method in ("patch", "put"):
        response = getattr(client, method)(
            item_url(created["id"]), json={"key": "years"}, headers=alice.headers
        )
        assert response.status_code == 400
        assert response.get_json() == {"key": ["The key of a definition cannot change."]}
    same = client.patch(item_url(created["id"]), json={"key": "age", "label": "Age"}, headers=alice.headers)
    assert same.status_code == 200 and same.get_json()["key"] == "age"
    assert [d["key"] for d in definitions(client, alice)] == ["age"]


def test_a_type_change_drops_the_constraints_the_new_type_does_not_use(client, alice, define):
    text = define(key="code", type="text", min_length=2, max_length=20, pattern="[0-9]+", unique=True)
    response = client.patch(item_url(text["id"]), json={"type": "integer"}, headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    assert {f: response.get_json()[f] for f in ("type", "min_length", "max_length", "pattern", "unique")} == {
        "type": "integer",
        "min_length": None,
        "max_length": None,
        "pattern": None,
        "unique": True,
    }

    number = define(key="n", type="integer", min=1, max=9)
    kept = client.patch(item_url(number["id"]), json={"type": "decimal"}, headers=alice.headers).get_json()
    assert (kept["type"], kept["min"], kept["max"]) == ("decimal", 1, 9)

    plan = define(key="plan", type="choice", choices=["a", "b"])
    dropped = client.patch(
        item_url(plan["id"]), json={"type": "text", "max_length": 5}, headers=alice.headers
    ).get_json()
    assert (dropped["type"], dropped["choices"], dropped["max_length"]) == ("text", None, 5)

    phone = define(key="tel", type="phone", region="DE")
    assert (
        client.patch(item_url(phone["id"]), json={"type": "text"}, headers=alice.headers).get_json()["region"]
        is None
    )


def test_a_type_change_validates_the_new_types_needs(client, alice, define):
    created = define(key="plan", type="text", max_length=5)
    response = client.patch(item_url(created["id"]), json={"type": "choice"}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"choices": ["This field is required."]}
    unused = client.patch(
        item_url(created["id"]), json={"type": "integer", "pattern": "x"}, headers=alice.headers
    )
    assert unused.status_code == 400
    assert unused.get_json() == not_used("pattern", "integer")
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created


def test_a_patch_is_checked_against_the_stored_bounds(client, alice, define):
    created = define(key="age", type="integer", min=18)
    response = client.patch(item_url(created["id"]), json={"max": 10}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"max": ["Ensure this value is greater than or equal to min."]}


# Delete


def test_delete(client, alice, define):
    created = define(key="age", type="integer")
    response = client.delete(item_url(created["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "message": "Definition of 'age' deleted; its values stay as text.",
        "deleted_id": created["id"],
    }
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == NOT_FOUND
    assert definitions(client, alice) == []
    # the key can be defined again
    assert define(key="age", type="text")["id"] != created["id"]


def test_delete_keeps_the_values_as_text(client, alice, define, customers, entry, values_of):
    first, second = customers(2)
    kept = entry(first, "age", "+042")
    define(key="age", type="integer")
    assert values_of("age") == {kept["id"]: "42"}
    client.delete(item_url(definitions(client, alice)[0]["id"]), headers=alice.headers)
    assert values_of("age") == {kept["id"]: "42"}
    free = entry(second, "age", "forty-two")
    assert values_of("age") == {kept["id"]: "42", free["id"]: "forty-two"}


# Missing and other users' definitions


def test_missing_and_foreign_ids_are_not_found(client, alice, bob, define):
    created = define(key="age", type="integer")
    for user, definition_id in (
        (bob, created["id"]),
        (alice, created["id"] + 1000),
        (alice, 99999999999999999999),
    ):
        for method, kwargs in (
            ("get", {}),
            ("patch", {"json": {"label": "x"}}),
            ("put", {"json": {"label": "x"}}),
            ("delete", {}),
        ):
            response = getattr(client, method)(item_url(definition_id), headers=user.headers, **kwargs)
            assert (method, response.status_code) == (method, 404)
            assert response.get_json() == NOT_FOUND
    assert definitions(client, bob) == []
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created


def test_every_route_needs_a_token(client, define):
    created = define(key="age", type="integer")
    for method, path in (
        ("get", KEYS),
        ("post", KEYS),
        ("get", item_url(created["id"])),
        ("patch", item_url(created["id"])),
        ("put", item_url(created["id"])),
        ("delete", item_url(created["id"])),
    ):
        response = getattr(client, method)(path)
        assert response.status_code == 401, (method, path)


# At most 500 definitions per user


def test_at_most_500_definitions(client, alice, bob, define):
    for n in range(500):
        response = client.post(KEYS, json={"key": f"k{n:03}", "type": "text"}, headers=alice.headers)
        assert response.status_code == 201, response.get_json()
    response = client.post(KEYS, json={"key": "one-more", "type": "text"}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"non_field_errors": ["A user can have at most 500 definitions."]}
    assert len(definitions(client, alice)) == 500
    assert define(key="one-more", type="text", user=bob)["key"] == "one-more"
    # one deleted, one more fits
    client.delete(item_url(definitions(client, alice, "?key=k000")[0]["id"]), headers=alice.headers)
    assert define(key="one-more", type="text")["key"] == "one-more"


# Existing values


def test_existing_values_are_rewritten_to_their_canonical_form(
    client, alice, define, customers, entry, values_of
):
    ids = customers(4)
    entries = [entry(c, "age", v)["id"] for c, v in zip(ids, ["+042", "7", "-0010", "007"])]
    define(key="age", type="integer")
    assert values_of("age") == dict(zip(entries, ["42", "7", "-10", "7"]))


def test_a_rewrite_moves_updated_at_and_search_only_where_the_text_changes(client, alice, define, customers, entry):
    ids = customers(3)
    rewritten, kept, low = (entry(c, "score", v) for c, v in zip(ids, ["+012.50", "7.25", "3"]))
    define(key="score", type="decimal")

    def found(**query):
        response = client.get(ENTRIES, query_string=query, headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        return {e["id"]: e for e in response.get_json()}

    now = found(key="score")
    assert now[rewritten["id"]]["value"] == "12.5"
    assert now[rewritten["id"]]["updated_at"] > rewritten["updated_at"]
    # values already canonical are typed in place: same text, same updated_at
    assert now[kept["id"]] == kept and now[low["id"]] == low
    # the rewritten text is what search, equality and comparisons see; the typed ones compare too
    assert list(found(search="12.5")) == [rewritten["id"]]
    assert found(search="+012") == {}
    assert list(found(key="score", value="12.50")) == [rewritten["id"]]
    assert list(found(key="score", value="7.25")) == [kept["id"]]
    assert set(found(key="score", value__gte="5")) == {rewritten["id"], kept["id"]}
    assert list(found(key="score", value__lt="5")) == [low["id"]]


def test_existing_booleans_are_rewritten(define, customers, entry, values_of):
    ids = customers(4)
    entries = [entry(c, "vip", v)["id"] for c, v in zip(ids, ["YES", "off", "1", "False"])]
    define(key="vip", type="boolean")
    assert values_of("vip") == dict(zip(entries, ["true", "false", "true", "false"]))


def test_a_definition_over_values_that_do_not_fit_is_a_409_and_changes_nothing(
    client, alice, customers, entry, values_of
):
    ids = customers(5)
    given = ["+042", "fourty", "7", "4.5", "ü" * 150]
    entries = [entry(c, "age", v)["id"] for c, v in zip(ids, given)]
    response = client.post(KEYS, json={"key": "age", "type": "integer"}, headers=alice.headers)
    assert response.status_code == 409
    assert response.get_json() == conflict(
        3,
        [
            {
                "id": entries[1],
                "customer": ids[1],
                "value": "fourty",
                "errors": ["A valid integer is required."],
            },
            {
                "id": entries[3],
                "customer": ids[3],
                "value": "4.5",
                "errors": ["A valid integer is required."],
            },
            {
                "id": entries[4],
                "customer": ids[4],
                "value": "ü" * 100,
                "errors": ["A valid integer is required."],
            },
        ],
    )
    assert definitions(client, alice) == []
    assert values_of("age") == dict(zip(entries, given))


def test_a_409_lists_at_most_20_values_in_entry_order(client, alice, customers, entry):
    ids = customers(25)
    entries = [entry(c, "level", f"bad{n}")["id"] for n, c in enumerate(ids)]
    response = client.post(KEYS, json={"key": "level", "type": "integer", "min": 1}, headers=alice.headers)
    assert response.status_code == 409
    body = response.get_json()
    assert (body["detail"], body["invalid_count"]) == ("25 existing values do not fit this definition.", 25)
    assert [item["id"] for item in body["invalid"]] == entries[:20]
    assert body["invalid"][0] == {
        "id": entries[0],
        "customer": ids[0],
        "value": "bad0",
        "errors": ["A valid integer is required."],
    }
    dry = client.post(KEYS + "?dry_run=1", json={"key": "level", "type": "integer"}, headers=alice.headers)
    assert dry.status_code == 200
    assert {k: v for k, v in dry.get_json().items() if k != "invalid"} == {
        "valid": 0,
        "changed": 0,
        "invalid_count": 25,
    }
    assert [item["id"] for item in dry.get_json()["invalid"]] == entries[:20]


def test_constraint_errors_of_existing_values(client, alice, customers, entry):
    ids = customers(3)
    entries = [entry(c, "age", v)["id"] for c, v in zip(ids, ["17", "30", "121"])]
    response = client.post(
        KEYS, json={"key": "age", "type": "integer", "min": 18, "max": 120}, headers=alice.headers
    )
    assert response.status_code == 409
    assert response.get_json() == conflict(
        2,
        [
            {
                "id": entries[0],
                "customer": ids[0],
                "value": "17",
                "errors": ["Ensure this value is greater than or equal to 18."],
            },
            {
                "id": entries[2],
                "customer": ids[2],
                "value": "121",
                "errors": ["Ensure this value is less than or equal to 120."],
            },
        ],
    )


def test_a_patch_over_values_that_do_not_fit_is_a_409_and_changes_nothing(
    client, alice, define, customers, entry, values_of
):
    ids = customers(3)
    entries = [entry(c, "code", v)["id"] for c, v in zip(ids, ["+042", "abc", "xyz"])]
    created = define(key="code", type="text", max_length=10)
    response = client.patch(
        item_url(created["id"]), json={"type": "integer", "label": "Code"}, headers=alice.headers
    )
    assert response.status_code == 409
    assert response.get_json() == conflict(
        2,
        [
            {
                "id": entries[1],
                "customer": ids[1],
                "value": "abc",
                "errors": ["A valid integer is required."],
            },
            {
                "id": entries[2],
                "customer": ids[2],
                "value": "xyz",
                "errors": ["A valid integer is required."],
            },
        ],
    )
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created
    assert values_of("code") == dict(zip(entries, ["+042", "abc", "xyz"]))


def test_a_patch_that_fits_rewrites_the_values(client, alice, define, customers, entry, values_of):
    ids = customers(3)
    entries = [entry(c, "flag", v)["id"] for c, v in zip(ids, ["YES", "no", "On"])]
    created = define(key="flag", type="text")
    response = client.patch(item_url(created["id"]), json={"type": "boolean"}, headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    assert values_of("flag") == dict(zip(entries, ["true", "false", "true"]))


def test_a_patch_of_a_constraint_checks_the_values(client, alice, define, customers, entry):
    ids = customers(2)
    entries = [entry(c, "name", v)["id"] for c, v in zip(ids, ["Al", "Alexander"])]
    created = define(key="name", type="text")
    response = client.patch(item_url(created["id"]), json={"min_length": 3}, headers=alice.headers)
    assert response.status_code == 409
    body = response.get_json()
    # the contract writes "3 existing values"; the singular wording is left open
    assert body.pop("detail").startswith("1 existing value")
    assert body == {
        "invalid_count": 1,
        "invalid": [
            {
                "id": entries[0],
                "customer": ids[0],
                "value": "Al",
                "errors": ["Ensure this field has at least 3 characters."],
            }
        ],
    }
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created


def test_a_file_definition_over_entries_without_a_file_is_a_409(client, alice, customers, entry, values_of):
    ids = customers(3)
    with_file = entry(ids[0], "doc", "scan", file=b"data")
    plain = entry(ids[1], "doc", "no file here")
    other = entry(ids[2], "doc", "nor here")
    response = client.post(KEYS, json={"key": "doc", "type": "file"}, headers=alice.headers)
    assert response.status_code == 409
    assert response.get_json() == conflict(
        2,
        [
            {
                "id": plain["id"],
                "customer": ids[1],
                "value": "no file here",
                "errors": ["This key needs a file."],
            },
            {
                "id": other["id"],
                "customer": ids[2],
                "value": "nor here",
                "errors": ["This key needs a file."],
            },
        ],
    )
    assert values_of("doc") == {with_file["id"]: "scan", plain["id"]: "no file here", other["id"]: "nor here"}


def test_unique_over_existing_duplicates_is_a_409(client, alice, define, customers, entry):
    ids = customers(4)
    entries = [
        entry(c, "company_email", v)["id"] for c, v in zip(ids, ["a@x.com", "a@x.com", "b@x.com", "a@x.com"])
    ]
    taken = "Another customer already has this value for 'company_email'."
    response = client.post(
        KEYS, json={"key": "company_email", "type": "email", "unique": True}, headers=alice.headers
    )
    assert response.status_code == 409
    assert response.get_json() == conflict(
        2,
        [
            {"id": entries[1], "customer": ids[1], "value": "a@x.com", "errors": [taken]},
            {"id": entries[3], "customer": ids[3], "value": "a@x.com", "errors": [taken]},
        ],
    )
    # the same over a PATCH that turns unique on
    created = define(key="company_email", type="email")
    patched = client.patch(item_url(created["id"]), json={"unique": True}, headers=alice.headers)
    assert patched.status_code == 409
    assert patched.get_json()["invalid_count"] == 2
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json()["unique"] is False


def test_unique_over_spellings_of_one_value_is_a_409(client, alice, customers, entry):
    ids = customers(3)
    entries = [entry(c, "company_email", v)["id"] for c, v in zip(ids, ["a@X.com", "b@x.com", "a@x.COM"])]
    response = client.post(
        KEYS, json={"key": "company_email", "type": "email", "unique": True}, headers=alice.headers
    )
    assert response.status_code == 409
    body = response.get_json()
    assert body["invalid_count"] == 1
    assert [(i["id"], i["errors"]) for i in body["invalid"]] == [
        (entries[2], ["Another customer already has this value for 'company_email'."])
    ]


def test_unique_without_duplicates_passes(define, customers, entry, values_of):
    ids = customers(3)
    entries = [entry(c, "company_email", v)["id"] for c, v in zip(ids, ["a@X.com", "b@x.com", "c@x.com"])]
    assert define(key="company_email", type="email", unique=True)["unique"] is True
    assert values_of("company_email") == dict(zip(entries, ["a@x.com", "b@x.com", "c@x.com"]))


def test_other_users_values_are_not_checked(client, bob, alice, define, customers, entry):
    ids = customers(1)
    entry(ids[0], "age", "fourty")
    assert define(key="age", type="integer", user=bob)["key"] == "age"


# ?dry_run


def test_dry_run_create_answers_the_check_and_writes_nothing(client, alice, customers, entry, values_of):
    ids = customers(5)
    given = ["+042", "42", "fourty", "007", "-3"]
    entries = [entry(c, "age", v)["id"] for c, v in zip(ids, given)]
    response = client.post(
        KEYS + "?dry_run=true", json={"key": "age", "type": "integer"}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "valid": 4,
        "changed": 2,
        "invalid_count": 1,
        "invalid": [
            {
                "id": entries[2],
                "customer": ids[2],
                "value": "fourty",
                "errors": ["A valid integer is required."],
            }
        ],
    }
    assert definitions(client, alice) == []
    assert values_of("age") == dict(zip(entries, given))


def test_dry_run_spellings(client, alice, customers, entry):
    ids = customers(2)
    for c, v in zip(ids, ["YES", "false"]):
        entry(c, "vip", v)
    for spelling in ("true", "1", "yes", "on"):
        response = client.post(
            KEYS,
            query_string={"dry_run": spelling},
            json={"key": "vip", "type": "boolean"},
            headers=alice.headers,
        )
        assert (spelling, response.status_code) == (spelling, 200)
        assert response.get_json() == {"valid": 2, "changed": 1, "invalid_count": 0, "invalid": []}
    assert definitions(client, alice) == []
    for n, spelling in enumerate(("false", "0", "no", "off")):
        response = client.post(
            KEYS,
            query_string={"dry_run": spelling},
            json={"key": f"vip{n}", "type": "boolean"},
            headers=alice.headers,
        )
        assert (spelling, response.status_code) == (spelling, 201)
    assert len(definitions(client, alice)) == 4


def test_dry_run_must_be_a_boolean(client, alice, define):
    response = client.post(
        KEYS + "?dry_run=maybe", json={"key": "vip", "type": "boolean"}, headers=alice.headers
    )
    assert response.status_code == 400
    assert response.get_json() == {"dry_run": ["Must be a valid boolean."]}
    created = define(key="age", type="integer")
    patched = client.patch(item_url(created["id"]) + "?dry_run=2", json={"min": 1}, headers=alice.headers)
    assert patched.status_code == 400
    assert patched.get_json() == {"dry_run": ["Must be a valid boolean."]}
    assert definitions(client, alice) == [created]


def test_dry_run_patch_answers_the_check_and_writes_nothing(
    client, alice, define, customers, entry, values_of
):
    ids = customers(4)
    given = ["+042", "abc", "7", "0x1"]
    entries = [entry(c, "code", v)["id"] for c, v in zip(ids, given)]
    created = define(key="code", type="text")
    response = client.patch(
        item_url(created["id"]) + "?dry_run=true", json={"type": "integer"}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.get_json() == {
        "valid": 2,
        "changed": 1,
        "invalid_count": 2,
        "invalid": [
            {
                "id": entries[1],
                "customer": ids[1],
                "value": "abc",
                "errors": ["A valid integer is required."],
            },
            {
                "id": entries[3],
                "customer": ids[3],
                "value": "0x1",
                "errors": ["A valid integer is required."],
            },
        ],
    }
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == created
    assert values_of("code") == dict(zip(entries, given))


def test_dry_run_still_validates_the_definition(client, alice, define):
    define(key="age", type="integer")
    duplicate = client.post(
        KEYS + "?dry_run=true", json={"key": "age", "type": "integer"}, headers=alice.headers
    )
    assert duplicate.status_code == 400
    assert duplicate.get_json() == {"key": ["This key already has a definition."]}
    unused = client.post(
        KEYS + "?dry_run=true", json={"key": "n", "type": "text", "min": 1}, headers=alice.headers
    )
    assert unused.status_code == 400
    assert unused.get_json() == not_used("min", "text")


def test_existing_datetimes_and_emails_are_rewritten(define, customers, entry, values_of):
    ids = customers(2)
    when = [
        entry(c, "when", v)["id"] for c, v in zip(ids, ["2024-05-01T14:30:00+02:00", "2024-05-01T12:30Z"])
    ]
    mail = [entry(c, "mail", v)["id"] for c, v in zip(ids, ["Bob@EXAMPLE.com", "a@b.org"])]
    define(key="when", type="datetime")
    define(key="mail", type="email")
    assert values_of("when") == dict(zip(when, ["2024-05-01T12:30:00Z", "2024-05-01T12:30:00Z"]))
    assert values_of("mail") == dict(zip(mail, ["Bob@example.com", "a@b.org"]))


def test_file_only_entries_fit_every_other_type(define, customers, entry, values_of):
    ids = customers(2)
    holder = entry(ids[0], "age", "", file=b"data")
    typed = entry(ids[1], "age", "+1")
    define(key="age", type="integer", min=1, unique=True)
    assert values_of("age") == {holder["id"]: "", typed["id"]: "1"}


# Typed columns across definitions: a value without a definition carries the number of a canonical
# decimal (value_types.untyped); a definition types every value as its type says, and deleting it
# puts back what a value without one carries. No answer shows these columns; filters and ordering
# go by the definition's type (test_value_filters.py, test_segments.py).

UNTYPED_AGAIN = [
    # type, definition, values written, the stored (number, instant set, unique_hash set) under the
    # definition, then after its delete
    ("integer", {}, ["42", "-7", "1000000000000000"],
     [(42.0, False, False), (-7.0, False, False), (1e15, False, False)],
     [(42.0, False, False), (-7.0, False, False), (None, False, False)]),
    ("decimal", {"unique": True}, ["1.5", "+2.50"],
     [(1.5, False, True), (2.5, False, True)], [(1.5, False, False), (2.5, False, False)]),
    ("choice", {"choices": ["10", "5", "x"]}, ["5", "x"],
     [(1.0, False, False), (2.0, False, False)], [(5.0, False, False), (None, False, False)]),
    ("multi_choice", {"choices": ["5", "6"]}, ["5", "6,5"],
     [(None, False, False), (None, False, False)], [(5.0, False, False), (None, False, False)]),
    ("boolean", {}, ["1", "no"], [(1.0, False, False), (0.0, False, False)],
     [(None, False, False), (None, False, False)]),
    ("date", {}, ["2024-01-01"], [(None, True, False)], [(None, False, False)]),
    ("text", {"unique": True}, ["5", "abc"], [(None, False, True), (None, False, True)],
     [(5.0, False, False), (None, False, False)]),
]


@pytest.mark.parametrize("type_, fields, values, typed, untyped", UNTYPED_AGAIN,
                         ids=[case[0] for case in UNTYPED_AGAIN])
def test_a_definition_types_existing_values_and_its_delete_untypes_them(
        client, alice, define, customers, entry, values_of, typed_columns_of, type_, fields, values, typed, untyped):
    ids = [entry(c, "k", v)["id"] for c, v in zip(customers(len(values)), values)]
    created = define(key="k", type=type_, **fields)
    stored = values_of("k")

    def shapes():
        columns = typed_columns_of("k")
        return [(columns[i][0], columns[i][1] is not None, columns[i][2] is not None) for i in ids]

    assert shapes() == typed
    response = client.delete(item_url(created["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert shapes() == untyped
    assert values_of("k") == stored  # the values stay as they are, text from now on
    # and answer as text: ordered as text, compared only as text
    listed = client.get(ENTRIES, query_string={"key": "k", "ordering": "value"}, headers=alice.headers)
    assert [e["value"] for e in listed.get_json()] == sorted(stored.values())
    refused = client.get(ENTRIES, query_string={"key": "k", "value__gt": "1"}, headers=alice.headers)
    assert refused.status_code == 400
    assert refused.get_json() == {"value__gt": ['Not available for type "text".']}


def test_a_definition_over_canonical_numbers_types_them_in_place_again_and_again(
        client, alice, define, customers, entry, values_of, typed_columns_of):
    """The first definition rewrites what is not canonical; deleted and created again, it finds every
    value typed already: no change, no new updated_at, the same answers."""
    ids = customers(3)
    written = [entry(c, "score", v) for c, v in zip(ids, ["7.25", "3", "12.50"])]
    for _ in range(2):
        created = define(key="score", type="decimal")
        now = {e["id"]: e for e in client.get(ENTRIES, query_string={"key": "score", "ordering": "-value"},
                                              headers=alice.headers).get_json()}
        assert [e["value"] for e in now.values()] == ["12.5", "7.25", "3"]
        assert now[written[0]["id"]] == written[0] and now[written[1]["id"]] == written[1]
        assert typed_columns_of("score") == {written[0]["id"]: (7.25, None, None),
                                             written[1]["id"]: (3.0, None, None),
                                             written[2]["id"]: (12.5, None, None)}
        assert client.delete(item_url(created["id"]), headers=alice.headers).status_code == 200
        assert typed_columns_of("score") == {written[0]["id"]: (7.25, None, None),
                                             written[1]["id"]: (3.0, None, None),
                                             written[2]["id"]: (12.5, None, None)}
    history = client.get(f"{ENTRIES}{written[2]['id']}/history/", headers=alice.headers).get_json()
    assert [(c["kind"], c["source"]) for c in history] == [("entry.updated", "definition"),
                                                           ("entry.created", "api")]
    for kept in written[:2]:
        history = client.get(f"{ENTRIES}{kept['id']}/history/", headers=alice.headers).get_json()
        assert [c["kind"] for c in history] == ["entry.created"]


def test_a_dry_run_leaves_the_typed_columns_as_they_are(client, alice, customers, entry, typed_columns_of):
    ids = customers(2)
    entries = [entry(c, "n", v)["id"] for c, v in zip(ids, ["5", "+6"])]
    before = typed_columns_of("n")
    assert before == {entries[0]: (5.0, None, None), entries[1]: (None, None, None)}
    for type_ in ("integer", "text", "boolean"):
        response = client.post(KEYS + "?dry_run=true", json={"key": "n", "type": type_}, headers=alice.headers)
        assert response.status_code == 200, response.get_json()
        assert typed_columns_of("n") == before
