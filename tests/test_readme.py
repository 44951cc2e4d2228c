"""The README is the user's whole documentation: what it says about the API is what the API does,
and what it tells a user to run works from a clone with the Quickstart's virtualenv."""
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"


def documented_fields(resource):
    """The field list of "A customer is `{...}`" / "An entry is `{...}`"."""
    match = re.search(rf"An? {resource} is `\{{([^}}]*)\}}`", README)
    assert match, f"the README does not list the {resource} fields"
    return [name.strip() for name in match[1].split(",")]


def test_cli_lines_use_the_quickstart_virtualenv():
    bare = [line for line in README.splitlines() if re.search(r"(?<![\w/.])flask --app", line)]
    assert bare == []


def test_the_readme_sends_no_one_outside_the_repository():
    assert "../shared" not in README


def test_documented_customer_fields_are_the_answered_ones(client, alice):
    customer = client.post(CUSTOMERS, headers=alice.headers, json={"first_name": "John"}).get_json()
    assert documented_fields("customer") == list(customer)


def test_documented_entry_fields_are_the_answered_ones(client, alice, customer):
    entry = client.post(ENTRIES, headers=alice.headers, json={"customer": customer, "key": "k", "value": "v"})
    assert documented_fields("entry") == list(entry.get_json())


def test_documented_sources_are_the_accepted_ones(client, alice):
    match = re.search(r"`source`: [^\n]*one of `unknown` \(the default\), ((?:`\w+`,?\s*)+)", README)
    assert match, "the README does not list the source values"
    sources = ["unknown", *re.findall(r"`(\w+)`", match[1])]
    assert client.post(CUSTOMERS, headers=alice.headers, json={}).get_json()["source"] == "unknown"
    for source in sources:
        response = client.post(CUSTOMERS, headers=alice.headers, json={"source": source})
        assert response.status_code == 201 and response.get_json()["source"] == source
    refused = client.post(CUSTOMERS, headers=alice.headers, json={"source": "facebook"})
    assert refused.get_json() == {"source": ['"facebook" is not a valid choice.']}


@pytest.mark.parametrize("path", [CUSTOMERS, ENTRIES])
def test_lists_are_newest_first_and_limit_goes_to_1000_as_documented(client, alice, customer, path):
    assert "**newest first**" in README and "`limit` (1 to 1,000)" in README
    for key in ("first", "second", "third"):
        client.post(ENTRIES, headers=alice.headers, json={"customer": customer, "key": key, "value": "v"})
        client.post(CUSTOMERS, headers=alice.headers, json={"first_name": key})
    listed = client.get(path, headers=alice.headers).get_json()
    assert [row["id"] for row in listed] == sorted((row["id"] for row in listed), reverse=True)
    assert client.get(f"{path}?limit=1000", headers=alice.headers).status_code == 200
    assert client.get(f"{path}?limit=1001", headers=alice.headers).status_code == 400
