"""The webhook endpoints API (shared/spec/webhooks.md), through HTTP as a client sees it: register,
read, update, delete, rotate the secret, queue a test event, the delivery log and redelivery, the
refusal of every destination inside the network, ownership, the outbox rows a write leaves, the
OpenAPI description and secrets kept out of logs. Sending deliveries is test_webhook_delivery's."""

import base64
import json
import logging
import re
from datetime import datetime

import jsonschema
import pytest
from sqlalchemy import func, select, update

from customerdata.models import CHANGE_KINDS, WebhookDelivery, WebhookEndpoint, utcnow
from customerdata.webhooks import delivery as webhook_delivery
from customerdata.webhooks import destinations, service

ENDPOINTS = "/api/webhooks/endpoints/"
ENTRIES = "/api/message/customer-data/"
CUSTOMERS = "/api/message/customers/"
URL = "https://hooks.example.com/customerdata"
PUBLIC_ADDRESS = "93.184.215.14"
ENDPOINT_FIELDS = {
    "id", "url", "events", "description", "enabled", "disabled_reason", "created_at", "updated_at"}
DELIVERY_FIELDS = {"id", "event_id", "type", "status", "next_attempt_at", "created_at", "attempts"}
SECRET = re.compile(r"^whsec_([A-Za-z0-9+/]{43}=)$")
ENDPOINT_NOT_FOUND = {"detail": "Webhook endpoint not found."}
DELIVERY_NOT_FOUND = {"detail": "Delivery not found."}
TOO_MANY = {"non_field_errors": ["A user can have at most 20 webhook endpoints."]}


def item_url(endpoint_id):
    return f"{ENDPOINTS}{endpoint_id}/"


def deliveries_url(endpoint_id):
    return f"{ENDPOINTS}{endpoint_id}/deliveries/"


def redeliver_url(endpoint_id, delivery_id):
    return f"{ENDPOINTS}{endpoint_id}/deliveries/{delivery_id}/redeliver/"


def without_secret(body):
    return {name: value for name, value in body.items() if name != "secret"}


def parse_time(text):
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1])


class Resolver(dict):
    """{name: [addresses]} the tests' DNS answers; `asked` lists every (host, port) looked up."""

    def __init__(self, names, real):
        super().__init__(names)
        self.real, self.asked = real, []

    def __call__(self, host, port):
        self.asked.append((host, port))
        if host in self:
            return list(self[host])
        if host.endswith((".example", ".example.com", ".test", ".invalid")):
            return []
        return self.real(host, port)


