"""Keyset paging of the entry lists: the Link header's next URL carries a cursor (the last row's
place in the newest-first order), and the page it asks for starts right after that row."""
from base64 import urlsafe_b64encode
from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from customerdata.extensions import db
from customerdata.models import CustomerData

ENTRIES = "/api/message/customer-data/"
INVALID = {"cursor": ['Invalid cursor: use the URL of the Link header\'s rel="next".']}


@pytest.fixture
def entries(app, client, alice, customer):
    """Seven entries, k0 oldest; k2, k3 and k4 created at the same instant (ties go by id)."""
    ids = []
    for number in range(7):
        response = client.post(ENTRIES, json={"customer": customer, "key": f"k{number}", "value": f"note {number}"},
                               headers=alice.headers)
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    with app.app_context():
        db.session.execute(update(CustomerData).where(CustomerData.id.in_(ids[2:5]))
                           .values(created_at=datetime(2026, 1, 1, 12, 0, 0, 123456)))
        db.session.commit()
    return ids


def links(response):
    found = {}
    for part in response.headers.get("Link", "").split(", "):
        if part:
            url, rel = part.split("; ")
            found[rel.removeprefix('rel="').removesuffix('"')] = url[1:-1].removeprefix("http://localhost")
    return found


def follow(client, headers, url):
    """Every page from `url` on through rel="next": (keys of each page, X-Total-Count of each, next URLs)."""
    pages, totals, nexts = [], [], []
    while url:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.get_json()
        pages.append([entry["key"] for entry in response.get_json()])
        totals.append(response.headers["X-Total-Count"])
        url = links(response).get("next")
        nexts.append(url)
    return pages, totals, nexts[:-1]


@pytest.mark.parametrize("listed", [
    ENTRIES + "?limit=2",
    ENTRIES + "?limit=2&customer={customer}",
    "/api/message/customer/{customer}/data/?limit=2",
    ENTRIES + "?limit=2&search=note",
    ENTRIES + "?limit=3&offset=1",
])
def test_following_next_pages_through_every_entry_once_in_order(client, alice, customer, entries, listed):
    url = listed.format(customer=customer)
    whole = client.get(url.split("?")[0], headers=alice.headers).get_json()
    expected = [entry["key"] for entry in whole][int(parse_qs(urlsplit(url).query).get("offset", ["0"])[0]):]
    pages, totals, nexts = follow(client, alice.headers, url)
    assert [key for page in pages for key in page] == expected
    assert all(len(page) == len(pages[0]) for page in pages[:-1])
    assert set(totals) == {"7"}
    assert nexts and all("cursor" in parse_qs(urlsplit(next_url).query) for next_url in nexts)


def test_a_cursor_page_stays_put_when_entries_are_added_or_removed_above(client, alice, customer, entries):
    first = client.get(ENTRIES + "?limit=3", headers=alice.headers)
    assert [entry["key"] for entry in first.get_json()] == ["k6", "k5", "k1"]
    for key in ("newer", "newest"):
        assert client.post(ENTRIES, json={"customer": customer, "key": key, "value": "v"},
                           headers=alice.headers).status_code == 201
    assert client.delete(f"{ENTRIES}{entries[6]}/", headers=alice.headers).status_code == 200
    second = client.get(links(first)["next"], headers=alice.headers)
    assert [entry["key"] for entry in second.get_json()] == ["k0", "k4", "k3"]
    assert second.headers["X-Total-Count"] == "8"
    # by offset alone the page moves with the rows above it, and shows k1 again
    by_offset = client.get(ENTRIES + "?limit=3&offset=3", headers=alice.headers)
    assert [entry["key"] for entry in by_offset.get_json()] == ["k1", "k0", "k4"]


def test_prev_links_and_other_orders_page_by_offset(client, alice, entries):
    response = client.get(ENTRIES + "?limit=2&offset=2", headers=alice.headers)
    assert "cursor" not in links(response)["prev"]
    after_cursor = client.get(links(response)["next"], headers=alice.headers)
    assert links(after_cursor)["prev"] == f"{ENTRIES}?limit=2&offset=2"
    by_key = client.get(ENTRIES + "?limit=2&ordering=key", headers=alice.headers)
    assert links(by_key) == {"next": f"{ENTRIES}?limit=2&ordering=key&offset=2"}


def cursor_of(text):
    return urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", [
    "abc", "%%%", cursor_of("2026-01-01T00:00:00"), cursor_of("yesterday|5"), cursor_of("2026-01-01T00:00:00|x"),
    cursor_of("2026-01-01T00:00:00|0"), cursor_of(f"2026-01-01T00:00:00|{2**31}"),
    cursor_of("2026-01-01T00:00:00+02:00|5"), urlsafe_b64encode("ü|5".encode("latin-1")).decode(),
])
def test_a_cursor_that_no_link_gave_is_a_400(client, alice, cursor):
    response = client.get(ENTRIES, query_string={"limit": 2, "cursor": cursor}, headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == INVALID


def test_a_cursor_pages_the_newest_first_order_only(client, alice, entries):
    next_url = links(client.get(ENTRIES + "?limit=2", headers=alice.headers))["next"]
    response = client.get(next_url + "&ordering=key", headers=alice.headers)
    assert response.status_code == 400
    assert response.get_json() == {"cursor": ["A cursor pages the default order (newest first) only."]}
    assert client.get(next_url + "&ordering=-created_at", headers=alice.headers).status_code == 200
