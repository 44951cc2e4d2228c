"""Query pieces the message lists share: id bounds, ordering, search and paging."""
from sqlalchemy import func, select

from ..extensions import db
from ..listing import LIKE_ESCAPE, like_pattern, search_terms

MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones exist nowhere


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


def paged(query, page, entities=False):
    """Rows of one page, and the total before paging when a page was asked for."""
    fetch = db.session.scalars if entities else db.session.execute
    if page is None:
        return fetch(query).all(), None
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if page.limit is not None:
        query = query.limit(page.limit)
    # an offset past every row is an empty page; capped so that no database overflows on it
    return fetch(query.offset(min(page.offset, MAX_ID))).all(), total
