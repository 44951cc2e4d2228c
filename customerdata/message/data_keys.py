"""Definitions of data keys: their writes, the check of existing values, and the JSON Schema.

A definition change and the entry writes of its key exclude each other (`key_lock`): a change
waits for the writes in flight and the writes after it read the new definition, so no value
survives that the definition in force refuses. Creating a definition, or changing its type, a
constraint, its choices or `unique`, checks every existing value of the key in the same
transaction and rewrites them to their canonical form, or changes nothing (409).
"""
import hashlib
from types import SimpleNamespace

from sqlalchemy import bindparam, delete, func, or_, select, text, update

from ..errors import ExistingValuesConflict, InvalidInput, NotFound
from ..extensions import db, unchanged
from ..models import CustomerData, DataKey, utcnow
from ..storage import get_storage
from . import changes, value_types
from .queries import ENTRIES, EntryRow
from .value_types import CONSTRAINTS, Refused

DEFINITION_NOT_FOUND = "Definition not found."
MAX_DEFINITIONS = 500
LABEL_LENGTH = 100  # a label defaults to the key, cut to the label's length
LISTED_INVALID = 20  # entries a 409 or a dry run lists
LISTED_VALUE_LENGTH = 100
# what a change of these fields can make an existing value refused or rewritten
CHECKED_FIELDS = ("type", *CONSTRAINTS)


