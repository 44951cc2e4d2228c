"""GET /api/message/changes/ (shared/spec/changes.md "The changes feed", notes/changes-decisions.md), through
HTTP: data snapshots, following the Link, filters, `after=latest`, cursors, ownership, retention with
`flask changes purge` and erasure gaps. (The PostgreSQL out-of-order commit test lives with the
implementation.)"""
import io
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from feed_visibility import settle

from customerdata.extensions import db

FEED = "/api/message/changes/"
CUSTOMERS = "/api/message/customers/"
ENTRIES = "/api/message/customer-data/"
KEYS = "/api/message/data-keys/"
FEED_FIELDS = ["id", "kind", "at", "source", "request_id", "customer", "entry", "data_key", "changes", "data"]
GONE = {"detail": "Changes after this point are no longer kept; reload the lists and follow the feed from "
                  "the newest change."}
INVALID_CURSOR = {"after": ["Invalid cursor."]}
LIMIT_RANGE = {"limit": ["Ensure this value is between 1 and 1000."]}
NEXT_LINK = re.compile(r'^<(http://localhost/api/message/changes/\?[^>]+)>; rel="next"$')


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def feed(client, user, **params):
    settle(client)
    return client.get(FEED, headers=user.headers, query_string=params)


def next_link(response):
    match = NEXT_LINK.match(response.headers.get("Link", ""))
    assert match, response.headers.get("Link")
    return match.group(1)


def query_of(url):
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def follow(client, user, url):
    settle(client)
    return client.get(url, headers=user.headers)


def drain(client, user, response, limit=None):
    """Follow the Link from `response` until an empty page; returns (every change seen, the last response)."""
    seen = []
    while True:
        page = ok(response)
        if limit is not None:
            assert len(page) <= limit
        seen += page
        if not page:
            return seen, response
        response = follow(client, user, next_link(response))


def without_file_url(entry):
    assert "file_url" in entry
    return {k: v for k, v in entry.items() if k != "file_url"}


def make_customer(client, user, **fields):
    response = client.post(CUSTOMERS, headers=user.headers, json=fields or {"first_name": "Ann"})
    return ok(response, 201)


def make_entry(client, user, customer_id, key, value="x"):
    response = client.post(ENTRIES, headers=user.headers,
                           json={"customer": customer_id, "key": key, "value": value})
    return ok(response, 201)


def age(app, change_ids, days):
    """Move the changes' `at` back by `days` days."""
    from customerdata.models import Change

    with app.app_context():
        db.session.execute(db.update(Change).where(Change.id.in_(change_ids)).values(
            at=datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)))
        db.session.commit()


def purge(runner):
    """`flask changes purge`; returns the numbers it printed (it prints how many it removed)."""
    result = runner.invoke(args=["changes", "purge"])
    assert result.exit_code == 0, (result.output, result.exception)
    return [int(n) for n in re.findall(r"\d+", result.output)]


# data and order

def test_from_the_oldest_each_change_with_its_data(client, alice):
    expected = []  # (kind, data)
    created = make_customer(client, alice, first_name="John", last_name="Doe")
    expected.append(("customer.created", created))
    entry = make_entry(client, alice, created["id"], "plan", "free")
    expected.append(("entry.created", without_file_url(entry)))
    updated = ok(client.patch(f"{ENTRIES}{entry['id']}/", headers=alice.headers, json={"value": "pro"}))
    expected.append(("entry.updated", without_file_url(updated)))
    renamed = ok(client.patch(f"{CUSTOMERS}{created['id']}/", headers=alice.headers,
                              json={"first_name": "Jo"}))
    expected.append(("customer.updated", renamed))
    with_file = ok(client.post(ENTRIES, headers=alice.headers, data={
        "customer": str(created["id"]), "key": "contract", "file": (io.BytesIO(b"bytes"), "c.pdf")}), 201)
    assert with_file["file_url"] is not None
    expected.append(("entry.created", without_file_url(with_file)))
    definition = ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    expected.append(("data_key.created", definition))
    changed = ok(client.patch(f"{KEYS}{definition['id']}/", headers=alice.headers, json={"label": "Age"}))
    expected.append(("data_key.updated", changed))
    ok(client.delete(f"{ENTRIES}{entry['id']}/", headers=alice.headers))
    expected.append(("entry.deleted", None))
    ok(client.delete(f"{KEYS}{definition['id']}/", headers=alice.headers))
    expected.append(("data_key.deleted", None))

    found = ok(feed(client, alice))
    assert all(list(c) == FEED_FIELDS for c in found)
    assert [(c["kind"], c["data"]) for c in found] == expected
    assert [c["id"] for c in found] == sorted(c["id"] for c in found)
    assert len({c["id"] for c in found}) == len(found)
    # the data is the answer right after the change, not the resource as it is now
    assert found[1]["data"]["customer_name"] == "John Doe | unknown"
    assert found[1]["data"]["value"] == "free"


