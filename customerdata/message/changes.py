"""Recording changes: every committed write of a customer, an entry or a definition leaves one.

The write path of each resource calls this module inside its own transaction, so a rolled-back
write leaves no change and a committed one always has one (history, the feed and revert read
them). Entry writes run on the driver connection (prepared.py) and record through INSERT_CHANGE;
the others run in the ORM session and record through `record_in_session`.
"""
from flask import has_request_context
from sqlalchemy import BigInteger, insert
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from .. import request_id
from ..extensions import db
from ..models import Change, utcnow
from ..prepared import Prepared
from ..serialization import item_dumper
from ..storage import media_url_path
from ..webhooks import outbox
from .data_key_schemas import DataKeySchema
from .schemas import CustomerDataSchema, CustomerSchema

ENTRY_FIELDS = ("key", "value", "file_name", "file")
CUSTOMER_FIELDS = ("first_name", "last_name", "username", "email", "phone_number", "source")
DEFINITION_FIELDS = ("key", "type", "label", "description", "position", "archived", "min", "max", "min_length",
                     "max_length", "pattern", "choices", "region", "max_size", "extensions", "unique")


class current_txid(FunctionElement):  # noqa: N801 (an SQL function, named as one)
    """The writing transaction's id on PostgreSQL (the feed's order); 0 elsewhere."""

    type = BigInteger()
    inherit_cache = True


@compiles(current_txid, "postgresql")
def _postgresql_txid(element, compiler, **kwargs):
    return "pg_current_xact_id()::text::bigint"


@compiles(current_txid)
def _no_txid(element, compiler, **kwargs):
    return "0"


_change = Change.__table__
CHUNK = 500  # changes recorded, and their ids bound, a statement at a time
RECORDED = ("user_id", "kind", "at", "source", "request_id", "customer_id", "entry_id", "data_key_id", "entry_key",
            "entry_key_before", "changes", "data", "deleted_data_count")
INSERT_CHANGES = insert(_change).values(txid=current_txid())
INSERT_CHANGE = Prepared(INSERT_CHANGES, columns=RECORDED)
# built anew: a statement copied from INSERT_CHANGES once it was prepared keeps its memoised empty column list
INSERT_CHANGE_RETURNING_ID = Prepared(insert(_change).values(txid=current_txid()).returning(_change.c.id),
                                      columns=RECORDED)


def source_of(source=None):
    """The source a write records: as given, else `api` while serving a request, `cli` otherwise."""
    return source or ("api" if has_request_context() else "cli")


def _change_row(owner_id, kind, changes, source, *, customer_id=None, entry_id=None, data_key_id=None,
                entry_key=None, entry_key_before=None, data=None, deleted_data_count=None, at=None):
    return {"user_id": owner_id, "kind": kind, "at": at or utcnow(), "source": source_of(source),
            "request_id": request_id.current(), "customer_id": customer_id, "entry_id": entry_id,
            "data_key_id": data_key_id, "entry_key": entry_key, "entry_key_before": entry_key_before,
            "changes": changes, "data": data, "deleted_data_count": deleted_data_count}


def compared(before, after, names):
    """{"field": {"from": old, "to": new}} of the fields that differ."""
    return {name: {"from": before.get(name), "to": after.get(name)} for name in names
            if before.get(name) != after.get(name)}


# Entries

_entry_snapshot = item_dumper(CustomerDataSchema(exclude=("file_url",)))


def entry_fields(key, value, file_name, stored_file):
    """An entry's recorded fields, `file` as the entry's `file` field shows it."""
    return {"key": key, "value": value, "file_name": file_name, "file": media_url_path(stored_file)}


def entry_change(owner_id, kind, entry, changes, source=None, key_before=None):
    """The change row of an entry write; `entry` is the entry as answered (an EntryRow) after it,
    or before it for a delete. A create or an update happens at the entry's new `updated_at`."""
    if kind == "entry.deleted":
        return _change_row(owner_id, kind, changes, source, customer_id=entry.customer, entry_id=entry.id,
                           entry_key=entry.key)
    return _change_row(owner_id, kind, changes, source, customer_id=entry.customer, entry_id=entry.id,
                       entry_key=entry.key, entry_key_before=key_before, data=_entry_snapshot(entry),
                       at=entry.updated_at)


