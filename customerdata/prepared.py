"""The hot statements, run on the driver: Core statements compiled once per database.

The per-request token check and the entry reads, lists, creates and updates are SQLAlchemy Core
statements, the one description of their SQL on every database. Executing them through the ORM
session cost about 200 µs a request for the two statements of a small read (the session's
transaction bookkeeping, then per statement a cache key, an execution context and a result
object); compiled once and run on a pooled DBAPI connection they cost about 20 µs. Parameters
and results still go through SQLAlchemy's type processors (SQLite's DateTime as text, say).

Each request borrows one pooled connection for them and gives it back at teardown. It runs in
autocommit, so a read needs no transaction (on PostgreSQL that saves the BEGIN and ROLLBACK round
trips) and a single-statement write is its own; `transaction()` groups statements that must see
and change the same rows. Driver errors become SQLAlchemy's, so they are answered like any
other (409-style integrity errors, 503 when the database is unavailable), and a connection found
dead is discarded rather than pooled again.

Connections are not pinged on every checkout (database.py finds most dead ones without a round
trip). A statement that still finds its connection dead is run once more on another one, pinged
first (database.ping_next_checkout), when that is safe (`_may_run_again`): the first statement of
the request's connection, a read or a BEGIN, outside a transaction; so after a database restart
the client sees no error. Inside `transaction()` the statements before it are lost with the
connection, so the error is answered (503).
"""
import fcntl
import os
import threading
from collections import namedtuple
from contextlib import contextmanager, nullcontext, suppress

from flask import g
from sqlalchemy import exc

from .database import ping_next_checkout
from .extensions import db


class Prepared:
    def __init__(self, statement, columns=None, planned_each_run=False):
        """`columns`: the columns an INSERT or UPDATE sets, each bound under its own name.

        PostgreSQL prepares a statement at its first run and soon plans it once for every
        parameter (a generic plan): right for lookups by id, where planning would cost more than
        the run, and wrong where the best plan depends on how many rows the owner has (a filtered
        list). `planned_each_run` statements are sent unprepared, planned for their parameters.
        """
        self.statement = statement
        self.columns = columns
        self.prepare = not planned_each_run
        self._selected = list(statement.exported_columns)  # a SELECT's columns, or what DML RETURNs
        self.Row = namedtuple("Row", statement.exported_columns.keys()) if self._selected else None
        self._by_dialect = {}

    def all(self, parameters):
        return self._run(parameters, fetch=True)

    def first(self, parameters):
        rows = self._run(parameters, fetch=True)
        return rows[0] if rows else None

    def scalar(self, parameters):
        row = self.first(parameters)
        return None if row is None else row[0]

    def execute(self, parameters):
        """Run a statement that returns no rows; returns how many rows it changed."""
        return self._run(parameters, fetch=False)

    def _run(self, parameters, fetch):
        dialect = _dialect()
        sql, names, fixed, processors, positional, converters = self._compiled(dialect)
        if fixed:
            parameters = fixed | parameters
        if processors:
            parameters = parameters | {name: process(parameters[name]) for name, process in processors.items()}
        if positional:
            arguments = tuple([parameters[name] for name in names])
        else:
            arguments = {name: parameters[name] for name in names}
        result = _on_driver(sql, arguments, fetch, dialect, self.prepare)
        if not fetch:
            return result
        make = self.Row._make
        if not converters:
            return [make(row) for row in result]
        return [make([convert(value) if convert else value for convert, value in zip(converters, row, strict=True)])
                for row in result]

    def _compiled(self, dialect):
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect, column_keys=self.columns)
            names = tuple(statement.positiontup) if dialect.positional else tuple(set(statement.bind_names.values()))
            # values SQLAlchemy bound itself, such as the LIMIT it adds to an OFFSET on SQLite
            fixed = {name: bind.effective_value for bind, name in statement.bind_names.items() if not bind.required}
            processors = {name: process for name, process in statement._bind_processors.items() if process}
            converters = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                          for column in self._selected]
            compiled = (statement.string, names, fixed, processors, dialect.positional,
                        converters if any(converters) else None)
            self._by_dialect[dialect.name] = compiled
        return compiled