@pytest.mark.parametrize("names", [{"first_name": "Ann", "last_name": "Lee", "username": "ann", "source": "telegram"},
                                   {"username": "solo"}, {"last_name": "Only"}, {"email": "x@example.com"}],
                         ids=["all", "username", "last name", "none"])
def test_a_created_entrys_change_carries_its_answer_whatever_the_customers_names(client, alice, names):
    """A create's change is made before its transaction, from the customer's names read first."""
    customer = ok(client.post(CUSTOMERS, headers=alice.headers, json=names), 201)
    created = client.post(ENTRIES, headers=alice.headers, json={"customer": customer["id"], "key": "k", "value": "v"})
    [change] = ok(feed(client, alice, kind="entry.created", customer=customer["id"]))
    assert change["data"] == without_file_url(ok(created, 201))


def test_values_rewritten_by_a_definition_carry_the_rewritten_entry(client, alice, customer):
    entry = make_entry(client, alice, customer, "vip", "YES")
    ok(client.post(KEYS, headers=alice.headers, json={"key": "vip", "type": "boolean"}), 201)
    [rewritten] = ok(feed(client, alice, kind="entry.updated"))
    now = ok(client.get(f"{ENTRIES}{entry['id']}/", headers=alice.headers))
    assert (rewritten["source"], rewritten["entry"]) == ("definition", entry["id"])
    assert rewritten["data"] == without_file_url(now)
    assert rewritten["data"]["value"] == "true"


# following the Link

@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_following_the_link_sees_every_change_once_in_order(client, alice, customer, limit):
    for n in range(6):
        make_entry(client, alice, customer, f"k{n}")
    everything = ok(feed(client, alice, limit=1000))
    assert len(everything) == 7
    seen, last = drain(client, alice, feed(client, alice, limit=limit), limit)
    assert seen == everything
    # the empty page links to the same place, where the next change appears
    link = next_link(last)
    again = follow(client, alice, link)
    assert ok(again) == [] and query_of(next_link(again)) == query_of(link)
    later = make_entry(client, alice, customer, "later")
    [new] = ok(follow(client, alice, link))
    assert (new["kind"], new["entry"]) == ("entry.created", later["id"])


def test_the_link_is_always_there_and_keeps_the_limit(client, alice, customer):
    response = feed(client, alice)
    assert len(ok(response)) == 1
    query = query_of(next_link(response))
    assert set(query) == {"after", "limit"} and query["limit"] == "100" and query["after"]
    response = feed(client, alice, limit=7)
    assert query_of(next_link(response))["limit"] == "7"


def test_an_empty_feed_has_a_link_too(client, alice):
    response = feed(client, alice, limit=5)
    assert ok(response) == []
    link = next_link(response)
    assert query_of(link)["limit"] == "5"
    customer = make_customer(client, alice)
    [created] = ok(follow(client, alice, link))
    assert (created["kind"], created["customer"]) == ("customer.created", customer["id"])


@pytest.mark.parametrize("limit", [0, 1001, -1])
def test_limit_out_of_range_is_400(client, alice, limit):
    response = feed(client, alice, limit=limit)
    assert response.status_code == 400
    assert response.get_json() == LIMIT_RANGE


def test_limit_not_an_integer_is_400(client, alice):
    response = feed(client, alice, limit="x")
    assert response.status_code == 400 and list(response.get_json()) == ["limit"]


def test_limits_1_and_1000_are_allowed(client, alice, customer):
    make_entry(client, alice, customer, "k")
    assert len(ok(feed(client, alice, limit=1))) == 1
    assert len(ok(feed(client, alice, limit=1000))) == 2


# filters

@pytest.fixture
def two_customers(client, alice):
    first = make_customer(client, alice, first_name="One")
    second = make_customer(client, alice, first_name="Two")
    for customer in (first, second):
        entry = make_entry(client, alice, customer["id"], "plan", "free")
        ok(client.patch(f"{ENTRIES}{entry['id']}/", headers=alice.headers, json={"value": "pro"}))
    ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    return first["id"], second["id"]


def test_kind_filters_and_is_kept_in_the_link(client, alice, two_customers):
    first, second = two_customers
    response = feed(client, alice, kind="entry.updated", limit=1)
    found, last = drain(client, alice, response, 1)
    assert [(c["kind"], c["customer"]) for c in found] == [("entry.updated", first),
                                                           ("entry.updated", second)]
    link = next_link(last)
    assert query_of(link)["kind"] == "entry.updated"
    entry = make_entry(client, alice, first, "new")
    ok(client.patch(f"{ENTRIES}{entry['id']}/", headers=alice.headers, json={"value": "y"}))
    found = ok(follow(client, alice, link))
    assert [(c["kind"], c["entry"]) for c in found] == [("entry.updated", entry["id"])]


