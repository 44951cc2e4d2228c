"""JWT issuing and checking: one place for what a token is and when it stops working."""
from datetime import UTC, datetime

import jwt as pyjwt
from flask import current_app, g
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_jwt_identity,
)
from sqlalchemy import bindparam, exists, select

from .database import OUTSIDE_WRITE_LOCK
from .extensions import db, jwt
from .models import RevokedToken, User


def issue_tokens(user_id):
    identity = str(user_id)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {
        "access": create_access_token(identity=identity),
        "refresh": create_refresh_token(identity=identity),
        "token_type": "Bearer",
        "expires_in": int(lifetime.total_seconds()),
    }


def current_user_id():
    return int(get_jwt_identity())


def expiry(claims):
    return datetime.fromtimestamp(claims["exp"], UTC).replace(tzinfo=None)


_users, _revoked = User.__table__, RevokedToken.__table__
# built once: this runs on every authenticated request
TOKEN_USABLE = select(_users.c.id).where(
    _users.c.id == bindparam("user_id"), ~exists().where(_revoked.c.jti == bindparam("jti")),
).execution_options(**{OUTSIDE_WRITE_LOCK: True})


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
    usable = db.session.connection().execute(TOKEN_USABLE, parameters).first()
    if usable is None:
        return True
    g.user_id = user_id  # for the request log
    return False
