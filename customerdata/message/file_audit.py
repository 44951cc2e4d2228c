"""Do stored files and entry rows agree? Finds files without a row and rows without a file.

A file is written before its row commits, so a very young file without a row may belong to a
request still in flight: files younger than `min_age` are left out of the orphans.
"""
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import CustomerData, utcnow
from ..storage import get_storage


@dataclass
class Audit:
    orphans: list = field(default_factory=list)    # stored paths no row points at
    dangling: list = field(default_factory=list)   # (entry id, path) of rows whose file is missing

    @property
    def clean(self):
        return not self.orphans and not self.dangling


def audit(min_age=timedelta(minutes=10)):
    storage = get_storage()
    referenced = dict(db.session.execute(
        select(CustomerData.file, CustomerData.id).where(CustomerData.file.is_not(None))).all())
    result = Audit()
    cutoff = utcnow() - min_age
    stored = set()
    for path in storage.paths():
        stored.add(path)
        if path not in referenced and storage.modified_at(path) < cutoff:
            result.orphans.append(path)
    db.session.rollback()
    result.dangling = sorted((entry_id, path) for path, entry_id in referenced.items()
                             if path not in stored and not storage.exists(path))
    result.orphans.sort()
    return result


def repair(found):
    """Delete orphaned files; rows whose file is gone lose the file reference (key and value stay)."""
    storage = get_storage()
    for path in found.orphans:
        storage.delete(path)
    ids = [entry_id for entry_id, _ in found.dangling]
    if ids:
        db.session.execute(update(CustomerData).where(CustomerData.id.in_(ids))
                           .values(file=None, file_name=None, updated_at=utcnow()))
        db.session.commit()


def fill_sizes(batch_size=500):
    """Store the size of every file whose row lacks it (files stored before sizes were kept);
    returns (filled, unreadable). Each batch commits on its own, so a rerun goes on where it stopped."""
    storage = get_storage()
    filled = unreadable = 0
    last_id = 0
    while True:
        rows = db.session.execute(select(CustomerData.id, CustomerData.file).where(
            CustomerData.id > last_id, CustomerData.file.is_not(None), CustomerData.file_size.is_(None))
            .order_by(CustomerData.id).limit(batch_size)).all()
        if not rows:
            return filled, unreadable
        for entry_id, path in rows:
            try:
                size = storage.size(path)
            except FileNotFoundError:
                unreadable += 1
                continue
            # only while the row still holds that file: a concurrent replacement keeps its own size
            db.session.execute(update(CustomerData).where(CustomerData.id == entry_id, CustomerData.file == path)
                               .values(file_size=size))
            filled += 1
        db.session.commit()
        last_id = rows[-1].id
