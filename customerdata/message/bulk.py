"""Many entry writes in one transaction: bulk upsert, and the rows of a CSV import.

Items are checked as single creates are (customer, key, typed value), then written with one
INSERT ... ON CONFLICT DO UPDATE per chunk and their changes with one INSERT per chunk: the
statements grow with chunks of items, never per item. Like single writes, the batch holds the
shared lock of each key it writes (PostgreSQL; SQLite has one writer), so no definition change
interleaves.
"""
from dataclasses import dataclass, field

from sqlalchemy import select, text, tuple_
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput
from ..extensions import db
from ..models import utcnow
from . import changes
from .data_keys import definitions_of, key_lock_id, unique_message
from .entries import VALUE_OR_FILE, duplicate_key, is_taken_unique_value, typed_columns
from .queries import ENTRIES, EntryRow, customers_table, entries_table, valid_id

CHUNK = 500  # rows per statement: 500 x 16 parameters stays under SQLite's 32,766
RETRIES = 3  # a unique value taken by a concurrent write between the check and the insert


@dataclass
class Item:
    """One item (or CSV row) as parsed: its fields, or the errors of its shape."""

    fields: dict | None = None
    errors: dict | None = None


@dataclass
class Outcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    results: list = field(default_factory=list)  # per item: ("created"|"updated"|"unchanged", id) or errors dict

    @property
    def failed(self):
        return sum(isinstance(result, dict) for result in self.results)


class AtomicFailure(Exception):
    def __init__(self, outcome):
        super().__init__("atomic batch refused")
        self.outcome = outcome


def upsert(owner_id, items, atomic=False, source="bulk", mode="upsert", repeated=None, dry_run=False):
    """Write the items (each creates or updates the entry of its customer and key) in one transaction.

    `repeated(index)` names an earlier item with the same customer and key; `mode="create"` makes an
    existing key an error. Raises AtomicFailure (nothing written) when `atomic` and any item fails.
    """
    for attempt in range(RETRIES):
        try:
            return _upsert(owner_id, items, atomic, source, mode, repeated or _repeated_in_request, dry_run)
        except IntegrityError as error:
            db.session.rollback()
            if not is_taken_unique_value(error) or attempt == RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _repeated_in_request(index):
    return f"Repeated in this request (item {index})."


def _upsert(owner_id, items, atomic, source, mode, repeated, dry_run):
    results = [item.errors for item in items]
    first = {}
    for index, item in enumerate(items):
        if item.errors is None:
            slot = (item.fields["customer"], item.fields["key"])
            if slot in first:
                results[index] = {"key": [repeated(first[slot])]}
            else:
                first[slot] = index
    pending = [index for index, result in enumerate(results) if result is None]
    keys = sorted({items[index].fields["key"] for index in pending})
    _share_keys(owner_id, keys)
    names = _customer_names(owner_id, {items[index].fields["customer"] for index in pending})
    definitions = definitions_of(owner_id, keys)
    existing = _existing(owner_id, [(items[index].fields["customer"], items[index].fields["key"])
                                    for index in pending if items[index].fields["customer"] in names])
    now = utcnow()
    writes, taken = [], {}
    for index in pending:
        fields = items[index].fields
        customer_id, key, value = fields["customer"], fields["key"], fields["value"]
        try:
            if customer_id not in names:
                raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.')
            entry = existing.get((customer_id, key))
            if entry is not None and mode == "create":
                raise duplicate_key(key)
            if not value:  # an import row without a value: nothing to write
                if entry is None:
                    raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
                results[index] = ("unchanged", entry.id)
                continue
            definition = definitions.get(key)
            columns = typed_columns(definition, key, value, *(
                (entry.file_name or "file", entry.file_size) if entry is not None and entry.file else (None, None)))
            if entry is not None and columns["value"] == entry.value:
                results[index] = ("unchanged", entry.id)
                continue
            if columns["unique_hash"] is not None:
                slot = (key, columns["unique_hash"])
                if slot in taken:
                    raise InvalidInput.on("value", unique_message(key))
                taken[slot] = customer_id
        except InvalidInput as refused:
            results[index] = refused.messages
            continue
        writes.append((index, entry, columns))
    _refuse_taken_unique_values(owner_id, writes, taken, results)
    writes = [write for write in writes if results[write[0]] is None]
    outcome = Outcome(results=results)
    if atomic and outcome.failed:
        db.session.rollback()
        raise AtomicFailure(outcome)
    if writes and not dry_run:
        writes = _write(owner_id, items, writes, now, results)
    else:
        writes = [(index, entry, columns, entry.id if entry else None) for index, entry, columns in writes]
    change_rows = []
    for index, entry, columns, entry_id in writes:
        fields = items[index].fields
        if entry is None:
            after = EntryRow(entry_id, fields["customer"], owner_id, fields["key"], columns["value"], None, None,
                             now, now, *names[fields["customer"]])
            results[index] = ("created", after.id)
            change_rows.append(changes.entry_created(owner_id, after, source))
        else:
            before = EntryRow(*entry[:len(EntryRow._fields)])
            after = before._replace(value=columns["value"], updated_at=now)
            results[index] = ("updated", entry.id)
            change_rows.append(changes.entry_updated(owner_id, before, after, source))
    if dry_run:
        db.session.rollback()
    else:
        changes.record_in_session(change_rows)
        db.session.commit()
    for status in ("created", "updated", "unchanged"):
        setattr(outcome, status, sum(isinstance(result, tuple) and result[0] == status for result in results))
    return outcome