@contextmanager
def transaction():
    """Statements that must see and change the same rows, committed together or not at all.

    On SQLite the write lock is taken up front (BEGIN IMMEDIATE): a transaction that reads, then
    writes, would otherwise fail with "database is locked" when another process wrote in between;
    this way it waits its turn (busy_timeout).
    """
    dialect = _dialect()
    state = g._get_current_object()
    with _writers_take_turns(db.engine) if dialect.name == "sqlite" else nullcontext():
        _on_driver("BEGIN IMMEDIATE" if dialect.name == "sqlite" else "BEGIN", None, False, dialect)
        connection = state._driver_connection
        state._driver_transaction = True  # no statement is run again on another connection now
        try:
            yield
            _on_driver("COMMIT", None, False, dialect)
        except BaseException:
            if state.get("_driver_connection") is connection:  # still usable, not discarded as dead
                with suppress(exc.DBAPIError):  # the error that got here is the one to report
                    _on_driver("ROLLBACK", None, False, dialect)
            raise
        finally:
            state._driver_transaction = False


_turn_lock = threading.Lock()
_turn_files = {}  # (process id, lock file path) -> file descriptor


@contextmanager
def _writers_take_turns(engine):
    """SQLite: the workers of a host queue for the write lock on a file lock, in the kernel.

    A writer that finds SQLite's lock taken sleeps in SQLite's busy handler, at least 1 ms a time,
    however soon the lock is free again; with the definition read and two INSERTs in a write's
    transaction, that sleep was where creates lost most of their throughput under two workers.
    flock() wakes the next writer the moment the lock is released. (Writes through the ORM session
    still take SQLite's lock directly; they wait in the busy handler as before.)
    """
    path = engine.url.database
    if not path or path == ":memory:":
        yield
        return
    key = (os.getpid(), path)
    with _turn_lock:  # the threads of one process take turns too (one descriptor per process)
        descriptor = _turn_files.get(key)
        if descriptor is None:
            descriptor = _turn_files[key] = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)


def _on_driver(sql, arguments, fetch, dialect, prepare=False, retry=True):
    connection = cursor = None
    state = g._get_current_object()
    first = "_driver_connection" not in state  # the request's first statement here: it checks out
    try:
        connection = state.get("_driver_connection")
        if connection is None:
            connection = driver_connection()
        cursor = connection.cursor()
        if dialect.name == "postgresql":  # psycopg prepares only when told (config.py)
            cursor.execute(sql, arguments, prepare=prepare)
        elif arguments is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, arguments)
        result = cursor.fetchall() if fetch else cursor.rowcount
        cursor.close()
        return result
    except dialect.loaded_dbapi.Error as error:
        invalidated = connection is not None and dialect.is_disconnect(error, connection.dbapi_connection, cursor)
        if invalidated:
            connection.invalidate(error)
            release_driver_connection()
            if retry and _may_run_again(sql, first):
                ping_next_checkout()
                return _on_driver(sql, arguments, fetch, dialect, prepare, retry=False)
        raise exc.DBAPIError.instance(sql, arguments, error, dialect.loaded_dbapi.Error,
                                      connection_invalidated=invalidated, dialect=dialect) from error


def _may_run_again(sql, first):
    """Whether a statement whose connection was found dead can run on another one: outside a
    transaction, when nothing of it can have happened (its connection was just taken from the
    pool, where it died) or when running it twice changes nothing (a read, a BEGIN). A write in
    autocommit on a connection that worked a moment ago may have been done before the server
    went away: that one is answered as the error it is."""
    return not g.get("_driver_transaction") and (first or sql.startswith(("SELECT", "BEGIN")))


def _dialect():
    """The dialect of the app context's engine, remembered in `g`: `db.engine` and each access
    through the `g` proxy cost about a microsecond, and every statement here needs the dialect."""
    state = g._get_current_object()
    dialect = state.get("_driver_dialect")
    if dialect is None:
        dialect = state._driver_dialect = db.engine.dialect
    return dialect


def driver_connection():
    """The pooled connection this request runs prepared statements on, in autocommit."""
    connection = g.get("_driver_connection")
    if connection is None:
        engine = db.engine
        connection = engine.raw_connection()
        if engine.dialect.name == "postgresql":
            connection.dbapi_connection.autocommit = True  # the checkin listener turns it off again
        g._driver_connection = connection
    return connection


def release_driver_connection(error=None):
    connection = g.pop("_driver_connection", None)
    if connection is not None:
        connection.close()
