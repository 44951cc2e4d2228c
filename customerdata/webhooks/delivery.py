"""Sending deliveries: claiming endpoints, one attempt, its record, and when to try again.

A worker claims endpoints, not single deliveries: it takes an endpoint's lease (leased_until),
sends that endpoint's due deliveries one after the other in change order, and gives the lease
back. So an endpoint is served by one worker at a time — in order, never twice in parallel —
while other endpoints are served beside it; on PostgreSQL the claim skips endpoints another
worker is claiming (FOR UPDATE SKIP LOCKED), on SQLite writers take turns. A worker killed
mid-delivery leaves the lease to run out: then another worker claims the endpoint and sends the
delivery again (at least once; receivers deduplicate on webhook-id).
"""
import random
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import orjson
from flask import current_app
from sqlalchemy import exists, or_, select, update

from ..extensions import db
from ..fields import Timestamp
from ..message.change_schemas import FeedChangeSchema
from ..models import Change, WebhookAttempt, WebhookDelivery, WebhookEndpoint, utcnow
from . import service, signing, transport

# seconds after the 1st, 2nd, … failed attempt; after the last one the delivery has failed
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1  # each delay is stretched or shrunk by up to this fraction
MAX_RETRY_AFTER = timedelta(days=1)
FAILING_FOR = timedelta(days=3)  # an endpoint whose deliveries have all failed this long is disabled
VALUE_LIMIT = 8192  # longer values are left out of the body (the receiver fetches the entry)
BATCH = 100  # deliveries an endpoint gets before its lease goes back for others to claim
GONE = "The endpoint answered 410 Gone."
FAILING = "Every delivery failed for 3 days."

_endpoint, _delivery = WebhookEndpoint.__table__, WebhookDelivery.__table__


def claim(worker, now, limit):
    """Lease up to `limit` enabled endpoints with due deliveries to `worker`; their ids."""
    lease = now + timedelta(seconds=current_app.config["WEBHOOKS_LEASE_SECONDS"])
    due = exists().where(_delivery.c.endpoint_id == _endpoint.c.id, _delivery.c.status == "pending",
                         _delivery.c.next_attempt_at <= now)
    free = or_(_endpoint.c.leased_until.is_(None), _endpoint.c.leased_until < now)
    candidates = select(_endpoint.c.id).where(_endpoint.c.enabled, free, due).order_by(
        _endpoint.c.leased_until.is_not(None), _endpoint.c.id).limit(limit)
    if db.session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimed = db.session.scalars(update(_endpoint).where(_endpoint.c.id.in_(candidates.scalar_subquery()), free)
                                 .values(leased_until=lease, lease_owner=worker).returning(_endpoint.c.id)).all()
    db.session.commit()
    return claimed


def release(endpoint_id, worker):
    db.session.execute(update(_endpoint).where(_endpoint.c.id == endpoint_id, _endpoint.c.lease_owner == worker)
                       .values(leased_until=None, lease_owner=None))
    db.session.commit()


def serve(endpoint_id, worker, stopping=None, clock=utcnow):
    """Send the endpoint's due deliveries in order while `worker` holds its lease; how many."""
    sent = 0
    try:
        while sent < BATCH and not (stopping and stopping.is_set()):
            now = clock()
            if not _renew(endpoint_id, worker, now):
                break
            delivery = db.session.scalars(select(WebhookDelivery).where(
                WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at <= now).order_by(WebhookDelivery.id).limit(1)).first()
            if delivery is None:
                break
            attempt(delivery, now, clock)
            sent += 1
    finally:
        db.session.rollback()
        release(endpoint_id, worker)
    return sent


def _renew(endpoint_id, worker, now):
    """Extend the lease for one more attempt; False when it was lost (or the endpoint disabled)."""
    lease = now + timedelta(seconds=current_app.config["WEBHOOKS_LEASE_SECONDS"])
    renewed = db.session.execute(update(_endpoint).where(
        _endpoint.c.id == endpoint_id, _endpoint.c.lease_owner == worker, _endpoint.c.enabled,
    ).values(leased_until=lease)).rowcount
    db.session.commit()
    return renewed == 1


