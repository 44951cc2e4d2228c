"""Query pieces the message lists share: id bounds, ordering, search and paging."""
from collections import namedtuple

from sqlalchemy import bindparam, func, select

from ..extensions import db
from ..listing import LIKE_ESCAPE, MAX_ID, like_pattern, search_terms
from ..models import Customer, CustomerData


def valid_id(value):
    return 0 < value <= MAX_ID


DEFAULT_ORDER = (("created_at", True),)  # newest first


def order_clause(column, descending):
    """A column's ORDER BY with nulls first ascending (last descending) on every database."""
    if column.nullable:
        return column.desc().nulls_last() if descending else column.asc().nulls_first()
    # plain ORDER BY, which the (owner, created_at, id) indexes can serve
    return column.desc() if descending else column.asc()


def ordered(query, table, ordering):
    """ORDER BY the requested fields, ties by -id."""
    return query.order_by(*[order_clause(table.c[name], descending) for name, descending in ordering or DEFAULT_ORDER],
                          table.c.id.desc())


def searched(query, column, search):
    for term in search_terms(search):
        query = query.where(column.like(like_pattern(term), escape=LIKE_ESCAPE))
    return query


def count_of(query):
    """How many rows `query` finds."""
    return db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))


def paged(query, page, entities=False, count=None):
    """Rows of one page, and the total before paging when a page was asked for (`count()` when
    given: the same number, found some cheaper way)."""
    fetch = db.session.scalars if entities else db.session.execute
    if page is None:
        return fetch(query).all(), None
    total = count() if count is not None else count_of(query)
    if page.limit is not None:
        query = query.limit(page.limit)
    # an offset past every row is an empty page; capped so that no database overflows on it
    return fetch(query.offset(min(page.offset, MAX_ID))).all(), total


# Lists and reads of entries are the hot path: they select plain columns (no ORM objects), the
# customer's name columns come from the same joined query, and each statement shape is built once
# with bound parameters and then reused, so a request spends no time assembling SQL.
entries_table = _entry = CustomerData.__table__
customers_table = _customer = Customer.__table__
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
# an entry as answered, from values in hand (a write answers without reading its row again)
EntryRow = namedtuple("EntryRow", ENTRIES.selected_columns.keys())
