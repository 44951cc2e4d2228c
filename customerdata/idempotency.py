"""Idempotency-Key on POSTs (IETF draft "The Idempotency-Key HTTP Header Field").

The first request with a key runs and its answer is kept for IDEMPOTENCY_HOURS under (user, key);
a retry of the same request gets that answer again (`Idempotent-Replayed: true`) and nothing runs
twice. The keys live in the database, so every worker of every host sees them. A key is claimed
by inserting its row before the request runs (the unique (user, key) decides between two
concurrent requests), and released again when the answer is not worth keeping (5xx, 429) or the
request dies; a claim older than IDEMPOTENCY_RUNNING_SECONDS (the worker timeout) is taken over.
"""
import hashlib
from datetime import timedelta

import orjson
from flask import current_app, g, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from .auth import current_user_id
from .errors import DetailError
from .extensions import db
from .models import IdempotencyKey, utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
INVALID = "Idempotency-Key must be 1 to 255 printable ASCII characters."
OTHER_REQUEST = "This Idempotency-Key was used with another request."
IN_FLIGHT = "A request with this Idempotency-Key is still being processed."
_keys = IdempotencyKey.__table__


def register(blueprint):
    blueprint.before_request(claim)
    blueprint.after_request(keep)
    blueprint.teardown_request(release_unfinished)


def parse_key(header):
    """The key of the header: bare or an RFC 8941 string ("abc" and abc are the same key)."""
    key = header.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if not 1 <= len(key) <= 255 or not all(" " <= character <= "~" for character in key):
        raise DetailError(INVALID, 400)
    return key


def fingerprint():
    """What makes two requests "the same": method, path with query, media type and the parsed body."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.full_path} {request.mimetype}\n".encode())
    if request.is_json:
        body = request.get_json(silent=True)
        digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS) if body is not None else request.get_data())
    elif request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        # a part without a name (or a file without a filename) has None there
        fields = sorted(((name or "", value) for name, values in request.form.lists() for value in values))
        digest.update(orjson.dumps(fields))
        for name, upload in sorted(request.files.items(multi=True),
                                   key=lambda item: (item[0] or "", item[1].filename or "")):
            digest.update(f"\n{name}\n{upload.filename}\n{_sha256_of(upload.stream)}".encode())
    else:
        digest.update(request.get_data())
    return digest.hexdigest()


def _sha256_of(stream):
    position = stream.tell()
    digest = hashlib.sha256()
    while chunk := stream.read(1024 * 1024):
        digest.update(chunk)
    stream.seek(position)
    return digest.hexdigest()


def claim():
    """Before a POST runs: claim its key, or answer with the kept answer, a 409 or a 422."""
    if request.method != "POST" or HEADER not in request.headers:
        return None
    key = parse_key(request.headers[HEADER])
    owner_id, fingerprinted, now = current_user_id(), fingerprint(), utcnow()
    config = current_app.config
    row = {"user_id": owner_id, "key": key, "fingerprint": fingerprinted, "status": None, "body": None,
           "content_type": None, "created_at": now, "expires_at": now + timedelta(hours=config["IDEMPOTENCY_HOURS"])}
    with db.engine.begin() as connection:
        kept = connection.execute(select(_keys).where(_keys.c.user_id == owner_id, _keys.c.key == key)).first()
        stale = now - timedelta(seconds=config["IDEMPOTENCY_RUNNING_SECONDS"])
        if kept is not None and (kept.expires_at <= now or (kept.status is None and kept.created_at <= stale)):
            connection.execute(delete(_keys).where(_keys.c.id == kept.id))  # expired, or its worker died
            kept = None
        if kept is None:
            try:
                with connection.begin_nested():
                    g.idempotency_key = connection.execute(insert(_keys).returning(_keys.c.id), row).scalar()
                return None
            except IntegrityError:  # another request claimed it a moment ago
                kept = connection.execute(select(_keys).where(_keys.c.user_id == owner_id,
                                                              _keys.c.key == key)).first()
    if kept.fingerprint != fingerprinted:
        raise DetailError(OTHER_REQUEST, 422)
    if kept.status is None:
        raise DetailError(IN_FLIGHT, 409)
    response = current_app.response_class(kept.body, status=kept.status, content_type=kept.content_type)
    response.headers[REPLAYED] = "true"
    return response


def keep(response):
    """After the POST: keep its answer under the key, unless the client should simply retry it."""
    claimed = g.pop("idempotency_key", None)
    if claimed is None:
        return response
    with db.engine.begin() as connection:
        if response.status_code >= 500 or response.status_code == 429:
            connection.execute(delete(_keys).where(_keys.c.id == claimed))
        else:
            connection.execute(update(_keys).where(_keys.c.id == claimed).values(
                status=response.status_code, body=response.get_data(), content_type=response.content_type))
    return response


def release_unfinished(error=None):
    """A request that died before keep(): its key is free for the retry."""
    claimed = g.pop("idempotency_key", None)
    if claimed is not None:
        with db.engine.begin() as connection:
            connection.execute(delete(_keys).where(_keys.c.id == claimed))


def purge():
    """Drop expired keys; returns how many."""
    with db.engine.begin() as connection:
        return connection.execute(delete(_keys).where(_keys.c.expires_at <= utcnow())).rowcount
