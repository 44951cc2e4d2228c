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
