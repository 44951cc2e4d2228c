"""Interoperability with a real JavaScript client.

The document's `fetch` examples and the calls of its `useCustomerData` hook (and `CustomerDataForm`),
transcribed in tests/js/customer_data_client.mjs, run under Node against a live gunicorn server
(tests/live_server.py). The answers must have the shapes the document shows, with the server's own
ids, times and URLs. The scenario runs once per module; each test checks one part of it.
"""
import base64
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from live_server import api, live_server

CLIENT = Path(__file__).resolve().parent / "js" / "customer_data_client.mjs"
NODE_TIMEOUT = 120

ENTRY_KEYS = {"id", "customer", "user", "key", "value", "file", "file_url", "file_name", "customer_name",
              "created_at", "updated_at"}
CUSTOMER_NAME = "John Doe (@johndoe) | instagram"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
FILE_PATH = re.compile(r"^/media/customer_data/\d{4}/\d{2}/\d{2}/[^/]+$")
NOT_FOUND = {"detail": "Customer data not found or you don't have permission to access it."}
VALUE_OR_FILE = {"non_field_errors": ["Either 'value' (text) or 'file' must be provided."]}


def duplicate(key):
    return f"A data field with key '{key}' already exists for this customer. Use PUT to update it."


def id_card_bytes():
    """The same bytes as idCardBytes() of the client: a JPEG header, then every byte value."""
    return bytes([0xFF, 0xD8, 0xFF, 0xE0]) + bytes(range(256))


def pdf_bytes(label):
    return f"%PDF-1.4\n% {label}\n%%EOF\n".encode()


def node_or_skip():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node not installed: the JavaScript client needs Node 20 or newer on PATH")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    if not match or int(match.group(1)) < 20:
        pytest.skip(f"node {version or '(unknown version)'} found: the JavaScript client needs Node 20 "
                    "or newer (global fetch, FormData and File)")
    return node


@pytest.fixture(scope="module")
def run():
    """Start the server, set up a user and a customer, run the Node scenario; everything it reported."""
    node = node_or_skip()
    with live_server() as server:
        base = server.base_url
        status, account = api(base, "POST", "/api/accounts/register",
                              {"username": "jsclient", "password": "jsclient-password-1"})
        assert status == 201, (account, server.log())
        status, tokens = api(base, "POST", "/api/accounts/login",
                             {"username": "jsclient", "password": "jsclient-password-1"})
        assert status == 200, (tokens, server.log())
        status, customer = api(base, "POST", "/api/message/customers/",
                               {"first_name": "John", "last_name": "Doe", "username": "johndoe",
                                "source": "instagram"}, tokens["access"])
        assert status == 201, (customer, server.log())

        env = {**os.environ, "BASE_URL": base, "TOKEN": tokens["access"], "CUSTOMER_ID": str(customer["id"])}
        try:
            done = subprocess.run([node, str(CLIENT)], cwd=CLIENT.parent, env=env, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=NODE_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the Node client took over {NODE_TIMEOUT}s\n"
                        f"--- server log ---\n{server.log()[-5000:]}")
        assert done.returncode == 0, (f"node exited with {done.returncode}\n--- stderr ---\n{done.stderr}"
                                      f"\n--- server log ---\n{server.log()[-5000:]}")
        result = json.loads(done.stdout)

        uploads = Path(server.upload_folder)
        left_files = sorted(str(path.relative_to(uploads)) for path in uploads.rglob("*") if path.is_file()) \
            if uploads.exists() else []
        yield {
            "base_url": base,
            "user_id": account["id"],
            "customer_id": customer["id"],
            "result": result,
            "steps": result["steps"],
            "downloads": result["downloads"],
            "left_files": left_files,
        }


def body(run, step):
    return run["steps"][step]["body"]


