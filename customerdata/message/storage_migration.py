"""Copy the files that entries reference from one storage backend to the other.

`flask storage migrate --to s3` copies from the local folder (UPLOAD_FOLDER) to the bucket of the
S3_* settings; `--to local` copies the other way. Both backends are built from the configuration
whatever STORAGE_BACKEND says, and a file keeps its stored path (`customer_data/YYYY/MM/DD/name`
on both), so no row changes: once the files are there, operators switch STORAGE_BACKEND.

- Nothing is deleted or overwritten: the source stays as it is (remove it by hand once the new
  backend serves and `flask storage check` is clean), and a file already on the target is left
  alone. One of the same size counts as copied; one of another size is reported as a conflict.
- Resumable: rows are read in batches by id and every file is checked on the target first, so a
  run that was interrupted is simply started again. A copy is never visible half-written.
- Safe while the service runs: no lock or transaction is held while files are copied. Uploads
  that reach the old backend after a run are picked up by running it again after the switch.
"""
import contextlib
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from ..extensions import db
from ..models import CustomerData
from ..storage import BACKENDS, build_storage

COPIED = "copied"
WOULD_COPY = "would copy"
PRESENT = "already present"
GONE = "gone"                   # the row dropped its file while the run went on: nothing to copy
MISSING = "missing at source"   # a row points at a file the source does not have
CONFLICT = "conflict"           # the target holds a different file (another size) at the path
PROBLEMS = (MISSING, CONFLICT)


@dataclass(frozen=True)
class Step:
    entry_id: int
    path: str
    outcome: str
    size: int | None = None


def backends(target):
    """(source name, source, target storage) for a migration to `target` ("local" or "s3")."""
    if target not in BACKENDS:
        raise ValueError(f"unknown storage backend {target!r}")
    source = next(name for name in BACKENDS if name != target)
    config = current_app.config
    return source, build_storage(config, source), build_storage(config, target)


def count_files():
    total = db.session.scalar(select(func.count()).where(CustomerData.file.is_not(None)))
    db.session.rollback()
    return total


def migrate(source, target, batch_size=200, dry_run=False):
    """Copy every referenced file that the target lacks; yields one Step per row with a file."""
    last_id = 0
    while True:
        rows = db.session.execute(
            select(CustomerData.id, CustomerData.file, CustomerData.file_name)
            .where(CustomerData.file.is_not(None), CustomerData.id > last_id)
            .order_by(CustomerData.id).limit(batch_size)).all()
        db.session.rollback()  # hold no transaction while copying
        if not rows:
            return
        for row in rows:
            yield _migrate_file(source, target, row, dry_run)
        last_id = rows[-1].id


def _size(storage, path):
    try:
        return storage.size(path)
    except FileNotFoundError:
        return None


def _migrate_file(source, target, row, dry_run):
    path = row.file
    on_target, on_source = _size(target, path), _size(source, path)
    if on_source is None:
        if on_target is not None:
            return Step(row.id, path, PRESENT, on_target)
        return Step(row.id, path, MISSING if _still_referenced(path) else GONE)
    if on_target is not None:
        return Step(row.id, path, PRESENT if on_target == on_source else CONFLICT, on_source)
    if dry_run:
        return Step(row.id, path, WOULD_COPY, on_source)
    try:
        with contextlib.closing(source.open(path)) as stream:
            target.save_as(path, stream, row.file_name)
    except FileNotFoundError:  # deleted between the size check and the copy
        return Step(row.id, path, MISSING if _still_referenced(path) else GONE)
    except FileExistsError:    # another run copied it meanwhile
        return Step(row.id, path, PRESENT if _size(target, path) == on_source else CONFLICT, on_source)
    return Step(row.id, path, COPIED, on_source)


def _still_referenced(path):
    found = db.session.scalar(select(CustomerData.id).where(CustomerData.file == path).limit(1))
    db.session.rollback()
    return found is not None
