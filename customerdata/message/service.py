"""The message domain: customers and the data entries kept about them.

Files follow the rows: a new file is written before the commit and discarded if the commit
fails; a file that a change drops is removed only after the commit.
"""
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from ..errors import InvalidInput, NotFound
from ..extensions import db
from ..fields import client_file_name
from ..listing import search_terms
from ..models import Customer, CustomerData, utcnow
from ..storage import get_storage

CUSTOMER_NOT_FOUND = "Customer not found."
ENTRY_NOT_FOUND = "Customer data not found or you don't have permission to access it."
VALUE_OR_FILE = "Either 'value' (text) or 'file' must be provided."
FILE_OR_REMOVE = "Send either 'file' or 'remove_file', not both."
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones exist nowhere


def _valid_id(value):
    return 0 < value <= MAX_ID


def _ordered(query, model, ordering, default=(("created_at", True),)):
    """ORDER BY the requested fields with nulls first ascending on every database, ties by -id."""
    clauses = []
    for name, descending in ordering or default:
        column = getattr(model, name)
        if column.nullable:
            clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
        else:  # plain ORDER BY, which the (owner, created_at, id) indexes can serve
            clauses.append(column.desc() if descending else column.asc())
    return query.order_by(*clauses, model.id.desc())


def _searched(query, column, search):
    for term in search_terms(search):
        query = query.where(column.contains(term, autoescape=True))
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
    query = _ordered(_searched(query, Customer.search_text, search), Customer, ordering)
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

ENTRY_COLUMNS = (
    CustomerData.id,
    CustomerData.customer_id.label("customer"),
    CustomerData.user_id.label("user"),
    CustomerData.key,
    CustomerData.value,
    CustomerData.file,
    CustomerData.file_name,
    CustomerData.created_at,
    CustomerData.updated_at,
    Customer.first_name.label("customer_first_name"),
    Customer.last_name.label("customer_last_name"),
    Customer.username.label("customer_username"),
    Customer.source.label("customer_source"),
)


def _entries(owner_id):
    """Entries of one owner with their customer's name columns: one query, however many rows."""
    return (select(*ENTRY_COLUMNS).join(Customer, Customer.id == CustomerData.customer_id)
            .where(CustomerData.user_id == owner_id))


def list_entries(owner_id, customer_id=None, key=None, search="", ordering=None, page=None):
    query = _entries(owner_id)
    if customer_id is not None:
        if not _valid_id(customer_id):
            return [], (0 if page else None)
        query = query.where(CustomerData.customer_id == customer_id)
    if key is not None:
        query = query.where(CustomerData.key == key)
    query = _ordered(_searched(query, CustomerData.search_text, search), CustomerData, ordering)
    return _paged(query, page)


def list_customer_entries(owner_id, customer_id, search="", ordering=None, page=None):
    get_customer(owner_id, customer_id)
    return list_entries(owner_id, customer_id, search=search, ordering=ordering, page=page)


def get_entry(owner_id, entry_id):
    row = db.session.execute(_entries(owner_id).where(CustomerData.id == entry_id)).first() \
        if _valid_id(entry_id) else None
    if row is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return row


def _owned_entry(owner_id, entry_id):
    """The entry as a model, locked for the rest of the transaction where the database can."""
    query = select(CustomerData).where(CustomerData.id == entry_id, CustomerData.user_id == owner_id)
    entry = db.session.scalar(query.with_for_update()) if _valid_id(entry_id) else None
    if entry is None:
        raise NotFound(ENTRY_NOT_FOUND)
    return entry


def _customer_for_entry(owner_id, customer_id):
    customer = db.session.get(Customer, customer_id) if _valid_id(customer_id) else None
    if customer is None or customer.user_id != owner_id:
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.')
    return customer


def duplicate_key(key):
    return InvalidInput.on("key", f"A data field with key '{key}' already exists for this customer. "
                                  "Use PUT to update it.")


def create_entry(owner_id, customer_id, key, value="", file=None):
    customer = _customer_for_entry(owner_id, customer_id)
    if not value and file is None:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    entry = CustomerData(customer_id=customer.id, user_id=owner_id, key=key, value=value)
    entry.file, entry.file_name = _store(file)
    entry.index_for_search()
    db.session.add(entry)
    _commit_entry(entry.file, key, customer_id)
    return get_entry(owner_id, entry.id)


def update_entry(owner_id, entry_id, key=None, value=None, file=None, remove_file=False):
    """PUT and PATCH alike: only what is given changes."""
    entry = _owned_entry(owner_id, entry_id)
    if file is not None and remove_file:
        raise InvalidInput.on("non_field_errors", FILE_OR_REMOVE)
    new_value = entry.value if value is None else value
    keeps_file = file is not None or (entry.file is not None and not remove_file)
    if not new_value and not keeps_file:
        raise InvalidInput.on("non_field_errors", VALUE_OR_FILE)
    dropped = entry.file if (file is not None or remove_file) else None
    if key is not None:
        entry.key = key
    entry.value = new_value
    if file is not None or remove_file:
        entry.file, entry.file_name = _store(file)
    entry.index_for_search()
    entry.updated_at = utcnow()
    _commit_entry(entry.file if file is not None else None, entry.key, entry.customer_id)
    discard_files([dropped])
    return get_entry(owner_id, entry.id)


def delete_entry(owner_id, entry_id):
    """Delete one entry and, after the commit, its file; returns the deleted key."""
    entry = _owned_entry(owner_id, entry_id)
    key, dropped = entry.key, entry.file
    db.session.delete(entry)
    db.session.commit()
    discard_files([dropped])
    return key


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


def _commit_entry(new_file, key, customer_id):
    """Commit; on failure the file written for this request goes, and constraint errors are named."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        discard_files([new_file])
        if is_duplicate_key(error):
            raise duplicate_key(key) from None
        raise InvalidInput.on("customer", f'Invalid pk "{customer_id}" - object does not exist.') from None
    except BaseException:
        db.session.rollback()
        discard_files([new_file])
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
        rows = db.session.execute(_entries(owner_id).where(CustomerData.id > last_id)
                                  .order_by(CustomerData.id).limit(batch_size)).all()
        if not rows:
            return
        yield from rows
        last_id = rows[-1].id


def count_entries(owner_id):
    return db.session.scalar(select(func.count()).where(CustomerData.user_id == owner_id))