def assert_entry(run, entry, **expected):
    """An entry as the document shows it, with the server's ids, times and URLs."""
    assert set(entry) == ENTRY_KEYS, entry
    assert isinstance(entry["id"], int) and not isinstance(entry["id"], bool) and entry["id"] > 0
    assert entry["customer"] == run["customer_id"]
    assert entry["user"] == run["user_id"]
    assert isinstance(entry["key"], str) and entry["key"]
    assert isinstance(entry["value"], str)
    assert entry["customer_name"] == CUSTOMER_NAME
    for name in ("created_at", "updated_at"):
        assert TIMESTAMP.match(entry[name]), entry[name]
    assert entry["updated_at"] >= entry["created_at"]
    if entry["file"] is None:
        assert entry["file_url"] is None and entry["file_name"] is None, entry
    else:
        assert FILE_PATH.match(entry["file"]), entry["file"]
        assert isinstance(entry["file_name"], str) and entry["file_name"]
        url = urlsplit(entry["file_url"])
        assert f"{url.scheme}://{url.netloc}" == run["base_url"], entry["file_url"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", run["base_url"])
        assert unquote(url.path) == entry["file"]
    for name, value in expected.items():
        assert entry[name] == value, (name, entry)


def unsigned(payload):
    """Entries with file_url cut at its query: the signature's expiry moves with the clock."""
    if isinstance(payload, list):
        return [unsigned(item) for item in payload]
    if isinstance(payload, dict) and payload.get("file_url"):
        return {**payload, "file_url": payload["file_url"].split("?", 1)[0]}
    return payload


def every_entry(run):
    """Every entry the client received, from examples and hook calls alike."""
    for name, step in run["steps"].items():
        if not isinstance(step, dict):
            continue
        for payload in (step.get("body"), step.get("returned")):
            items = payload if isinstance(payload, list) else [payload]
            for item in items:
                if isinstance(item, dict) and "customer_name" in item:
                    yield name, item


# Status codes and content types

EXPECTED_STATUS = {
    "create_json": 201,
    "create_json_duplicate": 400,
    "create_json_company_email": 201,
    "create_form_file": 201,
    "list_filtered": 200,
    "get_one": 200,
    "update_json": 200,
    "replace_file": 200,
    "remove_file": 200,
    "delete": 200,
    "get_deleted": 404,
    "list_by_customer": 200,
    "hook_createData_text": 201,
    "hook_createData_file": 201,
    "hook_createData_file_only": 201,
    "hook_createData_duplicate": 400,
    "hook_fetchData": 200,
    "hook_updateData_value": 200,
    "hook_updateData_key": 200,
    "hook_updateData_file": 200,
    "hook_updateData_remove_file": 200,
    "hook_updateData_remove_only_file": 400,
    "hook_deleteData": 200,
    "form_submit": 201,
    "form_submit_duplicate": 400,
    "bulk_delete": 200,
    "hook_fetchData_after_bulk_delete": 200,
}


def test_status_codes_are_the_documented_ones(run):
    statuses = {name: run["steps"][name]["status"] for name in EXPECTED_STATUS}
    assert statuses == EXPECTED_STATUS


def test_answers_are_json(run):
    for name in EXPECTED_STATUS:
        assert run["steps"][name]["content_type"].startswith("application/json"), name


def test_every_entry_has_exactly_the_documented_fields(run):
    entries = list(every_entry(run))
    assert len(entries) > 20
    for name, entry in entries:
        try:
            assert_entry(run, entry)
        except AssertionError as error:
            raise AssertionError(f"step {name}: {error}") from error


# The document's fetch examples

def test_create_json(run):
    entry = body(run, "create_json")
    assert_entry(run, entry, key="birthday", value="1990-05-15", file=None, file_url=None, file_name=None)
    assert entry["created_at"] == entry["updated_at"]


def test_create_duplicate_key_answers_as_the_document_shows(run):
    assert body(run, "create_json_duplicate") == {"key": [duplicate("birthday")]}


def test_create_with_file_form_data(run):
    entry = body(run, "create_form_file")
    assert_entry(run, entry, key="id_card", value="National ID Card", file_name="id_card.jpg")
    assert entry["file"].startswith("/media/customer_data/")
    assert entry["file"].endswith("/id_card.jpg")
    assert entry["file_url"].startswith(f"{run['base_url']}/media/customer_data/")
    assert entry["created_at"] == entry["updated_at"]


def test_file_url_downloads_the_uploaded_bytes(run):
    uploaded = base64.b64decode(run["result"]["uploads"]["id_card"])
    assert uploaded == id_card_bytes()
    download = run["downloads"]["created"]
    assert download["url"] == body(run, "create_form_file")["file_url"]
    assert download["status"] == 200
    assert base64.b64decode(download["base64"]) == uploaded
    assert download["content_disposition"] == "attachment; filename=id_card.jpg"
    assert download["x_content_type_options"] == "nosniff"


def test_list_with_customer_and_search(run):
    assert unsigned(body(run, "list_filtered")) == unsigned([body(run, "create_json_company_email")])
    assert_entry(run, body(run, "list_filtered")[0], key="company_email", value="contact@company.com")


def test_get_one_is_the_created_entry(run):
    assert unsigned(body(run, "get_one")) == unsigned(body(run, "create_form_file"))


def test_update_text_value_json(run):
    created, updated = body(run, "create_form_file"), body(run, "update_json")
    assert_entry(run, updated, id=created["id"], key="id_card", value="Updated national ID information",
                 file=created["file"], file_name="id_card.jpg", created_at=created["created_at"])
    assert updated["updated_at"] > created["updated_at"]


def test_replace_file_form_data(run):
    before, replaced = body(run, "update_json"), body(run, "replace_file")
    assert_entry(run, replaced, id=before["id"], key="id_card", value="Updated national ID information",
                 file_name="قرارداد 2024.pdf", created_at=before["created_at"])
    assert replaced["file"] != before["file"] and replaced["file"].endswith(".pdf")
    assert replaced["updated_at"] > before["updated_at"]

    download = run["downloads"]["replaced"]
    assert download["status"] == 200
    assert base64.b64decode(download["base64"]) == pdf_bytes("replacement")
    assert download["content_disposition"].startswith("attachment;")
    assert f"filename*=UTF-8''{quote('قرارداد 2024.pdf')}" in download["content_disposition"]
    # the replaced file is gone: its (still signed) link finds nothing
    assert run["downloads"]["created_after_replace"]["status"] == 404


def test_remove_file_only(run):
    before, removed = body(run, "replace_file"), body(run, "remove_file")
    assert_entry(run, removed, id=before["id"], key="id_card", value="Updated national ID information",
                 file=None, file_url=None, file_name=None)
    assert run["downloads"]["replaced_after_remove"]["status"] == 404


def test_delete(run):
    assert body(run, "delete") == {"message": "Customer data 'id_card' deleted successfully",
                                   "deleted_key": "id_card"}
    assert body(run, "get_deleted") == NOT_FOUND


def test_list_by_customer_newest_first(run):
    assert unsigned(body(run, "list_by_customer")) == unsigned([body(run, "create_json_company_email"),
                                                                body(run, "create_json")])


def test_bulk_delete(run):
    ids = run["steps"]["bulk_delete_ids"]
    # what was left, plus the id deleted by deleteData, which is skipped and not counted
    assert len(ids) == 6 and len(set(ids)) == 6
    assert body(run, "bulk_delete") == {"message": "Successfully deleted 5 customer data item(s)",
                                        "deleted_count": 5}
    assert body(run, "hook_fetchData_after_bulk_delete") == []
    assert run["steps"]["hook_fetchData_after_bulk_delete"]["returned"] == []


def test_no_file_is_left_behind(run):
    assert run["left_files"] == []


# The useCustomerData hook's calls

def test_hook_create_data(run):
    steps = run["steps"]
    notes = steps["hook_createData_text"]
    assert notes["returned"] == notes["body"]
    assert_entry(run, notes["returned"], key="notes", value="Prefers email contact", file=None)

    contract = steps["hook_createData_file"]["returned"]
    assert_entry(run, contract, key="contract", value="Signed contract for 2024", file_name="contract.pdf")
    assert contract["file"].endswith("/contract.pdf")

    passport = steps["hook_createData_file_only"]["returned"]
    assert_entry(run, passport, key="passport_scan", value="", file_name="passport.png")


def test_hook_create_data_duplicate_throws_the_documented_message(run):
    step = run["steps"]["hook_createData_duplicate"]
    assert step["error"] == duplicate("notes")
    assert step["body"] == {"key": [duplicate("notes")]}


def test_hook_fetch_data(run):
    steps = run["steps"]
    listed = steps["hook_fetchData"]["returned"]
    assert listed == steps["hook_fetchData"]["body"]
    expected = [steps["hook_createData_file_only"]["returned"], steps["hook_createData_file"]["returned"],
                steps["hook_createData_text"]["returned"], body(run, "create_json_company_email"),
                body(run, "create_json")]
    assert unsigned(listed) == unsigned(expected)


def test_hook_update_data(run):
    steps = run["steps"]
    notes = steps["hook_createData_text"]["returned"]
    value = steps["hook_updateData_value"]["returned"]
    assert_entry(run, value, id=notes["id"], key="notes", value="Prefers phone calls", file=None)
    key = steps["hook_updateData_key"]["returned"]
    assert_entry(run, key, id=notes["id"], key="contact_notes", value="Prefers phone calls", file=None)

    contract = steps["hook_createData_file"]["returned"]
    replaced = steps["hook_updateData_file"]["returned"]
    assert_entry(run, replaced, id=contract["id"], key="contract", value="Signed contract for 2024",
                 file_name="contract_v2.pdf")
    assert replaced["file"] != contract["file"]
    download = run["downloads"]["hook_file"]
    assert download["status"] == 200
    assert base64.b64decode(download["base64"]) == pdf_bytes("contract 2024 v2")
    assert download["content_disposition"] == "attachment; filename=contract_v2.pdf"

    removed = steps["hook_updateData_remove_file"]["returned"]
    assert_entry(run, removed, id=contract["id"], key="contract", value="Signed contract for 2024",
                 file=None, file_url=None, file_name=None)


def test_hook_remove_file_of_a_file_only_entry_is_refused(run):
    assert run["steps"]["hook_updateData_remove_only_file"]["returned"] == VALUE_OR_FILE


def test_hook_delete_data(run):
    step = run["steps"]["hook_deleteData"]
    assert step["returned"] is None
    assert step["body"] == {"message": "Customer data 'contact_notes' deleted successfully",
                            "deleted_key": "contact_notes"}


def test_form_component_submit(run):
    steps = run["steps"]
    assert "error" not in steps["form_submit"]
    assert_entry(run, steps["form_submit"]["body"], key="company", value="ACME Inc.", file=None)
    assert steps["form_submit_duplicate"]["error"] == duplicate("company")


def test_requests_went_to_the_live_server(run):
    for name, step in run["steps"].items():
        if isinstance(step, dict) and "url" in step:
            assert step["url"].startswith(run["base_url"] + "/api/message/"), name
