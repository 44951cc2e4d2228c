"""Customers: the people a user keeps data about, listed also by their data (segments)."""
from sqlalchemy import and_, delete, exists, select
from sqlalchemy.orm import aliased

from ..errors import NotFound
from ..extensions import db, unchanged
from ..models import Change, Customer, CustomerData, utcnow
from ..webhooks import outbox
from . import changes, data_keys, value_filters
from .entries import discard_files
from .queries import DEFAULT_ORDER, order_clause, paged, searched, valid_id

CUSTOMER_NOT_FOUND = "Customer not found."
DATA_PREFIX = "data."
_entries = CustomerData.__table__


def list_customers(owner_id, search="", ordering=None, page=None, conditions=()):
    """The caller's customers; `conditions` (ValueLookups on their entries) are ANDed, and
    `ordering` may hold `data.<key>`: the typed value of that key, customers without it last."""
    query = searched(select(Customer).where(Customer.user_id == owner_id), Customer.search_text, search)
    ordering = ordering or DEFAULT_ORDER
    ordered_keys = [name[len(DATA_PREFIX):] for name, _ in ordering if name.startswith(DATA_PREFIX)]
    definitions = data_keys.definitions_of(owner_id, [condition.key for condition in conditions] + ordered_keys)
    for index, condition in enumerate(conditions):
        query = query.where(_holds(owner_id, condition, definitions.get(condition.key), f"c{index}_"))
    clauses = []
    for name, descending in ordering:
        if name.startswith(DATA_PREFIX):
            key = name[len(DATA_PREFIX):]
            held = aliased(_entries)
            query = query.outerjoin(held, and_(held.c.customer_id == Customer.id, held.c.user_id == owner_id,
                                               held.c.key == key))
            clauses += value_filters.value_order(held, value_filters.type_of(definitions.get(key)), descending)
        else:
            clauses.append(order_clause(Customer.__table__.c[name], descending))
    return paged(query.order_by(*clauses, Customer.id.desc()), page, entities=True)


def _holds(owner_id, condition, definition, prefix):
    """EXISTS an entry of the customer's, of the condition's key, that the condition matches."""
    typed = value_filters.typed_lookup(condition, definition)
    entry = aliased(_entries)
    held = select(entry.c.id).where(entry.c.customer_id == Customer.id, entry.c.user_id == owner_id,
                                    entry.c.key == condition.key)
    if typed.kind == "exists":
        return exists(held) if typed.operands[0] else ~exists(held)
    matching = held.where(value_filters.lookup_clause(entry, typed.shape, prefix))
    return exists(matching.params(value_filters.lookup_parameters(typed, prefix)))


def create_customer(owner_id, **fields):
    customer = Customer(user_id=owner_id, **fields)
    customer.index_for_search()
    db.session.add(customer)
    db.session.flush()
    changes.record_in_session([changes.customer_created(customer)])
    db.session.commit()
    return customer


def get_customer(owner_id, customer_id):
    customer = db.session.get(Customer, customer_id) if valid_id(customer_id) else None
    if customer is None or customer.user_id != owner_id:
        raise NotFound(CUSTOMER_NOT_FOUND)
    return customer


def _locked_customer(owner_id, customer_id):
    """The customer, locked until the commit where the database can: a concurrent delete or update
    waits, then finds it gone (404) or changed, instead of writing a row that is no longer there."""
    customer = db.session.scalars(select(Customer).where(Customer.id == customer_id, Customer.user_id == owner_id)
                                  .with_for_update().execution_options(populate_existing=True)).first() \
        if valid_id(customer_id) else None
    if customer is None:
        raise NotFound(CUSTOMER_NOT_FOUND)
    return customer


def update_customer(owner_id, customer_id, fields):
    """Change the given fields; when none differs, nothing is written (updated_at included)."""
    customer = _locked_customer(owner_id, customer_id)
    before = changes.customer_fields(customer)
    if all(before[name] == value for name, value in fields.items()):
        return unchanged(customer)
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.index_for_search()
    customer.updated_at = utcnow()
    db.session.flush()
    changes.record_in_session([changes.customer_updated(customer, before)])
    db.session.commit()
    return customer


def delete_customer(owner_id, customer_id):
    """Delete a customer with its entries and their files; returns how many entries went.

    Its change history is erased with it, and one `customer.deleted` change (ids and a count, no
    personal data) is left so that feed clients learn of the deletion.
    """
    customer = _locked_customer(owner_id, customer_id)
    of_customer = CustomerData.customer_id == customer.id
    files = db.session.scalars(select(CustomerData.file).where(of_customer, CustomerData.file.is_not(None))).all()
    count = db.session.execute(delete(CustomerData).where(of_customer)).rowcount
    db.session.delete(customer)
    db.session.execute(delete(Change).where(Change.user_id == owner_id, Change.customer_id == customer_id))
    outbox.erase_customer(customer_id)
    changes.record_in_session([changes.customer_deleted(owner_id, customer_id, count)])
    db.session.commit()
    discard_files(files)
    return count
