"""Typed keys: segments, customers by their data (data-keys.md, "Segments: customers by their data",
with the decisions of notes/typed-keys-decisions.md), through GET /api/message/customers/."""
import io
from urllib.parse import urlencode

import pytest
from test_performance_guards import count_statements

KEYS = "/api/message/data-keys/"
ENTRIES = "/api/message/customer-data/"
CUSTOMERS = "/api/message/customers/"
CHOICES = [{"value": "pro", "label": "Pro"}, {"value": "free", "label": "Free"},
           {"value": "Enterprise", "label": "Enterprise"}]
COLOURS = ["red", "green", "blue"]
TWICE = ["This condition is given more than once."]


def define(client, user, key, type_name, **fields):
    response = client.post(KEYS, json={"key": key, "type": type_name, **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def person(client, user, first_name, data=None, **fields):
    """A customer with one entry per item of `data` (None: an entry holding just a file); its id."""
    response = client.post(CUSTOMERS, json={"first_name": first_name, **fields}, headers=user.headers)
    assert response.status_code == 201, response.get_json()
    customer_id = response.get_json()["id"]
    for key, value in (data or {}).items():
        if value is None:
            response = client.post(ENTRIES, headers=user.headers, data={
                "customer": str(customer_id), "key": key, "file": (io.BytesIO(b"content"), "doc.pdf")})
        else:
            response = client.post(ENTRIES, json={"customer": customer_id, "key": key, "value": value},
                                   headers=user.headers)
        assert response.status_code == 201, (key, value, response.get_json())
    return customer_id


def people(client, user, rows):
    """{first_name: id} of customers created in the order given, from {first_name: data}."""
    return {name: person(client, user, name, data) for name, data in rows.items()}


def get(client, user, params):
    """GET the customers; `params` a dict or a list of pairs (a parameter may then repeat)."""
    return client.get(f"{CUSTOMERS}?{urlencode(params)}", headers=user.headers)


def names(client, user, params):
    response = get(client, user, params)
    assert response.status_code == 200, (params, response.get_json())
    return [customer["first_name"] for customer in response.get_json()]


def refused(client, user, params):
    response = get(client, user, params)
    assert response.status_code == 400, (params, response.get_json())
    return response.get_json()


# The contract's example

def test_the_contract_example(client, alice, bob):
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, alice, "age", "integer")
    define(client, alice, "last_order", "date")
    ids = people(client, alice, {
        "c1": {"plan": "pro", "age": "30", "last_order": "2024-03-01"},
        "c2": {"plan": "PRO", "age": "45", "last_order": "2024-05-10"},
        "c3": {"plan": "pro", "age": "29", "last_order": "2024-06-01"},
        "c4": {"plan": "free", "age": "50", "last_order": "2024-07-01"},
        "c5": {"plan": "pro", "age": "100"},
        "c6": {"plan": "pro", "age": "31", "last_order": "2023-12-31"},
        "c7": {"plan": "pro", "last_order": "2024-08-01"},
        "c8": {"age": "60", "last_order": "2024-09-01"},
    })
    person(client, bob, "b1", {"plan": "pro", "age": "40", "last_order": "2025-01-01"})
    response = client.get(f"{CUSTOMERS}?data.plan=pro&data.age__gte=30&ordering=-data.last_order&limit=50",
                          headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    assert [c["id"] for c in response.get_json()] == [ids["c2"], ids["c1"], ids["c6"], ids["c5"]]
    assert response.headers["X-Total-Count"] == "4"
    assert set(response.get_json()[0]) == {"id", "user", "first_name", "last_name", "username", "email",
                                           "phone_number", "source", "display_name", "created_at",
                                           "updated_at"}


# Conditions, lookup by lookup

@pytest.fixture
def crowd(client, alice):
    """Six customers of alice's, created in this order, with typed and untyped keys."""
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, alice, "age", "integer")
    define(client, alice, "last_order", "date")
    define(client, alice, "tags", "multi_choice", choices=COLOURS)
    define(client, alice, "vip", "boolean")
    return people(client, alice, {
        "ann": {"plan": "pro", "age": "30", "last_order": "2024-03-01", "note": "Ärger im Büro",
                "tags": "blue,red", "vip": "yes"},
        "ben": {"plan": "PRO", "age": "45", "last_order": "2024-05-10", "note": "100% off_peak",
                "tags": "green", "vip": "no"},
        "cid": {"plan": "pro", "age": "9"},
        "dan": {"plan": "free", "age": "010", "last_order": "2024-07-01", "note": "plain"},
        "eve": {"plan": "pro", "age": "100", "tags": "red"},
        "fay": {},
    })


EVERYONE = ["ann", "ben", "cid", "dan", "eve", "fay"]
CONDITIONS = {
    "equality": [
        ({"data.plan": "pro"}, ["ann", "ben", "cid", "eve"]),
        ({"data.plan": "PRO"}, ["ann", "ben", "cid", "eve"]),
        ({"data.plan__eq": "Pro"}, ["ann", "ben", "cid", "eve"]),
        ({"data.age": "10"}, ["dan"]),
        ({"data.age__eq": "+010"}, ["dan"]),
        ({"data.vip": "TRUE"}, ["ann"]),
        ({"data.vip": "0"}, ["ben"]),
        ({"data.note": "plain"}, ["dan"]),
        ({"data.note": "PLAIN"}, []),
        ({"data.tags": "red,blue"}, ["ann"]),
        ({"data.nothing": "x"}, []),
        ({"data.plan__in": "free,ENTERPRISE"}, ["dan"]),
        ({"data.age__in": "9,010,11"}, ["cid", "dan"]),
        ({"data.note__in": "plain,100% off_peak"}, ["ben", "dan"]),
    ],
    # __ne, __in and the comparisons match only customers that have the key
    "only with the key": [
        ({"data.plan__ne": "pro"}, ["dan"]),
        ({"data.age__ne": "9"}, ["ann", "ben", "dan", "eve"]),
        ({"data.note__ne": "plain"}, ["ann", "ben"]),
        ({"data.vip__ne": "true"}, ["ben"]),
        ({"data.nothing__ne": "x"}, []),
        ({"data.nothing__in": "x,y"}, []),
    ],
    "comparisons": [
        ({"data.age__gte": "30"}, ["ann", "ben", "eve"]),
        ({"data.age__gt": "9"}, ["ann", "ben", "dan", "eve"]),
        ({"data.age__lt": "10"}, ["cid"]),
        ({"data.age__lte": "10"}, ["cid", "dan"]),
        ({"data.age__gt": "100"}, []),
        ({"data.last_order__gt": "2024-03-01"}, ["ben", "dan"]),
        ({"data.last_order__lt": "2024-06-01"}, ["ann", "ben"]),
        ({"data.last_order__lte": "2024-07-01"}, ["ann", "ben", "dan"]),
    ],
    "contains": [
        ({"data.note__contains": "ÄRGER"}, ["ann"]),
        ({"data.note__contains": "büro"}, ["ann"]),
        ({"data.note__contains": "%"}, ["ben"]),
        ({"data.note__contains": "_"}, ["ben"]),
        ({"data.note__contains": "a"}, ["ben", "dan"]),
        ({"data.tags__contains": "red"}, ["ann", "eve"]),
        ({"data.tags__contains": "BLUE,red"}, ["ann"]),
        ({"data.tags__contains": "green"}, ["ben"]),
    ],
    "exists": [
        ({"data.age__exists": "true"}, ["ann", "ben", "cid", "dan", "eve"]),
        ({"data.age__exists": "false"}, ["fay"]),
        ({"data.last_order__exists": "false"}, ["cid", "eve", "fay"]),
        ({"data.last_order__exists": "yes"}, ["ann", "ben", "dan"]),
        ({"data.last_order__exists": "0"}, ["cid", "eve", "fay"]),
        ({"data.note__exists": "On"}, ["ann", "ben", "dan"]),
        ({"data.nothing__exists": "false"}, EVERYONE),
        ({"data.nothing__exists": "true"}, []),
    ],
    "anded": [
        ({"data.plan": "pro", "data.age__gte": "30"}, ["ann", "ben", "eve"]),
        ({"data.plan": "pro", "data.age__gte": "30", "data.tags__exists": "false"}, []),
        ({"data.plan": "pro", "data.age__gte": "30", "data.tags__exists": "true"}, ["ann", "ben", "eve"]),
        ({"data.plan": "pro", "data.age__gte": "30", "data.note__contains": "OFF"}, ["ben"]),
        ({"data.age__gte": "10", "data.age__lte": "45"}, ["ann", "ben", "dan"]),
        ({"data.age__gt": "9", "data.last_order__exists": "false"}, ["eve"]),
        ({"data.plan__ne": "free", "data.nothing__exists": "false", "data.vip__exists": "false"},
         ["cid", "eve"]),
    ],
}


@pytest.mark.parametrize("group", list(CONDITIONS))
def test_conditions(client, alice, crowd, group):
    for params, expected in CONDITIONS[group]:
        found = names(client, alice, params)
        assert sorted(found) == expected, params
        # the default order still holds: newest first
        assert found == sorted(found, key=lambda name: -crowd[name]), params
        # and a page counts them all, in the default order and in a typed one
        for ordering in ("-created_at", "-data.age"):
            response = get(client, alice, {**params, "ordering": ordering, "limit": 1})
            assert response.headers["X-Total-Count"] == str(len(expected)), (params, ordering)


def test_conditions_with_search_and_paging(client, alice, crowd):
    assert names(client, alice, {"search": "an", "data.plan": "pro"}) == ["ann"]
    assert names(client, alice, {"search": "d", "data.age__exists": "true"}) == ["dan", "cid"]
    assert names(client, alice, {"search": "zed", "data.plan": "pro"}) == []
    response = get(client, alice, {"data.plan": "pro", "limit": 2})
    assert [c["first_name"] for c in response.get_json()] == ["eve", "cid"]
    assert response.headers["X-Total-Count"] == "4"
    response = get(client, alice, {"data.plan": "pro", "limit": 2, "offset": 3, "ordering": "data.age"})
    assert [c["first_name"] for c in response.get_json()] == ["eve"]
    assert response.headers["X-Total-Count"] == "4"


# The parsing rule: split at the last "__" only when a lookup name follows

def test_a_parameter_is_split_at_its_last_double_underscore_only_before_a_lookup(client, alice):
    define(client, alice, "age", "integer")
    people(client, alice, {
        "x": {"a__b": "x"},
        "y": {"a": "x"},
        "p": {"age": "31"},
        "q": {"age__gte": "30"},
        "s": {"shop.id": "7", "a__b__c": "deep"},
    })
    cases = [
        ({"data.a__b": "x"}, ["x"]),
        ({"data.a__b__eq": "x"}, ["x"]),
        ({"data.a__b__contains": "X"}, ["x"]),
        ({"data.a__b__exists": "true"}, ["x"]),
        ({"data.a": "x"}, ["y"]),
        ({"data.a__eq": "x"}, ["y"]),
        ({"data.age__gte": "30"}, ["p"]),
        ({"data.age__gte__eq": "30"}, ["q"]),
        ({"data.age__gte__exists": "true"}, ["q"]),
        ({"data.shop.id": "7"}, ["s"]),
        ({"data.a__b__c": "deep"}, ["s"]),
        ({"data.a__b__c__ne": "x"}, ["s"]),
    ]
    for params, expected in cases:
        assert names(client, alice, params) == expected, params


# Ordering by data: typed, customers without the key last in both directions

ORDERINGS = {
    # type: (definition, {name: value}; values of the customers with the key in ascending order)
    "integer": ({}, {"n9": "9", "n10": "10", "n100": "100", "neg": "-1"}),
    "decimal": ({}, {"d15": "1.5", "d125": "1.25", "d10": "10", "dneg": "-0.5"}),
    "date": ({}, {"d1": "2024-01-15", "d2": "2023-12-31", "d3": "2024-02-01"}),
    "datetime": ({}, {"t1": "2024-01-01T12:30:00+02:00", "t2": "2024-01-01T10:45:00Z",
                      "t3": "2023-12-31T23:59:59.5Z", "t4": "2023-12-31T23:59:59Z"}),
    "choice": ({"choices": CHOICES}, {"e": "Enterprise", "p": "pro", "f": "free"}),
    "boolean": ({}, {"yes": "true", "no": "false"}),
    "text": ({}, {"b": "b", "a": "a", "ten": "10", "nine": "9"}),
    "no definition": ({}, {"b": "b", "a": "a", "ten": "10", "nine": "9"}),
}
ASCENDING = {
    "integer": ["neg", "n9", "n10", "n100"],
    "decimal": ["dneg", "d125", "d15", "d10"],
    "date": ["d2", "d1", "d3"],
    "datetime": ["t4", "t3", "t1", "t2"],
    "choice": ["p", "f", "e"],
    "boolean": ["no", "yes"],
    "text": ["ten", "nine", "a", "b"],
    "no definition": ["ten", "nine", "a", "b"],
}


@pytest.mark.parametrize("name", list(ORDERINGS))
def test_ordering_by_data_is_typed_and_customers_without_the_key_come_last(client, alice, name):
    definition, values = ORDERINGS[name]
    if name != "no definition":
        define(client, alice, "k", name, **definition)
    people(client, alice, {"none1": {"other": "1"}})
    people(client, alice, {customer: {"k": value} for customer, value in values.items()})
    people(client, alice, {"none2": {}, "filed": {"k": None}})
    last = {"none1", "none2", "filed"}
    up = names(client, alice, {"ordering": "data.k"})
    down = names(client, alice, {"ordering": "-data.k"})
    assert up[:len(values)] == ASCENDING[name] and set(up[len(values):]) == last, up
    assert down[:len(values)] == ASCENDING[name][::-1] and set(down[len(values):]) == last, down


def test_numbers_without_a_definition_segment_as_text_before_and_after_one(client, alice):
    """A value without a definition carries a number beside its text (value_types.untyped), which
    neither conditions nor ordering read: they go by the type of the definition in force."""
    people(client, alice, {"plus": {"k": "+3"}, "nine": {"k": "9"}, "ten": {"k": "10"}, "neg": {"k": "-0.5"},
                           "frac": {"k": "1.25"}, "none": {}, "filed": {"k": None}})
    last = {"none", "filed"}

    def ordered(ordering):
        found = names(client, alice, {"ordering": ordering})
        assert set(found[5:]) == last, found
        return found[:5]

    def as_text():
        assert ordered("data.k") == ["plus", "neg", "frac", "ten", "nine"]
        assert ordered("-data.k") == ["nine", "ten", "frac", "neg", "plus"]
        assert names(client, alice, {"data.k": "10"}) == ["ten"]
        assert names(client, alice, {"data.k": "3"}) == []
        assert names(client, alice, {"data.k__in": "9,1.250"}) == ["nine"]
        assert names(client, alice, {"data.k__contains": "1", "ordering": "first_name"}) == ["frac", "ten"]
        assert names(client, alice, {"data.k__ne": "9", "ordering": "first_name"}) == ["filed", "frac", "neg",
                                                                                        "plus", "ten"]
        assert refused(client, alice, {"data.k__gt": "1"}) == {"data.k__gt": ['Not available for type "text".']}

    as_text()
    created = define(client, alice, "k", "decimal")
    assert ordered("data.k") == ["neg", "frac", "plus", "nine", "ten"]
    assert ordered("-data.k") == ["ten", "nine", "plus", "frac", "neg"]
    assert names(client, alice, {"data.k": "3", "ordering": "first_name"}) == ["plus"]
    assert names(client, alice, {"data.k__in": "9,1.250", "ordering": "first_name"}) == ["frac", "nine"]
    assert names(client, alice, {"data.k__gt": "1", "ordering": "data.k"}) == ["frac", "plus", "nine", "ten"]
    response = get(client, alice, {"data.k__lte": "3", "limit": 1})
    assert response.headers["X-Total-Count"] == "3"
    assert client.delete(f"{KEYS}{created['id']}/", headers=alice.headers).status_code == 200
    # the values stay as the definition stored them ("+3" is "3" now), text again
    assert ordered("data.k") == ["neg", "frac", "ten", "plus", "nine"]
    assert names(client, alice, {"data.k": "3"}) == ["plus"]
    assert refused(client, alice, {"data.k__lte": "3"}) == {"data.k__lte": ['Not available for type "text".']}


def test_ordering_by_data_with_other_fields(client, alice):
    define(client, alice, "last_order", "date")
    define(client, alice, "age", "integer")
    people(client, alice, {
        "zoe": {"last_order": "2024-05-01", "age": "9"},
        "kim": {"last_order": "2024-01-01", "age": "10"},
        "liz": {"age": "10"},
        "amy": {"last_order": "2024-05-01", "age": "10"},
        "abe": {},
    })
    def ordered(ordering):
        return names(client, alice, {"ordering": ordering})

    assert ordered("-data.last_order,first_name") == ["amy", "zoe", "kim", "abe", "liz"]
    assert ordered("data.last_order,-first_name") == ["kim", "zoe", "amy", "liz", "abe"]
    assert names(client, alice, {"ordering": "-data.age,first_name"}) == ["amy", "kim", "liz", "zoe", "abe"]
    assert names(client, alice, {"ordering": "data.age,-data.last_order,first_name"}) == [
        "zoe", "amy", "kim", "liz", "abe"]
    assert names(client, alice, {"ordering": "first_name,data.age"}) == ["abe", "amy", "kim", "liz", "zoe"]
    # with conditions and paging
    response = get(client, alice, {"data.age__gte": "10", "ordering": "-data.last_order,first_name",
                                   "limit": 2})
    assert [c["first_name"] for c in response.get_json()] == ["amy", "kim"]
    assert response.headers["X-Total-Count"] == "3"


# Pages of a typed ordering: the customers holding the value are read in its order, then those
# without it (no entry, or an entry holding just a file) by -id; a page may span both

BOUNDARY_CUSTOMERS = {  # created in this order, so ids rise down the list
    "a": {"plan": "pro", "last_order": "2024-05-01", "age": "40"},
    "b": {"plan": "pro", "last_order": "2024-05-01", "age": "30"},  # ties with a and i: by -id
    "c": {"plan": "free", "last_order": "2024-09-01", "age": "50"},  # the newest order, not pro
    "d": {"plan": "pro", "age": "31"},  # no last_order
    "e": {"plan": "pro", "last_order": None, "age": "33"},  # last_order is a file: no date
    "f": {"plan": "pro", "last_order": "2023-01-01", "age": "29"},  # too young
    "g": {"plan": "pro", "last_order": "2024-01-01", "age": "30"},
    "h": {"plan": "pro", "age": "70"},
    "i": {"plan": "pro", "last_order": "2024-05-01", "age": "45"},
    "j": {"plan": "pro", "last_order": "2025-02-02", "age": None},  # age is a file
    "k": {"plan": "pro", "last_order": "2025-02-02", "age": "30"},  # ties with j
    "m": {"plan": "pro"},
}
BOUNDARY_SEGMENTS = [  # (conditions, ordering)
    ({"data.plan": "pro", "data.age__gte": "30"}, "-data.last_order"),
    ({"data.plan": "pro", "data.age__gte": "30"}, "data.last_order"),
    ({"data.plan": "pro"}, "-data.age"),
    ({"data.plan": "pro"}, "data.age"),
    ({"data.plan": "pro"}, "-data.last_order,-first_name"),
    ({"data.age__gte": "30"}, "data.last_order,-data.age"),
    ({}, "-data.last_order"),
]


def expected_segment(ids, conditions, ordering):
    """The names of BOUNDARY_CUSTOMERS in the segment, in the order the contract gives."""
    def typed(data, key):
        value = data.get(key)
        return None if value is None else int(value) if key == "age" else value

    def matches(data):
        return all(typed(data, "plan") == value if name == "data.plan" else
                   typed(data, "age") is not None and typed(data, "age") >= int(value)
                   for name, value in conditions.items())

    found = [name for name, data in BOUNDARY_CUSTOMERS.items() if matches(data)]
    found.sort(key=lambda name: -ids[name])  # the last tie: -id
    for field in reversed(ordering.split(",")):  # stable sorts, the last field first
        descending, field = field.startswith("-"), field.lstrip("-")
        if field == "first_name":
            found.sort(key=lambda name: name, reverse=descending)
            continue
        key = field[len("data."):]
        holding = [name for name in found if typed(BOUNDARY_CUSTOMERS[name], key) is not None]
        holding.sort(key=lambda name: typed(BOUNDARY_CUSTOMERS[name], key), reverse=descending)
        found = holding + [name for name in found if name not in holding]  # without it: last
    return found


def test_every_page_of_a_typed_ordering_across_the_customers_without_the_value(client, alice, bob):
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, alice, "last_order", "date")
    define(client, alice, "age", "integer")
    ids = people(client, alice, BOUNDARY_CUSTOMERS)
    person(client, bob, "bob", {"plan": "pro", "age": "99", "last_order": "2030-01-01"})
    person(client, bob, "bea", {"plan": "pro", "age": "99"})
    assert expected_segment(ids, *BOUNDARY_SEGMENTS[0]) == ["k", "i", "b", "a", "g", "h", "e", "d"]
    assert expected_segment(ids, *BOUNDARY_SEGMENTS[1]) == ["g", "i", "b", "a", "k", "h", "e", "d"]
    wrong = []
    for conditions, ordering in BOUNDARY_SEGMENTS:
        expected = expected_segment(ids, conditions, ordering)
        params = {**conditions, "ordering": ordering}
        if names(client, alice, params) != expected:
            wrong.append((params, names(client, alice, params), expected))
        for limit in (None, 1, 2, 3, 5, 50):
            for offset in range(len(expected) + 2):
                paging = {"offset": offset} if limit is None else {"offset": offset, "limit": limit}
                response = get(client, alice, {**params, **paging})
                assert response.status_code == 200, response.get_json()
                page = [customer["first_name"] for customer in response.get_json()]
                total = response.headers["X-Total-Count"]
                end = None if limit is None else offset + limit
                if (page, total) != (expected[offset:end], str(len(expected))):
                    wrong.append(({**params, **paging}, page, total, expected[offset:end]))
    assert wrong == []


