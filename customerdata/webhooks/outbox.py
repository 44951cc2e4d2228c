"""The outbox: a change's deliveries, written in the change's own transaction.

One INSERT … SELECT per write makes one delivery for each enabled endpoint of the writer that
takes the change's kind; a rolled-back write leaves none, a committed one all of them. A user
with no enabled endpoint pays no statement at all: the request's token check already answers
whether they have one (auth.py).
"""
from sqlalchemy import (
    DateTime,
    Integer,
    String,
    bindparam,
    cast,
    delete,
    exists,
    literal,
    select,
)

from .. import auth
from ..extensions import db
from ..models import Change, WebhookDelivery, WebhookEndpoint
from ..prepared import Prepared
from .events import bit_of

_change, _endpoint, _delivery = Change.__table__, WebhookEndpoint.__table__, WebhookDelivery.__table__
ENDPOINT_ENABLED = exists().where(_endpoint.c.user_id == bindparam("owner"), _endpoint.c.enabled)
EVENT_PREFIX = "evt_"
COLUMNS = ("endpoint_id", "customer_id", "change_id", "event_id", "type", "event_at", "status", "next_attempt_at",
           "attempt_count", "created_at")


def _enqueue(changes_written):
    now = bindparam("now", type_=DateTime())
    deliveries = select(
        _endpoint.c.id, _change.c.customer_id, _change.c.id, literal(EVENT_PREFIX) + cast(_change.c.id, String),
        _change.c.kind, _change.c.at, literal("pending"), now, literal(0, Integer), now,
    ).select_from(_change.join(_endpoint, _endpoint.c.user_id == _change.c.user_id)).where(
        _change.c.user_id == bindparam("owner"), changes_written, _endpoint.c.enabled,
        _endpoint.c.event_mask.bitwise_and(bit_of(_change.c.kind)) != 0,
    ).order_by(_change.c.id, _endpoint.c.id)  # delivery ids in change order: the worker's order
    return _delivery.insert().from_select(COLUMNS, deliveries)


ENQUEUE_CHANGE = Prepared(_enqueue(_change.c.id == bindparam("change_id")))  # on the driver connection
ENQUEUE_CHANGES = _enqueue(_change.c.id.in_(bindparam("change_ids", expanding=True)))  # in the session


HAS_ENDPOINT = Prepared(select(ENDPOINT_ENABLED.label("subscribed")))


def subscribed(owner_id, on_driver=False):
    """Whether the owner has an enabled endpoint: as the request's token check found it, else asked
    on the connection of the write (the driver's, or the session's)."""
    known = auth.has_webhook_endpoints(owner_id)
    if known is None:
        parameters = {"owner": owner_id}
        known = HAS_ENDPOINT.scalar(parameters) if on_driver else db.session.scalar(select(ENDPOINT_ENABLED),
                                                                                       parameters)
    return bool(known)


def enqueue_on_driver(owner_id, change_id, now):
    ENQUEUE_CHANGE.execute({"owner": owner_id, "change_id": change_id, "now": now})


def enqueue_in_session(owner_id, change_ids, now):
    if change_ids:
        db.session.execute(ENQUEUE_CHANGES, {"owner": owner_id, "change_ids": list(change_ids), "now": now})


def erase_customer(customer_id):
    """Erasure: the deliveries of a customer's changes go, with their attempt logs (cascade)."""
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.customer_id == customer_id))
