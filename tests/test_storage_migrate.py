"""`flask storage migrate --to s3|local` against moto's standalone S3 server over real HTTP."""
import os
import re

import pytest

from customerdata import create_app
from customerdata.extensions import db
from customerdata.storage.local import LocalStorage

ENTRIES = "/api/message/customer-data/"
MIB = 1024 * 1024
BIG = bytes(range(256)) * (9 * MIB // 256)   # above the 8 MiB part size: copied as a multipart upload


@pytest.fixture(autouse=True)
def local_with_s3_settings(s3_config):
    """The app serves local files; the S3_* settings name the bucket prefix to migrate to."""
    s3_config["STORAGE_BACKEND"] = "local"
    s3_config["MAX_CONTENT_LENGTH"] = 32 * MIB
    return s3_config


@pytest.fixture
def bucket(s3_server, app_config):
    client, prefix = s3_server.client(), app_config["S3_PREFIX"] + "/"

    class Bucket:
        def objects(self):
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket, Prefix=prefix)
            return {item["Key"].removeprefix(prefix): item["Size"]
                    for page in pages for item in page.get("Contents", ())}

        def read(self, path):
            return client.get_object(Bucket=s3_server.bucket, Key=prefix + path)["Body"].read()

        def put(self, path, body):
            client.put_object(Bucket=s3_server.bucket, Key=prefix + path, Body=body)

        def pending_multipart_uploads(self):
            return client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=prefix).get("Uploads", [])

    return Bucket()


@pytest.fixture
def files(file_entry):
    """path -> content of four entries' files, stored locally; the third is large."""
    made = [file_entry("a", b"alpha", "a.txt"), file_entry("b", "Grüße".encode(), "b.txt"),
            file_entry("big", BIG, "big.bin"), file_entry("d", b"delta" * 100, "d.pdf")]
    return {entry["file"].removeprefix("/media/"): content
            for entry, content in zip(made, (b"alpha", "Grüße".encode(), BIG, b"delta" * 100))}


def local_files(app):
    root = app.config["UPLOAD_FOLDER"]
    return {os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            for folder, _, names in os.walk(root) for name in names}


def read_local(app, path):
    with open(os.path.join(app.config["UPLOAD_FOLDER"], path), "rb") as fh:
        return fh.read()


@pytest.fixture
def s3_app(app, app_config):
    """A second instance of the app on the same database, switched to STORAGE_BACKEND=s3."""
    switched = create_app(app_config | {"STORAGE_BACKEND": "s3"})
    yield switched
    with switched.app_context():
        db.session.remove()
        db.engine.dispose()


def test_dry_run_lists_and_copies_nothing(runner, files, bucket):
    result = runner.invoke(args=["storage", "migrate", "--to", "s3", "--dry-run"])
    assert result.exit_code == 0, result.output
    for path, content in files.items():
        assert f"would copy: {path} ({len(content)} bytes)" in result.output
    assert "4 would copy, 0 already present, 0 gone, 0 missing at source, 0 conflict." in result.output
    assert "Dry run: nothing copied." in result.output
    assert bucket.objects() == {}