def entry_created(owner_id, entry, source=None):
    fields = entry_fields(entry.key, entry.value, entry.file_name, entry.file)
    changes = compared({}, fields, ENTRY_FIELDS if entry.file else ("key", "value"))
    changes.setdefault("value", {"from": None, "to": entry.value})
    return entry_change(owner_id, "entry.created", entry, changes, source)


def with_entry_id(change, entry_id):
    """A create's change made before its entry had an id (outside the write's lock), with the id."""
    change["entry_id"] = change["data"]["id"] = entry_id
    return change


def entry_updated(owner_id, before, after, source=None):
    """The change of an update from `before` to `after` (EntryRows), or None when nothing changed."""
    changes = compared(entry_fields(before.key, before.value, before.file_name, before.file),
                       entry_fields(after.key, after.value, after.file_name, after.file), ENTRY_FIELDS)
    if not changes:
        return None
    return entry_change(owner_id, "entry.updated", after, changes, source,
                        key_before=before.key if before.key != after.key else None)


def entry_deleted(owner_id, entry, source=None):
    fields = entry_fields(entry.key, entry.value, entry.file_name, entry.file)
    changes = {name: {"from": fields[name], "to": None} for name in ENTRY_FIELDS}
    return entry_change(owner_id, "entry.deleted", entry, changes, source)


# Customers

_customer_schema = CustomerSchema()


def customer_fields(customer):
    return {name: getattr(customer, name) for name in CUSTOMER_FIELDS}


def customer_created(customer, source=None):
    changes = {name: {"from": None, "to": value} for name, value in customer_fields(customer).items()
               if value is not None}
    return _change_row(customer.user_id, "customer.created", changes, source, customer_id=customer.id,
                       data=_customer_schema.dump(customer))


def customer_updated(customer, before, source=None):
    changes = compared(before, customer_fields(customer), CUSTOMER_FIELDS)
    return _change_row(customer.user_id, "customer.updated", changes, source, customer_id=customer.id,
                       data=_customer_schema.dump(customer))


def customer_deleted(owner_id, customer_id, deleted_data_count, source=None):
    return _change_row(owner_id, "customer.deleted", {}, source, customer_id=customer_id,
                       deleted_data_count=deleted_data_count)


# Definitions

_definition_schema = DataKeySchema()


def definition_fields(definition):
    answered = _definition_schema.dump(definition)
    return {name: answered[name] for name in DEFINITION_FIELDS}


def definition_created(definition, source=None):
    changes = {name: {"from": None, "to": value} for name, value in definition_fields(definition).items()
               if value is not None and value is not False}
    return _change_row(definition.user_id, "data_key.created", changes, source, data_key_id=definition.id,
                       data=_definition_schema.dump(definition))


def definition_updated(definition, before, source=None):
    changes = compared(before, definition_fields(definition), DEFINITION_FIELDS)
    return _change_row(definition.user_id, "data_key.updated", changes, source, data_key_id=definition.id,
                       data=_definition_schema.dump(definition))


def definition_deleted(owner_id, definition_id, source=None):
    return _change_row(owner_id, "data_key.deleted", {}, source, data_key_id=definition_id)


def record_on_driver(row):
    """Record an entry write's change in its transaction on the driver connection (prepared.py),
    with its webhook deliveries when the writer has an endpoint."""
    if outbox.subscribed(row["user_id"], on_driver=True):
        outbox.enqueue_on_driver(row["user_id"], INSERT_CHANGE_RETURNING_ID.scalar(row), row["at"])
    else:
        INSERT_CHANGE.execute(row)


def record_in_session(rows):
    """Record changes of one owner in the ORM session's transaction (customers, definitions, bulk
    writes), with their webhook deliveries when the owner has an endpoint."""
    rows = [row for row in rows if row is not None]
    if not rows:
        return
    owner_id = rows[0]["user_id"]
    subscribed = outbox.subscribed(owner_id)
    for start in range(0, len(rows), CHUNK):
        change_ids = db.session.scalars(INSERT_CHANGES.returning(_change.c.id), rows[start:start + CHUNK]).all()
        if subscribed:
            outbox.enqueue_in_session(owner_id, change_ids, rows[0]["at"])
