"""Customer data entries: the key-value data, with files, a user keeps about a customer.

Files follow the rows: a new file is written before the commit and discarded if the commit
fails; a file that a change drops is removed only after the commit.
"""
import contextlib
import functools
import hashlib
from array import array

from sqlalchemy import (
    BigInteger,
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    true,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput, NotFound, PreconditionFailed
from ..extensions import db
from ..fields import client_file_name
from ..listing import LIKE_ESCAPE, Page, Position, like_pattern, search_terms
from ..models import CustomerData, DataKey, utcnow
from ..prepared import Prepared, transaction
from ..storage import get_storage
from . import changes, value_filters, value_types
from .data_keys import key_lock_id, unique_message
from .queries import DEFAULT_ORDER, ENTRIES, MAX_ID, EntryRow, order_clause, valid_id
from .queries import customers_table as _customer
from .queries import entries_table as _entry
from .value_types import Refused

CUSTOMER_NOT_FOUND = "Customer not found."
ENTRY_NOT_FOUND = "Customer data not found or you don't have permission to access it."
VALUE_OR_FILE = "Either 'value' (text) or 'file' must be provided."
FILE_OR_REMOVE = "Send either 'file' or 'remove_file', not both."


ENTRY_BY_ID = ENTRIES.where(_entry.c.id == bindparam("entry_id"))
READ_ENTRY = Prepared(ENTRY_BY_ID)


def _before_position(entries):
    """The rows after a cursor's position in the newest-first order, found through (user_id, created_at, id)."""
    return tuple_(entries.c.created_at, entries.c.id) < tuple_(
        bindparam("before_created_at", type_=_entry.c.created_at.type), bindparam("before_id", type_=Integer))


@functools.lru_cache(maxsize=512)
def _entry_list_statements(by_customer, by_key, terms, ordering, limited, offset, lookups=(), value_type=None,
                           ids_only=False, after_id=False, before=False):
    """(rows, count) prepared reads for one shape of list request (rows: only their ids, with
    ids_only; after an id, with after_id; a page after a cursor's position, newest first, with before;
    count None for a search's page, whose rows carry their total).

    The count and a page's ids read the entries alone: every entry has its customer (a foreign
    key), so the join to customers only names the rows of the page. A deep offset otherwise
    fetched every skipped row and its customer (1.3 s for offset=150000), and a filter joined
    every match before sorting them (SQLite: 16,248 for key=age&value__gte=30).
    """
    filters = _entry_filters(_entry, by_customer, by_key, terms, lookups, after_id)  # the owner: in ENTRIES
    ordering = ordering or DEFAULT_ORDER
    # how many rows a filter over all of the owner's entries matches depends on the owner
    planned = {"planned_each_run": bool(by_key or terms or lookups) and not by_customer}
    paged = offset or limited or before
    if terms and paged and not (ids_only or after_id):  # a page with its total (export pages by id alone)
        return Prepared(_searched_page(filters, ordering, value_type, limited, offset, before), **planned), None
    matching = select(_entry.c.id).where(_entry.c.user_id == bindparam("owner"), *filters)
    count = select(func.count()).select_from(matching.subquery())
    clauses = _order_clauses(_entry, ordering, value_type)
    if ids_only:
        query = matching.order_by(*clauses)
    elif paged:
        page = _paged(matching.order_by(*clauses), _entry, limited, offset, before)
        return (Prepared(ENTRIES.where(_entry.c.id.in_(page.scalar_subquery())).order_by(*clauses), **planned),
                Prepared(count, **planned))
    else:
        query = ENTRIES.where(*filters).order_by(*clauses)
    if limited:
        query = query.limit(bindparam("limit", type_=Integer))
    return Prepared(query, **planned), Prepared(count, **planned)


def _order_clauses(entries, ordering, value_type):
    """ORDER BY clauses of a list on `entries` (the table, or a subquery with its columns), ties by -id."""
    clauses = []
    for name, descending in ordering:
        if name == "value":
            clauses += value_filters.value_order(entries, value_type, descending)
        else:
            clauses.append(order_clause(entries.c[name], descending))
    return [*clauses, entries.c.id.desc()]


def _paged(query, entries, limited, offset, before):
    """`query` cut to the page: after the cursor's position (`before`), or past `offset`; `limit` rows."""
    if before:
        query = query.where(_before_position(entries))
    elif offset:
        query = query.offset(bindparam("offset", type_=Integer))
    if limited:
        query = query.limit(bindparam("limit", type_=Integer))
    return query


def _searched_page(filters, ordering, value_type, limited, offset, before):
    """A page of a search and its total in one statement, which reads the matches once: a search
    finds them by a scan (the trigram index and a recheck of each row on PostgreSQL, every entry of
    the owner's on SQLite) that a separate count and page ran twice (PostgreSQL, 521 matches of a
    200,000-entry owner: 4.8 ms as two statements, 2.8 ms as one). The matches are a CTE that the
    count and the page both read, which both databases therefore materialize (no hint: SQLite
    knows `AS MATERIALIZED` only from 3.35). Each row carries the `total`; a page past the last
    match is one row with nothing else (its `id` None)."""
    sorted_by = [_entry.c[name] for name in _sort_columns(ordering, value_type)]
    matching = select(_entry.c.id, *sorted_by).where(_entry.c.user_id == bindparam("owner"), *filters) \
        .cte("matching")
    total = select(func.count().label("total")).select_from(matching).subquery("total")
    page_ids = _paged(select(matching.c.id).order_by(*_order_clauses(matching, ordering, value_type)), matching,
                      limited, offset, before)
    page = ENTRIES.add_columns(*(column for column in sorted_by if column.key not in ENTRIES.selected_columns)) \
        .where(_entry.c.id.in_(page_ids.scalar_subquery())).subquery("page")
    listed = [page.c[name] for name in ENTRIES.selected_columns.keys()]
    return select(*listed, total.c.total).select_from(total.outerjoin(page, true())) \
        .order_by(*_order_clauses(page, ordering, value_type))


def _sort_columns(ordering, value_type):
    """The names of the entry columns a list's order reads."""
    names = {"created_at"}  # a cursor's position
    for name, _ in ordering:
        names.add(value_types.sort_column(value_type) if name == "value" else name)
    return sorted(names)


def _entry_filters(entries, by_customer, by_key, terms, lookups, after_id=False):
    """The WHERE clauses of a list's filters, beside the owner, on the entries table or a subquery of it."""
    filters = []
    if after_id:
        filters.append(entries.c.id > bindparam("after_id"))
    if by_customer:
        filters.append(entries.c.customer_id == bindparam("customer"))
    if by_key:
        filters.append(entries.c.key == bindparam("key"))
    for index in range(terms):
        filters.append(entries.c.search_text.like(bindparam(f"term{index}"), escape=LIKE_ESCAPE))
    for index, typed in enumerate(lookups):
        filters.append(value_filters.lookup_clause(entries, typed, f"v{index}_"))  # typed: its shape
    return filters


# SQLite keeps no statistics per owner. For a filter that matches many of a large owner's entries
# (key=age&value__gte=30: 16,248 of 200,000) it reads every match through the filter's index and
# sorts them all for the newest 50 (20 ms). The owner's newest entries hold such a page: it is
# looked for among the newest RECENT_WINDOW_PER_ROW x (offset + limit) first (0.4 ms), and the
# whole way only when they hold less than the page the count promises.
RECENT_WINDOW_PER_ROW, RECENT_WINDOW_MIN, RECENT_REACH = 20, 1000, 250
NEWEST_FIRST = (_entry.c.created_at.desc(), _entry.c.id.desc())


@functools.lru_cache(maxsize=128)
def _recent_page_statement(by_key, lookups, offset):
    """A page of the matching entries among the owner's `window` newest, newest first."""
    recent = select(_entry).where(_entry.c.user_id == bindparam("owner")).order_by(*NEWEST_FIRST).limit(
        bindparam("window", type_=Integer)).subquery("recent")
    page = select(recent.c.id).where(*_entry_filters(recent, False, by_key, 0, lookups)).order_by(
        recent.c.created_at.desc(), recent.c.id.desc()).limit(bindparam("limit", type_=Integer))
    if offset:
        page = page.offset(bindparam("offset", type_=Integer))
    return Prepared(ENTRIES.where(_entry.c.id.in_(page.scalar_subquery())).order_by(*NEWEST_FIRST),
                    planned_each_run=True)


def _recent_page_for(customer_id, key, terms, ordering, page, shapes):
    """The statement of a page among the owner's newest entries where it may hold the page (see
    RECENT_WINDOW_PER_ROW), else None."""
    if (page is None or page.limit is None or page.offset + page.limit > RECENT_REACH or page.after is not None
            or customer_id is not None
            or terms or (key is None and not shapes) or tuple(ordering or DEFAULT_ORDER) != DEFAULT_ORDER
            or db.engine.dialect.name != "sqlite"):
        return None
    return _recent_page_statement(key is not None, shapes, page.offset > 0)


def _recent_page(recent, page, parameters, total):
    """The page as the owner's newest entries hold it, or None when they hold less than `total` promises."""
    window = max(RECENT_WINDOW_MIN, RECENT_WINDOW_PER_ROW * (page.offset + page.limit))
    rows = recent.all(parameters | {"window": window})
    return rows if len(rows) == min(page.limit, max(total - page.offset, 0)) else None


def list_entries(owner_id, customer_id=None, key=None, search="", ordering=None, page=None, value_lookups=()):
    """The caller's entries, filtered, searched, ordered (`value` by the type of `key`) and paged."""
    if customer_id is not None and not valid_id(customer_id):
        return [], (0 if page else None)
    rows, count, parameters, recent = _list_statements(owner_id, customer_id, key, search, ordering, page,
                                                       value_lookups)
    if page is None:
        return rows.all(parameters), None
    # an offset past every row is an empty page; capped so that no database overflows on it
    parameters.update(limit=page.limit, offset=min(page.offset, MAX_ID))
    if count is None:  # a search: the page's rows carry the total
        rows = rows.all(parameters)
        return ([] if rows[0].id is None else rows), rows[0].total
    total = count.scalar(parameters)
    found = None if recent is None else _recent_page(recent, page, parameters, total)
    return (rows.all(parameters) if found is None else found), total


EXPORT_BATCH = 1000
BY_IDS = ENTRIES.where(_entry.c.id.in_(bindparam("ids", expanding=True)))


def iter_listed_entries(owner_id, customer_id=None, key=None, search="", ordering=None, value_lookups=()):
    """Every entry the list would answer, in its order (default: id), fetched in batches so memory
    stays flat: in id order a page after the last id at a time; in another order the ids first
    (8 bytes each), then the rows a batch at a time."""
    if customer_id is not None and not valid_id(customer_id):
        return iter(())
    if not ordering:
        return _pages_by_id(owner_id, customer_id, key, search, value_lookups)
    ids, _, parameters, _ = _list_statements(owner_id, customer_id, key, search, ordering, None, value_lookups,
                                             ids_only=True)
    ordered_ids = array("q", (row[0] for row in ids.all(parameters)))

    def batches():
        for start in range(0, len(ordered_ids), EXPORT_BATCH):
            batch = ordered_ids[start:start + EXPORT_BATCH]
            rows = {row.id: row for row in db.session.execute(BY_IDS, {"owner": owner_id, "ids": batch})}
            yield from (rows[entry_id] for entry_id in batch if entry_id in rows)

    return batches()


def _pages_by_id(owner_id, customer_id, key, search, value_lookups):
    # built now, so that a bad parameter is the list's 400 before the answer starts
    rows, _, parameters, _ = _list_statements(owner_id, customer_id, key, search, (("id", False),),
                                              Page(EXPORT_BATCH, 0), value_lookups, after_id=True)
    parameters.update(limit=EXPORT_BATCH, after_id=0)

    def pages():
        while page := rows.all(parameters):
            yield from page
            parameters["after_id"] = page[-1].id

    return pages()


def _list_statements(owner_id, customer_id, key, search, ordering, page, value_lookups, ids_only=False,
                     after_id=False):
    terms = search_terms(search)
    parameters = {"owner": owner_id, "customer": customer_id, "key": key}
    parameters.update((f"term{index}", like_pattern(term)) for index, term in enumerate(terms))
    typed_lookups, value_type = (), None
    if key is not None and (value_lookups or any(name == "value" for name, _ in ordering or ())):
        definition = _definition(owner_id, key)
        value_type = value_filters.type_of(definition)
        typed_lookups = tuple(value_filters.typed_lookup(lookup, definition) for lookup in value_lookups)
    for index, typed in enumerate(typed_lookups):
        parameters.update(value_filters.lookup_parameters(typed, f"v{index}_"))
    limited = page is not None and page.limit is not None
    before = page is not None and page.after is not None
    if before:
        parameters.update(before_created_at=page.after.created_at, before_id=page.after.id)
    offset = page is not None and page.offset > 0 and not before
    shapes = tuple(typed.shape for typed in typed_lookups)
    rows, count = _entry_list_statements(customer_id is not None, key is not None, len(terms),
                                         tuple(ordering) if ordering else None, limited, offset, shapes,
                                         value_type or "text", ids_only, after_id, before)
    return rows, count, parameters, _recent_page_for(customer_id, key, terms, ordering, page, shapes)


def list_customer_entries(owner_id, customer_id, key=None, search="", ordering=None, page=None, value_lookups=()):
    if not valid_id(customer_id) or CUSTOMER_NAMES.first({"owner": owner_id, "customer": customer_id}) is None:
        raise NotFound(CUSTOMER_NOT_FOUND)
    return list_entries(owner_id, customer_id, key, search, ordering, page, value_lookups)


def next_position(rows, ordering):
    """Where the page after `rows` starts, in a newest-first list; None in another order."""
    if rows and tuple(ordering or DEFAULT_ORDER) == DEFAULT_ORDER:
        return Position(rows[-1].created_at, rows[-1].id)
    return None


def get_entry(owner_id, entry_id):
    row = READ_ENTRY.first({"owner": owner_id, "entry_id": entry_id}) if valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row


# Writes to entries use the same plain-column statements, built once: the answer to a create or an
# update is made from values already in hand, with no reload.
LOCK_ENTRY = Prepared(ENTRY_BY_ID.add_columns(_entry.c.file_size).with_for_update(of=_entry))
CUSTOMER_NAMES = Prepared(select(
    _customer.c.first_name, _customer.c.last_name, _customer.c.username, _customer.c.source,
).where(_customer.c.id == bindparam("customer"), _customer.c.user_id == bindparam("owner")))
_WRITTEN = ("key", "value", "file", "file_name", "file_size", "search_text", "number", "instant", "value_hash",
            "unique_hash", "updated_at")
INSERT_ENTRY = Prepared(insert(_entry).returning(_entry.c.id),
                        columns=("customer_id", "user_id", "created_at", *_WRITTEN))
UPDATE_ENTRY = Prepared(update(_entry).where(_entry.c.id == bindparam("entry_id")), columns=_WRITTEN)
DELETE_ENTRY = Prepared(delete(_entry).where(_entry.c.id == bindparam("entry_id")))
_data_key = DataKey.__table__
DEFINITION = Prepared(select(_data_key).where(_data_key.c.user_id == bindparam("owner"),
                                              _data_key.c.key == bindparam("key")))
# PostgreSQL: held until the commit; a definition change of the key takes it exclusively
SHARE_KEY = Prepared(select(func.pg_advisory_xact_lock_shared(bindparam("lock", type_=BigInteger))))
# An update reads, inside its transaction, the entry it locks and the definition of the key it
# ends with (null columns without one) in one statement.
_DEFINITION_COLUMNS = [column.label(f"definition_{column.name}") for column in _data_key.c]
# the entry's own key unless `key` names the one it is renamed to
LOCK_ENTRY_AND_DEFINITION = Prepared(
    ENTRY_BY_ID.add_columns(_entry.c.file_size, *_DEFINITION_COLUMNS)
    .outerjoin(_data_key, and_(_data_key.c.user_id == _entry.c.user_id,
                               _data_key.c.key == func.coalesce(bindparam("key", type_=String), _entry.c.key)))
    .with_for_update(of=_entry))


def _definition_from(row, start):
    """The definition whose columns a combined read holds from `start` on, as DEFINITION gives it."""
    return None if row[start] is None else DEFINITION.Row._make(row[start:])


def _locked_entry(owner_id, entry_id):
    """The entry as ENTRIES gives it (and its file's size), locked for the rest of the transaction
    where the database can."""
    row = LOCK_ENTRY.first({"owner": owner_id, "entry_id": entry_id}) if valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row


def _customer_names(owner_id, customer_id):
    names = CUSTOMER_NAMES.first({"owner": owner_id, "customer": customer_id}) if valid_id(customer_id) else None
    if names is None:
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.')
    return names


def duplicate_key(key):
    return InvalidInput.on("key", f"A data field with key '{key}' already exists for this customer. "
                                  "Use PUT to update it.")


def archived_key(key):
    return InvalidInput.on("key", f"The key '{key}' is archived: it takes no new values.")


def _definition(owner_id, key):
    return DEFINITION.first({"owner": owner_id, "key": key})


def _hold_key(owner_id, key):
    """Inside the write's transaction: no definition change of the key until the commit (SQLite's
    writers take turns for the whole transaction already)."""
    if db.engine.dialect.name == "postgresql":
        SHARE_KEY.execute({"lock": key_lock_id(owner_id, key)})


def _definition_in_force(owner_id, key):
    """Inside the write's transaction: the key's definition, which cannot change until the commit."""
    _hold_key(owner_id, key)
    return _definition(owner_id, key)


def _locked_entry_and_definition(owner_id, entry_id, key):
    """Inside an update's transaction: the entry as _locked_entry gives it and the definition in
    force of `key`, or of the entry's own key when `key` is None (SQLite only: on PostgreSQL the
    key's lock is taken first, so the key must be known)."""
    if key is not None:
        _hold_key(owner_id, key)
    row = LOCK_ENTRY_AND_DEFINITION.first({"owner": owner_id, "entry_id": entry_id, "key": key}) \
        if valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row, _definition_from(row, _LOCKED)


_LOCKED = len(LOCK_ENTRY.statement.selected_columns)


def typed_columns(definition, key, value, file_name, file_size):
    """The stored columns of a value under its key's definition; the contract's 400 when refused."""
    if definition is not None and definition.archived:
        raise archived_key(key)
    try:
        typed = value_types.check(definition, value, file_name, file_size)
    except Refused as refused:
        raise InvalidInput.on(refused.field, refused.message) from None
    stored_hash = value_types.value_hash(typed.value)
    return {"value": typed.value, "number": typed.number, "instant": typed.instant, "value_hash": stored_hash,
            "unique_hash": stored_hash if definition is not None and definition.unique and typed.value else None,
            "search_text": CustomerData.search_text_for(key, typed.value)}


def create_entry(owner_id, customer_id, key, value="", file=None, source=None):
    names = _customer_names(owner_id, customer_id)
    if not value and file is None:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    upload = _upload_facts(file)
    if file is not None:  # refused before its bytes are stored, when the definition says so already
        typed_columns(_definition(owner_id, key), key, value, *upload)
    now = utcnow()
    with _writing(customer_id) as write:
        write.key = key
        stored = _store(file)
        write.files.append(stored)
        # the entry as answered and its change, made before the write takes its lock: only the
        # id, and the value when the key's type writes it in another form, are known inside.
        # (The customer is read here, not with the definition inside: one statement fewer cost
        # as many instructions as it saved, and lengthened the writers' turn.)
        created = changes.entry_created(owner_id, EntryRow(None, customer_id, owner_id, key, value, stored,
                                                           upload[0], now, now, *names), source)
        with transaction():
            columns = typed_columns(_definition_in_force(owner_id, key), key, value, *upload)
            values = {"customer_id": customer_id, "user_id": owner_id, "key": key, "file": stored,
                      "file_name": upload[0], "file_size": upload[1], "created_at": now, "updated_at": now, **columns}
            # a customer deleted since the check fails the foreign key
            entry_id = INSERT_ENTRY.scalar(values)
            entry = EntryRow(entry_id, customer_id, owner_id, key, columns["value"], stored, upload[0], now, now,
                             *names)
            if columns["value"] != value:
                created = changes.entry_created(owner_id, entry, source)
            changes.record_on_driver(changes.with_entry_id(created, entry_id))
    return entry


class _KeyChanged(Exception):
    """The entry's key changed between the read and the lock: take the other key's lock instead."""


def update_entry(owner_id, entry_id, key=None, value=None, file=None, remove_file=False, if_match=None,
                 source=None):
    """PUT and PATCH alike: only what is given changes; a change to nothing leaves the row as it is.

    Under the lock of the key the entry ends with (its definition cannot change meanwhile), the
    entry is read again, checked against `if_match` (ETags), and written with its change in one
    short transaction; the file is stored before it.
    """
    # The entry is read before the transaction only where its key is needed there: to check a file
    # against the key's definition before its bytes are stored, and on PostgreSQL to take the key's
    # lock when the update keeps the key. Otherwise the entry is read, locked, with its definition.
    entry = None
    if file is not None or (key is None and db.engine.dialect.name == "postgresql"):
        entry = get_entry(owner_id, entry_id)
    if file is not None and remove_file:
        raise InvalidInput.on("non_field_errors", FILE_OR_REMOVE)
    upload = _upload_facts(file)
    if file is not None:
        target = entry.key if key is None else key
        typed_columns(_definition(owner_id, target), target, entry.value if value is None else value, *upload)
    replacement = None  # (stored path, file name, size) when the file changes
    with _writing(None) as write:
        if file is not None or remove_file:
            replacement = (_store(file), *upload)
            write.files.append(replacement[0])
        while True:
            # None: the entry's own key, read with it (SQLite, whose writers take turns)
            write.key = key if key is not None else entry.key if entry is not None else None
            try:
                with transaction():
                    entry, definition = _locked_entry_and_definition(owner_id, entry_id, write.key)
                    if key is None and write.key is not None and entry.key != write.key:
                        raise _KeyChanged
                    write.key = entry.key if key is None else key
                    _check_if_match(entry, if_match)
                    columns = _changes(owner_id, entry, key, value, replacement, definition)
                    if columns is None:
                        break
                    UPDATE_ENTRY.execute(columns)
                    before = EntryRow(*entry[:len(EntryRow._fields)])
                    after = before._replace(**{name: columns[name] for name in UPDATED_FIELDS})
                    changes.record_on_driver(changes.entry_updated(owner_id, before, after, source))
                    break
            except _KeyChanged:
                continue
    if columns is None:
        write.discard()
        return EntryRow(*entry[:len(EntryRow._fields)])
    if replacement is not None:
        discard_files([entry.file])
    return after


UPDATED_FIELDS = ("key", "value", "file", "file_name", "updated_at")  # of an EntryRow


def etag(entry):
    """A strong ETag of an entry as it is now: it changes with every change (updated_at does)."""
    digest = hashlib.sha256(f"{entry.id}:{entry.updated_at.isoformat()}".encode()).hexdigest()[:20]
    return f'"{digest}"'


def _check_if_match(entry, if_match):
    """`if_match`: the If-Match header's ETags (or "*"); None when the client sent none."""
    if if_match is None or "*" in if_match or etag(entry) in if_match:
        return
    raise PreconditionFailed("The entry changed since it was read.")


def _changes(owner_id, entry, key, value, replacement, definition):
    """The columns an update writes to `entry`, or None when nothing would change."""
    if replacement is not None and replacement[0] is None and entry.file is None:
        replacement = None  # removing a file that is not there changes nothing
    new_key = entry.key if key is None else key
    new_value = entry.value if value is None else value
    stored, file_name, file_size = replacement or (entry.file, entry.file_name, entry.file_size)
    if new_key == entry.key and new_value == entry.value and replacement is None:
        return None  # also when the value's canonical form is the stored one: checked below
    if not new_value and stored is None:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    if new_key != entry.key:
        before = _definition(owner_id, entry.key)
        if before is not None and before.archived:
            raise archived_key(entry.key)
    columns = typed_columns(definition, new_key, new_value, file_name if stored else None, file_size)
    if new_key == entry.key and columns["value"] == entry.value and replacement is None:
        return None  # the value sent is the stored one in another spelling
    return {"entry_id": entry.id, "key": new_key, "file": stored, "file_name": file_name, "file_size": file_size,
            "updated_at": utcnow(), **columns}


def delete_entry(owner_id, entry_id, if_match=None):
    """Delete one entry and, after the commit, its file; returns the deleted key."""
    with transaction():
        entry = _locked_entry(owner_id, entry_id)
        _check_if_match(entry, if_match)
        DELETE_ENTRY.execute({"entry_id": entry.id})
        changes.record_on_driver(changes.entry_deleted(owner_id, EntryRow(*entry[:len(EntryRow._fields)])))
    discard_files([entry.file])
    return entry.key


def bulk_delete_entries(owner_id, entry_ids):
    """Delete the caller's entries among `entry_ids` in one transaction; others are skipped."""
    ids = [entry_id for entry_id in entry_ids if valid_id(entry_id)]
    if not ids:
        return 0
    rows = db.session.execute(ENTRIES.where(_entry.c.id.in_(ids)).with_for_update(of=_entry),
                              {"owner": owner_id}).all()
    if rows:
        db.session.execute(delete(CustomerData).where(CustomerData.id.in_([row.id for row in rows])))
        changes.record_in_session(changes.entry_deleted(owner_id, row, "bulk") for row in rows)
    db.session.commit()
    discard_files(row.file for row in rows)
    return len(rows)


def _upload_facts(upload):
    """(client's file name, size in bytes) of an upload, or (None, None)."""
    if upload is None:
        return None, None
    stream = upload.stream
    position = stream.tell()
    size = stream.seek(0, 2) - position
    stream.seek(position)
    return client_file_name(upload.filename) or "file", size


def _store(upload):
    """Write an upload before the commit; returns its stored path (None for no upload)."""
    if upload is None:
        return None
    return get_storage().save(upload.stream, client_file_name(upload.filename) or "file")


class _Write:
    def __init__(self):
        self.files = []  # paths of the files stored for this write
        self.key = None  # the key the entry is written under

    def discard(self):
        discard_files(self.files)
        self.files = []


@contextlib.contextmanager
def _writing(customer_id):
    """Around an entry's write: on failure the files stored for it go, and constraint errors
    become the contract's messages (a duplicate key or a taken unique value, also when two
    requests race for it)."""
    write = _Write()
    try:
        yield write
    except IntegrityError as error:
        write.discard()
        if is_taken_unique_value(error):
            raise InvalidInput.on("value", unique_message(write.key)) from None
        if is_duplicate_key(error):
            raise duplicate_key(write.key) from None
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.') from None
    except BaseException:
        write.discard()
        raise


def is_taken_unique_value(error):
    return "unique_hash" in str(error.orig)


def is_duplicate_key(error):
    text = str(error.orig)
    return "uq_customer_data_customer_id_user_id_key" in text or "customer_data.key" in text


def discard_files(paths):
    storage = get_storage()
    for path in paths:
        if path:
            storage.delete(path)


def iter_entries_for_export(owner_id, batch_size=500):
    """Every entry of an owner, oldest first, fetched in batches so memory stays flat."""
    last_id = 0
    while True:
        rows = db.session.execute(ENTRIES.where(_entry.c.id > last_id).order_by(_entry.c.id).limit(batch_size),
                                  {"owner": owner_id}).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def count_entries(owner_id):
    return db.session.scalar(select(func.count()).where(CustomerData.user_id == owner_id))
