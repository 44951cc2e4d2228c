"""The message domain: customers and the data entries kept about them.

Files follow the rows: a new file is written before the commit and discarded if the commit
fails; a file that a change drops is removed only after the commit.
"""
import contextlib
import functools
from collections import namedtuple

from sqlalchemy import Integer, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..fields import client_file_name
from ..listing import LIKE_ESCAPE, like_pattern, search_terms
from ..models import Customer, CustomerData, utcnow
from ..prepared import Prepared, transaction
from ..storage import get_storage

CUSTOMER_NOT_FOUND = "Customer not found."
ENTRY_NOT_FOUND = "Customer data not found or you don't have permission to access it."
VALUE_OR_FILE = "Either 'value' (text) or 'file' must be provided."
FILE_OR_REMOVE = "Send either 'file' or 'remove_file', not both."
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones exist nowhere


def _valid_id(value):
    return 0 < value <= MAX_ID


def _ordered(query, table, ordering, default=(("created_at", True),)):
    """ORDER BY the requested fields with nulls first ascending on every database, ties by -id."""
    clauses = []
    for name, descending in ordering or default:
        column = table.c[name]
        if column.nullable:
            clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
        else:  # plain ORDER BY, which the (owner, created_at, id) indexes can serve
            clauses.append(column.desc() if descending else column.asc())
    return query.order_by(*clauses, table.c.id.desc())


def _searched(query, column, search):
    for term in search_terms(search):
        query = query.where(column.like(like_pattern(term), escape=LIKE_ESCAPE))
    return query


def _paged(query, page, entities=False):
    """Rows of one page, and the total before paging when a page was asked for."""
    fetch = db.session.scalars if entities else db.session.execute
    if page is None:
        return fetch(query).all(), None
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if page.limit is not None:
        query = query.limit(page.limit)
    # an offset past every row is an empty page; capped so that no database overflows on it
    return fetch(query.offset(min(page.offset, MAX_ID))).all(), total


# Customers

def list_customers(owner_id, search="", ordering=None, page=None):
    query = select(Customer).where(Customer.user_id == owner_id)
    query = _ordered(_searched(query, Customer.search_text, search), Customer.__table__, ordering)
    return _paged(query, page, entities=True)


def create_customer(owner_id, **fields):
    customer = Customer(user_id=owner_id, **fields)
    customer.index_for_search()
    db.session.add(customer)
    db.session.commit()
    return customer


def get_customer(owner_id, customer_id):
    customer = db.session.get(Customer, customer_id) if _valid_id(customer_id) else None
    if customer is None or customer.user_id != owner_id:
        raise NotFound(CUSTOMER_NOT_FOUND)
    return customer


def update_customer(owner_id, customer_id, changes):
    customer = get_customer(owner_id, customer_id)
    for name, value in changes.items():
        setattr(customer, name, value)
    customer.index_for_search()
    customer.updated_at = utcnow()
    db.session.commit()
    return customer


def delete_customer(owner_id, customer_id):
    """Delete a customer with its entries and their files; returns how many entries went."""
    customer = get_customer(owner_id, customer_id)
    of_customer = CustomerData.customer_id == customer.id
    files = db.session.scalars(select(CustomerData.file).where(of_customer, CustomerData.file.is_not(None))).all()
    count = db.session.execute(delete(CustomerData).where(of_customer)).rowcount
    db.session.delete(customer)
    db.session.commit()
    discard_files(files)
    return count


# Customer data entries

# Lists and reads of entries are the hot path: they select plain columns (no ORM objects), the
# customer's name columns come from the same joined query, and each statement shape is built once
# with bound parameters and then reused, so a request spends no time assembling SQL.
_entry = CustomerData.__table__
_customer = Customer.__table__
ENTRIES = select(
    _entry.c.id,
    _entry.c.customer_id.label("customer"),
    _entry.c.user_id.label("user"),
    _entry.c.key,
    _entry.c.value,
    _entry.c.file,
    _entry.c.file_name,
    _entry.c.created_at,
    _entry.c.updated_at,
    _customer.c.first_name.label("customer_first_name"),
    _customer.c.last_name.label("customer_last_name"),
    _customer.c.username.label("customer_username"),
    _customer.c.source.label("customer_source"),
).select_from(_entry.join(_customer, _customer.c.id == _entry.c.customer_id)).where(
    _entry.c.user_id == bindparam("owner"))
