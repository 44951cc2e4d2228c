"""Engine set-up per database: what SQLite needs to serve several gunicorn workers."""
from flask import has_request_context, request
from sqlalchemy import event

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def configure_engine(engine):
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _postgresql_checkout)
        event.listen(engine, "checkin", _postgresql_checkin)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection, connection_record):
    # Take transaction control from pysqlite so that the events below decide how each one starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # A checkpoint (the WAL copied back into the database file) runs inside the COMMIT that takes
    # the WAL past this many pages, with two fsyncs (~3 ms each here), while that writer still
    # holds the writers' turn (prepared.py): at SQLite's default of 1,000 pages that was every ~70
    # entry creates, 5 ms each, a third of the time a create held the turn on average. At 4,000
    # pages (a 16 MB WAL) the fsyncs are paid four times less often; each checkpoint copies more
    # pages, so it takes ~10 ms: 132 → 59 µs per commit (benchmarks/writes.py, 12,000 writes).
    cursor.execute("PRAGMA wal_autocheckpoint = 4000")
    cursor.close()


def _sqlite_begin(connection):
    # A deferred transaction that reads, then writes, fails with "database is locked" when another
    # process wrote in between; the write lock is taken up front (BEGIN IMMEDIATE) so it waits its
    # turn instead. Reads (safe methods) run in autocommit: each SELECT sees committed data, never
    # queues behind a writer, and spends no BEGIN/ROLLBACK. (The per-request token check runs on
    # the driver connection, prepared.py, so a session transaction is the service's own work.)
    if not (has_request_context() and request.method in READ_ONLY_METHODS):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_checkout(dbapi_connection, connection_record, connection_proxy):
    # Reads (safe methods) run in autocommit, as on SQLite: psycopg then sends no BEGIN before the
    # first statement and no ROLLBACK at the end, two round trips of the three a small read needs.
    if has_request_context() and request.method in READ_ONLY_METHODS:
        dbapi_connection.autocommit = True


def _postgresql_checkin(dbapi_connection, connection_record):
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False
