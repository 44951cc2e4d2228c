"""The S3 backend (STORAGE_BACKEND=s3) over real HTTP against moto's standalone server.

The app runs in-process (test client); every storage call goes over HTTP to the S3 server, and
downloads follow the app's redirect to the presigned URL with a real HTTP client.
"""
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from customerdata.extensions import db
from customerdata.models import CustomerData

ENTRIES = "/api/message/customer-data/"
MIB = 1024 * 1024
HTML_NAME = "Vertrag Müller.html"
# the original name in filename* (RFC 5987), the stored safe name in filename
HTML_DISPOSITION = "attachment; filename=Vertrag_Muller.html; filename*=UTF-8''Vertrag%20M%C3%BCller.html"


@pytest.fixture(autouse=True)
def on_s3(s3_config):
    """Every app of this module stores its files in the bucket (before `app` is built)."""
    return s3_config


@pytest.fixture
def bucket(s3_server, app_config):
    return Bucket(s3_server.client(), s3_server.bucket, app_config["S3_PREFIX"] + "/")


class Bucket:
    """The test's prefix of the bucket, seen with a client of its own."""

    def __init__(self, client, name, prefix):
        self.client, self.name, self.prefix = client, name, prefix

    def keys(self):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=self.prefix)
        return {item["Key"] for page in pages for item in page.get("Contents", ())}

    def paths(self):
        return {key.removeprefix(self.prefix) for key in self.keys()}

    def key(self, entry):
        return self.prefix + entry["file"].removeprefix("/media/")

    def head(self, entry):
        return self.client.head_object(Bucket=self.name, Key=self.key(entry))

    def read(self, entry):
        return self.client.get_object(Bucket=self.name, Key=self.key(entry))["Body"].read()

    def put(self, path, body):
        self.client.put_object(Bucket=self.name, Key=self.prefix + path, Body=body)

    def delete(self, path):
        self.client.delete_object(Bucket=self.name, Key=self.prefix + path)

    def pending_multipart_uploads(self):
        return self.client.list_multipart_uploads(Bucket=self.name, Prefix=self.prefix).get("Uploads", [])


requests = pytest.importorskip("requests", reason="the S3 tests need requests (a dependency of moto[server])")
HTTP = requests.Session()
HTTP.trust_env = False  # 127.0.0.1 directly, whatever proxy the environment names


def referenced(app):
    with app.app_context():
        paths = set(db.session.scalars(db.select(CustomerData.file).where(CustomerData.file.is_not(None))))
        db.session.remove()
    return paths


def assert_bucket_matches_rows(app, bucket):
    """No object without a row, no row without its object."""
    assert bucket.paths() == referenced(app)
    assert bucket.pending_multipart_uploads() == []