ENTRY_BY_ID = ENTRIES.where(_entry.c.id == bindparam("entry_id"))
READ_ENTRY = Prepared(ENTRY_BY_ID)


@functools.lru_cache(maxsize=512)
def _entry_list_statements(by_customer, by_key, terms, ordering, limited, offset):
    """(rows, count) prepared reads for one shape of list request."""
    query = ENTRIES
    if by_customer:
        query = query.where(_entry.c.customer_id == bindparam("customer"))
    if by_key:
        query = query.where(_entry.c.key == bindparam("key"))
    for index in range(terms):
        query = query.where(_entry.c.search_text.like(bindparam(f"term{index}"), escape=LIKE_ESCAPE))
    count = select(func.count()).select_from(query.subquery())
    query = _ordered(query, _entry, ordering)
    if limited:
        query = query.limit(bindparam("limit", type_=Integer))
    if offset:
        query = query.offset(bindparam("offset", type_=Integer))
    return Prepared(query), Prepared(count)


def list_entries(owner_id, customer_id=None, key=None, search="", ordering=None, page=None):
    if customer_id is not None and not _valid_id(customer_id):
        return [], (0 if page else None)
    terms = search_terms(search)
    parameters = {"owner": owner_id, "customer": customer_id, "key": key}
    parameters.update((f"term{index}", like_pattern(term)) for index, term in enumerate(terms))
    limited = page is not None and page.limit is not None
    offset = page is not None and page.offset > 0
    rows, count = _entry_list_statements(customer_id is not None, key is not None, len(terms),
                                         tuple(ordering) if ordering else None, limited, offset)
    if page is None:
        return rows.all(parameters), None
    # an offset past every row is an empty page; capped so that no database overflows on it
    parameters.update(limit=page.limit, offset=min(page.offset, MAX_ID))
    return rows.all(parameters), count.scalar(parameters)


def list_customer_entries(owner_id, customer_id, search="", ordering=None, page=None):
    get_customer(owner_id, customer_id)
    return list_entries(owner_id, customer_id, search=search, ordering=ordering, page=page)


def get_entry(owner_id, entry_id):
    row = READ_ENTRY.first({"owner": owner_id, "entry_id": entry_id}) if _valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row


# Writes to entries use the same plain-column statements, built once: the answer to a create or an
# update is made from values already in hand, with no reload.
EntryRow = namedtuple("EntryRow", ENTRIES.selected_columns.keys())
LOCK_ENTRY = Prepared(ENTRY_BY_ID.with_for_update(of=_entry))
CUSTOMER_NAMES = Prepared(select(
    _customer.c.first_name, _customer.c.last_name, _customer.c.username, _customer.c.source,
).where(_customer.c.id == bindparam("customer"), _customer.c.user_id == bindparam("owner")))
_WRITTEN = ("key", "value", "file", "file_name", "search_text", "updated_at")
INSERT_ENTRY = Prepared(insert(_entry).returning(_entry.c.id),
                        columns=("customer_id", "user_id", "created_at", *_WRITTEN))
UPDATE_ENTRY = Prepared(update(_entry).where(_entry.c.id == bindparam("entry_id")), columns=_WRITTEN)
# the same, only while the row still holds what the new values were computed from
UPDATE_ENTRY_AS_READ = Prepared(update(_entry).where(
    _entry.c.id == bindparam("entry_id"), _entry.c.user_id == bindparam("owner"),
    _entry.c.key == bindparam("read_key"), _entry.c.value == bindparam("read_value"),
    _entry.c.file.is_not_distinct_from(bindparam("read_file")),
    _entry.c.updated_at == bindparam("read_updated_at"),
), columns=_WRITTEN)
DELETE_ENTRY = Prepared(delete(_entry).where(_entry.c.id == bindparam("entry_id")))


def _locked_entry(owner_id, entry_id):
    """The entry as ENTRIES gives it, locked for the rest of the transaction where the database can."""
    row = LOCK_ENTRY.first({"owner": owner_id, "entry_id": entry_id}) if _valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row


def _customer_names(owner_id, customer_id):
    names = CUSTOMER_NAMES.first({"owner": owner_id, "customer": customer_id}) if _valid_id(customer_id) else None
    if names is None:
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.')
    return names


def duplicate_key(key):
    return InvalidInput.on("key", f"A data field with key '{key}' already exists for this customer. "
                                  "Use PUT to update it.")


