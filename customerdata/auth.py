"""JWT issuing and checking: one place for what a token is and when it stops working."""
from datetime import UTC, datetime

import jwt as pyjwt
from flask import current_app, has_request_context, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    verify_jwt_in_request,
)
from flask_jwt_extended.exceptions import RevokedTokenError
from sqlalchemy import bindparam, exists, select

from .extensions import jwt
from .models import RevokedToken, User, WebhookEndpoint
from .prepared import Prepared


def issue_tokens(user_id):
    identity = str(user_id)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access": create_access_token(identity=identity),
        "refresh": create_refresh_token(identity=identity),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
    }


# the user a usable token belongs to, kept in the WSGI environ so the request's log line has it too
USER_ID_KEY = "customerdata.user_id"
# whether that user has an enabled webhook endpoint: their writes fill the outbox (webhooks/outbox.py)
WEBHOOKS_KEY = "customerdata.webhooks"


def canonical_bearer_scheme(environ):
    """`Authorization: bearer <token>` as `Bearer <token>`, before anything reads the header.

    The auth-scheme is case-insensitive (RFC 7235), but Flask-JWT-Extended and the verified-token
    shortcut below compare it exactly; a header already spelled `Bearer ` costs one startswith.
    """
    header = environ.get("HTTP_AUTHORIZATION")
    if header and not header.startswith("Bearer "):
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() == "bearer":
            environ["HTTP_AUTHORIZATION"] = "Bearer " + credentials.strip()


def current_user_id():
    return request.environ[USER_ID_KEY]  # set by token_unusable once the token is found usable


def require_access_token():
    """Refuse the request unless it carries a usable access token (a blueprint's before_request).

    A token this worker has verified before is only checked for expiry and revocation: the
    signature, header and claims of that exact string were checked the first time. Anything else —
    no token, a new token, an expired one, a refresh token — takes Flask-JWT-Extended's full path,
    which verifies it, remembers it and raises the error the client gets.
    """
    scheme, _, token = request.environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    claims = jwt.remembered_access_claims(token) if scheme == "Bearer" else None
    if claims is None:
        verify_jwt_in_request()
    elif token_unusable(None, claims):
        raise RevokedTokenError({}, claims)


def expiry(claims):
    return datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)


_users, _revoked, _endpoints = User.__table__, RevokedToken.__table__, WebhookEndpoint.__table__
# this runs on every authenticated request
TOKEN_USABLE = Prepared(select(
    _users.c.id, exists().where(_endpoints.c.user_id == _users.c.id, _endpoints.c.enabled).label("webhooks"),
).where(
    _users.c.id == bindparam("user_id"), ~exists().where(_revoked.c.jti == bindparam("jti")),
))


@jwt.token_in_blocklist_loader
def token_unusable(jwt_header, claims):
    """A token stops working when it is revoked or its user is gone: one query answers both."""
    if "exp" not in claims:
        raise pyjwt.MissingRequiredClaimError("exp")
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        raise pyjwt.InvalidTokenError("subject is not a user id") from None
    parameters = {"user_id": user_id, "jti": claims.get("jti", "")}
    usable = TOKEN_USABLE.first(parameters)
    if usable is None:
        return True
    request.environ[USER_ID_KEY] = user_id
    request.environ[WEBHOOKS_KEY] = bool(usable.webhooks)
    return False


def has_webhook_endpoints(user_id):
    """What this request's token check found for `user_id`; None outside such a request."""
    if has_request_context() and request.environ.get(USER_ID_KEY) == user_id:
        return request.environ[WEBHOOKS_KEY]
    return None