def test_a_key_containing_a_comma_can_be_filtered_on_but_not_ordered_by(client, alice):
    ids = people(client, alice, {"c": {"a,b": "1", "a": "2"}})
    assert names(client, alice, {"data.a,b": "1"}) == ["c"]
    for ordering in ("data.a,b", "-data.a,b"):
        body = refused(client, alice, {"ordering": ordering})
        assert list(body) == ["ordering"] and len(body["ordering"]) == 1, body
    assert [c["id"] for c in get(client, alice, {"ordering": "data.a,first_name"}).get_json()] == [ids["c"]]


# Limits and errors

def test_at_most_10_conditions(client, alice):
    people(client, alice, {"c": {"k0": "v"}})
    ten = {f"data.k{n}__exists": "true" if n == 0 else "false" for n in range(10)}
    assert names(client, alice, ten) == ["c"]
    eleven = {**ten, "data.k10": "v"}
    assert refused(client, alice, eleven) == {
        "non_field_errors": ["At most 10 data. conditions are allowed."]}


TWICE_GIVEN = [  # (query, the parameter the 400 names: the second occurrence's name)
    ([("data.a", "1"), ("data.a", "2")], "data.a"),
    ([("data.a", "1"), ("data.a", "1")], "data.a"),
    ([("data.a", "1"), ("data.a__eq", "1")], "data.a__eq"),
    ([("data.a__eq", "1"), ("data.a", "1")], "data.a"),
    ([("data.age__gte", "1"), ("data.age__gte", "2")], "data.age__gte"),
    ([("data.a__b", "1"), ("data.a__b__eq", "1")], "data.a__b__eq"),
    ([("data.a__exists", "true"), ("data.a__exists", "true")], "data.a__exists"),
]