def create_entry(owner_id, customer_id, key, value="", file=None):
    names = _customer_names(owner_id, customer_id)
    if not value and file is None:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    now = utcnow()
    with _writing(key, customer_id) as written:
        stored, file_name = _store(file)
        written.append(stored)
        values = {"customer_id": customer_id, "user_id": owner_id, "key": key, "value": value, "file": stored,
                  "file_name": file_name, "search_text": CustomerData.search_text_for(key, value),
                  "created_at": now, "updated_at": now}
        # one statement, atomic on its own; a customer deleted since the check fails its foreign key
        entry_id = INSERT_ENTRY.scalar(values)
    return EntryRow(entry_id, customer_id, owner_id, key, value, stored, file_name, now, now, *names)


def update_entry(owner_id, entry_id, key=None, value=None, file=None, remove_file=False):
    """PUT and PATCH alike: only what is given changes.

    The entry is read, and written only if it still holds what was read: one UPDATE, which holds
    SQLite's write lock just while it runs. (A transaction from the read to the write held it
    longer, and under two writing workers one update in seven found it taken and slept in
    SQLite's busy handler, a millisecond at a time.) When another request changed the entry in
    between, the update is done again from a fresh read under the lock.
    """
    entry = get_entry(owner_id, entry_id)
    if file is not None and remove_file:
        raise InvalidInput.on("non_field_errors", FILE_OR_REMOVE)
    replacement = None  # (stored path, file name) when the file changes
    with _writing(key, None) as written:
        if file is not None or remove_file:
            replacement = _store(file)
            written.append(replacement[0])
        changes = _changes(entry, key, value, replacement)
        as_read = {"owner": owner_id, "read_key": entry.key, "read_value": entry.value, "read_file": entry.file,
                   "read_updated_at": entry.updated_at}
        if not UPDATE_ENTRY_AS_READ.execute(changes | as_read):
            with transaction():
                entry = _locked_entry(owner_id, entry_id)
                changes = _changes(entry, key, value, replacement)
                UPDATE_ENTRY.execute(changes)
    if replacement is not None:
        discard_files([entry.file])
    del changes["search_text"], changes["entry_id"]
    return EntryRow(**entry._asdict() | changes)


def _changes(entry, key, value, replacement):
    """The columns an update writes to `entry`: what is given, the rest as it is."""
    changes = {"entry_id": entry.id, "key": entry.key if key is None else key,
               "value": entry.value if value is None else value, "file": entry.file, "file_name": entry.file_name,
               "updated_at": utcnow()}
    if replacement is not None:
        changes["file"], changes["file_name"] = replacement
    if not changes["value"] and changes["file"] is None:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    changes["search_text"] = CustomerData.search_text_for(changes["key"], changes["value"])
    return changes


def delete_entry(owner_id, entry_id):
    """Delete one entry and, after the commit, its file; returns the deleted key."""
    with transaction():
        entry = _locked_entry(owner_id, entry_id)
        DELETE_ENTRY.execute({"entry_id": entry.id})
    discard_files([entry.file])
    return entry.key


def bulk_delete_entries(owner_id, entry_ids):
    """Delete the caller's entries among `entry_ids` in one transaction; others are skipped."""
    ids = [entry_id for entry_id in entry_ids if _valid_id(entry_id)]
    if not ids:
        return 0
    owned = (CustomerData.id.in_(ids), CustomerData.user_id == owner_id)
    files = db.session.scalars(select(CustomerData.file).where(*owned, CustomerData.file.is_not(None))
                               .with_for_update()).all()
    count = db.session.execute(delete(CustomerData).where(*owned)).rowcount
    db.session.commit()
    discard_files(files)
    return count


def _store(upload):
    """Write an upload before the commit; returns (stored path, client's file name)."""
    if upload is None:
        return None, None
    name = client_file_name(upload.filename) or "file"
    return get_storage().save(upload.stream, name), name


@contextlib.contextmanager
def _writing(key, customer_id):
    """Around an entry's write: on failure the files stored for it go, and constraint errors
    become the contract's messages (a duplicate key, also when two requests race for it)."""
    written = []  # paths of the files stored for this write
    try:
        yield written
    except IntegrityError as error:
        discard_files(written)
        if is_duplicate_key(error):
            raise duplicate_key(key) from None
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.') from None
    except BaseException:
        discard_files(written)
        raise


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
