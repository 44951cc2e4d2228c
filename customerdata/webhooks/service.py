"""Webhook endpoints and their delivery logs, as the API and the CLI change and read them.

Sending is delivery.py's; what the outbox writes with every change is outbox.py's.
"""
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select, text, update

from ..errors import InvalidInput, NotFound
from ..extensions import db, unchanged
from ..message.queries import paged, valid_id
from ..models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from . import destinations, events, signing
from .outbox import EVENT_PREFIX

MAX_ENDPOINTS = 20
ROTATION_OVERLAP = timedelta(hours=24)
ENDPOINT_NOT_FOUND = "Webhook endpoint not found."
DELIVERY_NOT_FOUND = "Delivery not found."
UPDATABLE = ("url", "events", "description", "enabled")


# Endpoints

def list_endpoints(owner_id):
    return db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.user_id == owner_id)
                              .order_by(WebhookEndpoint.id)).all()


def get_endpoint(owner_id, endpoint_id):
    endpoint = db.session.get(WebhookEndpoint, endpoint_id) if valid_id(endpoint_id) else None
    if endpoint is None or endpoint.user_id != owner_id:
        raise NotFound(ENDPOINT_NOT_FOUND)
    return endpoint


def create_endpoint(owner_id, fields):
    url = _checked_url(fields["url"])
    _lock_owner(owner_id)
    if db.session.scalar(select(func.count()).where(WebhookEndpoint.user_id == owner_id)) >= MAX_ENDPOINTS:
        db.session.rollback()
        raise InvalidInput.on("non_field_errors", f"A user can have at most {MAX_ENDPOINTS} webhook endpoints.")
    now = utcnow()
    endpoint = WebhookEndpoint(user_id=owner_id, url=url, events=fields["events"],
                               event_mask=events.mask_of(fields["events"]),
                               description=fields.get("description", ""), enabled=fields.get("enabled", True),
                               secret=signing.new_secret(), created_at=now, updated_at=now)
    db.session.add(endpoint)
    db.session.commit()
    return endpoint


def update_endpoint(owner_id, endpoint_id, fields):
    """PUT and PATCH alike: what is given changes. Enabling again clears why it was disabled and
    resumes its pending deliveries."""
    if "url" in fields:
        fields["url"] = _checked_url(fields["url"])
    endpoint = _locked_endpoint(owner_id, endpoint_id)
    if all(getattr(endpoint, name) == value for name, value in fields.items()):
        return unchanged(endpoint)
    for name, value in fields.items():
        setattr(endpoint, name, value)
    if "events" in fields:
        endpoint.event_mask = events.mask_of(fields["events"])
    if "enabled" in fields:
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    endpoint.updated_at = utcnow()
    db.session.commit()
    return endpoint


def delete_endpoint(owner_id, endpoint_id):
    """Delete an endpoint with its deliveries, pending ones included."""
    endpoint = _locked_endpoint(owner_id, endpoint_id)
    db.session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint.id))
    db.session.commit()


def rotate_secret(owner_id, endpoint_id):
    """A new secret; the one it replaces keeps signing beside it for ROTATION_OVERLAP."""
    endpoint = _locked_endpoint(owner_id, endpoint_id)
    now = utcnow()
    endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + ROTATION_OVERLAP
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = now
    db.session.commit()
    return endpoint


def _checked_url(url):
    try:
        return destinations.checked(url)
    except destinations.Refused as refused:
        raise InvalidInput.on("url", str(refused)) from None


def _lock_owner(owner_id):
    """PostgreSQL: creations of one user take turns, so that two cannot both pass the limit
    (SQLite's writers take turns anyway)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT id FROM users WHERE id = :owner FOR NO KEY UPDATE"), {"owner": owner_id})


def _locked_endpoint(owner_id, endpoint_id):
    endpoint = db.session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.user_id == owner_id)
        .with_for_update().execution_options(populate_existing=True)).first() if valid_id(endpoint_id) else None
    if endpoint is None:
        raise NotFound(ENDPOINT_NOT_FOUND)
    return endpoint


# Deliveries

def queue_test(owner_id, endpoint_id):
    """A webhook.test event for the endpoint, whatever it subscribes to."""
    endpoint = get_endpoint(owner_id, endpoint_id)
    now = utcnow()
    return _queued(WebhookDelivery(endpoint_id=endpoint.id, event_id=EVENT_PREFIX + "test_" + secrets.token_hex(12),
                                   type=events.TEST_EVENT, event_at=now))


def redeliver(owner_id, endpoint_id, delivery_id):
    """The same event again (same webhook-id and body) as a new delivery."""
    endpoint = get_endpoint(owner_id, endpoint_id)
    sent = db.session.get(WebhookDelivery, delivery_id) if valid_id(delivery_id) else None
    if sent is None or sent.endpoint_id != endpoint.id:
        raise NotFound(DELIVERY_NOT_FOUND)
    return _queued(WebhookDelivery(endpoint_id=endpoint.id, change_id=sent.change_id, customer_id=sent.customer_id,
                                   event_id=sent.event_id, type=sent.type, event_at=sent.event_at))


def _queued(delivery):
    now = utcnow()
    delivery.status, delivery.next_attempt_at, delivery.attempt_count, delivery.created_at = "pending", now, 0, now
    db.session.add(delivery)
    db.session.commit()
    return delivery


def list_deliveries(owner_id, endpoint_id, status=None, page=None):
    """An endpoint's deliveries, newest first, each with its attempts (`.attempts`)."""
    endpoint = get_endpoint(owner_id, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    deliveries, total = paged(query.order_by(WebhookDelivery.id.desc()), page, entities=True)
    attempts = {}
    if deliveries:
        for attempt in db.session.scalars(select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_([delivery.id for delivery in deliveries]))
                .order_by(WebhookAttempt.id)):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    for delivery in deliveries:
        delivery.attempts = attempts.get(delivery.id, [])
    return deliveries, total


def purge(now=None):
    """Drop finished deliveries (and their attempts) older than WEBHOOKS_LOG_DAYS; returns how many."""
    before = (now or utcnow()) - timedelta(days=current_app.config["WEBHOOKS_LOG_DAYS"])
    count = db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.finished_at < before)).rowcount
    db.session.commit()
    return count


def disable(endpoint_id, reason, now):
    """Switch an endpoint off (by the worker: 410, or three days of failures)."""
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
                       .values(enabled=False, disabled_reason=reason, updated_at=now))