def test_customer_filters_and_is_kept_in_the_link(client, alice, two_customers):
    first, second = two_customers
    response = feed(client, alice, customer=second, limit=2)
    found, last = drain(client, alice, response, 2)
    assert [c["kind"] for c in found] == ["customer.created", "entry.created", "entry.updated"]
    assert {c["customer"] for c in found} == {second}
    link = next_link(last)
    assert query_of(link)["customer"] == str(second)
    make_entry(client, alice, first, "other")
    ok(client.patch(f"{CUSTOMERS}{second}/", headers=alice.headers, json={"last_name": "Roe"}))
    assert [c["kind"] for c in ok(follow(client, alice, link))] == ["customer.updated"]


def test_kind_and_customer_together(client, alice, two_customers):
    first, _ = two_customers
    response = feed(client, alice, customer=first, kind="entry.created")
    assert [(c["kind"], c["customer"]) for c in ok(response)] == [("entry.created", first)]
    query = query_of(next_link(response))
    assert (query["customer"], query["kind"], query["limit"]) == (str(first), "entry.created", "100")


@pytest.mark.parametrize("kind", ["x", "entry", "ENTRY.CREATED"])
def test_an_unknown_kind_is_400(client, alice, kind):
    response = feed(client, alice, kind=kind)
    assert response.status_code == 400
    assert response.get_json() == {"kind": [f'"{kind}" is not a valid choice.']}


def test_customer_must_be_an_integer(client, alice):
    response = feed(client, alice, customer="abc")
    assert response.status_code == 400
    assert response.get_json() == {"customer": ["A valid integer is required."]}


def test_a_missing_customer_filters_to_nothing(client, alice, customer):
    assert ok(feed(client, alice, customer=999999)) == []


# after=latest and cursors

def test_after_latest_is_empty_with_a_link_at_the_head(client, alice, customer):
    make_entry(client, alice, customer, "a")
    response = feed(client, alice, after="latest", limit=10)
    assert ok(response) == []
    link = next_link(response)
    assert query_of(link)["limit"] == "10" and query_of(link)["after"] != "latest"
    assert ok(follow(client, alice, link)) == []
    entry = make_entry(client, alice, customer, "b")
    found = ok(follow(client, alice, link))
    assert [(c["kind"], c["entry"]) for c in found] == [("entry.created", entry["id"])]


def test_after_latest_on_an_empty_feed(client, alice):
    response = feed(client, alice, after="latest")
    assert ok(response) == []
    customer = make_customer(client, alice)
    assert [c["customer"] for c in ok(follow(client, alice, next_link(response)))] == [customer["id"]]


def test_after_latest_keeps_the_filters(client, alice, customer):
    response = feed(client, alice, after="latest", kind="entry.created", customer=customer)
    assert ok(response) == []
    query = query_of(next_link(response))
    assert (query["kind"], query["customer"]) == ("entry.created", str(customer))


@pytest.mark.parametrize("cursor", ["nonsense!", "~~~", "1.2.3!", "latest2", "\u00e9t\u00e9"])
def test_a_malformed_cursor_is_400(client, alice, customer, cursor):
    response = feed(client, alice, after=cursor)
    assert response.status_code == 400
    assert response.get_json() == INVALID_CURSOR


# ownership

def test_bob_never_sees_alices_changes(client, alice, bob, customer):
    make_entry(client, alice, customer, "a")
    bobs = make_customer(client, bob, first_name="Bob's")
    response = feed(client, bob)
    assert [(c["kind"], c["customer"]) for c in ok(response)] == [("customer.created", bobs["id"])]
    link = next_link(response)
    make_entry(client, alice, customer, "b")
    ok(client.patch(f"{CUSTOMERS}{customer}/", headers=alice.headers, json={"last_name": "Doe"}))
    ok(client.post(KEYS, headers=alice.headers, json={"key": "age", "type": "integer"}), 201)
    assert ok(follow(client, bob, link)) == []
    assert ok(feed(client, bob, customer=customer)) == []
    assert ok(feed(client, bob, kind="data_key.created")) == []
    assert {c["customer"] for c in ok(feed(client, alice)) if c["customer"]} == {customer}


def test_bob_cannot_follow_alices_link_into_her_changes(client, alice, bob, customer):
    link = next_link(feed(client, alice, after="latest"))
    make_entry(client, alice, customer, "a")
    response = follow(client, bob, link)
    assert response.status_code in (200, 400, 410)
    if response.status_code == 200:
        assert ok(response) == []


