"""Engine set-up per database: what SQLite needs to serve several gunicorn workers."""
from flask import has_request_context, request
from sqlalchemy import event

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def configure_engine(engine):
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection, connection_record):
    # Take transaction control from pysqlite so that _sqlite_begin decides how each one starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def _sqlite_begin(connection):
    # A deferred transaction that reads, then writes, fails with "database is locked" when another
    # process wrote in between; taking the write lock up front makes it wait its turn instead.
    # Reads (safe methods) keep deferred transactions so they never queue behind writers.
    if has_request_context() and request.method in READ_ONLY_METHODS:
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
