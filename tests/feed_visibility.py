"""Waiting for PostgreSQL to let the changes feed show what was committed (tests of the change log)."""
import time

from customerdata.extensions import db


def settle(client):
    """Wait until the feed can show every change committed so far. On PostgreSQL a change shows once every
    transaction of the server older than its own has ended (changes.md), and other sessions on a shared test
    server may hold that back for a moment; on SQLite there is nothing to wait for."""
    app = client.application
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        return
    with app.app_context(), db.engine.connect() as connection:
        now = connection.execute(db.text("SELECT pg_current_xact_id()::text::bigint")).scalar()
        connection.commit()
        deadline = time.monotonic() + 60
        horizon = db.text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        while connection.execute(horizon).scalar() <= now:
            connection.rollback()
            assert time.monotonic() < deadline, "a transaction of the database server stays open"
            time.sleep(0.02)
        connection.rollback()
