"""Customers: the people a user keeps data about, listed also by their data (segments)."""
from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.orm import aliased

from ..errors import NotFound
from ..extensions import db, unchanged
from ..models import Change, Customer, CustomerData, utcnow
from ..webhooks import outbox
from . import changes, data_keys, value_filters, value_types
from .entries import discard_files
from .queries import (
    DEFAULT_ORDER,
    MAX_ID,
    count_of,
    order_clause,
    paged,
    searched,
    valid_id,
)

CUSTOMER_NOT_FOUND = "Customer not found."
DATA_PREFIX = "data."
_entries = CustomerData.__table__


def list_customers(owner_id, search="", ordering=None, page=None, conditions=()):
    """The caller's customers; `conditions` (ValueLookups on their entries) are ANDed, and
    `ordering` may hold `data.<key>`: the typed value of that key, customers without it last."""
    ordering = ordering or DEFAULT_ORDER
    ordered_keys = [name[len(DATA_PREFIX):] for name, _ in ordering if name.startswith(DATA_PREFIX)]
    definitions = data_keys.definitions_of(owner_id, [condition.key for condition in conditions] + ordered_keys)
    # a condition that does not fit its key's type is a 400 here, before any statement
    typed = [(f"c{index}_", condition.key, value_filters.typed_lookup(condition, definitions.get(condition.key)))
             for index, condition in enumerate(conditions)]
    customers = searched(select(Customer).where(Customer.user_id == owner_id), Customer.search_text, search)
    query = customers.where(*_conditions(owner_id, typed, Customer.id))

    def count():
        return _count_matching(owner_id, typed, search, query)

    (first, descending), rest = ordering[0], ordering[1:]
    if first.startswith(DATA_PREFIX):
        key = first[len(DATA_PREFIX):]
        column_name = value_types.sort_column(value_filters.type_of(definitions.get(key)))
        if column_name != "value":
            tested = customers.where(*_conditions(owner_id, typed, Customer.id, per_customer=True))
            return _by_typed_value(query, tested, owner_id, key, column_name, descending, rest, definitions, page,
                                   count)
    return paged(_ordered(query, owner_id, ordering, definitions), page, entities=True, count=count)


def _ordered(query, owner_id, ordering, definitions, leading=(), last=None):
    """The query in the requested order (after `leading` clauses), ties by -id (`last`: the
    customer's id as another table of the query has it)."""
    clauses = list(leading)
    for name, descending in ordering:
        if name.startswith(DATA_PREFIX):
            key = name[len(DATA_PREFIX):]
            held = aliased(_entries)
            query = query.outerjoin(held, and_(held.c.customer_id == Customer.id, held.c.user_id == owner_id,
                                               held.c.key == key))
            clauses += value_filters.value_order(held, value_filters.type_of(definitions.get(key)), descending)
        else:
            clauses.append(order_clause(Customer.__table__.c[name], descending))
    return query.order_by(*clauses, (Customer.id if last is None else last).desc())


def _by_typed_value(query, tested, owner_id, key, column_name, descending, rest, definitions, page, count):
    """Ordered first by a typed value (`number` or `instant`), as two lists one after the other: the
    customers holding the value, in its order, then those without it (nulls last).

    The first walks the key's index, (user_id, key, value, customer_id), in the requested direction
    and tests each customer's conditions (`tested`: one by one) until the page is full, so a page
    costs the same however many customers match; the second is read only when a page reaches past
    the first. One ORDER BY over an outer join could not walk that index (its nulls come first
    descending, and the customers without the key are not in it at all). `count()` is the total."""
    held = aliased(_entries)
    value = held.c[column_name]
    holding = and_(held.c.user_id == owner_id, held.c.key == key, value.is_not(None))
    present = _ordered(tested.join(held, and_(held.c.customer_id == Customer.id, holding)), owner_id, rest,
                       definitions, leading=[value.desc() if descending else value.asc()], last=held.c.customer_id)

    def lacking():
        absent = aliased(_entries)
        return query.where(~exists(select(absent.c.id).where(
            absent.c.customer_id == Customer.id, absent.c.user_id == owner_id, absent.c.key == key,
            absent.c[column_name].is_not(None))))

    if page is None:
        return (db.session.scalars(present).all()
                + db.session.scalars(_ordered(lacking(), owner_id, rest, definitions)).all()), None
    total = count()
    offset = min(page.offset, MAX_ID)
    rows = db.session.scalars(present.limit(page.limit).offset(offset)).all()
    if (page.limit is None or len(rows) < page.limit) and offset + len(rows) < total:
        # the page reaches the customers without the value; skip those of them that earlier pages hold
        skip = 0 if rows or offset == 0 else offset - (total - count_of(lacking()))
        wanted = None if page.limit is None else page.limit - len(rows)
        rows += db.session.scalars(_ordered(lacking(), owner_id, rest, definitions).limit(wanted).offset(skip)).all()
    return rows, total