def key_lock_id(owner_id, key):
    """A 64-bit advisory lock id of one user's key (PostgreSQL; SQLite serialises writers anyway)."""
    digest = hashlib.sha256(f"{owner_id}\x00{key}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _lock_key(owner_id, key):
    """Inside the session's transaction: the key's definition and entries are this change's alone."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": key_lock_id(owner_id, key)})
        # and the owner's row, so that two creations cannot both pass the per-user limit
        db.session.execute(text("SELECT id FROM users WHERE id = :owner FOR NO KEY UPDATE"), {"owner": owner_id})


# Reads

def list_definitions(owner_id, key=None, archived=None):
    query = select(DataKey).where(DataKey.user_id == owner_id)
    if key is not None:
        query = query.where(DataKey.key == key)
    if archived is not None:
        query = query.where(DataKey.archived == archived)
    return db.session.scalars(query.order_by(DataKey.position, DataKey.key, DataKey.id)).all()


def get_definition(owner_id, definition_id):
    definition = db.session.get(DataKey, definition_id) if 0 < definition_id < 2**31 else None
    if definition is None or definition.user_id != owner_id:
        raise NotFound(DEFINITION_NOT_FOUND)
    return definition


def definitions_of(owner_id, keys):
    """{key: definition} of the caller's keys among `keys` (filters and segments)."""
    if not keys:
        return {}
    rows = db.session.scalars(select(DataKey).where(DataKey.user_id == owner_id, DataKey.key.in_(set(keys))))
    return {row.key: row for row in rows}


# Writes

def create_definition(owner_id, fields, dry_run=False):
    key = fields["key"]
    _lock_key(owner_id, key)
    if db.session.scalar(select(func.count()).where(DataKey.user_id == owner_id)) >= MAX_DEFINITIONS:
        raise _rolled_back(InvalidInput.on("non_field_errors",
                                           f"A user can have at most {MAX_DEFINITIONS} definitions."))
    if db.session.scalar(select(DataKey.id).where(DataKey.user_id == owner_id, DataKey.key == key)) is not None:
        raise _rolled_back(InvalidInput.on("key", "This key already has a definition."))
    now = utcnow()
    definition = DataKey(user_id=owner_id, key=key, type=fields["type"], label=fields.get("label") or key[:LABEL_LENGTH],
                         description=fields.get("description") or "", position=fields.get("position") or 0,
                         archived=bool(fields.get("archived")), unique=False, created_at=now, updated_at=now)
    _apply_constraints(definition, fields, type_changed=True)
    if dry_run:
        return _dry_run(owner_id, definition)
    db.session.add(definition)
    db.session.flush()
    changes.record_in_session([changes.definition_created(definition)])
    _check_existing(owner_id, definition)
    db.session.commit()
    return definition


def _locked_definition(owner_id, definition_id, fields=None):
    """The definition as it is once its key is this transaction's (it may be gone by then: 404)."""
    key = get_definition(owner_id, definition_id).key
    if fields and "key" in fields and fields["key"] != key:
        raise InvalidInput.on("key", "The key of a definition cannot change.")
    _lock_key(owner_id, key)
    definition = db.session.scalar(select(DataKey).where(DataKey.id == definition_id)
                                   .execution_options(populate_existing=True))
    if definition is None:
        raise _rolled_back(NotFound(DEFINITION_NOT_FOUND))
    return definition


def update_definition(owner_id, definition_id, fields, dry_run=False):
    """Change the given fields; when none differs, nothing is written (updated_at included)."""
    definition = _locked_definition(owner_id, definition_id, fields)
    checked = {name: getattr(definition, name) for name in CHECKED_FIELDS}
    before = changes.definition_fields(definition)
    for name in ("label", "description", "position", "archived"):
        if name in fields:
            setattr(definition, name, fields[name])
    if "label" in fields and not fields["label"]:
        definition.label = definition.key[:LABEL_LENGTH]
    if fields.get("description") is None and "description" in fields:
        definition.description = ""
    type_changed = "type" in fields and fields["type"] != definition.type
    if "type" in fields:
        definition.type = fields["type"]
    _apply_constraints(definition, fields, type_changed)
    if dry_run:
        return _dry_run(owner_id, definition)
    if changes.definition_fields(definition) == before:
        return unchanged(definition)
    definition.updated_at = utcnow()
    db.session.flush()
    changes.record_in_session([changes.definition_updated(definition, before)])
    if any(getattr(definition, name) != was for name, was in checked.items()):
        _check_existing(owner_id, definition)
    db.session.commit()
    return definition


def _dry_run(owner_id, definition):
    report = _check_existing(owner_id, definition, write=False)
    db.session.rollback()
    return report


def delete_definition(owner_id, definition_id):
    """Delete a definition; its values stay as they are, text from now on."""
    definition = _locked_definition(owner_id, definition_id)
    key = definition.key
    _untype_existing(owner_id, key)
    db.session.execute(delete(DataKey).where(DataKey.id == definition.id))
    changes.record_in_session([changes.definition_deleted(owner_id, definition.id)])
    db.session.commit()
    return key


def _rolled_back(error):
    db.session.rollback()
    return error


# Constraints

def _apply_constraints(definition, given, type_changed):
    """Set the constraints given; on a type change drop those the new type does not use."""
    errors = {}
    type_name = definition.type
    for name, types in CONSTRAINTS.items():
        unset = False if name == "unique" else None
        if name in given:
            value = given[name]
            if value not in (None, False) and type_name not in types:
                errors[name] = [f'Not used by type "{type_name}".']
                continue
            setattr(definition, name, unset if value is None else value)
        elif type_changed and type_name not in types:
            setattr(definition, name, unset)
    for name in ("min", "max"):
        raw = getattr(definition, name)
        if raw is None or name in errors:
            continue
        try:
            setattr(definition, name, value_types.parse(type_name, str(raw)).value)
        except Refused as refused:
            errors[name] = [refused.message]
    if not errors.keys() & {"min", "max"} and definition.min is not None and definition.max is not None:
        if value_types.bound(type_name, definition.max) < value_types.bound(type_name, definition.min):
            errors["max"] = ["Ensure this value is greater than or equal to min."]
    if definition.min_length is not None and definition.max_length is not None \
            and definition.max_length < definition.min_length:
        errors["max_length"] = ["Ensure this value is greater than or equal to min_length."]
    if definition.pattern is not None and "pattern" not in errors:
        message = value_types.pattern_error(definition.pattern)
        if message:
            errors["pattern"] = [message]
    if type_name in CONSTRAINTS["choices"] and not definition.choices and "choices" not in errors:
        errors["choices"] = ["This field is required."]
    if errors:
        db.session.rollback()
        raise InvalidInput(errors)


# Existing values

_entry = CustomerData.__table__
# the entries of a key with what a check and a rewrite need: of the entry alone, as all of them are
# read (20,000 rows joined to their customers with every answered column: 0.25 s of a definition)
EXISTING = select(_entry.c.id, _entry.c.customer_id, _entry.c.value, _entry.c.file, _entry.c.file_name,
                  _entry.c.file_size, _entry.c.number, _entry.c.instant, _entry.c.value_hash,
                  _entry.c.unique_hash).where(_entry.c.user_id == bindparam("owner"),
                                              _entry.c.key == bindparam("key")).order_by(_entry.c.id)
# those whose text a rewrite changes, as answered (their changes show them), a chunk at a time
ANSWERED = ENTRIES.where(_entry.c.id.in_(bindparam("ids", expanding=True)))
ANSWERED_CHUNK = 500
# What a rewrite sets. A value whose text changes: every stored column of the value, updated_at
# too. A value whose text stays (say a number that is already canonical, now typed): its typed
# columns alone, so that its updated_at stays and its text columns are not written again.
REWRITTEN = ("value", "search_text", "number", "instant", "value_hash", "unique_hash", "updated_at")
RETYPED = ("number", "instant", "unique_hash")
ARRAY_TYPES = {"value": "text", "search_text": "text", "number": "double precision", "instant": "timestamp",
               "value_hash": "text", "unique_hash": "text", "updated_at": "timestamp"}


def _update_by_id(columns):
    """SQLite: one row's columns, its id and new values bound by name (row_id, then the columns)."""
    return update(_entry).where(_entry.c.id == bindparam("row_id")).values(
        {name: bindparam(name) for name in columns})


def _update_from_arrays(columns):
    """PostgreSQL: every row in one statement, ids and new values bound as one array per column.

    Limited to the owner's key as well: by id alone PostgreSQL hashed the arrays against a
    sequential scan of the whole table (0.4-0.7 s of 1,000,000 rows for 20,000 of them); with the
    key it reads the key's entries through (user_id, key, value_hash) (20 ms).
    """
    arrays = ", ".join(f"CAST(:{name} AS {ARRAY_TYPES[name]}[])" for name in columns)
    return text(f"UPDATE customer_data SET {', '.join(f'{name} = r.{name}' for name in columns)} "
                f"FROM unnest(CAST(:row_id AS integer[]), {arrays}) AS r(id, {', '.join(columns)}) "
                f"WHERE customer_data.user_id = :owner AND customer_data.key = :key AND customer_data.id = r.id")


UPDATES = {columns: (_update_by_id(columns), _update_from_arrays(columns)) for columns in (REWRITTEN, RETYPED)}


def _rewrite(owner_id, key, columns, rows):
    """Write `rows` of the owner's key, tuples of (id, *new values of `columns`): on PostgreSQL in
    one statement (20,000 single-row UPDATEs took 0.9 s of a definition's 3.3 s), on SQLite, in
    process, one prepared UPDATE each."""
    if not rows:
        return
    by_id, from_arrays = UPDATES[columns]
    names = ("row_id", *columns)
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(by_id, [dict(zip(names, row)) for row in rows])
        return
    connection.execute(from_arrays, {"owner": owner_id, "key": key,
                                     **dict(zip(names, (list(column) for column in zip(*rows))))})


def _check_existing(owner_id, definition, write=True):
    """Check every value of the key under `definition`; rewrite them (write) or raise the 409.

    Returns the dry run's report: {valid, changed, invalid_count, invalid}.
    """
    rows = db.session.execute(EXISTING, {"owner": owner_id, "key": definition.key}).all()
    # read for every row: plain attributes, not the ORM's instrumented ones (0.2 s over 20,000 rows)
    definition = SimpleNamespace(**{name: getattr(definition, name) for name in DataKey.__table__.columns.keys()})
    if write and definition.unique:
        db.session.execute(update(_entry).where(_entry.c.user_id == owner_id, _entry.c.key == definition.key)
                           .values(unique_hash=None))
    valid = 0
    invalid = []
    rewritten = []  # (id, *REWRITTEN) of the values whose text changes
    retyped = []  # (id, *RETYPED) of the others whose typed columns change
    now = utcnow()
    taken = set()
    storage = None
    for row in rows:
        try:
            file_name = (row.file_name or row.file.rsplit("/", 1)[-1]) if row.file else None
            size = row.file_size
            if row.file and size is None and definition.max_size is not None:
                storage = storage or get_storage()
                size = storage.size(row.file)
            typed = value_types.check(definition, row.value, file_name, size)
            same_text = typed.value == row.value
            stored_hash = row.value_hash if same_text else value_types.value_hash(typed.value)
            unique_hash = stored_hash if definition.unique and typed.value else None
            if unique_hash is not None:
                if unique_hash in taken:
                    raise Refused(unique_message(definition.key))
                taken.add(unique_hash)
        except Refused as refused:
            invalid.append({"id": row.id, "customer": row.customer_id, "value": row.value[:LISTED_VALUE_LENGTH],
                            "errors": [refused.message]})
            continue
        valid += 1
        if not same_text:
            rewritten.append((row.id, typed.value, CustomerData.search_text_for(definition.key, typed.value),
                              typed.number, typed.instant, stored_hash, unique_hash, now))
        # under `unique` every row is written after every hash was cleared, so that no row
        # briefly repeats a hash another row is about to give up
        elif definition.unique or (typed.number, typed.instant, unique_hash) != (row.number, row.instant,
                                                                                  row.unique_hash):
            retyped.append((row.id, typed.number, typed.instant, unique_hash))
    report = {"valid": valid, "changed": len(rewritten), "invalid_count": len(invalid),
              "invalid": invalid[:LISTED_INVALID]}
    if not write:
        return report
    if invalid:
        db.session.rollback()
        raise ExistingValuesConflict(report)
    befores = _answered(owner_id, [row[0] for row in rewritten])
    _rewrite(owner_id, definition.key, REWRITTEN, rewritten)
    _rewrite(owner_id, definition.key, RETYPED, retyped)
    changes.record_in_session(
        changes.entry_updated(owner_id, befores[row[0]], befores[row[0]]._replace(value=row[1], updated_at=now),
                              "definition") for row in rewritten if row[0] in befores)
    return report


# the key's entries whose typed columns may differ from those of a value without a definition
TYPED_OR_NUMERIC = select(_entry.c.id, _entry.c.value, _entry.c.number, _entry.c.instant, _entry.c.unique_hash).where(
    _entry.c.user_id == bindparam("owner"), _entry.c.key == bindparam("key"),
    or_(_entry.c.number.is_not(None), _entry.c.instant.is_not(None), _entry.c.unique_hash.is_not(None),
        func.length(_entry.c.value) <= value_types.CANONICAL_NUMBER_LENGTH))


def _untype_existing(owner_id, key):
    """The typed columns of the key's values as a key without a definition has them
    (value_types.untyped): those that differ only, so that deleting a `decimal` definition
    writes no row."""
    retyped = []
    for row in db.session.execute(TYPED_OR_NUMERIC, {"owner": owner_id, "key": key}):
        number = value_types.untyped(row.value).number
        if (number, row.instant, row.unique_hash) != (row.number, None, None):
            retyped.append((row.id, number, None, None))
    _rewrite(owner_id, key, RETYPED, retyped)


def _answered(owner_id, ids):
    """{id: EntryRow} of the owner's entries of `ids`, as answered before the rewrite."""
    befores = {}
    for start in range(0, len(ids), ANSWERED_CHUNK):
        for row in db.session.execute(ANSWERED, {"owner": owner_id, "ids": ids[start:start + ANSWERED_CHUNK]}):
            befores[row.id] = EntryRow(*row)
    return befores


def unique_message(key):
    return f"Another customer already has this value for '{key}'."


# The JSON Schema

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema(owner_id):
    """A JSON Schema (2020-12) of one customer's data as the API takes it: {key: value}."""
    properties = {}
    file_keys = []
    for definition in list_definitions(owner_id):
        if definition.type == "file":
            file_keys.append(definition.key)
        else:
            properties[definition.key] = value_types.json_schema(definition)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "Customer data", "type": "object",
            "properties": properties, "additionalProperties": {"type": "string"}, "x-file-keys": file_keys}
