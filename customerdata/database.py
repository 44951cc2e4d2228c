"""Engine set-up per database: what SQLite needs to serve several gunicorn workers, and how a
PostgreSQL connection that died in the pool is found without a round trip per checkout."""
import logging
import select
import threading

from flask import has_request_context, request
from sqlalchemy import event, exc

from .models import SEARCH_INDEX

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("customerdata.database")
# the trigram index of search (models.SEARCH_INDEX), which its migration skips without pg_trgm
# and btree_gin (keeping the trigrams-only index of migration 0602173a277f where there is one)
SEARCH_INDEX_MISSING = ("SELECT to_regclass('customer_data') IS NOT NULL "
                        f"AND to_regclass('{SEARCH_INDEX}') IS NULL "
                        "AND to_regclass('ix_customer_data_search_trgm') IS NULL")


def configure_engine(engine):
    if engine.dialect.name == "postgresql":
        event.listen(engine, "checkout", _postgresql_checkout(engine.dialect))
        event.listen(engine, "checkin", _postgresql_checkin)
        event.listen(engine, "connect", _warn_without_search_index, once=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


def _warn_without_search_index(dbapi_connection, connection_record):
    """Once per process, on its first connection: say so when search has no trigram index."""
    try:
        missing = dbapi_connection.execute(SEARCH_INDEX_MISSING).fetchone()[0]
    finally:
        dbapi_connection.rollback()
    if missing:
        log.warning("PostgreSQL has no trigram index for search (the pg_trgm and btree_gin extensions could not "
                    "be created): search reads every entry of its user. Create the extensions as a superuser, then "
                    "the index as migration 3f8e2b6c1d47 does.")


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


_ping_next = threading.local()


def ping_next_checkout():
    """The next connection this thread takes from the pool answers a ping first (prepared.py asks
    for it after a statement found its pooled connection dead: the others may be dead too)."""
    _ping_next.wanted = True


def _postgresql_checkout(dialect):
    def checkout(dbapi_connection, connection_record, connection_proxy):
        # A pooled connection whose server went away (a restart, pg_terminate_backend, an idle
        # timeout) has the server's goodbye or its end of stream waiting on the socket; a live idle
        # one has nothing to read. Polling the socket costs no round trip, unlike pool_pre_ping's
        # SELECT on every checkout; only a connection with something to read is pinged.
        ping, _ping_next.wanted = getattr(_ping_next, "wanted", False), False
        if (ping or _has_input(dbapi_connection)) and not _answers(dialect, dbapi_connection):
            # the server restarted, most likely: every connection made before now is replaced
            # on its next checkout, this one at once (SQLAlchemy's own pre-ping does the same)
            raise exc.InvalidatePoolError("the pooled connection's server went away")
        # Reads (safe methods) run in autocommit, as on SQLite: psycopg then sends no BEGIN before
        # the first statement and no ROLLBACK at the end, two round trips of the three a small
        # read needs.
        if has_request_context() and request.method in READ_ONLY_METHODS:
            dbapi_connection.autocommit = True

    return checkout


def _has_input(dbapi_connection):
    try:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
        return bool(poller.poll(0))
    except Exception:  # no socket any more (closed): a ping tells
        return True


def _answers(dialect, dbapi_connection):
    """A round trip: False when the connection is gone; other errors are raised."""
    autocommit = dbapi_connection.autocommit
    try:
        dbapi_connection.autocommit = True  # a ping opens no transaction
        dialect.do_ping(dbapi_connection)
        dbapi_connection.autocommit = autocommit
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            return False
        raise
    return True


def _postgresql_checkin(dbapi_connection, connection_record):
    if dbapi_connection is not None and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False
