"""Form bodies carry values as long as JSON ones, and a 413 names the limit that was crossed."""
import io

import pytest

ENTRIES = "/api/message/customer-data/"
LONGEST = 1_048_576  # MAX_VALUE_LENGTH's default
WIDEST = "\U0001F600"  # four bytes in UTF-8, the most a character takes
TOO_LONG = {"value": [f"Ensure this field has no more than {LONGEST} characters."]}


def post_form(client, user, body, multipart):
    if multipart:  # a file part makes the test client send multipart/form-data
        body = {**body, "file": (io.BytesIO(b"scan"), "scan.txt")}
    return client.post(ENTRIES, data=body, headers=user.headers)


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "urlencoded"])
def test_a_form_value_as_long_as_the_limit_is_stored_and_one_more_character_is_a_400(client, alice, customer,
                                                                                     multipart):
    body = {"customer": str(customer), "key": "notes", "value": WIDEST * LONGEST}
    created = post_form(client, alice, body, multipart)
    assert created.status_code == 201, created.get_json()
    entry_id = created.get_json()["id"]
    assert len(client.get(f"{ENTRIES}{entry_id}/", headers=alice.headers).get_json()["value"]) == LONGEST

    refused = post_form(client, alice, {**body, "key": "more", "value": WIDEST * (LONGEST + 1)}, multipart)
    assert refused.status_code == 400 and refused.get_json() == TOO_LONG


def test_a_multipart_update_takes_a_value_as_long_as_the_limit(client, alice, customer):
    created = client.post(ENTRIES, json={"customer": customer, "key": "notes", "value": "short"},
                          headers=alice.headers).get_json()
    url = f"{ENTRIES}{created['id']}/"
    updated = client.patch(url, data={"value": WIDEST * LONGEST, "file": (io.BytesIO(b"x"), "a.txt")},
                           headers=alice.headers)
    assert updated.status_code == 200, updated.get_json()
    refused = client.patch(url, data={"value": "a" * (LONGEST + 1), "file": (io.BytesIO(b"x"), "a.txt")},
                           headers=alice.headers)
    assert refused.status_code == 400 and refused.get_json() == TOO_LONG


def test_too_many_multipart_parts_is_a_413_naming_the_part_limit(client, alice, customer, app):
    parts = {f"extra{index}": "x" for index in range(app.config["MAX_FORM_PARTS"])}
    response = post_form(client, alice, {"customer": str(customer), "key": "k", "value": "v", **parts},
                         multipart=True)
    assert response.status_code == 413
    assert response.get_json() == {"detail": f"The form has more than {app.config['MAX_FORM_PARTS']} parts."}


def test_many_urlencoded_fields_are_no_413(client, alice, customer, app):
    parts = {f"extra{index}": "x" for index in range(app.config["MAX_FORM_PARTS"] + 10)}
    response = post_form(client, alice, {"customer": str(customer), "key": "k", "value": "v", **parts},
                         multipart=False)
    assert response.status_code == 201


@pytest.fixture
def short_values(app_config):
    app_config["MAX_VALUE_LENGTH"] = 10
    return app_config


def test_a_field_past_the_form_memory_limit_is_a_413_naming_that_limit(short_values, client, alice, customer, app):
    limit = app.config["MAX_FORM_MEMORY_SIZE"]
    assert limit == 10 * 4 + 64 * 1024  # follows MAX_VALUE_LENGTH
    response = post_form(client, alice, {"customer": str(customer), "key": "k", "value": "a" * (limit + 1)},
                         multipart=True)
    assert response.status_code == 413
    detail = response.get_json()["detail"]
    assert detail.startswith(f"A form field is larger than the limit of {limit} bytes")
    assert str(app.config["MAX_CONTENT_LENGTH"]) not in detail
    under = post_form(client, alice, {"customer": str(customer), "key": "k", "value": "a" * 11}, multipart=True)
    assert under.status_code == 400 and under.get_json() == {
        "value": ["Ensure this field has no more than 10 characters."]}