def answers_that_differ(client, user, cases):
    """[(params, status, body)] of each (params, expected 400 body) answered otherwise."""
    wrong = []
    for params, body in cases:
        response = get(client, user, params)
        if (response.status_code, response.get_json()) != (400, body):
            wrong.append((params, response.status_code, response.get_json()))
    return wrong


def test_a_condition_given_twice_is_a_400_on_that_parameter(client, alice):
    define(client, alice, "age", "integer")
    people(client, alice, {"c": {"a": "1", "age": "5"}})
    cases = [(query, {parameter: TWICE}) for query, parameter in TWICE_GIVEN]
    assert answers_that_differ(client, alice, cases) == []


MISFITS = [
    ({"data.plan__gt": "pro"}, {"data.plan__gt": ['Not available for type "choice".']}),
    ({"data.plan__contains": "pro"}, {"data.plan__contains": ['Not available for type "choice".']}),
    ({"data.note__gte": "a"}, {"data.note__gte": ['Not available for type "text".']}),
    ({"data.tags__in": "red"}, {"data.tags__in": ['Not available for type "multi_choice".']}),
    ({"data.age__contains": "1"}, {"data.age__contains": ['Not available for type "integer".']}),
    ({"data.age__gte": "abc"}, {"data.age__gte": ["A valid integer is required."]}),
    ({"data.age": "4.5"}, {"data.age": ["A valid integer is required."]}),
    ({"data.age__in": "1,x"}, {"data.age__in": ["A valid integer is required."]}),
    ({"data.plan": "gold"}, {"data.plan": ['"gold" is not a valid choice.']}),
    ({"data.since__lt": "2024-1-1"},
     {"data.since__lt": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]}),
    ({"data.age__exists": "maybe"}, {"data.age__exists": ["Must be a valid boolean."]}),
    ({"data.": "x"}, {"data.": ["This field may not be blank."]}),
    ({"data.age__in": ",".join(map(str, range(101)))},
     {"data.age__in": ["Ensure this field has no more than 100 elements."]}),
]


