"""The message domain: customers and the data entries kept about them."""
from sqlalchemy import func, select

from ..errors import NotFound
from ..extensions import db
from ..listing import search_terms
from ..models import Customer, utcnow

CUSTOMER_NOT_FOUND = "Customer not found."
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones exist nowhere


def _ordered(query, model, ordering, default=(("created_at", True),)):
    """ORDER BY the requested fields with nulls first ascending on every database, ties by -id."""
    clauses = []
    for name, descending in ordering or default:
        column = getattr(model, name)
        clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
    return query.order_by(*clauses, model.id.desc())


def _searched(query, column, search):
    for term in search_terms(search):
        query = query.where(column.contains(term, autoescape=True))
    return query


def _paged(query, page):
    """Rows of one page, and the total before paging when a page was asked for."""
    if page is None:
        return db.session.scalars(query).all(), None
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    if page.limit is not None:
        query = query.limit(page.limit)
    return db.session.scalars(query.offset(page.offset)).all(), total


# Customers

def list_customers(owner_id, search="", ordering=None, page=None):
    query = select(Customer).where(Customer.user_id == owner_id)
    query = _ordered(_searched(query, Customer.search_text, search), Customer, ordering)
    return _paged(query, page)


def create_customer(owner_id, **fields):
    customer = Customer(user_id=owner_id, **fields)
    customer.index_for_search()
    db.session.add(customer)
    db.session.commit()
    return customer


def get_customer(owner_id, customer_id):
    customer = db.session.get(Customer, customer_id) if 0 < customer_id <= MAX_ID else None
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
    """Delete a customer with its entries; returns how many entries went with it."""
    customer = get_customer(owner_id, customer_id)
    db.session.delete(customer)
    db.session.commit()
    return 0