def _count_matching(owner_id, typed, search, query):
    """How many customers `query` (the customers that meet the conditions `typed`) finds.

    With a condition that needs an entry and no search, counted from the entries alone: those of
    one condition's key that it matches (one per customer: a customer holds a key once), whose
    customer holds the others, read from the indexes that end with the customer's id, without
    reading a customer (an entry's owner is its customer's: every write checks it). The leading
    condition is one other than equality when there is one: equality is usually the narrow one,
    better held in memory and probed (SQLite runs the first table's rows as the loop)."""
    needed = [condition for condition in typed if condition[2].kind != "exists" or condition[2].operands[0]]
    if search or not needed:
        return count_of(query)
    lead = next((condition for condition in needed if condition[2].kind != "hash"), needed[0])
    prefix, key, lookup = lead
    entry = aliased(_entries)
    clauses = [entry.c.user_id == owner_id, entry.c.key == key]
    if lookup.kind != "exists":
        clauses.append(value_filters.lookup_clause(entry, lookup.shape, prefix))
    others = [condition for condition in typed if condition is not lead]
    statement = select(func.count()).select_from(entry).where(
        *clauses, *_conditions(owner_id, others, entry.c.customer_id, member=True))
    if lookup.kind != "exists":
        statement = statement.params(value_filters.lookup_parameters(lookup, prefix))
    return db.session.scalar(statement)


def _conditions(owner_id, typed, customer, per_customer=False, member=False):
    """A clause per condition (bind prefix, key, TypedLookup) on the customer whose id is `customer`."""
    return [_holds(owner_id, key, lookup, prefix, customer, per_customer, member) for prefix, key, lookup in typed]


def _holds(owner_id, key, typed, prefix, customer, per_customer=False, member=False):
    """EXISTS an entry of the customer's, of the condition's key, that the condition matches.

    `per_customer`: tested customer by customer, as they come (an index lookup each). PostgreSQL
    otherwise turns each EXISTS into a join it may run first over all the key's entries, which it
    does when it misjudges how many match: it multiplies the selectivities of the owner, the key
    and the value, which are not independent (10 times too few at 200,000 entries), and then
    sorts every match instead of walking an index. `OFFSET 0` keeps it from that (an EXISTS with
    an OFFSET is never made a join); it changes nothing on SQLite. `member`: the customer is IN the
    customers of the entries the condition matches instead (SQLite makes them a list in memory)."""
    entry = aliased(_entries)
    of_key = [entry.c.user_id == owner_id, entry.c.key == key]
    matched, parameters = [], {}
    if typed.kind != "exists":
        matched = [value_filters.lookup_clause(entry, typed.shape, prefix)]
        parameters = value_filters.lookup_parameters(typed, prefix)
    if member and (typed.kind != "exists" or typed.operands[0]):
        return customer.in_(select(entry.c.customer_id).where(*of_key, *matched).params(parameters))
    held = select(entry.c.id).where(entry.c.customer_id == customer, *of_key, *matched)
    if per_customer:
        held = held.offset(0)
    if typed.kind == "exists" and not typed.operands[0]:
        return ~exists(held)
    return exists(held.params(parameters))


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
