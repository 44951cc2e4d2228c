"""ETag on entry answers and If-Match on entry writes (shared/spec/changes.md "Safe concurrent edits",
notes/changes-decisions.md), through HTTP."""
import io
import re

import pytest

ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
PRECONDITION_FAILED = {"detail": "The entry changed since it was read."}
ENTRY_NOT_FOUND = {"detail": "Customer data not found or you don't have permission to access it."}
STRONG_ETAG = re.compile(r'^"[0-9a-f]+"$')


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def entry_url(entry_id):
    return f"{ENTRIES}{entry_id}/"


def etag_of(response):
    etag = response.headers.get("ETag")
    assert etag is not None and STRONG_ETAG.match(etag), etag
    return etag


def read(client, user, entry_id):
    response = client.get(entry_url(entry_id), headers=user.headers)
    ok(response)
    return response


def changes_of(client, user, entry_id):
    return ok(client.get(f"{ENTRIES}{entry_id}/history/", headers=user.headers))


@pytest.fixture
def entry(client, alice, customer):
    """A plain entry of alice's, as the POST answered (the response)."""
    response = client.post(ENTRIES, headers=alice.headers,
                           json={"customer": customer, "key": "plan", "value": "free"})
    ok(response, 201)
    return response


def test_entry_answers_carry_a_strong_etag(client, alice, entry):
    created = etag_of(entry)
    assert etag_of(read(client, alice, entry.get_json()["id"])) == created
    updated = client.patch(entry_url(entry.get_json()["id"]), headers=alice.headers, json={"value": "pro"})
    ok(updated)
    assert etag_of(updated) != created
    assert etag_of(read(client, alice, entry.get_json()["id"])) == etag_of(updated)


def _patch_value(client, alice, entry_id):
    return client.patch(entry_url(entry_id), headers=alice.headers, json={"value": "pro"})


def _put_rename(client, alice, entry_id):
    return client.put(entry_url(entry_id), headers=alice.headers, json={"key": "tier"})


def _add_file(client, alice, entry_id):
    return client.patch(entry_url(entry_id), headers=alice.headers,
                        data={"file": (io.BytesIO(b"bytes"), "a.pdf")})


def _replace_file(client, alice, entry_id):
    return client.patch(entry_url(entry_id), headers=alice.headers,
                        data={"file": (io.BytesIO(b"other"), "a.pdf")})


def _remove_file(client, alice, entry_id):
    return client.patch(entry_url(entry_id), headers=alice.headers, json={"remove_file": True})


def _revert(client, alice, entry_id):
    created = changes_of(client, alice, entry_id)[-1]["id"]
    return client.post(f"{ENTRIES}{entry_id}/revert/", headers=alice.headers, json={"change": created})


def _rename_to_vip(client, alice, entry_id):
    ok(client.patch(entry_url(entry_id), headers=alice.headers, json={"key": "vip", "value": "YES"}))


def _define_vip(client, alice, entry_id):
    ok(client.post(KEYS, headers=alice.headers, json={"key": "vip", "type": "boolean"}), 201)


# name: (what comes first, the change whose ETag is checked)
CHANGES = {
    "PATCH value": (None, _patch_value),
    "PUT rename": (None, _put_rename),
    "file added": (None, _add_file),
    "file replaced": (_add_file, _replace_file),
    "file removed": (_add_file, _remove_file),
    "revert": (_patch_value, _revert),
    "definition rewrite": (_rename_to_vip, _define_vip),
}


@pytest.mark.parametrize("case", list(CHANGES))
def test_the_etag_changes_with_every_change(client, alice, entry, case):
    entry_id = entry.get_json()["id"]
    setup, act = CHANGES[case]
    if setup is not None:
        setup(client, alice, entry_id)
    before = etag_of(read(client, alice, entry_id))
    response = act(client, alice, entry_id)
    after = etag_of(read(client, alice, entry_id))
    assert after != before
    if response is not None:
        ok(response)
        assert etag_of(response) == after


def test_every_etag_of_an_entrys_life_differs(client, alice, entry):
    entry_id = entry.get_json()["id"]
    seen = [etag_of(entry)]
    for value in ("a", "b", "a", "free"):  # values come back, the ETag does not
        seen.append(etag_of(client.patch(entry_url(entry_id), headers=alice.headers, json={"value": value})))
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize("method, body", [("PATCH", {"value": "free"}), ("PATCH", {}),
                                          ("PUT", {"key": "plan", "value": " free "})])