def local(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def download(client, entry):
    """Follow file_url: the app's signed link answers 302 to a presigned URL of the S3 server."""
    response = client.get(local(entry["file_url"]))
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert response.headers["Cache-Control"] == "no-store"
    return HTTP.get(location, timeout=10), location


def test_entry_lifecycle_keeps_bucket_and_rows_in_step(app, client, alice, customer, file_entry, bucket,
                                                       s3_server):
    entry = file_entry("contract", b"<script>alert(1)</script>", HTML_NAME, value="signed")
    assert re.fullmatch(r"/media/customer_data/\d{4}/\d\d/\d\d/Vertrag_Muller\.html", entry["file"])
    assert entry["file_url"].startswith("http://localhost/media/customer_data/")
    assert entry["file_name"] == HTML_NAME
    assert_bucket_matches_rows(app, bucket)

    # stored private, as bytes that cannot run, with the attachment disposition
    head = bucket.head(entry)
    assert head["ContentType"] == "application/octet-stream"
    assert head["ContentDisposition"] == HTML_DISPOSITION
    anonymous = HTTP.get(f"{s3_server.endpoint_url}/{bucket.name}/{bucket.key(entry)}", timeout=10)
    assert anonymous.status_code == 403

    # file_url -> the app's signed link -> 302 -> a presigned GET forcing the disposition and type
    fetched, location = download(client, entry)
    assert location.startswith(f"{s3_server.endpoint_url}/{bucket.name}/{bucket.prefix}customer_data/")
    query = parse_qs(urlsplit(location).query)
    assert query["response-content-disposition"] == [HTML_DISPOSITION]
    assert query["response-content-type"] == ["application/octet-stream"]
    assert "X-Amz-Signature" in query and int(query["X-Amz-Expires"][0]) <= 300
    assert fetched.status_code == 200
    assert fetched.content == b"<script>alert(1)</script>"
    assert fetched.headers["Content-Disposition"] == HTML_DISPOSITION
    assert fetched.headers["Content-Type"] == "application/octet-stream"

    url = f"{ENTRIES}{entry['id']}/"
    replaced = client.put(url, data={"file": (io.BytesIO(b"v2"), "contract.pdf")},
                          headers=alice.headers).get_json()
    assert replaced["file"] != entry["file"] and download(client, replaced)[0].content == b"v2"
    assert client.get(local(entry["file_url"])).status_code == 404
    assert_bucket_matches_rows(app, bucket)

    removed = client.put(url, json={"remove_file": True}, headers=alice.headers).get_json()
    assert (removed["file"], removed["value"]) == (None, "signed")
    assert bucket.paths() == set()

    again = client.patch(url, data={"file": (io.BytesIO(b"v3"), "scan.png")},
                         headers=alice.headers).get_json()
    assert bucket.read(again) == b"v3"
    assert client.delete(url, headers=alice.headers).status_code == 200
    assert bucket.paths() == set()

    many = [file_entry(f"k{i}", f"content {i}".encode(), f"f{i}.txt") for i in range(3)]
    keep = file_entry("keep", b"keep", "keep.txt")
    response = client.post(f"{ENTRIES}bulk-delete/", json={"data_ids": [e["id"] for e in many]},
                           headers=alice.headers)
    assert response.get_json()["deleted_count"] == 3
    assert bucket.paths() == {keep["file"].removeprefix("/media/")}
    assert_bucket_matches_rows(app, bucket)

    assert client.delete(f"/api/message/customers/{customer}/", headers=alice.headers).status_code == 200
    assert bucket.paths() == set()
    assert_bucket_matches_rows(app, bucket)


def test_a_name_ascii_cannot_spell_falls_back_to_the_stored_name(client, file_entry, bucket):
    """Dropping what ASCII cannot hold left `filename=.pdf`: `curl -OJ` saved a hidden file."""
    entry = file_entry("contract", b"%PDF-1.4", "قرارداد.pdf")
    stored = entry["file"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{16}\.pdf", stored)
    expected = f"attachment; filename={stored}; filename*=UTF-8''{quote('قرارداد.pdf')}"
    assert bucket.head(entry)["ContentDisposition"] == expected
    fetched, location = download(client, entry)
    assert parse_qs(urlsplit(location).query)["response-content-disposition"] == [expected]
    assert fetched.status_code == 200
    assert fetched.headers["Content-Disposition"] == expected


def test_same_name_never_overwrites(client, file_entry, bucket):
    first = file_entry("a", b"first", "same.txt")
    second = file_entry("b", b"second", "same.txt")
    assert first["file"].endswith("/same.txt")
    assert re.fullmatch(r"/media/customer_data/.*/same_[0-9a-f]{8}\.txt", second["file"])
    assert (bucket.read(first), bucket.read(second)) == (b"first", b"second")


def test_conditional_write_refuses_a_name_taken_after_the_check(app, client, file_entry, bucket, monkeypatch):
    """Two uploads of one name racing: HEAD said free to both, the store's If-None-Match keeps the first."""
    from customerdata.storage.s3 import S3Storage

    first = file_entry("a", b"first", "race.txt")
    # as if both HEADs ran before the first write
    monkeypatch.setattr(S3Storage, "exists", lambda self, path: False)
    second = file_entry("b", b"second", "race.txt")
    assert second["file"] != first["file"]
    assert (bucket.read(first), bucket.read(second)) == (b"first", b"second")


def test_unsigned_link_and_missing_object(app, client, file_entry, bucket):
    entry = file_entry("doc", b"secret", "doc.txt")
    unsigned = client.get(urlsplit(entry["file_url"]).path)
    assert unsigned.status_code == 403 and "Location" not in unsigned.headers
    tampered = client.get(local(entry["file_url"]).replace("signature=", "signature=x"))
    assert tampered.status_code == 403 and "Location" not in tampered.headers
    bucket.delete(entry["file"].removeprefix("/media/"))
    gone = client.get(local(entry["file_url"]))
    assert gone.status_code == 404
    assert gone.get_json() == {"detail": "File not found."}


@pytest.fixture
def large_uploads(app_config):
    app_config["MAX_CONTENT_LENGTH"] = 64 * MIB
    return app_config


def test_large_upload_is_a_multipart_upload(large_uploads, app, client, file_entry, bucket):
    content = bytes(range(256)) * (20 * MIB // 256)   # 20 MiB: three parts of at most 8 MiB
    entry = file_entry("video", content, "big.bin")
    head = bucket.head(entry)
    assert head["ContentLength"] == len(content)
    assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # the ETag of a 3-part multipart upload
    fetched, _ = download(client, entry)
    assert fetched.content == content
    assert_bucket_matches_rows(app, bucket)


@pytest.mark.parametrize("size", [10, 9 * MIB], ids=["single-put", "multipart"])
def test_failed_write_leaves_no_object(large_uploads, app, client, alice, customer, bucket, size,
                                      monkeypatch, database_fails_on):
    database_fails_on("INSERT")
    response = client.post(ENTRIES, headers=alice.headers, data={
        "customer": str(customer), "key": "doc", "file": (io.BytesIO(b"x" * size), "doc.pdf")})
    monkeypatch.undo()
    assert response.status_code == 500
    assert response.get_json() == {"detail": "Internal server error."}
    assert bucket.keys() == set()
    assert bucket.pending_multipart_uploads() == []


def test_storage_check_and_repair_on_s3(app, runner, client, alice, file_entry, bucket):
    kept, lost = file_entry("kept", b"kept", "kept.txt"), file_entry("lost", b"lost", "lost.txt")
    bucket.put("customer_data/2020/01/01/orphan.pdf", b"orphan")
    bucket.delete(lost["file"].removeprefix("/media/"))

    # the orphan was written a moment ago: with the default --min-age it may be an upload in flight
    young = runner.invoke(args=["storage", "check"])
    assert young.exit_code == 1 and "orphan.pdf" not in young.output
    assert f"missing file of entry {lost['id']}" in young.output

    check = runner.invoke(args=["storage", "check", "--min-age", "0"])
    assert check.exit_code == 1
    assert "orphaned file (no row): customer_data/2020/01/01/orphan.pdf" in check.output
    assert "1 orphaned file(s), 1 entry row(s) without their file." in check.output

    dry = runner.invoke(args=["storage", "repair", "--min-age", "0", "--dry-run"])
    assert dry.exit_code == 0 and "customer_data/2020/01/01/orphan.pdf" in bucket.paths()

    repaired = runner.invoke(args=["storage", "repair", "--min-age", "0"])
    assert repaired.exit_code == 0, repaired.output
    assert bucket.paths() == {kept["file"].removeprefix("/media/")}
    entry = client.get(f"{ENTRIES}{lost['id']}/", headers=alice.headers).get_json()
    assert (entry["file"], entry["file_name"]) == (None, None)
    clean = runner.invoke(args=["storage", "check", "--min-age", "0"])
    assert clean.exit_code == 0, clean.output


def test_modified_at_is_naive_utc(app, file_entry):
    from customerdata.models import utcnow
    from customerdata.storage import get_storage

    entry = file_entry("doc")
    with app.app_context():
        written = get_storage().modified_at(entry["file"].removeprefix("/media/"))
    assert written.tzinfo is None
    assert abs(utcnow() - written) < timedelta(minutes=1)


def test_readyz_probes_the_bucket(app_config, client, bucket):
    from customerdata import create_app

    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"]["storage"] == "ok"
    assert bucket.keys() == set()  # the probe object is gone again

    missing = create_app(app_config | {"S3_BUCKET": "no-such-bucket"})
    response = missing.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["storage"] == "unavailable"


def test_backend_is_chosen_by_configuration(app, app_config):
    from customerdata.storage import build_storage, get_storage
    from customerdata.storage.local import LocalStorage
    from customerdata.storage.s3 import S3Storage

    with app.app_context():
        assert isinstance(get_storage(), S3Storage)
        assert get_storage().prefix == app_config["S3_PREFIX"] + "/"
        assert isinstance(build_storage(app.config, "local"), LocalStorage)
        with pytest.raises(ValueError, match="STORAGE_BACKEND"):
            build_storage(app.config, "ftp")
        with pytest.raises(ValueError, match="S3_BUCKET"):
            build_storage(app.config | {"S3_BUCKET": None}, "s3")


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    from customerdata.config import from_environment

    monkeypatch.delenv("STORAGE_BACKEND", raising=False)
    assert from_environment(str(tmp_path))["STORAGE_BACKEND"] == "local"
    environment = {"STORAGE_BACKEND": "S3", "S3_BUCKET": "files", "S3_PREFIX": "prod",
                   "S3_ENDPOINT_URL": "https://minio.internal:9000", "S3_REGION": "eu-central-1"}
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = from_environment(str(tmp_path))
    assert {name: settings[name] for name in ("STORAGE_BACKEND", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL",
                                              "S3_REGION")} == {
        "STORAGE_BACKEND": "s3", "S3_BUCKET": "files", "S3_PREFIX": "prod",
        "S3_ENDPOINT_URL": "https://minio.internal:9000", "S3_REGION": "eu-central-1"}


class _Raw:
    def __init__(self, body):
        self.body = body

    def stream(self, **kwargs):
        yield self.body


def test_a_store_without_conditional_writes_is_written_after_head(app, file_entry, bucket):
    """A server that answers If-None-Match with 501 gets plain writes from then on, after HEAD."""
    from botocore.awsrequest import AWSResponse

    from customerdata.storage import get_storage

    refused = []

    def no_conditions(request, **kwargs):
        if "If-None-Match" in request.headers:
            refused.append(request.url)
            return AWSResponse(request.url, 501, {}, _Raw(
                b"<Error><Code>NotImplemented</Code><Message>If-None-Match</Message></Error>"))
        return None

    with app.app_context():
        storage = get_storage()
    storage.client.meta.events.register("before-send.s3.PutObject", no_conditions)
    first = file_entry("a", b"first", "plain.txt")
    second = file_entry("b", b"second", "plain.txt")
    assert len(refused) == 1 and storage.conditional_writes is False
    assert second["file"] != first["file"]
    assert (bucket.read(first), bucket.read(second)) == (b"first", b"second")
