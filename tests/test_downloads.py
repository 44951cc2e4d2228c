"""Downloads at /media/<path>: only through a signed, unexpired link; always an inert attachment."""
import io
import re
import time
from urllib.parse import parse_qs, quote, urlsplit

import pytest

CONTENT = b"0123456789" * 100


@pytest.fixture
def entry(client, alice):
    customer = client.post("/api/message/customers/", json={"first_name": "John"}, headers=alice.headers)
    response = client.post("/api/message/customer-data/", headers=alice.headers, data={
        "customer": str(customer.get_json()["id"]), "key": "contract",
        "file": (io.BytesIO(CONTENT), "Vertrag Müller.html")})
    assert response.status_code == 201
    return response.get_json()


def local(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_signed_link_downloads_an_inert_attachment_without_a_token(client, entry):
    assert entry["file_url"].startswith("http://localhost/media/customer_data/")
    response = client.get(local(entry["file_url"]))
    assert response.status_code == 200
    assert response.data == CONTENT
    # the original name in filename* (RFC 5987); the stored safe name for clients that read filename only
    assert entry["file"].endswith("/Vertrag_Muller.html")
    assert response.headers["Content-Disposition"] == (
        "attachment; filename=Vertrag_Muller.html; filename*=UTF-8''Vertrag%20M%C3%BCller.html")
    # an HTML upload must never render as a page of this origin
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize("name", ["قرارداد.pdf", "日本.txt"])
def test_a_name_ascii_cannot_spell_falls_back_to_the_stored_name(client, file_entry, name):
    """Dropping what ASCII cannot hold left `filename=.pdf`: `curl -OJ` saved a hidden file."""
    entry = file_entry("contract", b"%PDF-1.4", name)
    stored = entry["file"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{16}\.(pdf|txt)", stored)
    response = client.get(local(entry["file_url"]))
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename={stored}; filename*=UTF-8''{quote(name)}")


def test_an_ascii_name_is_kept_as_it_is(client, file_entry):
    entry = file_entry("contract", b"%PDF-1.4", "contract v2.pdf")
    response = client.get(local(entry["file_url"]))
    assert response.headers["Content-Disposition"] == 'attachment; filename="contract v2.pdf"'


def test_range_and_conditional_requests(client, entry):
    url = local(entry["file_url"])
    partial = client.get(url, headers={"Range": "bytes=10-19"})
    assert partial.status_code == 206
    assert partial.data == CONTENT[10:20]
    assert partial.headers["Content-Range"] == f"bytes 10-19/{len(CONTENT)}"
    etag = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize("tamper", [
    lambda path, query: (path, ""),
    lambda path, query: (path, query.replace("signature=", "signature=x")),
    lambda path, query: (path, query.replace("expires=", "expires=9")),
    lambda path, query: (path.replace("Vertrag", "Other"), query),
])
def test_unsigned_or_tampered_links_give_no_bytes(client, entry, tamper):
    parts = urlsplit(entry["file_url"])
    path, query = tamper(parts.path, parts.query)
    response = client.get(f"{path}?{query}")
    assert response.status_code in (403, 404)
    assert CONTENT not in response.data
    assert response.is_json and "detail" in response.get_json()


def test_expired_link_gives_no_bytes(app, client, entry, monkeypatch):
    expires = int(parse_qs(urlsplit(entry["file_url"]).query)["expires"][0])
    monkeypatch.setattr(time, "time", lambda: expires + 1)
    response = client.get(local(entry["file_url"]))
    assert response.status_code == 403
    assert response.get_json() == {"detail": "This download link is invalid or has expired."}


def test_link_lifetime_is_configurable(app_config, tmp_path):
    from customerdata import create_app
    from customerdata.storage.signing import sign

    app = create_app(app_config | {"MEDIA_URL_LIFETIME": 60})
    with app.test_request_context():
        assert int(sign("customer_data/x.txt")["expires"]) - time.time() == pytest.approx(60, abs=2)


def test_link_of_a_deleted_entry_gives_no_bytes(client, alice, entry):
    client.delete(f"/api/message/customer-data/{entry['id']}/", headers=alice.headers)
    response = client.get(local(entry["file_url"]))
    assert response.status_code == 404
    assert response.get_json() == {"detail": "File not found."}
