"""Readiness: can this instance serve requests right now?"""
import logging

from sqlalchemy import text

from ..extensions import db
from ..storage import get_storage

log = logging.getLogger("customerdata.health")


def readiness():
    return {"database": _check(_database), "storage": _check(_storage)}


def _database():
    db.session.execute(text("SELECT 1"))
    db.session.rollback()


def _storage():
    get_storage().check_writable()


def _check(probe):
    try:
        probe()
    except Exception:
        log.warning("readiness probe %s failed", probe.__name__, exc_info=True)
        db.session.rollback()
        return "unavailable"
    return "ok"
