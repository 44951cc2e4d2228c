"""The hot reads, run on the driver: Core statements compiled once per database, rows as tuples.

The per-request token check and the entry reads and lists are SQLAlchemy Core statements, the one
description of their SQL on every database. Executing them through the ORM session cost about
200 µs a request for the two statements of a small read (the session's transaction bookkeeping,
then per statement a cache key, an execution context and a result object); compiled once and run
on a pooled DBAPI connection they cost about 20 µs. Writes stay on the session: they need its
transaction, and the SQLite write lock that `database.py` takes for it.

Each request borrows one pooled connection for these reads, in autocommit (a read needs no
transaction, and on PostgreSQL that saves the BEGIN and ROLLBACK round trips), and gives it back
at teardown. Driver errors become SQLAlchemy's, so they are answered like any other (503 when the
database is unavailable), and a connection found dead is discarded rather than pooled again.
"""
from collections import namedtuple

from flask import g
from sqlalchemy import exc

from .extensions import db


class PreparedRead:
    def __init__(self, statement):
        self.statement = statement
        self.Row = namedtuple("Row", statement.selected_columns.keys())
        self._by_dialect = {}

    def all(self, parameters):
        return self._run(parameters, lambda cursor: cursor.fetchall())

    def first(self, parameters):
        rows = self._run(parameters, lambda cursor: cursor.fetchmany(1))
        return rows[0] if rows else None

    def scalar(self, parameters):
        row = self.first(parameters)
        return None if row is None else row[0]

    def _run(self, parameters, fetch):
        dialect = db.engine.dialect
        sql, names, fixed, positional, converters = self._compiled(dialect)
        if fixed:
            parameters = fixed | parameters
        if positional:
            arguments = tuple([parameters[name] for name in names])
        else:
            arguments = {name: parameters[name] for name in names}
        connection = cursor = None
        try:
            connection = read_connection()
            cursor = connection.cursor()
            cursor.execute(sql, arguments)
            rows = fetch(cursor)
            cursor.close()
        except dialect.loaded_dbapi.Error as error:
            invalidated = connection is not None and dialect.is_disconnect(error, connection.dbapi_connection, cursor)
            if invalidated:
                connection.invalidate(error)
                release_read_connection()
            raise exc.DBAPIError.instance(sql, arguments, error, dialect.loaded_dbapi.Error,
                                          connection_invalidated=invalidated, dialect=dialect) from error
        make = self.Row._make
        if not converters:
            return [make(row) for row in rows]
        return [make([convert(value) if convert else value for convert, value in zip(converters, row, strict=True)])
                for row in rows]

    def _compiled(self, dialect):
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            statement = self.statement.compile(dialect=dialect)
            if any(statement._bind_processors.values()):
                raise TypeError("PreparedRead takes parameters the driver accepts as they are")
            names = tuple(statement.positiontup) if dialect.positional else tuple(set(statement.bind_names.values()))
            # values SQLAlchemy bound itself, such as the LIMIT it adds to an OFFSET on SQLite
            fixed = {name: bind.effective_value for bind, name in statement.bind_names.items() if not bind.required}
            converters = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                          for column in self.statement.selected_columns]
            compiled = (statement.string, names, fixed, dialect.positional, converters if any(converters) else None)
            self._by_dialect[dialect.name] = compiled
        return compiled


def read_connection():
    """The pooled connection this request reads through, in autocommit; returned at teardown."""
    connection = g.get("_read_connection")
    if connection is None:
        connection = db.engine.raw_connection()
        if db.engine.dialect.name == "postgresql":
            connection.dbapi_connection.autocommit = True  # the checkin listener turns it off again
        g._read_connection = connection
    return connection


def release_read_connection(error=None):
    connection = g.pop("_read_connection", None)
    if connection is not None:
        connection.close()
