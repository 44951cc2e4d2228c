"""Failures that fuzzing the API (tests/test_fuzz.py) led to, each kept as an HTTP-level test.

Every one of them was a 500; each now answers with the contract's 400 or 403, on SQLite and on
PostgreSQL alike (the `client` fixture follows TEST_DATABASE_URL).
"""
import io

import pytest

CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
NULL_CHARACTERS = ["Null characters are not allowed."]
UNPAIRED_SURROGATE = {"detail": "JSON parse error - a string holds an unpaired surrogate (\\uD800-\\uDFFF)"}


@pytest.fixture
def customer(client, alice):
    response = client.post(CUSTOMERS, json={"first_name": "John"}, headers=alice.headers)
    assert response.status_code == 201
    return response.get_json()


@pytest.fixture
def entry(client, alice, customer):
    body = {"customer": customer["id"], "key": "birthday", "value": "1990-05-15"}
    response = client.post(ENTRIES, json=body, headers=alice.headers)
    assert response.status_code == 201
    return response.get_json()


def raw_json(client, method, path, text, headers=None):
    """Send `text` as the JSON body exactly as written (escapes included)."""
    return client.open(path, method=method, data=text.encode(), content_type="application/json",
                       headers=headers or {})


# A download link whose `expires` is a Unicode digit other than 0-9 ("²".isdigit() is true, but
# int("²") raises): a 500 before the signature was even checked.

@pytest.mark.parametrize("expires", ["²", "¹²³", "٣"])
def test_download_link_with_non_ascii_digits_is_refused(client, expires):
    response = client.get("/media/customer_data/2026/01/01/a.txt", query_string={"expires": expires,
                                                                                   "signature": "x"})
    assert response.status_code == 403
    assert response.get_json() == {"detail": "This download link is invalid or has expired."}


# A JSON string with an unpaired surrogate escape ("\ud800") decodes in Python but can be neither
# stored (UTF-8) nor answered: a 500 when saved, and a 500 from the error handler when an error
# message echoed it ('"\ud800" is not a valid choice.').

@pytest.mark.parametrize("text", ['{"first_name": "\\ud800"}', '{"source": "\\udfff"}',
                                  '{"last_name": "ok", "\\ud800": 1}'])
def test_unpaired_surrogate_in_a_json_body_is_a_parse_error(client, alice, text):
    response = raw_json(client, "POST", CUSTOMERS, text, alice.headers)
    assert response.status_code == 400
    assert response.get_json() == UNPAIRED_SURROGATE


def test_unpaired_surrogate_on_public_and_entry_routes(client, alice, customer):
    register = raw_json(client, "POST", "/api/accounts/register",
                        '{"username": "x\\udc80", "password": "12345678"}')
    assert (register.status_code, register.get_json()) == (400, UNPAIRED_SURROGATE)
    text = f'{{"customer": {customer["id"]}, "key": "k", "value": "\\ud83d"}}'
    create = raw_json(client, "POST", ENTRIES, text, alice.headers)
    assert (create.status_code, create.get_json()) == (400, UNPAIRED_SURROGATE)


def test_a_surrogate_pair_is_one_character_and_welcome(client, alice):
    response = raw_json(client, "POST", CUSTOMERS, '{"first_name": "\\ud83d\\ude00"}', alice.headers)
    assert response.status_code == 201
    assert response.get_json()["first_name"] == "\U0001F600"


# JSON nested deeper than the decoder's recursion limit raised RecursionError: a 500.

def test_deeply_nested_json_is_a_parse_error(client, alice):
    response = raw_json(client, "POST", CUSTOMERS, "[" * 100_000 + "]" * 100_000, alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "JSON parse error - nested too deeply"}


# NUL characters: PostgreSQL text cannot hold them (psycopg raises before the query is sent), so
# any text field, query filter or file name with one was a 500 there. Refused everywhere, with
# Django REST Framework's message.