def test_the_etag_stays_after_a_no_op(client, alice, entry, method, body):
    entry_id = entry.get_json()["id"]
    response = client.open(entry_url(entry_id), method=method, headers=alice.headers, json=body)
    ok(response)
    assert etag_of(response) == etag_of(entry) == etag_of(read(client, alice, entry_id))


def write(client, alice, entry_id, method, if_match):
    headers = {**alice.headers, **({} if if_match is None else {"If-Match": if_match})}
    if method == "DELETE":
        return client.delete(entry_url(entry_id), headers=headers)
    return client.open(entry_url(entry_id), method=method, headers=headers, json={"value": "pro"})


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("if_match", ["current", "*", "list", None])
def test_a_matching_if_match_runs_the_write(client, alice, entry, method, if_match):
    entry_id = entry.get_json()["id"]
    current = etag_of(entry)
    header = {"current": current, "*": "*", "list": f'"0123abcd", {current}', None: None}[if_match]
    response = write(client, alice, entry_id, method, header)
    ok(response)
    if method == "DELETE":
        assert client.get(entry_url(entry_id), headers=alice.headers).status_code == 404
    else:
        assert response.get_json()["value"] == "pro"
        assert etag_of(response) != current


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("if_match", ["stale", "made up", "list"])
def test_a_mismatching_if_match_is_412_and_changes_nothing(client, alice, entry, method, if_match):
    entry_id = entry.get_json()["id"]
    stale = etag_of(entry)
    ok(client.patch(entry_url(entry_id), headers=alice.headers, json={"value": "basic"}))
    before = read(client, alice, entry_id)
    history = changes_of(client, alice, entry_id)
    header = {"stale": stale, "made up": '"0123abcd"', "list": f'"0123abcd", {stale}'}[if_match]
    response = write(client, alice, entry_id, method, header)
    assert response.status_code == 412
    assert response.get_json() == PRECONDITION_FAILED
    after = read(client, alice, entry_id)
    assert after.get_json() == before.get_json() and etag_of(after) == etag_of(before)
    assert changes_of(client, alice, entry_id) == history


def test_two_writers_of_one_read_the_second_gets_412(client, alice, entry):
    entry_id = entry.get_json()["id"]
    etag = etag_of(read(client, alice, entry_id))
    if_match = {**alice.headers, "If-Match": etag}
    first = client.patch(entry_url(entry_id), headers=if_match, json={"value": "one"})
    ok(first)
    second = client.patch(entry_url(entry_id), headers=if_match, json={"value": "two"})
    assert second.status_code == 412 and second.get_json() == PRECONDITION_FAILED
    assert read(client, alice, entry_id).get_json()["value"] == "one"
    third = client.patch(entry_url(entry_id), headers={**alice.headers, "If-Match": etag_of(first)},
                         json={"value": "two"})
    assert ok(third)["value"] == "two"


def test_a_multipart_write_honours_if_match(client, alice, entry):
    entry_id = entry.get_json()["id"]
    response = client.patch(entry_url(entry_id), headers={**alice.headers, "If-Match": '"0123abcd"'},
                            data={"file": (io.BytesIO(b"bytes"), "a.pdf")})
    assert response.status_code == 412 and response.get_json() == PRECONDITION_FAILED
    assert read(client, alice, entry_id).get_json()["file"] is None
    response = client.patch(entry_url(entry_id), headers={**alice.headers, "If-Match": etag_of(entry)},
                            data={"file": (io.BytesIO(b"bytes"), "a.pdf")})
    assert ok(response)["file_name"] == "a.pdf"


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_another_users_entry_is_404_whatever_if_match_says(client, alice, bob, entry, method):
    entry_id = entry.get_json()["id"]
    for header in (etag_of(entry), '"0123abcd"', "*"):
        headers = {**bob.headers, "If-Match": header}
        response = client.open(entry_url(entry_id), method=method, headers=headers, json={"value": "bob's"})
        assert response.status_code == 404
        assert response.get_json() == ENTRY_NOT_FOUND
    assert read(client, alice, entry_id).get_json() == entry.get_json()
