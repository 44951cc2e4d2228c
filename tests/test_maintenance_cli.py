"""Operator commands: storage check/repair, token purge, export."""
import csv
import io
import json
import os
import time
from datetime import datetime, timedelta

import pytest

from customerdata.extensions import db
from customerdata.models import RevokedToken


@pytest.fixture
def entries(client, alice):
    customer = client.post("/api/message/customers/", json={"first_name": "John", "last_name": "Doe"},
                           headers=alice.headers).get_json()["id"]
    made = []
    for key, file in (("a", (io.BytesIO(b"A"), "a.txt")), ("b", (io.BytesIO(b"B"), "b.txt")), ("c", None)):
        data = {"customer": str(customer), "key": key, "value": f"value {key}"}
        if file:
            data["file"] = file
        made.append(client.post("/api/message/customer-data/", data=data, headers=alice.headers).get_json())
    return made


def upload_path(app, entry):
    return os.path.join(app.config["UPLOAD_FOLDER"], entry["file"].removeprefix("/media/"))


def age(path, minutes):
    past = time.time() - minutes * 60
    os.utime(path, (past, past))


def test_check_passes_on_a_consistent_store(runner, entries):
    result = runner.invoke(args=["storage", "check"])
    assert result.exit_code == 0, result.output
    assert "0 orphaned file(s), 0 entry row(s) without their file." in result.output


def test_check_and_repair_find_orphans_and_dangling_rows(app, runner, client, alice, entries):
    orphan = os.path.join(app.config["UPLOAD_FOLDER"], "customer_data", "2020", "01", "01", "lost.pdf")
    os.makedirs(os.path.dirname(orphan))
    with open(orphan, "wb") as fh:
        fh.write(b"lost")
    age(orphan, 60)
    young = os.path.join(os.path.dirname(orphan), "in-flight.pdf")
    with open(young, "wb") as fh:
        fh.write(b"uploading")
    os.unlink(upload_path(app, entries[0]))

    check = runner.invoke(args=["storage", "check"])
    assert check.exit_code == 1
    assert "orphaned file (no row): customer_data/2020/01/01/lost.pdf" in check.output
    assert f"missing file of entry {entries[0]['id']}: {entries[0]['file'].removeprefix('/media/')}" in check.output
    assert "in-flight" not in check.output

    dry = runner.invoke(args=["storage", "repair", "--dry-run"])
    assert dry.exit_code == 0 and "Dry run: nothing changed." in dry.output
    assert os.path.exists(orphan)

    repaired = runner.invoke(args=["storage", "repair"])
    assert repaired.exit_code == 0, repaired.output
    assert not os.path.exists(orphan) and os.path.exists(young)
    entry = client.get(f"/api/message/customer-data/{entries[0]['id']}/", headers=alice.headers).get_json()
    assert (entry["file"], entry["file_name"], entry["value"]) == (None, None, "value a")
    assert os.path.exists(upload_path(app, entries[1]))
    os.unlink(young)
    assert runner.invoke(args=["storage", "check"]).exit_code == 0
    assert runner.invoke(args=["storage", "check", "--min-age", "0"]).exit_code == 0


def test_tokens_purge_removes_only_expired_revocations(app, runner, client, alice):
    client.post("/api/accounts/logout", headers=alice.headers)
    with app.app_context():
        db.session.add(RevokedToken(jti="old", expires_at=datetime.utcnow() - timedelta(days=1)))
        db.session.commit()
    result = runner.invoke(args=["tokens", "purge"])
    assert result.exit_code == 0 and "Purged 1 expired revocation(s)." in result.output
    with app.app_context():
        assert db.session.scalars(db.select(RevokedToken.jti)).all() != []
    # the logged-out token is still refused
    assert client.get("/api/accounts/me", headers=alice.headers).status_code == 401


def test_export_json_to_stdout(runner, entries, alice):
    result = runner.invoke(args=["customer-data", "export", "--owner", "alice"])
    assert result.exit_code == 0, result.output
    exported = json.loads(result.output)
    assert [e["key"] for e in exported] == ["a", "b", "c"]
    assert list(exported[0]) == ["id", "customer", "user", "key", "value", "file", "file_name", "customer_name",
                                 "created_at", "updated_at"]
    assert exported[0]["customer_name"] == "John Doe | unknown"
    assert exported[0]["file"] == entries[0]["file"] and exported[2]["file"] is None


def test_export_csv_to_a_file_in_batches(runner, entries, tmp_path, monkeypatch):
    from customerdata.message import entries as entry_records

    original = entry_records.iter_entries_for_export
    monkeypatch.setattr(entry_records, "iter_entries_for_export", lambda owner: original(owner, batch_size=2))
    target = tmp_path / "export.csv"
    result = runner.invoke(args=["customer-data", "export", "--owner", "alice", "--format", "csv",
                                 "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert "Exported 3 entries of alice" in result.output
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["key"] for r in rows] == ["a", "b", "c"] and rows[2]["value"] == "value c"


def test_export_of_an_unknown_owner_fails(runner):
    result = runner.invoke(args=["customer-data", "export", "--owner", "nobody"])
    assert result.exit_code != 0 and "No user named 'nobody'" in result.output


def test_storage_sizes_fills_the_sizes_files_were_stored_without(app, runner, entries):
    from customerdata.models import CustomerData

    with app.app_context():
        stored = dict(db.session.execute(db.select(CustomerData.key, CustomerData.file_size)).all())
        assert stored == {"a": 1, "b": 1, "c": None}  # an upload's size is kept with its row
        db.session.execute(db.update(CustomerData).values(file_size=None))
        db.session.commit()
    result = runner.invoke(args=["storage", "sizes"])
    assert result.exit_code == 0, result.output
    assert "Stored the size of 2 file(s); 0 could not be read" in result.output
    with app.app_context():
        sizes = dict(db.session.execute(db.select(CustomerData.key, CustomerData.file_size)).all())
    assert sizes == stored
    os.unlink(upload_path(app, entries[0]))
    with app.app_context():
        db.session.execute(db.update(CustomerData).values(file_size=None))
        db.session.commit()
    result = runner.invoke(args=["storage", "sizes"])
    assert result.exit_code == 1 and "1 file(s); 1 could not be read" in result.output