def _share_keys(owner_id, keys):
    """PostgreSQL: the shared advisory locks of the keys, in one statement, in a fixed order (so two
    batches never wait on each other in a cycle)."""
    if keys and db.session.get_bind().dialect.name == "postgresql":
        locks = sorted(key_lock_id(owner_id, key) for key in keys)
        db.session.execute(SHARE_KEYS, {"locks": locks})


SHARE_KEYS = text("SELECT count(pg_advisory_xact_lock_shared(lock)) FROM "
                  "(SELECT unnest(CAST(:locks AS bigint[])) AS lock ORDER BY 1) AS locks")


def _customer_names(owner_id, customer_ids):
    ids = sorted(customer_id for customer_id in customer_ids if valid_id(customer_id))
    names = {}
    for start in range(0, len(ids), CHUNK):
        rows = db.session.execute(select(customers_table.c.id, customers_table.c.first_name,
                                         customers_table.c.last_name, customers_table.c.username,
                                         customers_table.c.source).where(
            customers_table.c.user_id == owner_id, customers_table.c.id.in_(ids[start:start + CHUNK])))
        names.update((row[0], tuple(row[1:])) for row in rows)
    return names


EXISTING = ENTRIES.add_columns(entries_table.c.file_size)


def _existing(owner_id, slots):
    """{(customer, key): entry} of the slots that hold an entry, locked where the database can."""
    found = {}
    slots = sorted(set(slots))
    for start in range(0, len(slots), CHUNK):
        chunk = slots[start:start + CHUNK]
        query = EXISTING.where(tuple_(entries_table.c.customer_id, entries_table.c.key).in_(chunk))
        for row in db.session.execute(query.with_for_update(of=entries_table), {"owner": owner_id}):
            found[(row.customer, row.key)] = row
    return found


def _refuse_taken_unique_values(owner_id, writes, taken, results):
    """A unique value another customer's entry holds already refuses the item that brings it."""
    wanted = sorted(taken)
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        rows = db.session.execute(select(entries_table.c.key, entries_table.c.unique_hash,
                                         entries_table.c.customer_id).where(
            entries_table.c.user_id == owner_id,
            tuple_(entries_table.c.key, entries_table.c.unique_hash).in_(chunk)))
        for key, unique_hash, customer_id in rows:
            if taken[(key, unique_hash)] != customer_id:
                for index, _entry, columns in writes:
                    if columns["unique_hash"] == unique_hash and results[index] is None:
                        results[index] = {"value": [unique_message(key)]}