def test_conditions_that_do_not_fit_the_type_are_a_400_on_that_parameter(client, alice):
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, alice, "age", "integer")
    define(client, alice, "tags", "multi_choice", choices=COLOURS)
    define(client, alice, "since", "date")
    people(client, alice, {"c": {"plan": "pro", "age": "5", "note": "n"}})
    assert answers_that_differ(client, alice, MISFITS) == []


def test_100_items_in_one_condition_are_fine(client, alice):
    define(client, alice, "age", "integer")
    people(client, alice, {"c": {"age": "99"}, "d": {"age": "100"}})
    assert names(client, alice, {"data.age__in": ",".join(map(str, range(100)))}) == ["c"]


# Ownership

def test_another_users_data_and_definitions_never_match_or_count(client, alice, bob):
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, bob, "age", "integer")
    mine = people(client, alice, {"ann": {"plan": "PRO", "age": "30"}, "amy": {}})
    theirs = people(client, bob, {"bob": {"plan": "pro", "age": "30"}, "bea": {"plan": "Pro", "age": "100"}})

    response = get(client, alice, {"data.plan": "pro", "limit": 10})
    assert [c["id"] for c in response.get_json()] == [mine["ann"]]
    assert response.headers["X-Total-Count"] == "1"
    assert names(client, alice, {"data.plan__exists": "false"}) == ["amy"]
    assert names(client, alice, {"data.age": "30"}) == ["ann"]
    assert names(client, alice, {"ordering": "-data.plan"}) == ["ann", "amy"]
    # bob's "age" is an integer for bob only, alice's "plan" a choice for alice only
    assert refused(client, alice, {"data.age__gte": "1"}) == {
        "data.age__gte": ['Not available for type "text".']}
    response = get(client, bob, {"data.age__gte": "30", "ordering": "data.age", "limit": 10})
    assert [c["id"] for c in response.get_json()] == [theirs["bob"], theirs["bea"]]
    assert response.headers["X-Total-Count"] == "2"
    assert names(client, bob, {"data.plan": "pro"}) == ["bob"]  # text for bob: exact
    assert names(client, bob, {"data.plan__exists": "false"}) == []
    assert names(client, bob, {"data.age__exists": "true", "search": "ann"}) == []


# Cost: a segment query is a fixed number of statements, whatever the number of customers

def test_a_segment_costs_the_same_statements_for_1_10_and_200_customers(app, client, alice):
    define(client, alice, "plan", "choice", choices=CHOICES)
    define(client, alice, "age", "integer")
    path = f"{CUSTOMERS}?data.plan=pro&data.age__gte=18&ordering=-data.age"
    counts, created = {}, 0
    for size in (1, 10, 200):
        while created < size:
            person(client, alice, f"c{created}", {"plan": "pro", "age": str(18 + created)})
            created += 1
        person(client, alice, f"minor{size}", {"plan": "pro", "age": "17"})  # not in the segment
        listed, statements = count_statements(app, client, path, alice.headers)
        assert [c["first_name"] for c in listed] == [f"c{n}" for n in reversed(range(size))]
        paged, paged_statements = count_statements(app, client, f"{path}&limit=50", alice.headers)
        assert len(paged) == min(size, 50)
        counts[size] = (len(statements), len(paged_statements))
    assert counts[1] == counts[10] == counts[200], counts