def attempt(delivery, now, clock=utcnow):
    """Send one delivery and record the attempt and what follows from it."""
    delivery_id, endpoint = delivery.id, db.session.get(WebhookEndpoint, delivery.endpoint_id)
    endpoint_id, url = endpoint.id, endpoint.url
    body = _body(delivery)
    if body is None:
        outcome = transport.Outcome(None, "The change is no longer kept.", 0, "")
    else:
        signed = signing.headers(_secrets(endpoint, now), delivery.event_id, int(time.time()), body)
        db.session.rollback()  # no transaction (nor SQLite's write lock) is held while the receiver answers
        config = current_app.config
        outcome = transport.post(url, body, signed, config["WEBHOOKS_TIMEOUT_SECONDS"],
                                 config["WEBHOOKS_ALLOW_PRIVATE"])
    _record(delivery_id, endpoint_id, outcome, clock(), gone=body is None)


def _secrets(endpoint, now):
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def _record(delivery_id, endpoint_id, outcome, now, gone=False):
    delivery = db.session.get(WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True)
    if delivery is None or delivery.status != "pending":  # deleted (erasure, endpoint) meanwhile
        db.session.rollback()
        return
    db.session.add(WebhookAttempt(delivery_id=delivery_id, at=now, status_code=outcome.status_code,
                                  error=outcome.error, duration_ms=outcome.duration_ms, response=outcome.response))
    delivery.attempt_count += 1
    succeeded = outcome.status_code is not None and 200 <= outcome.status_code < 300
    endpoint_values = {}
    if succeeded:
        delivery.status, delivery.next_attempt_at, delivery.finished_at = "delivered", None, now
        endpoint_values["failing_since"] = None
    else:
        if outcome.status_code == 410:
            service.disable(endpoint_id, GONE, now)
        if outcome.status_code == 410 or gone or delivery.attempt_count > len(RETRY_DELAYS):
            delivery.status, delivery.next_attempt_at, delivery.finished_at = "failed", None, now
        else:
            delivery.next_attempt_at = now + retry_delay(delivery.attempt_count, outcome, now)
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        if endpoint.failing_since is None:
            endpoint_values["failing_since"] = now
        elif now - endpoint.failing_since >= FAILING_FOR:
            service.disable(endpoint_id, FAILING, now)
    if endpoint_values:
        db.session.execute(update(_endpoint).where(_endpoint.c.id == endpoint_id).values(**endpoint_values))
    db.session.commit()


def retry_delay(failed_attempts, outcome, now):
    """After the n-th failed attempt: the schedule's delay with jitter, or the receiver's
    Retry-After on a 429 or 503 when that asks for longer (up to a day)."""
    delay = timedelta(seconds=RETRY_DELAYS[failed_attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER))
    if outcome.status_code in (429, 503) and outcome.retry_after:
        delay = max(delay, min(_retry_after(outcome.retry_after, now), MAX_RETRY_AFTER))
    return delay


def _retry_after(value, now):
    value = value.strip()
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        return parsedate_to_datetime(value).replace(tzinfo=None) - now
    except (TypeError, ValueError):
        return timedelta(0)


# The body

def _body(delivery):
    """The event as JSON bytes, the same on every attempt and redelivery; None when its change is
    no longer kept (retention)."""
    change = None
    if delivery.change_id is not None:
        row = db.session.get(Change, delivery.change_id)
        if row is None:
            return None
        change = _without_long_values(_dump_change(row))
    return orjson.dumps({"type": delivery.type, "timestamp": Timestamp.render(delivery.event_at),
                         "data": {"change": change}})


_dump_change = FeedChangeSchema().dump  # the change as the feed answers it


def _without_long_values(change):
    omitted = False
    data = change.get("data")
    if isinstance(data, dict) and _too_long(data.get("value")):
        change["data"] = {**data, "value": None}
        omitted = True
    value_change = change.get("changes", {}).get("value")
    if isinstance(value_change, dict):
        for side in ("from", "to"):
            if _too_long(value_change.get(side)):
                change["changes"] = {**change["changes"], "value": {**change["changes"]["value"], side: None}}
                omitted = True
    if omitted:
        change["value_omitted"] = True
    return change


def _too_long(value):
    return isinstance(value, str) and len(value) > VALUE_LIMIT


def deliver_due(now=None, worker="inline"):
    """Serve every endpoint with due deliveries once, here and now (tests, and `--once`)."""
    clock = (lambda: now) if now is not None else utcnow
    sent = 0
    for endpoint_id in claim(worker, clock(), limit=1000):
        sent += serve(endpoint_id, worker, clock=clock)
    return sent