# Names the tests use resolve here, never through the network; IP literals and `localhost` go
# through the real resolver (getaddrinfo reads them without asking DNS).
@pytest.fixture(autouse=True)
def dns(monkeypatch):
    resolver = Resolver({"hooks.example.com": [PUBLIC_ADDRESS], "other.example.com": [PUBLIC_ADDRESS]},
                        destinations.resolve)
    monkeypatch.setattr(destinations, "resolve", resolver)
    return resolver


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    """Users are still registered and logged in through the API, with a one-round hash: scrypt's
    cost would make up most of this module's run time."""
    from werkzeug.security import generate_password_hash

    from customerdata.accounts import service as accounts

    monkeypatch.setattr(accounts, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


# List these before `client`/`app` in a test's arguments: they change the settings the app is built with.
@pytest.fixture
def allow_http(app_config):
    app_config["WEBHOOKS_ALLOW_HTTP"] = True


@pytest.fixture
def allow_private(app_config):
    app_config["WEBHOOKS_ALLOW_PRIVATE"] = True


@pytest.fixture
def register(client, alice):
    """register(url=..., events=[...], expect=201, user=alice, **fields): the POST's answer body."""

    def register(url=URL, events=("*",), expect=201, user=None, **fields):
        body = {"url": url, "events": list(events), **fields}
        response = client.post(ENDPOINTS, json=body, headers=(user or alice).headers)
        assert response.status_code == expect, response.get_json()
        return response.get_json()

    return register


@pytest.fixture
def endpoint(register):
    """An endpoint of alice's taking every kind, as created (with its secret)."""
    return register()


def listed(client, user, endpoint_id, expect=200, **query):
    response = client.get(deliveries_url(endpoint_id), query_string=query, headers=user.headers)
    assert response.status_code == expect, response.get_json()
    return response.get_json()


def queue_test(client, user, endpoint_id):
    response = client.post(f"{item_url(endpoint_id)}test/", headers=user.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["delivery"]


def endpoints_of(client, user):
    response = client.get(ENDPOINTS, headers=user.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def write_entry(client, user, key="birthday", value="1990-01-01", customer=None):
    """A new customer of `user`'s (unless given) and an entry of it; the customer's id."""
    if customer is None:
        response = client.post(CUSTOMERS, json={"first_name": "Ann"}, headers=user.headers)
        assert response.status_code == 201, response.get_json()
        customer = response.get_json()["id"]
    response = client.post(ENTRIES, json={"customer": customer, "key": key, "value": value},
                           headers=user.headers)
    assert response.status_code == 201, response.get_json()
    return customer


# Create, read, list


def test_create_answers_every_field_and_a_secret_once(client, alice, register):
    created = register(url=URL, events=["entry.created", "entry.updated"])
    assert set(created) == ENDPOINT_FIELDS | {"secret"}
    assert isinstance(created["id"], int)
    shown = ("url", "events", "description", "enabled", "disabled_reason")
    assert {name: created[name] for name in shown} == {
        "url": URL, "events": ["entry.created", "entry.updated"], "description": "", "enabled": True,
        "disabled_reason": None}
    assert created["created_at"] == created["updated_at"]
    assert abs((parse_time(created["created_at"]) - utcnow()).total_seconds()) < 60
    secret = SECRET.match(created["secret"])
    assert secret, created["secret"]
    assert len(base64.b64decode(secret.group(1), validate=True)) == 32

    response = client.get(item_url(created["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == without_secret(created)
    assert endpoints_of(client, alice) == [without_secret(created)]
    assert created["secret"] not in response.get_data(as_text=True)


def test_create_with_every_field(register):
    created = register(url="https://hooks.example.com:8443/in?source=cd", events=["customer.deleted"],
                       description="  Warehouse loader ", enabled=False, colour="red")
    assert {k: v for k, v in created.items() if k not in ("id", "secret", "created_at", "updated_at")} == {
        "url": "https://hooks.example.com:8443/in?source=cd", "events": ["customer.deleted"],
        "description": "Warehouse loader", "enabled": False, "disabled_reason": None}
    assert "colour" not in created


def test_each_endpoint_gets_its_own_secret(register):
    secrets_given = {register()["secret"] for _ in range(3)}
    assert len(secrets_given) == 3


def test_list_is_the_callers_endpoints_without_secrets(client, alice, bob, register):
    first = register(url="https://hooks.example.com/1")
    second = register(url="https://hooks.example.com/2", events=["entry.deleted"])
    register(url="https://hooks.example.com/bob", user=bob)
    listed_endpoints = endpoints_of(client, alice)
    assert sorted(listed_endpoints, key=lambda e: e["id"]) == [without_secret(first), without_secret(second)]
    assert all("secret" not in e for e in listed_endpoints)
    assert [e["url"] for e in endpoints_of(client, bob)] == ["https://hooks.example.com/bob"]


@pytest.mark.parametrize("events, kept", [
    (["*"], ["*"]),
    (["entry.created", "entry.updated", "entry.created"], ["entry.created", "entry.updated"]),
    (["*", "*"], ["*"]),
    (list(CHANGE_KINDS), list(CHANGE_KINDS)),
])
def test_events_are_kept_once_each(client, alice, register, events, kept):
    created = register(events=events)
    assert created["events"] == kept
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json()["events"] == kept


def test_url_and_events_are_required(client, alice):
    response = client.post(ENDPOINTS, json={"description": "x"}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"url": ["This field is required."], "events": ["This field is required."]}
    assert endpoints_of(client, alice) == []


@pytest.mark.parametrize("events, message", [
    ("entry.created", 'Expected a list of items but got type "str".'),
    ({"entry.created": True}, 'Expected a list of items but got type "dict".'),
    ([], "This list may not be empty."),
    (None, "This field may not be null."),
    (["entry.created", "entry.exploded"], '"entry.exploded" is not a valid event kind.'),
    (["webhook.test"], '"webhook.test" is not a valid event kind.'),
    (["ENTRY.CREATED"], '"ENTRY.CREATED" is not a valid event kind.'),
    ([7], '"7" is not a valid event kind.'),
])
def test_bad_events_are_400_on_events(client, alice, events, message):
    response = client.post(ENDPOINTS, json={"url": URL, "events": events}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"events": [message]}
    assert endpoints_of(client, alice) == []


@pytest.mark.parametrize("url", [
    "https://hooks.example.com/" + "a" * (2049 - len("https://hooks.example.com/")),
    "hooks.example.com/customerdata",
    "ftp://hooks.example.com/customerdata",
    "http://hooks.example.com/customerdata",
    "javascript:alert(1)",
    "file:///etc/passwd",
    "https://user:pass@hooks.example.com/customerdata",
    "https://user@hooks.example.com/customerdata",
    "https:///customerdata",
    "https://hooks.example.com:99999/",
    "https://hooks.example.com/a b",
    "",
])
def test_bad_urls_are_400_on_url(client, alice, url):
    response = client.post(ENDPOINTS, json={"url": url, "events": ["*"]}, headers=alice.headers)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert list(body) == ["url"] and len(body["url"]) == 1 and isinstance(body["url"][0], str)
    assert endpoints_of(client, alice) == []


def test_url_over_2048_characters_names_the_limit(client, alice, register):
    base = "https://hooks.example.com/"
    register(url=base + "a" * (2048 - len(base)))
    response = client.post(ENDPOINTS, json={"url": base + "a" * (2049 - len(base)), "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"url": ["Ensure this field has no more than 2048 characters."]}


def test_url_with_credentials_is_refused_whatever_the_settings(allow_http, allow_private, client, alice):
    response = client.post(ENDPOINTS, json={"url": "http://admin:hunter2@10.0.0.5/", "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400
    assert list(response.get_json()) == ["url"]
    assert "hunter2" not in response.get_data(as_text=True)


def test_http_is_accepted_when_allowed(allow_http, client, alice, register):
    url = "http://hooks.example.com/customerdata"
    assert register(url=url)["url"] == url
    response = client.post(ENDPOINTS, json={"url": "ftp://hooks.example.com/", "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400 and list(response.get_json()) == ["url"]


def test_description_is_at_most_1000_characters(client, alice, register):
    assert register(description="d" * 1000)["description"] == "d" * 1000
    response = client.post(ENDPOINTS, json={"url": URL, "events": ["*"], "description": "d" * 1001},
                           headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"description": ["Ensure this field has no more than 1000 characters."]}


@pytest.mark.parametrize("body, expected", [
    ({"url": URL, "events": ["*"], "description": None}, {"description": ["This field may not be null."]}),
    ({"url": URL, "events": ["*"], "enabled": "maybe"}, {"enabled": ["Must be a valid boolean."]}),
    ({"url": None, "events": ["*"]}, {"url": ["This field may not be null."]}),
    ({"url": ["https://hooks.example.com/"], "events": ["*"]}, {"url": ["Not a valid string."]}),
    (["https://hooks.example.com/"], {"non_field_errors": ["Invalid data. Expected a JSON object."]}),
])
def test_other_bad_bodies(client, alice, body, expected):
    response = client.post(ENDPOINTS, json=body, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == expected


def test_malformed_json_and_other_media_types(client, alice):
    response = client.post(ENDPOINTS, data="{", content_type="application/json", headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json()["detail"].startswith("JSON parse error - ")
    response = client.post(ENDPOINTS, data=json.dumps({"url": URL, "events": ["*"]}),
                           content_type="text/plain", headers=alice.headers)
    assert response.status_code == 415
    assert response.get_json()["detail"].startswith('Unsupported media type "text/plain" in request')
    assert endpoints_of(client, alice) == []


# Never a door into the network behind the service (default settings: WEBHOOKS_ALLOW_PRIVATE false)

NOT_PUBLIC = [
    "https://169.254.169.254/latest/meta-data/",
    "https://127.0.0.1/",
    "https://localhost/",
    "https://LOCALHOST./",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[::127.0.0.1]/",  # IPv4-compatible (deprecated, ::/96): another spelling of 127.0.0.1
    "https://2130706433/",
    "https://0x7f.1/",
    "https://017700000001/",
    "https://0.0.0.0/",
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",
    "https://224.0.0.1/",
    "https://255.255.255.255/",
    "https://[fe80::1]/",
    "https://[2002:7f00:1::]/",
]


@pytest.mark.parametrize("url", NOT_PUBLIC)
def test_addresses_inside_the_network_are_refused(client, alice, url):
    response = client.post(ENDPOINTS, json={"url": url, "events": ["*"]}, headers=alice.headers)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert list(body) == ["url"] and len(body["url"]) == 1
    assert endpoints_of(client, alice) == []


@pytest.mark.parametrize("addresses", [
    ["10.0.0.7"],
    ["127.0.0.1"],
    ["169.254.169.254"],
    ["::1"],
    ["::ffff:10.0.0.7"],
    ["fd12:3456::1"],
    [PUBLIC_ADDRESS, "192.168.0.10"],  # one private address among public ones is enough
    ["2606:2800:220:1:248:1893:25c8:1946", "fe80::1%eth0"],
])
def test_a_name_resolving_to_a_private_address_is_refused(client, alice, dns, addresses):
    dns["internal.example.com"] = addresses
    response = client.post(ENDPOINTS, json={"url": "https://internal.example.com/hook", "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"url": ['The host "internal.example.com" is not a public address: '
                                           "webhooks are not sent into private networks."]}
    assert ("internal.example.com", 443) in dns.asked
    assert endpoints_of(client, alice) == []


@pytest.mark.parametrize("url, asked", [
    ("https://public.example.com/hook", ("public.example.com", 443)),
    ("https://public.example.com:8443/hook", ("public.example.com", 8443)),
])
def test_a_name_resolving_to_public_addresses_is_accepted(dns, register, url, asked):
    dns["public.example.com"] = [PUBLIC_ADDRESS, "2606:2800:220:1:248:1893:25c8:1946"]
    assert register(url=url)["url"] == url
    assert asked in dns.asked


def test_a_name_that_does_not_resolve_is_refused(client, alice, dns):
    dns["nowhere.example.com"] = []
    response = client.post(ENDPOINTS, json={"url": "https://nowhere.example.com/", "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"url": ['The host "nowhere.example.com" does not resolve.']}


@pytest.mark.parametrize("url", [
    "https://127.0.0.1:9/", "https://10.1.2.3/", "https://internal.example.com/"])
def test_private_destinations_are_accepted_when_allowed(allow_private, dns, register, url):
    dns["internal.example.com"] = ["10.0.0.7"]
    assert register(url=url)["url"] == url


def test_allowing_private_does_not_allow_http(allow_private, client, alice):
    response = client.post(ENDPOINTS, json={"url": "http://127.0.0.1:9/", "events": ["*"]},
                           headers=alice.headers)
    assert response.status_code == 400
    assert list(response.get_json()) == ["url"]


# At most 20 endpoints per user


def test_at_most_20_endpoints_per_user(client, alice, bob, register):
    made = [register(url=f"https://hooks.example.com/{n}") for n in range(20)]
    response = client.post(ENDPOINTS, json={"url": URL, "events": ["*"]}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == TOO_MANY
    assert len(endpoints_of(client, alice)) == 20
    register(user=bob)  # the limit is per user
    assert client.delete(item_url(made[0]["id"]), headers=alice.headers).status_code == 200
    register()
    assert len(endpoints_of(client, alice)) == 20


# Update


@pytest.mark.parametrize("method, change", [
    ("patch", {"url": "https://other.example.com/new"}),
    ("patch", {"events": ["customer.created", "customer.created"]}),
    ("put", {"events": ["*"]}),
    ("patch", {"description": "Loader"}),
    ("put", {"enabled": False}),
    ("put", {"url": "https://other.example.com/new", "events": ["entry.deleted"], "description": "",
             "enabled": False}),
    ("patch", {"url": "https://other.example.com/new", "events": ["entry.deleted"], "description": "",
               "enabled": False}),
])
def test_update_changes_only_what_is_given(client, alice, register, method, change):
    created = without_secret(register(url=URL, events=["entry.created"], description="Zapier"))
    response = getattr(client, method)(item_url(created["id"]), json=change, headers=alice.headers)
    assert response.status_code == 200, response.get_json()
    updated = response.get_json()
    expected = created | change
    if "events" in change:
        expected["events"] = list(dict.fromkeys(change["events"]))
    assert {k: v for k, v in updated.items() if k != "updated_at"} == {
        k: v for k, v in expected.items() if k != "updated_at"}
    assert parse_time(updated["updated_at"]) > parse_time(created["updated_at"])
    assert client.get(item_url(created["id"]), headers=alice.headers).get_json() == updated


UNCHANGING = [
    {},
    {"url": URL},
    {"events": ["entry.created"]},
    {"events": ["entry.created", "entry.created"]},
    {"description": "Zapier"},
    {"description": "  Zapier "},
    {"enabled": True},
    {"colour": "red"},
    {"url": URL, "events": ["entry.created"], "description": "Zapier", "enabled": True},
]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_that_changes_nothing_keeps_updated_at(client, alice, register, method):
    created = without_secret(register(url=URL, events=["entry.created"], description="Zapier"))
    for change in UNCHANGING:
        response = getattr(client, method)(item_url(created["id"]), json=change, headers=alice.headers)
        assert response.status_code == 200, (change, response.get_json())
        assert response.get_json() == created, change


def test_update_answers_no_secret(client, alice, endpoint):
    response = client.patch(item_url(endpoint["id"]), json={"description": "x"}, headers=alice.headers)
    assert response.status_code == 200
    assert "secret" not in response.get_json()
    assert endpoint["secret"] not in response.get_data(as_text=True)


def test_disable_then_enable_by_the_user(client, alice, endpoint):
    response = client.patch(item_url(endpoint["id"]), json={"enabled": False}, headers=alice.headers)
    assert response.status_code == 200
    assert (response.get_json()["enabled"], response.get_json()["disabled_reason"]) == (False, None)
    response = client.patch(item_url(endpoint["id"]), json={"enabled": True}, headers=alice.headers)
    assert response.status_code == 200
    assert (response.get_json()["enabled"], response.get_json()["disabled_reason"]) == (True, None)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_enabling_again_clears_why_it_was_disabled(app, client, alice, endpoint, method):
    with app.app_context():  # as the worker does on a 410
        service.disable(endpoint["id"], webhook_delivery.GONE, utcnow())
        service.db.session.commit()
    shown = client.get(item_url(endpoint["id"]), headers=alice.headers).get_json()
    assert (shown["enabled"], shown["disabled_reason"]) == (False, webhook_delivery.GONE)
    assert [e["disabled_reason"] for e in endpoints_of(client, alice)] == [webhook_delivery.GONE]
    response = getattr(client, method)(item_url(endpoint["id"]), json={"enabled": True},
                                       headers=alice.headers)
    assert response.status_code == 200
    assert (response.get_json()["enabled"], response.get_json()["disabled_reason"]) == (True, None)
    assert client.get(item_url(endpoint["id"]), headers=alice.headers).get_json() == response.get_json()


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/",
    "https://[::ffff:127.0.0.1]/",
    "https://internal.example.com/",
    "http://hooks.example.com/",
    "https://user:pass@hooks.example.com/",
])
def test_the_url_is_checked_again_on_update(client, alice, dns, endpoint, url):
    dns["internal.example.com"] = ["10.0.0.7"]
    before = client.get(item_url(endpoint["id"]), headers=alice.headers).get_json()
    response = client.patch(item_url(endpoint["id"]), json={"url": url, "description": "moved"},
                            headers=alice.headers)
    assert response.status_code == 400
    assert list(response.get_json()) == ["url"]
    assert client.get(item_url(endpoint["id"]), headers=alice.headers).get_json() == before


@pytest.mark.parametrize("change, expected", [
    ({"events": []}, {"events": ["This list may not be empty."]}),
    ({"events": ["entry.moved"]}, {"events": ['"entry.moved" is not a valid event kind.']}),
    ({"events": None}, {"events": ["This field may not be null."]}),
    ({"description": "d" * 1001}, {"description": ["Ensure this field has no more than 1000 characters."]}),
    ({"enabled": None}, {"enabled": ["This field may not be null."]}),
])
def test_bad_updates_are_400_and_change_nothing(client, alice, endpoint, change, expected):
    before = client.get(item_url(endpoint["id"]), headers=alice.headers).get_json()
    response = client.patch(item_url(endpoint["id"]), json=change, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == expected
    assert client.get(item_url(endpoint["id"]), headers=alice.headers).get_json() == before


# Rotate the secret


def test_rotate_secret_answers_a_new_secret_and_the_endpoint(client, alice, endpoint):
    response = client.post(f"{item_url(endpoint['id'])}rotate-secret/", headers=alice.headers)
    assert response.status_code == 200
    rotated = response.get_json()
    assert set(rotated) == ENDPOINT_FIELDS | {"secret"}
    assert SECRET.match(rotated["secret"]) and rotated["secret"] != endpoint["secret"]
    assert len(base64.b64decode(rotated["secret"].removeprefix("whsec_"))) == 32
    shown = client.get(item_url(endpoint["id"]), headers=alice.headers).get_json()
    assert "secret" not in shown
    assert without_secret(rotated) == shown
    assert {k: v for k, v in shown.items() if k != "updated_at"} == {
        k: v for k, v in without_secret(endpoint).items() if k != "updated_at"}

    again = client.post(f"{item_url(endpoint['id'])}rotate-secret/", headers=alice.headers).get_json()
    assert again["secret"] not in (endpoint["secret"], rotated["secret"])


# Delete


def test_delete_answers_the_id_and_drops_the_endpoint_and_its_deliveries(app, client, alice, register):
    kept = register(url="https://other.example.com/kept")["id"]  # another endpoint keeps its deliveries
    doomed = register()["id"]
    queue_test(client, alice, kept)
    queue_test(client, alice, doomed)
    write_entry(client, alice)
    assert len(listed(client, alice, doomed)) == 3  # the test, customer.created, entry.created

    response = client.delete(item_url(doomed), headers=alice.headers)
    assert response.status_code == 200
    assert response.get_json() == {"message": f"Webhook endpoint {doomed} deleted.", "deleted_id": doomed}

    assert client.get(item_url(doomed), headers=alice.headers).get_json() == ENDPOINT_NOT_FOUND
    assert listed(client, alice, doomed, expect=404) == ENDPOINT_NOT_FOUND
    assert [e["id"] for e in endpoints_of(client, alice)] == [kept]
    assert len(listed(client, alice, kept)) == 3
    with app.app_context():
        remaining = service.db.session.scalars(select(WebhookDelivery.endpoint_id)).all()
    assert remaining and set(remaining) == {kept}
    response = client.delete(item_url(doomed), headers=alice.headers)
    assert response.status_code == 404 and response.get_json() == ENDPOINT_NOT_FOUND


# Ownership and authentication

ROUTES = [
    ("get", "{endpoint}", None),
    ("put", "{endpoint}", {"description": "mine now"}),
    ("patch", "{endpoint}", {"enabled": False}),
    ("patch", "{endpoint}", {"events": []}),  # an invalid body too: not found first
    ("put", "{endpoint}", {"url": "https://127.0.0.1/"}),
    ("delete", "{endpoint}", None),
    ("post", "{endpoint}rotate-secret/", None),
    ("post", "{endpoint}test/", None),
    ("get", "{endpoint}deliveries/", None),
    ("post", "{endpoint}deliveries/{delivery}/redeliver/", None),
]


def route_url(template, endpoint_id, delivery_id):
    return template.format(endpoint=item_url(endpoint_id), delivery=delivery_id)


@pytest.mark.parametrize("method, template, body", ROUTES)
def test_another_users_endpoint_is_not_found(client, alice, bob, endpoint, method, template, body):
    register_bobs = client.post(ENDPOINTS, json={"url": URL, "events": ["*"]}, headers=bob.headers)
    assert register_bobs.status_code == 201  # bob has endpoints of his own: still not alice's
    delivery = queue_test(client, alice, endpoint["id"])
    before = client.get(item_url(endpoint["id"]), headers=alice.headers).get_json()
    deliveries_before = listed(client, alice, endpoint["id"])

    response = getattr(client, method)(route_url(template, endpoint["id"], delivery), json=body,
                                       headers=bob.headers)
    assert response.status_code == 404
    assert response.get_json() == ENDPOINT_NOT_FOUND

    assert client.get(item_url(endpoint["id"]), headers=alice.headers).get_json() == before
    assert listed(client, alice, endpoint["id"]) == deliveries_before


MISSING_IDS = [0, 999999, 2**31, 2**63, 10**30]


def test_a_missing_endpoint_is_not_found_on_every_route(client, alice, endpoint):
    wrong = []
    for method, template, body in ROUTES:
        for missing in MISSING_IDS:
            url = route_url(template, missing, 1)
            response = getattr(client, method)(url, json=body, headers=alice.headers)
            if (response.status_code, response.get_json()) != (404, ENDPOINT_NOT_FOUND):
                wrong.append((method, url, response.status_code, response.get_json()))
    assert wrong == []
    assert endpoints_of(client, alice) == [without_secret(endpoint)]


def test_a_bad_list_argument_answers_alike_for_a_missing_and_a_foreign_endpoint(client, alice, bob, endpoint):
    """The query may be checked before the endpoint is looked up, but a foreign id never answers
    differently from a missing one."""
    answers = {(response.status_code, json.dumps(response.get_json())) for response in (
        client.get(deliveries_url(endpoint_id), query_string={"status": "bogus"}, headers=bob.headers)
        for endpoint_id in (endpoint["id"], endpoint["id"] + 1000))}
    assert len(answers) == 1
    assert answers.pop()[0] in (400, 404)


def test_every_route_needs_a_valid_token(client, alice, endpoint):
    delivery = queue_test(client, alice, endpoint["id"])
    wrong = []
    routes = [("get", ENDPOINTS, None), ("post", ENDPOINTS, {"url": URL, "events": ["*"]}), *ROUTES]
    for method, template, body in routes:
        for headers in ({}, {"Authorization": "Bearer garbage"}, {"Authorization": alice.tokens["access"]},
                        alice.refresh_headers):
            response = getattr(client, method)(route_url(template, endpoint["id"], delivery), json=body,
                                               headers=headers)
            if (response.status_code != 401 or list(response.get_json()) != ["detail"]
                    or not response.headers.get("WWW-Authenticate", "").startswith("Bearer")):
                wrong.append((method, template, headers, response.status_code))
    assert wrong == []
    assert endpoints_of(client, alice) == [without_secret(endpoint)]
    assert [d["id"] for d in listed(client, alice, endpoint["id"])] == [delivery]


def test_method_not_allowed_and_slashless_paths(client, alice, endpoint):
    response = client.delete(ENDPOINTS, headers=alice.headers)
    assert response.status_code == 405
    assert response.get_json() == {"detail": 'Method "DELETE" not allowed.'}
    response = client.get(f"{item_url(endpoint['id'])}test/", headers=alice.headers)
    assert response.status_code == 405
    for path in (ENDPOINTS.rstrip("/"), item_url(endpoint["id"]).rstrip("/")):
        response = client.get(path, headers=alice.headers)
        assert response.status_code in (200, 308), (path, response.status_code)


# Test events, the delivery log, redelivery


def test_test_event_is_queued_as_a_pending_delivery(client, alice, register):
    created = register(events=["data_key.deleted"])  # a test is queued whatever `events` says
    response = client.post(f"{item_url(created['id'])}test/", headers=alice.headers)
    assert response.status_code == 202
    body = response.get_json()
    assert list(body) == ["delivery"]
    assert isinstance(body["delivery"], int) and not isinstance(body["delivery"], bool)

    [queued] = listed(client, alice, created["id"])
    assert set(queued) == DELIVERY_FIELDS
    assert queued["id"] == body["delivery"]
    assert (queued["type"], queued["status"], queued["attempts"]) == ("webhook.test", "pending", [])
    assert isinstance(queued["event_id"], str) and queued["event_id"]
    assert abs((parse_time(queued["next_attempt_at"]) - utcnow()).total_seconds()) < 60
    assert abs((parse_time(queued["created_at"]) - utcnow()).total_seconds()) < 60
    assert created["secret"] not in json.dumps(queued)


def test_each_test_is_a_new_event(client, alice, endpoint):
    first, second = queue_test(client, alice, endpoint["id"]), queue_test(client, alice, endpoint["id"])
    assert second != first
    listed_deliveries = listed(client, alice, endpoint["id"])
    assert [d["id"] for d in listed_deliveries] == [second, first]
    assert listed_deliveries[0]["event_id"] != listed_deliveries[1]["event_id"]


def test_a_test_event_for_a_disabled_endpoint_is_still_queued(client, alice, register):
    created = register(enabled=False)
    delivery = queue_test(client, alice, created["id"])
    assert [d["id"] for d in listed(client, alice, created["id"])] == [delivery]


@pytest.mark.parametrize("source", ["test", "change"])
def test_redeliver_queues_the_same_event_again(client, alice, endpoint, source):
    if source == "test":
        original = queue_test(client, alice, endpoint["id"])
    else:
        write_entry(client, alice)
        original = listed(client, alice, endpoint["id"], limit=1)[0]["id"]
    before = {d["id"]: d for d in listed(client, alice, endpoint["id"])}[original]

    response = client.post(redeliver_url(endpoint["id"], original), headers=alice.headers)
    assert response.status_code == 202
    body = response.get_json()
    assert list(body) == ["delivery"] and isinstance(body["delivery"], int)
    assert body["delivery"] != original

    newest = listed(client, alice, endpoint["id"])
    assert newest[0]["id"] == body["delivery"]
    again = newest[0]
    assert (again["event_id"], again["type"]) == (before["event_id"], before["type"])
    assert (again["status"], again["attempts"]) == ("pending", [])
    assert again["next_attempt_at"] is not None
    assert {d["id"]: d for d in newest}[original] == before  # the original is left as it was

    # redelivering the redelivery keeps the event id too
    third = client.post(redeliver_url(endpoint["id"], body["delivery"]), headers=alice.headers)
    assert third.status_code == 202
    assert listed(client, alice, endpoint["id"], limit=1)[0]["event_id"] == before["event_id"]


def test_redeliver_of_another_endpoints_or_a_missing_delivery_is_not_found(client, alice, bob, register):
    mine = register()["id"]
    other = register(url="https://other.example.com/")["id"]
    bobs = register(user=bob)["id"]
    other_delivery = queue_test(client, alice, other)
    bobs_delivery = queue_test(client, bob, bobs)
    own = queue_test(client, alice, mine)
    for delivery_id in (other_delivery, bobs_delivery, own + 1000, 0, 2**63, 10**30):
        response = client.post(redeliver_url(mine, delivery_id), headers=alice.headers)
        assert response.status_code == 404, delivery_id
        assert response.get_json() == DELIVERY_NOT_FOUND
    # bob cannot redeliver his own delivery through alice's endpoint either
    response = client.post(redeliver_url(mine, bobs_delivery), headers=bob.headers)
    assert response.status_code == 404 and response.get_json() == ENDPOINT_NOT_FOUND
    assert [d["id"] for d in listed(client, alice, mine)] == [own]
    assert [d["id"] for d in listed(client, alice, other)] == [other_delivery]
    assert [d["id"] for d in listed(client, bob, bobs)] == [bobs_delivery]


def set_status(app, delivery_id, status):
    """As the worker leaves a delivery: delivered or failed, with no next attempt."""
    with app.app_context():
        service.db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
            status=status, next_attempt_at=None, finished_at=utcnow()))
        service.db.session.commit()


@pytest.fixture
def five(client, alice, endpoint):
    """Five test deliveries of `endpoint`, oldest first."""
    return [queue_test(client, alice, endpoint["id"]) for _ in range(5)]


def test_deliveries_are_newest_first(client, alice, endpoint, five):
    response = client.get(deliveries_url(endpoint["id"]), headers=alice.headers)
    assert response.status_code == 200
    assert [d["id"] for d in response.get_json()] == five[::-1]
    assert "X-Total-Count" not in response.headers and "Link" not in response.headers


@pytest.mark.parametrize("status, expected", [
    ("pending", [4, 2, 0]),
    ("delivered", [3, 1]),
    ("failed", []),
])
def test_deliveries_filter_by_status(app, client, alice, endpoint, five, status, expected):
    set_status(app, five[1], "delivered")
    set_status(app, five[3], "delivered")
    found = listed(client, alice, endpoint["id"], status=status)
    assert [d["id"] for d in found] == [five[n] for n in expected]
    assert all(d["status"] == status for d in found)


def test_failed_deliveries_are_listed_as_failed(app, client, alice, endpoint, five):
    set_status(app, five[2], "failed")
    [failed] = listed(client, alice, endpoint["id"], status="failed")
    assert (failed["id"], failed["status"], failed["next_attempt_at"]) == (five[2], "failed", None)


@pytest.mark.parametrize("query, field", [
    ({"status": "bogus"}, "status"),
    ({"status": "PENDING"}, "status"),
    ({"status": ""}, "status"),
    ({"limit": 0}, "limit"),
    ({"limit": 1001}, "limit"),
    ({"limit": "x"}, "limit"),
    ({"offset": -1}, "offset"),
])
def test_bad_list_arguments_are_400(client, alice, endpoint, query, field):
    response = client.get(deliveries_url(endpoint["id"]), query_string=query, headers=alice.headers)
    assert response.status_code == 400
    body = response.get_json()
    assert list(body) == [field] and len(body[field]) == 1


def test_a_bad_status_names_the_choice(client, alice, endpoint):
    response = client.get(deliveries_url(endpoint["id"]), query_string={"status": "bogus"},
                          headers=alice.headers)
    assert response.get_json() == {"status": ['"bogus" is not a valid choice.']}


def links(response):
    found = {}
    for part in response.headers.get("Link", "").split(","):
        match = re.match(r'\s*<([^>]+)>;\s*rel="(\w+)"', part)
        if match:
            found[match.group(2)] = match.group(1)
    return found


@pytest.mark.parametrize("query, expected, rels", [
    ({"limit": 2}, [4, 3], {"next"}),
    ({"limit": 2, "offset": 2}, [2, 1], {"next", "prev"}),
    ({"limit": 2, "offset": 4}, [0], {"prev"}),
    ({"offset": 3}, [1, 0], {"prev"}),
    ({"limit": 10}, [4, 3, 2, 1, 0], set()),
    ({"limit": 2, "offset": 10}, [], {"prev"}),
])
def test_deliveries_page_like_other_lists(client, alice, endpoint, five, query, expected, rels):
    response = client.get(deliveries_url(endpoint["id"]), query_string=query, headers=alice.headers)
    assert response.status_code == 200
    assert [d["id"] for d in response.get_json()] == [five[n] for n in expected]
    assert response.headers["X-Total-Count"] == "5"
    found = links(response)
    assert set(found) == rels
    for rel, link in found.items():
        page = client.get(link, headers=alice.headers)
        assert page.status_code == 200, (rel, link)


def test_paging_counts_only_the_filtered_deliveries(app, client, alice, endpoint, five):
    set_status(app, five[0], "delivered")
    response = client.get(deliveries_url(endpoint["id"]), query_string={"status": "pending", "limit": 2},
                          headers=alice.headers)
    assert [d["id"] for d in response.get_json()] == [five[4], five[3]]
    assert response.headers["X-Total-Count"] == "4"
    assert "status=pending" in links(response)["next"]


# What a write leaves in the outbox


def test_a_subscribed_write_makes_one_pending_delivery(client, alice, register):
    created = register(events=["entry.created"])
    write_entry(client, alice)  # customer.created, then entry.created
    [queued] = listed(client, alice, created["id"])
    assert set(queued) == DELIVERY_FIELDS
    assert (queued["type"], queued["status"], queued["attempts"]) == ("entry.created", "pending", [])
    assert isinstance(queued["event_id"], str) and queued["event_id"]
    assert queued["next_attempt_at"] is not None


def test_every_kind_makes_one_delivery_each(client, alice, endpoint):
    customer = write_entry(client, alice)
    entry = client.get(ENTRIES, headers=alice.headers).get_json()[0]["id"]
    response = client.patch(f"{ENTRIES}{entry}/", json={"value": "1991-02-02"}, headers=alice.headers)
    assert response.status_code == 200
    assert client.delete(f"{ENTRIES}{entry}/", headers=alice.headers).status_code == 200
    response = client.patch(f"{CUSTOMERS}{customer}/", json={"last_name": "Lee"}, headers=alice.headers)
    assert response.status_code == 200
    types = [d["type"] for d in listed(client, alice, endpoint["id"])]
    assert types == [
        "customer.updated", "entry.deleted", "entry.updated", "entry.created", "customer.created"]
    assert len({d["event_id"] for d in listed(client, alice, endpoint["id"])}) == 5


@pytest.mark.parametrize("subscription", [
    {"events": ["entry.created"], "enabled": False},
    {"events": ["entry.updated", "entry.deleted", "customer.deleted"]},
    {"events": ["data_key.created"]},
])
def test_a_write_the_endpoint_does_not_take_makes_none(client, alice, register, subscription):
    created = register(**subscription)
    write_entry(client, alice)
    assert listed(client, alice, created["id"]) == []


def test_changes_while_disabled_are_not_delivered_later(client, alice, register):
    created = register(events=["entry.created"])
    customer = write_entry(client, alice, key="first")
    response = client.patch(item_url(created["id"]), json={"enabled": False}, headers=alice.headers)
    assert response.status_code == 200
    write_entry(client, alice, key="second", customer=customer)
    assert len(listed(client, alice, created["id"])) == 1
    response = client.patch(item_url(created["id"]), json={"enabled": True}, headers=alice.headers)
    assert response.status_code == 200
    assert len(listed(client, alice, created["id"])) == 1
    write_entry(client, alice, key="third", customer=customer)
    assert [d["type"] for d in listed(client, alice, created["id"])] == ["entry.created", "entry.created"]


def test_an_unsubscribing_update_stops_new_deliveries(client, alice, register):
    created = register(events=["entry.created"])
    customer = write_entry(client, alice, key="first")
    assert client.patch(item_url(created["id"]), json={"events": ["entry.deleted"]},
                        headers=alice.headers).status_code == 200
    write_entry(client, alice, key="second", customer=customer)
    assert len(listed(client, alice, created["id"])) == 1


def test_one_change_is_one_event_for_every_endpoint(client, alice, register):
    first = register(events=["entry.created"])["id"]
    second = register(url="https://other.example.com/", events=["*"])["id"]
    write_entry(client, alice)
    [to_first] = listed(client, alice, first)
    to_second = listed(client, alice, second)
    assert [d["type"] for d in to_second] == ["entry.created", "customer.created"]
    assert to_first["id"] != to_second[0]["id"]
    assert to_first["event_id"] == to_second[0]["event_id"]


def test_another_users_writes_never_reach_alices_endpoints(client, alice, bob, register):
    alices = register()["id"]
    bobs = register(user=bob)["id"]
    write_entry(client, bob)
    assert listed(client, alice, alices) == []
    assert [d["type"] for d in listed(client, bob, bobs)] == ["entry.created", "customer.created"]
    write_entry(client, alice)
    assert [d["type"] for d in listed(client, alice, alices)] == ["entry.created", "customer.created"]
    assert len(listed(client, bob, bobs)) == 2


def test_deleting_a_customer_drops_its_deliveries_but_announces_the_deletion(client, alice, endpoint):
    customer = write_entry(client, alice)
    write_entry(client, alice, key="kept")  # another customer's deliveries stay
    assert client.delete(f"{CUSTOMERS}{customer}/", headers=alice.headers).status_code == 200
    assert [d["type"] for d in listed(client, alice, endpoint["id"])] == [
        "customer.deleted", "entry.created", "customer.created"]


def test_deleting_the_endpoint_drops_the_outbox_rows_in_the_database(app, client, alice, endpoint):
    write_entry(client, alice)
    with app.app_context():
        count = service.db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint["id"]))
    assert count == 2
    assert client.delete(item_url(endpoint["id"]), headers=alice.headers).status_code == 200
    with app.app_context():
        assert service.db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
        assert service.db.session.get(WebhookEndpoint, endpoint["id"]) is None


# The API description


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


WEBHOOK_ROUTES = {
    ("/api/webhooks/endpoints/", "get"),
    ("/api/webhooks/endpoints/", "post"),
    ("/api/webhooks/endpoints/{endpoint_id}/", "get"),
    ("/api/webhooks/endpoints/{endpoint_id}/", "put"),
    ("/api/webhooks/endpoints/{endpoint_id}/", "patch"),
    ("/api/webhooks/endpoints/{endpoint_id}/", "delete"),
    ("/api/webhooks/endpoints/{endpoint_id}/rotate-secret/", "post"),
    ("/api/webhooks/endpoints/{endpoint_id}/test/", "post"),
    ("/api/webhooks/endpoints/{endpoint_id}/deliveries/", "get"),
    ("/api/webhooks/endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver/", "post"),
}


def test_openapi_describes_every_webhooks_route(document):
    described = {(path, method) for path, item in document["paths"].items()
                 if path.startswith("/api/webhooks/")
                 for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert described == WEBHOOK_ROUTES
    assert "201" in document["paths"]["/api/webhooks/endpoints/"]["post"]["responses"]
    assert "202" in document["paths"]["/api/webhooks/endpoints/{endpoint_id}/test/"]["post"]["responses"]


def validator(document, component):
    schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
    draft = jsonschema.Draft202012Validator
    return draft(schema, format_checker=draft.FORMAT_CHECKER)


def test_openapi_webhooks_section_has_the_event_body(document):
    assert set(document["webhooks"]) == {*CHANGE_KINDS, "webhook.test"}
    for name, item in document["webhooks"].items():
        body = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/Event"}, name
    event = document["components"]["schemas"]["Event"]
    assert set(event["properties"]) == {"type", "timestamp", "data"}
    check = validator(document, "Event")
    assert not check.is_valid({"type": "entry.created", "timestamp": "2026-01-01T00:00:00Z"})
    assert not check.is_valid({"type": "entry.exploded", "timestamp": "2026-01-01T00:00:00Z",
                               "data": {"change": None}})


def test_real_delivery_bodies_fit_the_described_event(app, client, alice, endpoint, document):
    write_entry(client, alice, value="v" * 9000)  # a long value is left out of the body
    queue_test(client, alice, endpoint["id"])
    check = validator(document, "Event")
    with app.app_context():
        deliveries = service.db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
        bodies = [json.loads(webhook_delivery._body(d)) for d in deliveries]
    assert [b["type"] for b in bodies] == ["customer.created", "entry.created", "webhook.test"]
    for body in bodies:
        errors = [error.message for error in check.iter_errors(body)]
        assert errors == [], (body["type"], errors)
    assert bodies[2]["data"] == {"change": None}
    assert bodies[1]["data"]["change"]["value_omitted"] is True


def test_the_described_answers_fit_the_real_ones(client, alice, endpoint, document):
    write_entry(client, alice)
    paths = document["paths"]
    delivery_list = paths["/api/webhooks/endpoints/{endpoint_id}/deliveries/"]["get"]["responses"]["200"]
    created = paths["/api/webhooks/endpoints/"]["post"]["responses"]["201"]
    for answer, real in ((delivery_list, listed(client, alice, endpoint["id"])), (created, endpoint)):
        schema = answer["content"]["application/json"]["schema"]
        check = jsonschema.Draft202012Validator({**schema, "components": document["components"]})
        assert [error.message for error in check.iter_errors(real)] == []


# Secrets stay out of the logs


def test_secrets_never_appear_in_log_lines(client, alice, caplog):
    from customerdata.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="customerdata")
    response = client.post(ENDPOINTS, json={"url": URL, "events": ["*"]}, headers=alice.headers)
    assert response.status_code == 201
    created = response.get_json()
    rotated = client.post(f"{item_url(created['id'])}rotate-secret/", headers=alice.headers).get_json()
    queue_test(client, alice, created["id"])
    secrets_given = [created["secret"], rotated["secret"]]
    # the key without its prefix, too
    secrets_given += [secret.removeprefix("whsec_") for secret in secrets_given]
    assert caplog.records, "nothing was logged: this test would prove nothing"
    formatter = JsonFormatter()
    for record in caplog.records:
        line = formatter.format(record) + " " + record.getMessage() + " " + repr(record.__dict__)
        for secret in secrets_given:
            assert secret not in line, record.name