@pytest.mark.parametrize("body, field", [
    ({"first_name": "a\x00b"}, "first_name"),
    ({"email": "a\x00@example.com"}, "email"),
    ({"username": "\x00"}, "username"),
])
def test_null_character_in_customer_fields(client, alice, body, field):
    response = client.post(CUSTOMERS, json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {field: NULL_CHARACTERS}


def test_null_character_in_entry_fields_json_and_form(client, alice, customer, entry):
    response = client.post(ENTRIES, json={"customer": customer["id"], "key": "k\x00", "value": "v"},
                           headers=alice.headers)
    assert (response.status_code, response.get_json()) == (400, {"key": NULL_CHARACTERS})
    response = client.post(ENTRIES, data={"customer": str(customer["id"]), "key": "k", "value": "\x00"},
                           headers=alice.headers)
    assert (response.status_code, response.get_json()) == (400, {"value": NULL_CHARACTERS})
    response = client.patch(f"{ENTRIES}{entry['id']}/", json={"value": "x\x00"}, headers=alice.headers)
    assert (response.status_code, response.get_json()) == (400, {"value": NULL_CHARACTERS})
    assert client.get(f"{ENTRIES}{entry['id']}/", headers=alice.headers).get_json()["value"] == "1990-05-15"


def test_null_character_in_an_uploaded_file_name(client, alice, customer):
    response = client.post(ENTRIES, headers=alice.headers, data={
        "customer": str(customer["id"]), "key": "scan", "file": (io.BytesIO(b"%PDF-1.4"), "scan\x00.pdf")})
    assert response.status_code == 400
    assert response.get_json() == {"file": NULL_CHARACTERS}


@pytest.mark.parametrize("path, query, field", [
    (ENTRIES, {"search": "\x00"}, "search"),
    (ENTRIES, {"key": "a\x00"}, "key"),
    (CUSTOMERS, {"search": "john\x00"}, "search"),
    (CUSTOMERS, {"ordering": "\x00"}, "ordering"),
])
def test_null_character_in_list_filters(client, alice, entry, path, query, field):
    response = client.get(path, query_string=query, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {field: NULL_CHARACTERS}


def test_null_character_in_credentials(client, alice):
    register = client.post("/api/accounts/register", json={"username": "bob", "password": "pass\x00word-1"})
    assert (register.status_code, register.get_json()) == (400, {"password": NULL_CHARACTERS})
    login = client.post("/api/accounts/login", json={"username": "alice\x00", "password": "alice-password-1"})
    assert (login.status_code, login.get_json()) == (400, {"username": NULL_CHARACTERS})


def test_the_key_filter_still_matches_exactly(client, alice, entry):
    assert [e["key"] for e in client.get(ENTRIES, query_string={"key": "birthday"},
                                         headers=alice.headers).get_json()] == ["birthday"]
    assert client.get(ENTRIES, query_string={"key": " birthday"}, headers=alice.headers).get_json() == []
    assert client.get(ENTRIES, query_string={"key": "Birthday"}, headers=alice.headers).get_json() == []


# The feed's `customer` filter took any integer: one past PostgreSQL's integer (or SQLite's 64 bits)
# failed the query.

@pytest.mark.parametrize("customer_id", [2**31, 3182387597897, 2**70, 0, -5])
def test_the_feed_filtered_on_a_customer_id_no_customer_can_have_is_empty(client, alice, customer, customer_id):
    response = client.get(f"/api/message/changes/?kind=entry.deleted&customer={customer_id}", headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["Link"].startswith("<http://localhost/api/message/changes/?")


# Length and size constraints of a definition took any integer; past PostgreSQL's integer the
# INSERT failed.

@pytest.mark.parametrize("body, field, message", [
    ({"type": "text", "min_length": 2**31}, "min_length", "Ensure this value is less than or equal to 2147483647."),
    ({"type": "text", "max_length": 3000000000}, "max_length", "Ensure this value is less than or equal to 2147483647."),
    ({"type": "file", "max_size": 2**63}, "max_size", "Ensure this value is less than or equal to 9223372036854775807."),
    ({"type": "text", "position": -2**31 - 1}, "position", "Ensure this value is between -2147483648 and 2147483647."),
])
def test_definition_numbers_past_their_columns_are_refused(client, alice, body, field, message):
    response = client.post("/api/message/data-keys/", json={"key": "k", **body}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {field: [message]}


def test_the_largest_definition_numbers_are_kept(client, alice):
    body = {"key": "k", "type": "text", "min_length": 2**31 - 1, "max_length": 2**31 - 1}
    assert client.post("/api/message/data-keys/", json=body, headers=alice.headers).status_code == 201
    body = {"key": "f", "type": "file", "max_size": 2**63 - 1}
    assert client.post("/api/message/data-keys/", json=body, headers=alice.headers).get_json()["max_size"] == 2**63 - 1


# A multipart part without a name (werkzeug gives it the name None) failed the Idempotency-Key's
# fingerprint, which sorted names and file names together with strings.

def test_an_idempotent_multipart_request_with_unnamed_parts_is_answered(client, alice):
    body = (b'--x\r\nContent-Disposition: form-data\r\n\r\nv\r\n'
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nw\r\n'
            b'--x\r\nContent-Disposition: form-data; filename="z.csv"\r\n\r\nz\r\n'
            b'--x\r\nContent-Disposition: form-data; name="file"\r\n\r\nq\r\n--x--\r\n')
    headers = {**alice.headers, "Idempotency-Key": "unnamed-parts"}
    answers = [client.post("/api/message/customer-data/import/", data=body, headers=headers,
                           content_type="multipart/form-data; boundary=x") for _ in range(2)]
    assert [answer.status_code for answer in answers] == [400, 400]
    assert answers[0].get_json() == answers[1].get_json() == {
        "file": ["The submitted data was not a file. Check the encoding type on the form."]}
    assert answers[1].headers.get("Idempotent-Replayed") == "true"