def test_the_feed_needs_a_token(client):
    assert client.get(FEED).status_code == 401


# retention

@pytest.fixture
def one_day(app_config):
    app_config["CHANGES_RETENTION_DAYS"] = 1
    return app_config


def test_a_cursor_from_before_the_purge_point_is_gone(one_day, app, client, alice, bob, customer, runner):
    for n in range(3):
        make_entry(client, alice, customer, f"k{n}")
    everything = ok(feed(client, alice))
    assert len(everything) == 4
    after_first = next_link(feed(client, alice, limit=1))
    after_third = next_link(feed(client, alice, limit=3))
    bobs = make_customer(client, bob)
    bobs_start = next_link(feed(client, bob, after="latest"))
    make_entry(client, bob, bobs["id"], "b")
    age(app, [c["id"] for c in everything[:3]], days=2)

    assert 3 in purge(runner)

    response = follow(client, alice, after_first)
    assert response.status_code == 410
    assert response.get_json() == GONE
    # a cursor at the purge point misses nothing
    assert [c["id"] for c in ok(follow(client, alice, after_third))] == [everything[3]["id"]]
    # a fresh follow starts from the oldest change kept
    fresh = feed(client, alice)
    assert [c["id"] for c in ok(fresh)] == [everything[3]["id"]]
    later = make_entry(client, alice, customer, "later")
    assert [c["entry"] for c in ok(follow(client, alice, next_link(fresh)))] == [later["id"]]
    latest = next_link(feed(client, alice, after="latest"))
    assert ok(follow(client, alice, latest)) == []
    # history forgets the purged changes too
    assert len(ok(client.get(f"{CUSTOMERS}{customer}/history/", headers=alice.headers))) == 2
    # bob's changes were not old: his cursor still works
    assert [c["kind"] for c in ok(follow(client, bob, bobs_start))] == ["entry.created"]


def test_purging_again_keeps_the_point(one_day, app, client, alice, customer, runner):
    make_entry(client, alice, customer, "a")
    make_entry(client, alice, customer, "b")
    everything = ok(feed(client, alice))
    early = next_link(feed(client, alice, limit=1))
    age(app, [c["id"] for c in everything[:2]], days=2)
    assert 2 in purge(runner)
    assert 0 in purge(runner)
    response = follow(client, alice, early)
    assert response.status_code == 410 and response.get_json() == GONE


def test_the_default_retention_is_365_days(app, client, alice, customer, runner):
    make_entry(client, alice, customer, "a")
    make_entry(client, alice, customer, "b")
    everything = ok(feed(client, alice))
    age(app, [everything[0]["id"]], days=366)
    age(app, [everything[1]["id"]], days=364)
    assert 1 in purge(runner)
    assert [c["id"] for c in ok(feed(client, alice))] == [c["id"] for c in everything[1:]]


@pytest.fixture
def forever(app_config):
    app_config["CHANGES_RETENTION_DAYS"] = 0
    return app_config


def test_retention_0_keeps_changes_forever(forever, app, client, alice, customer, runner):
    make_entry(client, alice, customer, "a")
    everything = ok(feed(client, alice))
    early = next_link(feed(client, alice, limit=1))
    age(app, [c["id"] for c in everything], days=5000)
    purge(runner)
    ids = [c["id"] for c in everything]
    assert [c["id"] for c in ok(feed(client, alice))] == ids
    assert [c["id"] for c in ok(follow(client, alice, early))] == ids[1:]


def test_erasure_gaps_never_cause_a_410(one_day, app, client, alice, customer, runner):
    kept = make_customer(client, alice, first_name="Kept")
    entry = make_entry(client, alice, customer, "a")
    ok(client.patch(f"{ENTRIES}{entry['id']}/", headers=alice.headers, json={"value": "b"}))
    make_entry(client, alice, kept["id"], "k")
    # cursors in the middle of the erased customer's changes, and after its last one
    before_erasure = [next_link(feed(client, alice, limit=n)) for n in (1, 2, 3, 4, 5)]
    ok(client.delete(f"{CUSTOMERS}{customer}/", headers=alice.headers))
    for link in before_erasure:
        response = follow(client, alice, link)
        assert response.status_code == 200, (link, response.get_json())
        seen, _ = drain(client, alice, response)
        assert seen[-1]["kind"] == "customer.deleted"
    # and after a purge of old changes of another customer, a cursor past the purge point still works
    kept_changes = ok(feed(client, alice, customer=kept["id"]))
    age(app, [kept_changes[0]["id"]], days=2)
    purge(runner)
    seen, _ = drain(client, alice, follow(client, alice, before_erasure[-1]))
    assert [c["kind"] for c in seen] == ["customer.deleted"]