def test_interrupted_migration_resumes_and_the_switch_serves_every_file(
        app, runner, files, bucket, file_entry, s3_app, monkeypatch):
    # the connection drops halfway through the large file (the third, in id order)
    opened = []
    real_open = LocalStorage.open

    def failing_open(self, path):
        stream = real_open(self, path)
        opened.append(path)
        return Broken(stream, after=5 * MIB) if len(opened) == 3 else stream

    monkeypatch.setattr(LocalStorage, "open", failing_open)
    interrupted = runner.invoke(args=["storage", "migrate", "--to", "s3", "--batch-size", "2"])
    assert isinstance(interrupted.exception, ConnectionError), interrupted.output
    monkeypatch.setattr(LocalStorage, "open", real_open)
    paths = list(files)
    assert bucket.objects() == {path: len(files[path]) for path in paths[:2]}
    assert bucket.pending_multipart_uploads() == []   # no half-written object, no dangling parts

    resumed = runner.invoke(args=["storage", "migrate", "--to", "s3", "--batch-size", "2"])
    assert resumed.exit_code == 0, resumed.output
    assert "2 copied, 2 already present, 0 gone, 0 missing at source, 0 conflict." in resumed.output
    assert bucket.objects() == {path: len(content) for path, content in files.items()}
    assert all(bucket.read(path) == content for path, content in files.items())
    assert local_files(app) == set(files)   # the source is left as it was

    # an upload reaches the local store before the switch; a run after the switch picks it up
    late = file_entry("late", b"late upload", "late.txt")
    after_switch = s3_app.test_cli_runner().invoke(args=["storage", "migrate", "--to", "s3"])
    assert after_switch.exit_code == 0, after_switch.output
    assert "1 copied, 4 already present" in after_switch.output

    # the switched instance serves every file from the bucket, and finds nothing amiss
    client = s3_app.test_client()
    for entry in client.get(ENTRIES, headers=login(client)).get_json():
        redirect = client.get(entry["file_url"].removeprefix("http://localhost"))
        assert redirect.status_code == 302
        expected = files.get(entry["file"].removeprefix("/media/"), b"late upload")
        assert bucket.read(entry["file"].removeprefix("/media/")) == expected
    assert late["file"].removeprefix("/media/") in bucket.objects()
    check = s3_app.test_cli_runner().invoke(args=["storage", "check", "--min-age", "0"])
    assert check.exit_code == 0, check.output


def test_back_to_local_on_an_empty_folder(app, runner, files, bucket):
    assert runner.invoke(args=["storage", "migrate", "--to", "s3"]).exit_code == 0
    for path in files:   # a new host: the local folder starts empty
        os.unlink(os.path.join(app.config["UPLOAD_FOLDER"], path))
    assert local_files(app) == set()

    back = runner.invoke(args=["storage", "migrate", "--to", "local"])
    assert back.exit_code == 0, back.output
    assert "4 copied, 0 already present" in back.output
    assert local_files(app) == set(files)
    assert all(read_local(app, path) == content for path, content in files.items())
    assert set(bucket.objects()) == set(files)   # the source is left as it was
    assert runner.invoke(args=["storage", "check", "--min-age", "0"]).exit_code == 0

    again = runner.invoke(args=["storage", "migrate", "--to", "local"])
    assert again.exit_code == 0 and "0 copied, 4 already present" in again.output


def test_conflicts_and_missing_files_are_reported_not_overwritten(app, runner, files, bucket):
    paths = list(files)
    bucket.put(paths[0], b"a different file")
    os.unlink(os.path.join(app.config["UPLOAD_FOLDER"], paths[1]))
    result = runner.invoke(args=["storage", "migrate", "--to", "s3"])
    assert result.exit_code == 1
    assert re.search(rf"conflict: {re.escape(paths[0])} \(entry \d+\)", result.output)
    assert re.search(rf"missing at source: {re.escape(paths[1])} \(entry \d+\)", result.output)
    assert "2 copied, 0 already present, 0 gone, 1 missing at source, 1 conflict." in result.output
    assert bucket.read(paths[0]) == b"a different file"
    assert set(bucket.objects()) == {paths[0], paths[2], paths[3]}


def test_target_must_be_configured(app_config, runner, files):
    from customerdata.extensions import db as database

    app = create_app(app_config | {"S3_BUCKET": None})
    result = app.test_cli_runner().invoke(args=["storage", "migrate", "--to", "s3"])
    assert result.exit_code == 1 and "S3_BUCKET must be set" in result.output
    with app.app_context():
        database.engine.dispose()
    assert runner.invoke(args=["storage", "migrate", "--to", "ftp"]).exit_code == 2


class Broken:
    """A source stream whose connection drops after `after` bytes."""

    def __init__(self, stream, after):
        self.stream, self.left = stream, after

    def read(self, size=-1):
        if self.left <= 0:
            raise ConnectionError("connection to the source lost")
        data = self.stream.read(min(size, self.left) if size and size > 0 else self.left)
        self.left -= len(data)
        return data

    def close(self):
        self.stream.close()


def login(client):
    response = client.post("/api/accounts/login", json={"username": "alice", "password": "alice-password-1"})
    return {"Authorization": f"Bearer {response.get_json()['access']}"}
