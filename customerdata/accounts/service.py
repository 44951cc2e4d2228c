"""Accounts: registration, credentials, token rotation and revocation."""
import functools

from flask_jwt_extended import decode_token
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..auth import expiry, issue_tokens
from ..errors import AuthenticationFailed, InvalidInput
from ..extensions import db
from ..models import CustomerData, RevokedToken, User, fold, utcnow
from ..storage import get_storage

DUPLICATE_USERNAME = "A user with that username already exists."
BAD_CREDENTIALS = "No active account found with the given credentials"


@functools.cache
def _dummy_hash():
    """Checked for an unknown user, so that its login costs as much as a wrong password's. Made on
    first use, not at import: a scrypt hash is 0.1 s of every worker's start."""
    return generate_password_hash("timing-equaliser")


def register(username, password, email=None):
    user = User(username=username, username_key=fold(username), email=email,
                password_hash=generate_password_hash(password))
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidInput.on("username", DUPLICATE_USERNAME) from None
    return user


def find_user(username):
    return db.session.scalar(select(User).where(User.username_key == fold(username)))


def login(username, password):
    user = find_user(username)
    if user is None:
        check_password_hash(_dummy_hash(), password)
        raise AuthenticationFailed(BAD_CREDENTIALS)
    if not check_password_hash(user.password_hash, password):
        raise AuthenticationFailed(BAD_CREDENTIALS)
    return issue_tokens(user.id)


def refresh(claims):
    """Rotate: the refresh token used here is revoked; the primary key makes a replay lose a race."""
    db.session.add(RevokedToken(jti=claims["jti"], expires_at=expiry(claims)))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AuthenticationFailed("Token has been revoked.") from None
    return issue_tokens(claims["sub"])


def logout(access_claims, refresh_token=None):
    revoked = [access_claims]
    if refresh_token:
        try:
            claims = decode_token(refresh_token)
        except (JWTExtendedException, PyJWTError):
            raise InvalidInput.on("refresh", "Token is invalid or expired") from None
        if claims.get("type") != "refresh" or claims.get("sub") != access_claims["sub"] or "exp" not in claims:
            raise InvalidInput.on("refresh", "Token is invalid or expired")
        revoked.append(claims)
    for claims in revoked:
        if db.session.get(RevokedToken, claims["jti"]) is None:
            db.session.add(RevokedToken(jti=claims["jti"], expires_at=expiry(claims)))
    try:
        db.session.commit()
    except IntegrityError:
        # a concurrent logout revoked the same token first: the outcome is the same
        db.session.rollback()


def get_user(user_id):
    return db.session.get(User, user_id)


def list_users():
    return db.session.scalars(select(User).order_by(User.id)).all()


def delete_user(user):
    """Remove a user with everything they own; the database cascades rows, files go after the commit."""
    files = db.session.scalars(select(CustomerData.file).where(CustomerData.user_id == user.id,
                                                               CustomerData.file.is_not(None))).all()
    db.session.delete(user)
    db.session.commit()
    storage = get_storage()
    for path in files:
        storage.delete(path)


def purge_expired_tokens():
    result = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
    db.session.commit()
    return result.rowcount
