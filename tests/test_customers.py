"""Customers through HTTP: create, read, update (PUT = PATCH, partial), delete, ownership, search,
ordering and paging (CONTRACT.md, "Customers", "Ownership", "Listing")."""
import re
from datetime import datetime, timedelta, timezone

import pytest

URL = "/api/message/customers/"
FIELDS = {"id", "user", "first_name", "last_name", "username", "email", "phone_number", "source",
          "display_name", "created_at", "updated_at"}
TEXT_FIELDS = ("first_name", "last_name", "username", "phone_number")
NOT_FOUND = {"detail": "Customer not found."}
RFC3339_Z = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
LINK = re.compile(r'<([^>]*)>;\s*rel="([a-z]+)"')
HUGE_IDS = ["99999999999999999999", str(2**31), str(2**63), str(2**64)]


def item(customer_id):
    return f"{URL}{customer_id}/"


def create(client, owner, /, **fields):
    response = client.post(URL, headers=owner.headers, json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def update(client, owner, customer_id, method="PATCH", /, **fields):
    return client.open(item(customer_id), method=method, headers=owner.headers, json=fields)


def fetch(client, user, customer_id):
    return client.get(item(customer_id), headers=user.headers)


def listing(client, user, **params):
    return client.get(URL, headers=user.headers, query_string=params)


def ids(response):
    assert response.status_code == 200, response.get_json()
    return [customer["id"] for customer in response.get_json()]


def links(response):
    return {rel: url for url, rel in LINK.findall(response.headers.get("Link", ""))}


def moment(value):
    assert isinstance(value, str) and RFC3339_Z.fullmatch(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Create

def test_create_answers_201_with_every_field(client, alice):
    response = client.post(URL, headers=alice.headers, json={
        "first_name": "John", "last_name": "Doe", "username": "johndoe",
        "email": "john@example.com", "phone_number": "+1 555 0100", "source": "instagram",
    })
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == FIELDS
    assert isinstance(body["id"], int)
    assert body == {
        "id": body["id"],
        "user": alice.id,
        "first_name": "John",
        "last_name": "Doe",
        "username": "johndoe",
        "email": "john@example.com",
        "phone_number": "+1 555 0100",
        "source": "instagram",
        "display_name": "John Doe (@johndoe) | instagram",
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_create_timestamps_are_rfc3339_utc_and_equal(client, alice):
    body = create(client, alice, first_name="John")
    created = moment(body["created_at"])
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=5)
    assert body["updated_at"] == body["created_at"]


def test_create_with_an_empty_body_gives_an_empty_unknown_customer(client, alice):
    body = create(client, alice)
    assert {name: body[name] for name in (*TEXT_FIELDS, "email")} == dict.fromkeys((*TEXT_FIELDS, "email"))
    assert body["source"] == "unknown"
    assert body["user"] == alice.id
    assert body["display_name"] == f"Customer {body['id']} | unknown"


def test_create_accepts_every_source(client, alice):
    for source in ("unknown", "instagram", "telegram", "whatsapp"):
        assert create(client, alice, source=source)["source"] == source


def test_create_stores_blank_text_fields_as_null(client, alice):
    body = create(client, alice, first_name="", last_name="   ", username="", email="", phone_number=" ")
    for name in (*TEXT_FIELDS, "email"):
        assert body[name] is None, name
    assert fetch(client, alice, body["id"]).get_json() == body


def test_create_accepts_null_text_fields(client, alice):
    body = create(client, alice, first_name=None, email=None, username="u")
    assert body["first_name"] is None and body["email"] is None


def test_create_trims_surrounding_white_space(client, alice):
    body = create(client, alice, first_name="  John ", username="\tjohndoe\n")
    assert body["first_name"] == "John"
    assert body["username"] == "johndoe"


def test_create_ignores_owner_id_and_unknown_fields(client, alice, bob):
    body = create(client, alice, first_name="John", user=bob.id, id=424242, created_at="2000-01-01T00:00:00Z",
                  display_name="Forged", colour="blue")
    assert body["user"] == alice.id
    assert body["id"] != 424242
    assert body["display_name"] == "John | unknown"
    assert moment(body["created_at"]).year != 2000
    assert "colour" not in body
    assert ids(listing(client, bob)) == []


def test_create_keeps_unicode(client, alice):
    body = create(client, alice, first_name="علی", last_name="رضایی", username="ali_رضا")
    assert body["display_name"] == "علی رضایی (@ali_رضا) | unknown"
    assert fetch(client, alice, body["id"]).get_json()["first_name"] == "علی"


# display_name

DISPLAY_NAMES = [
    ({"first_name": "John", "last_name": "Doe", "username": "johndoe", "source": "instagram"},
     "John Doe (@johndoe) | instagram"),
    ({"first_name": "John", "last_name": "Doe", "source": "telegram"}, "John Doe | telegram"),
    ({"first_name": "John"}, "John | unknown"),
    ({"last_name": "Doe", "source": "whatsapp"}, "Doe | whatsapp"),
    ({"last_name": "Doe", "username": "jd"}, "Doe (@jd) | unknown"),
    ({"username": "johndoe", "source": "whatsapp"}, "@johndoe | whatsapp"),
    ({"email": "john@example.com", "phone_number": "123"}, "Customer {id} | unknown"),
    ({"source": "instagram"}, "Customer {id} | instagram"),
]


def test_display_name_in_each_form(client, alice):
    expected_names = {}
    for fields, expected in DISPLAY_NAMES:
        body = create(client, alice, **fields)
        expected_names[body["id"]] = expected.format(id=body["id"])
        assert body["display_name"] == expected_names[body["id"]], fields
        assert fetch(client, alice, body["id"]).get_json()["display_name"] == expected_names[body["id"]]
    listed = {customer["id"]: customer["display_name"] for customer in listing(client, alice).get_json()}
    assert listed == expected_names


def test_display_name_follows_updates(client, alice):
    customer = create(client, alice, first_name="John", username="johndoe")
    assert update(client, alice, customer["id"], username="").get_json()["display_name"] == "John | unknown"
    response = update(client, alice, customer["id"], first_name="", source="telegram")
    assert response.get_json()["display_name"] == f"Customer {customer['id']} | telegram"
    listed = listing(client, alice).get_json()
    assert listed[0]["display_name"] == f"Customer {customer['id']} | telegram"


# Validation

def test_create_refuses_an_unknown_source(client, alice):
    response = client.post(URL, headers=alice.headers, json={"source": "x"})
    assert response.status_code == 400
    assert response.get_json() == {"source": ['"x" is not a valid choice.']}


def test_create_refuses_other_sources(client, alice):
    for source in ("Instagram", "", "facebook", "unknown "):
        response = client.post(URL, headers=alice.headers, json={"source": source})
        assert response.status_code == 400, source
        assert response.get_json() == {"source": [f'"{source}" is not a valid choice.']}


def test_create_refuses_a_null_source(client, alice):
    response = client.post(URL, headers=alice.headers, json={"source": None})
    assert response.status_code == 400
    assert response.get_json() == {"source": ["This field may not be null."]}


def test_create_refuses_an_invalid_email(client, alice):
    for email in ("not-an-email", "john@", "@example.com", "john doe@example.com", "john@@example.com"):
        response = client.post(URL, headers=alice.headers, json={"email": email})
        assert response.status_code == 400, email
        assert response.get_json() == {"email": ["Enter a valid email address."]}


def test_create_refuses_text_over_100_characters(client, alice):
    for field in TEXT_FIELDS:
        response = client.post(URL, headers=alice.headers, json={field: "x" * 101})
        assert response.status_code == 400, field
        assert response.get_json() == {field: ["Ensure this field has no more than 100 characters."]}


def test_create_accepts_text_of_exactly_100_characters(client, alice):
    body = create(client, alice, **{field: "x" * 100 for field in TEXT_FIELDS})
    assert all(body[field] == "x" * 100 for field in TEXT_FIELDS)


def email_of_length(length):
    domain = "b" * 60 + "." + "c" * 60 + "." + "d" * 60 + ".com"
    return "a" * (length - len(domain) - 1) + "@" + domain


def test_create_accepts_an_email_of_250_characters(client, alice):
    email = email_of_length(250)
    assert len(email) == 250
    assert create(client, alice, email=email)["email"] == email


def test_create_refuses_an_email_over_250_characters(client, alice):
    response = client.post(URL, headers=alice.headers, json={"email": email_of_length(251)})
    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == ["email"]
    assert "Ensure this field has no more than 250 characters." in body["email"]


def test_create_reports_every_invalid_field(client, alice):
    response = client.post(URL, headers=alice.headers,
                           json={"source": "x", "email": "nope", "first_name": "x" * 101})
    assert response.status_code == 400
    assert response.get_json() == {
        "source": ['"x" is not a valid choice.'],
        "email": ["Enter a valid email address."],
        "first_name": ["Ensure this field has no more than 100 characters."],
    }


def test_a_refused_create_stores_nothing(client, alice):
    client.post(URL, headers=alice.headers, json={"first_name": "Ghost", "source": "x"})
    assert listing(client, alice).get_json() == []


NON_JSON_BODIES = [
    ("application/x-www-form-urlencoded", "first_name=John"),
    ("multipart/form-data; boundary=b",
     '--b\r\nContent-Disposition: form-data; name="first_name"\r\n\r\nJohn\r\n--b--\r\n'),
    ("text/plain", "John"),
]


def test_create_accepts_numbers_for_text_fields_as_drf_does(client, alice):
    response = client.post(URL, headers=alice.headers, json={"phone_number": 5550100, "username": 42})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["phone_number"] == "5550100"
    assert response.get_json()["username"] == "42"


def test_create_refuses_non_text_values_for_text_fields(client, alice):
    for value in (True, ["John"], {"name": "John"}):
        response = client.post(URL, headers=alice.headers, json={"first_name": value})
        assert response.status_code == 400, value
        body = response.get_json()
        assert list(body) == ["first_name"] and len(body["first_name"]) == 1
    assert listing(client, alice).get_json() == []


def test_customer_bodies_are_json_only(client, alice):
    for content_type, data in NON_JSON_BODIES:
        response = client.post(URL, headers=alice.headers, data=data, content_type=content_type)
        assert response.status_code == 415, content_type
        mimetype = content_type.split(";")[0]
        assert response.get_json() == {"detail": f'Unsupported media type "{mimetype}" in request.'}
    assert listing(client, alice).get_json() == []


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_json_sent_as_another_type_is_a_415_that_says_so(client, alice, content_type):
    """`curl -d '{...}'` (a form) and `fetch` with a string body (text/plain) carry JSON unlabelled."""
    customer = create(client, alice, first_name="John")
    for method, url in (("POST", URL), ("PATCH", item(customer["id"]))):
        response = client.open(url, method=method, headers=alice.headers, data='{"first_name": "Jane"}',
                               content_type=content_type)
        assert response.status_code == 415, (method, content_type)
        assert response.get_json() == {
            "detail": f'Unsupported media type "{content_type}" in request: the body is JSON; '
                      "send it with Content-Type: application/json."}
    assert [row["first_name"] for row in listing(client, alice).get_json()] == ["John"]


# Read

def test_get_answers_the_customer_as_created(client, alice):
    created = create(client, alice, first_name="John", email="john@example.com", source="telegram")
    response = fetch(client, alice, created["id"])
    assert response.status_code == 200
    assert response.get_json() == created


def test_get_of_a_missing_id_is_404(client, alice):
    for customer_id in ("424242", "0", *HUGE_IDS):
        response = client.get(item(customer_id), headers=alice.headers)
        assert response.status_code == 404, customer_id
        assert response.get_json() == NOT_FOUND


def test_huge_ids_are_missing_for_every_method(client, alice):
    for method in ("PUT", "PATCH", "DELETE"):
        for customer_id in HUGE_IDS:
            response = client.open(item(customer_id), method=method, headers=alice.headers,
                                   json={"first_name": "x"} if method != "DELETE" else None)
            assert response.status_code == 404, (method, customer_id)
            assert response.get_json() == NOT_FOUND


def test_customer_routes_need_a_token(client, alice):
    customer = create(client, alice, first_name="John")
    for method, url in [("GET", URL), ("POST", URL), ("GET", item(customer["id"])),
                        ("PUT", item(customer["id"])), ("PATCH", item(customer["id"])),
                        ("DELETE", item(customer["id"]))]:
        body = {"first_name": "Mallory"} if method != "GET" else None
        response = client.open(url, method=method, json=body)
        assert response.status_code == 401, (method, url)
        assert set(response.get_json()) == {"detail"}
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fetch(client, alice, customer["id"]).get_json() == customer


# Update

@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_is_partial(client, alice, method):
    customer = create(client, alice, first_name="John", last_name="Doe", username="johndoe",
                      email="john@example.com", phone_number="111", source="instagram")
    response = update(client, alice, customer["id"], method, phone_number="+1 555 0100")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == FIELDS
    expected = dict(customer, phone_number="+1 555 0100", updated_at=body["updated_at"])
    assert body == expected
    assert fetch(client, alice, customer["id"]).get_json() == body


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_changes_every_given_field(client, alice, method):
    customer = create(client, alice, first_name="John")
    changes = {"first_name": "Jane", "last_name": "Roe", "username": "janeroe", "email": "jane@example.com",
               "phone_number": "222", "source": "whatsapp"}
    body = update(client, alice, customer["id"], method, **changes).get_json()
    assert {name: body[name] for name in changes} == changes
    assert body["display_name"] == "Jane Roe (@janeroe) | whatsapp"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_turns_blank_fields_into_null(client, alice, method):
    customer = create(client, alice, first_name="John", last_name="Doe", username="johndoe",
                      email="john@example.com", phone_number="111")
    body = update(client, alice, customer["id"], method, first_name="", last_name="  ", email="",
                  phone_number="").get_json()
    assert body["first_name"] is None and body["last_name"] is None
    assert body["email"] is None and body["phone_number"] is None
    assert body["username"] == "johndoe"
    assert body["display_name"] == "@johndoe | unknown"


def test_update_accepts_null_text_fields(client, alice):
    customer = create(client, alice, first_name="John", username="johndoe")
    body = update(client, alice, customer["id"], first_name=None).get_json()
    assert body["first_name"] is None and body["username"] == "johndoe"


def test_update_with_an_empty_body_changes_nothing(client, alice):
    customer = create(client, alice, first_name="John", source="telegram")
    body = update(client, alice, customer["id"], "PUT").get_json()
    assert {k: v for k, v in body.items() if k != "updated_at"} == \
        {k: v for k, v in customer.items() if k != "updated_at"}


def test_update_with_no_body_changes_nothing(client, alice):
    customer = create(client, alice, first_name="John", source="telegram")
    for kwargs in ({}, {"data": b"", "content_type": "application/json"}):
        response = client.patch(item(customer["id"]), headers=alice.headers, **kwargs)
        assert response.status_code == 200, kwargs
        body = response.get_json()
        assert (body["first_name"], body["source"]) == ("John", "telegram")


def test_update_moves_updated_at_only(client, alice):
    customer = create(client, alice, first_name="John")
    body = update(client, alice, customer["id"], first_name="Jane").get_json()
    assert body["created_at"] == customer["created_at"]
    assert moment(body["updated_at"]) > moment(customer["updated_at"])
    assert moment(body["updated_at"]) > moment(body["created_at"])


def test_update_never_moves_a_customer_to_another_user(client, alice, bob):
    customer = create(client, alice, first_name="John")
    body = update(client, alice, customer["id"], user=bob.id, id=customer["id"] + 100).get_json()
    assert body["user"] == alice.id and body["id"] == customer["id"]
    assert listing(client, bob).get_json() == []
    assert ids(listing(client, alice)) == [customer["id"]]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_validates_like_create(client, alice, method):
    customer = create(client, alice, first_name="John", email="john@example.com", source="instagram")
    cases = [
        ({"source": "x"}, {"source": ['"x" is not a valid choice.']}),
        ({"source": None}, {"source": ["This field may not be null."]}),
        ({"email": "nope"}, {"email": ["Enter a valid email address."]}),
        ({"last_name": "y" * 101}, {"last_name": ["Ensure this field has no more than 100 characters."]}),
        ({"first_name": "Jane", "source": "x"}, {"source": ['"x" is not a valid choice.']}),
    ]
    for body, errors in cases:
        response = update(client, alice, customer["id"], method, **body)
        assert response.status_code == 400, body
        assert response.get_json() == errors
    assert fetch(client, alice, customer["id"]).get_json() == customer


def test_update_bodies_are_json_only(client, alice):
    customer = create(client, alice, first_name="John")
    response = client.patch(item(customer["id"]), headers=alice.headers, data={"first_name": "Jane"})
    assert response.status_code == 415
    assert response.get_json() == {
        "detail": 'Unsupported media type "application/x-www-form-urlencoded" in request.'}
    assert fetch(client, alice, customer["id"]).get_json()["first_name"] == "John"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_update_of_a_missing_id_is_404(client, alice, method):
    response = update(client, alice, 424242, method, first_name="Jane")
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND


# Delete

def test_delete_answers_the_contract_body(client, alice):
    customer = create(client, alice, first_name="John")
    response = client.delete(item(customer["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "message": f"Customer {customer['id']} deleted successfully",
        "deleted_id": customer["id"],
        "deleted_data_count": 0,
    }


def test_deleted_customer_is_gone(client, alice):
    kept = create(client, alice, first_name="Kept")
    gone = create(client, alice, first_name="Gone")
    client.delete(item(gone["id"]), headers=alice.headers)
    response = fetch(client, alice, gone["id"])
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND
    assert ids(listing(client, alice)) == [kept["id"]]
    again = client.delete(item(gone["id"]), headers=alice.headers)
    assert again.status_code == 404
    assert again.get_json() == NOT_FOUND


def test_delete_of_a_missing_id_is_404(client, alice):
    response = client.delete(item(424242), headers=alice.headers)
    assert response.status_code == 404
    assert response.get_json() == NOT_FOUND


# Ownership

def test_another_users_customer_answers_as_missing(client, alice, bob):
    customer = create(client, alice, first_name="John", username="johndoe")
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = client.open(item(customer["id"]), method=method, headers=bob.headers,
                               json={"first_name": "Mallory"} if method in ("PUT", "PATCH") else None)
        assert response.status_code == 404, method
        assert response.get_json() == NOT_FOUND
    assert fetch(client, alice, customer["id"]).get_json() == customer


def test_invalid_update_of_a_foreign_customer_answers_like_a_missing_one(client, alice, bob):
    customer = create(client, alice, first_name="John")
    for body in ({"source": "x"}, {"first_name": "Mallory"}):
        foreign = update(client, bob, customer["id"], "PATCH", **body)
        missing = update(client, bob, customer["id"] + 1000, "PATCH", **body)
        assert (foreign.status_code, foreign.get_data()) == (missing.status_code, missing.get_data()), body
    assert fetch(client, alice, customer["id"]).get_json() == customer


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_invalid_update_of_a_missing_or_foreign_id_is_404(client, alice, bob, method):
    customer = create(client, alice, first_name="John")
    for owner, customer_id in ((alice, 424242), (bob, customer["id"])):
        response = update(client, owner, customer_id, method, source="x")
        assert response.status_code == 404, response.get_json()
        assert response.get_json() == NOT_FOUND


def test_another_users_customer_answers_exactly_like_a_missing_one(client, alice, bob):
    customer = create(client, alice, first_name="John")
    foreign = client.get(item(customer["id"]), headers=bob.headers)
    missing = client.get(item(customer["id"] + 1000), headers=bob.headers)
    assert (foreign.status_code, foreign.get_data()) == (missing.status_code, missing.get_data())


def test_lists_show_only_the_callers_customers(client, alice, bob):
    mine = [create(client, alice, first_name="John")["id"], create(client, alice, first_name="Jack")["id"]]
    theirs = create(client, bob, first_name="John")["id"]
    assert sorted(ids(listing(client, alice))) == sorted(mine)
    assert ids(listing(client, bob)) == [theirs]
    assert ids(listing(client, bob, search="jack")) == []
    response = listing(client, bob, limit=10)
    assert response.headers["X-Total-Count"] == "1"


# Listing

def test_list_is_a_plain_array_without_paging_headers(client, alice):
    created = create(client, alice, first_name="John")
    response = listing(client, alice)
    assert response.status_code == 200
    assert response.get_json() == [created]
    assert "X-Total-Count" not in response.headers
    assert "Link" not in response.headers


def test_empty_list(client, alice):
    response = listing(client, alice)
    assert response.status_code == 200
    assert response.get_json() == []


def test_list_default_order_is_newest_first(client, alice):
    created = [create(client, alice, first_name=f"c{n}")["id"] for n in range(4)]
    assert ids(listing(client, alice)) == created[::-1]
    # an update does not change the default order
    update(client, alice, created[0], first_name="changed")
    assert ids(listing(client, alice)) == created[::-1]


@pytest.fixture
def three(client, alice):
    """Created c1, c2, c3 in that order, then updated c2, c3, c1."""
    c1 = create(client, alice, first_name="carl", last_name="adams", username="zed")["id"]
    c2 = create(client, alice, first_name="anna", last_name="cole", username="mia")["id"]
    c3 = create(client, alice, first_name="bert", last_name="brown", username="abe")["id"]
    for customer_id in (c2, c3, c1):
        assert update(client, alice, customer_id, phone_number="1").status_code == 200
    return c1, c2, c3


def test_ordering_by_each_allowed_field(client, alice, three):
    c1, c2, c3 = three
    expected = {
        "created_at": [c1, c2, c3],
        "updated_at": [c2, c3, c1],
        "first_name": [c2, c3, c1],
        "last_name": [c1, c3, c2],
        "username": [c3, c2, c1],
    }
    for field, order in expected.items():
        assert ids(listing(client, alice, ordering=field)) == order, field
        assert ids(listing(client, alice, ordering=f"-{field}")) == order[::-1], f"-{field}"


def test_ordering_by_several_fields(client, alice):
    a = create(client, alice, first_name="anna", last_name="smith")["id"]
    b = create(client, alice, first_name="bert", last_name="smith")["id"]
    c = create(client, alice, first_name="carl", last_name="jones")["id"]
    assert ids(listing(client, alice, ordering="last_name,-first_name")) == [c, b, a]
    assert ids(listing(client, alice, ordering="-last_name,first_name")) == [a, b, c]
    assert ids(listing(client, alice, ordering="last_name, -first_name")) == [c, b, a]


def test_empty_ordering_is_the_default_order_or_a_400_naming_the_allowed_fields(client, alice):
    created = [create(client, alice, first_name=name)["id"] for name in ("b", "a")]
    response = listing(client, alice, ordering="")
    if response.status_code == 200:
        assert ids(response) == created[::-1]
    else:
        assert response.status_code == 400
        body = response.get_json()
        assert list(body) == ["ordering"]
        for allowed in ("created_at", "updated_at", "first_name", "last_name", "username"):
            assert allowed in body["ordering"][0]


def test_ordering_puts_empty_fields_first_ascending_and_last_descending(client, alice):
    named = create(client, alice, first_name="anna")["id"]
    empty = create(client, alice, username="nobody")["id"]
    assert ids(listing(client, alice, ordering="first_name")) == [empty, named]
    assert ids(listing(client, alice, ordering="-first_name")) == [named, empty]


def test_ordering_by_anything_else_is_a_400(client, alice):
    for ordering in ("source", "email", "password", "id", "-phone_number", "first_name,bogus",
                     "first name", "--created_at", "key", ","):
        response = listing(client, alice, ordering=ordering)
        assert response.status_code == 400, ordering
        body = response.get_json()
        assert list(body) == ["ordering"]
        assert len(body["ordering"]) == 1
        message = body["ordering"][0]
        for allowed in ("created_at", "updated_at", "first_name", "last_name", "username"):
            assert allowed in message, (ordering, message)


def test_search_matches_every_searched_field(client, alice):
    customer = create(client, alice, first_name="Johnny", last_name="Walker", username="jwalk",
                      email="Shop@Example.com", phone_number="+98 912 000 1111")
    create(client, alice, first_name="Other")
    for term in ("johnny", "WALKER", "jwal", "example.COM", "shop@", "912 000", "+98"):
        assert ids(listing(client, alice, search=term)) == [customer["id"]], term


def test_search_does_not_look_at_the_source(client, alice):
    create(client, alice, first_name="John", source="instagram")
    assert ids(listing(client, alice, search="instagram")) == []


def test_search_needs_every_term(client, alice):
    doe = create(client, alice, first_name="John", last_name="Doe")["id"]
    smith = create(client, alice, first_name="John", last_name="Smith")["id"]
    create(client, alice, first_name="Jane", last_name="Doe")
    for search in ("john doe", "john,doe", "john, doe", " doe\tjohn ", "john,,doe", "doe  john"):
        assert ids(listing(client, alice, search=search)) == [doe], search
    assert ids(listing(client, alice, search="john smith")) == [smith]
    assert ids(listing(client, alice, search="john nobody")) == []
    assert sorted(ids(listing(client, alice, search="john"))) == sorted([doe, smith])


def test_empty_search_lists_everything(client, alice):
    created = [create(client, alice, first_name=name)["id"] for name in ("a", "b")]
    assert ids(listing(client, alice, search="")) == created[::-1]
    assert ids(listing(client, alice, search=" , ")) == created[::-1]


def test_search_folds_case_for_all_of_unicode(client, alice):
    cases = {"ÉCOLE": "école", "ärger": "ÄRGER", "ΩΜΈΓΑ": "Ωμέγα", "дМИТРИЙ": "Дмитрий", "john": "JOHN"}
    stored = {create(client, alice, last_name=name)["id"]: name for name in cases.values()}
    create(client, alice, last_name="unrelated")
    by_name = {name: customer_id for customer_id, name in stored.items()}
    for search, name in cases.items():
        assert ids(listing(client, alice, search=search)) == [by_name[name]], search
    assert ids(listing(client, alice, search="Ärger")) == [by_name["ÄRGER"]]
    assert ids(listing(client, alice, search="éCOLE")) == [by_name["école"]]


def test_search_finds_a_lower_case_value_with_upper_case_terms(client, alice):
    ecole = create(client, alice, first_name="école")["id"]
    arger = create(client, alice, first_name="ärger")["id"]
    assert ids(listing(client, alice, search="ÉCOLE")) == [ecole]
    assert ids(listing(client, alice, search="Ärger")) == [arger]


def test_search_finds_persian_text(client, alice):
    ali = create(client, alice, first_name="علی", last_name="رضایی")["id"]
    create(client, alice, first_name="مریم", last_name="احمدی")
    assert ids(listing(client, alice, search="رضایی")) == [ali]
    assert ids(listing(client, alice, search="رضا")) == [ali]
    assert ids(listing(client, alice, search="علی رضایی")) == [ali]
    assert ids(listing(client, alice, search="علی احمدی")) == []


def test_search_treats_wildcards_literally(client, alice):
    cases = [
        ("100%", "100%off", "1000off"),
        ("%", "50%", "fifty"),
        ("e_c", "snake_case", "snakexcase"),
        ("_", "a_b", "ab"),
        ("k\\s", "back\\slash", "backslash"),
        ("%_", "x%_y", "xaby"),
        ("a/b", "a/b", "ab"),
        ("/%", "x/%y", "x/y"),
        ("//", "http://shop", "http:shop"),
    ]
    for search, match, decoy in cases:
        found = create(client, alice, username=match)["id"]
        decoy_id = create(client, alice, username=decoy)["id"]
        assert ids(listing(client, alice, search=search)) == [found], search
        for customer_id in (found, decoy_id):
            client.delete(item(customer_id), headers=alice.headers)


# Paging

@pytest.fixture
def five(client, alice):
    """Five customers; newest first they are five[::-1]."""
    return [create(client, alice, first_name=f"c{n}", last_name="paged")["id"] for n in range(5)]


def test_limit_pages_with_total_and_next_link(client, alice, five):
    response = listing(client, alice, limit=2)
    assert ids(response) == five[::-1][:2]
    assert response.headers["X-Total-Count"] == "5"
    found = links(response)
    assert set(found) == {"next"}
    assert "offset=2" in found["next"] and "limit=2" in found["next"]


def test_middle_page_has_next_and_prev(client, alice, five):
    response = listing(client, alice, limit=2, offset=2)
    assert ids(response) == five[::-1][2:4]
    assert response.headers["X-Total-Count"] == "5"
    found = links(response)
    assert set(found) == {"next", "prev"}
    assert "offset=4" in found["next"]
    assert "offset=0" in found["prev"]


def test_prev_link_never_goes_below_offset_0(client, alice, five):
    response = listing(client, alice, limit=2, offset=1)
    assert ids(response) == five[::-1][1:3]
    prev = links(response)["prev"]
    assert "offset=0" in prev and "offset=-" not in prev
    assert ids(client.get(prev, headers=alice.headers)) == five[::-1][:2]


def test_last_page_has_only_prev(client, alice, five):
    response = listing(client, alice, limit=2, offset=4)
    assert ids(response) == five[::-1][4:]
    assert set(links(response)) == {"prev"}


def test_page_past_the_end_is_empty_with_the_total(client, alice, five):
    response = listing(client, alice, limit=2, offset=10)
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "5"
    assert "next" not in links(response)


def test_offset_alone_pages_too(client, alice, five):
    response = listing(client, alice, offset=3)
    assert ids(response) == five[::-1][3:]
    assert response.headers["X-Total-Count"] == "5"


def test_following_next_links_walks_the_whole_list_once(client, alice, five):
    response = listing(client, alice, limit=2, ordering="first_name")
    seen = ids(response)
    while "next" in links(response):
        response = client.get(links(response)["next"], headers=alice.headers)
        seen += ids(response)
    assert seen == five


def test_following_prev_links_walks_back(client, alice, five):
    response = listing(client, alice, limit=2, offset=4)
    seen = ids(response)
    while "prev" in links(response):
        response = client.get(links(response)["prev"], headers=alice.headers)
        seen = ids(response) + seen
    assert seen == five[::-1]


def test_paging_counts_and_keeps_the_search(client, alice, five):
    create(client, alice, first_name="not", last_name="matching")
    response = listing(client, alice, search="paged", limit=2)
    assert response.headers["X-Total-Count"] == "5"
    nxt = links(response)["next"]
    assert "search=paged" in nxt
    assert len(ids(client.get(nxt, headers=alice.headers))) == 2


def test_limit_of_1000_is_allowed(client, alice, five):
    response = listing(client, alice, limit=1000)
    assert ids(response) == five[::-1]
    assert response.headers["X-Total-Count"] == "5"
    assert "Link" not in response.headers


def assert_field_error(response, field):
    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == [field]
    assert len(body[field]) == 1 and isinstance(body[field][0], str)


def test_invalid_limit_is_a_400(client, alice):
    for limit in ("0", "1001", "-1", "abc", "1.5", "", "99999999999999999999999"):
        assert_field_error(listing(client, alice, limit=limit), "limit")
    assert_field_error(listing(client, alice, limit="0", offset="0"), "limit")


def test_invalid_offset_is_a_400(client, alice):
    for offset in ("-1", "abc", "1.5"):
        assert_field_error(listing(client, alice, offset=offset), "offset")
    assert_field_error(listing(client, alice, limit="2", offset="-1"), "offset")