SLOT = ["customer_id", "user_id", "key"]
UPDATED = ("value", "search_text", "number", "instant", "value_hash", "unique_hash", "updated_at")


def _insert(dialect_name):
    # the engine has loaded its own dialect's module already; at the top, PostgreSQL's (2.4 MiB)
    # would be loaded into every SQLite worker too
    if dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(entries_table)


def _write(owner_id, items, writes, now, results):
    """Insert the new entries and update the others, a statement per chunk; returns the writes as
    they happened, (item index, entry before or None, columns, id).

    A new entry goes in with ON CONFLICT DO NOTHING: when a concurrent single write created the
    same customer's key since it was read, the item becomes an update of that entry (or unchanged),
    and its change says so."""
    dialect_name = db.session.get_bind().dialect.name
    insert_new = _insert(dialect_name).on_conflict_do_nothing(index_elements=SLOT).returning(
        entries_table.c.id, entries_table.c.customer_id, entries_table.c.key)
    upsert = _insert(dialect_name)
    upsert = upsert.on_conflict_do_update(index_elements=SLOT, set_={name: upsert.excluded[name] for name in UPDATED}
                                          ).returning(entries_table.c.id, entries_table.c.customer_id,
                                                      entries_table.c.key)

    def slot(index):
        return items[index].fields["customer"], items[index].fields["key"]

    def row(index, entry, columns):
        fields = items[index].fields
        return {"customer_id": fields["customer"], "user_id": owner_id, "key": fields["key"],
                "file": entry.file if entry else None, "file_name": entry.file_name if entry else None,
                "file_size": entry.file_size if entry else None,
                "created_at": entry.created_at if entry else now, "updated_at": now, **columns}

    created = _run(insert_new, [(index, row(index, None, columns)) for index, entry, columns in writes
                                if entry is None])
    updates = [(index, entry, columns) for index, entry, columns in writes if entry is not None]
    raced = [(index, columns) for index, entry, columns in writes if entry is None and slot(index) not in created]
    if raced:
        now_existing = _existing(owner_id, [slot(index) for index, _ in raced])
        for index, columns in raced:
            entry = now_existing.get(slot(index))
            if entry is not None and entry.value == columns["value"]:
                results[index] = ("unchanged", entry.id)
            else:
                updates.append((index, entry, columns))
    updated = _run(upsert, [(index, row(index, entry, columns)) for index, entry, columns in updates])
    return ([(index, None, columns, created[slot(index)]) for index, entry, columns in writes
             if entry is None and slot(index) in created]
            + [(index, entry, columns, updated[slot(index)]) for index, entry, columns in updates])


def _run(statement, indexed_rows):
    """Execute `statement` over the rows a chunk at a time; {(customer, key): id} of the rows it wrote
    (they come back in no promised order: SQLite batches only so)."""
    written = {}
    rows = [row for _, row in indexed_rows]
    for start in range(0, len(rows), CHUNK):
        for entry_id, customer_id, key in db.session.execute(statement, rows[start:start + CHUNK]):
            written[(customer_id, key)] = entry_id
    return written


def answer(outcome, atomic):
    """The answer body and status of a bulk upsert."""
    if atomic and outcome.failed:
        return {"items": [result if isinstance(result, dict) else {} for result in outcome.results]}, 400
    results = []
    for index, result in enumerate(outcome.results):
        if isinstance(result, dict):
            results.append({"index": index, "status": "error", "errors": result})
        else:
            results.append({"index": index, "status": result[0], "id": result[1]})
    body = {"created": outcome.created, "updated": outcome.updated, "unchanged": outcome.unchanged,
            "failed": outcome.failed, "results": results}
    return body, (207 if outcome.failed else 200)

