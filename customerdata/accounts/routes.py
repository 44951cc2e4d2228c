from flask import Blueprint, current_app
from flask_jwt_extended import get_jwt, jwt_required

from ..auth import current_user_id
from ..extensions import limiter
from ..openapi import responds, security
from ..parsing import use_args
from . import service
from .schemas import (
    DetailSchema,
    LoginSchema,
    LogoutSchema,
    RegisterSchema,
    TokenPairSchema,
    UserSchema,
)

bp = Blueprint("accounts", __name__)


def _limit(setting):
    """A per-client rate limit read from configuration when the request comes."""
    return limiter.limit(lambda: current_app.config[setting])


user_schema = UserSchema()
tokens_schema = TokenPairSchema()


@bp.post("/register")
@responds(201, UserSchema)
@security(None)
@_limit("REGISTER_RATE_LIMIT")
@use_args(RegisterSchema(), location="json")
def register(args):
    return user_schema.dump(service.register(**args)), 201


@bp.post("/login")
@responds(200, TokenPairSchema)
@responds(401)
@security(None)
@_limit("LOGIN_RATE_LIMIT")
@use_args(LoginSchema(), location="json")
def login(args):
    return tokens_schema.dump(service.login(**args))


@bp.post("/refresh")
@responds(200, TokenPairSchema)
@security("refresh")
@_limit("REFRESH_RATE_LIMIT")
@jwt_required(refresh=True)
def refresh():
    return tokens_schema.dump(service.refresh(get_jwt()))


@bp.post("/logout")
@responds(200, DetailSchema)
@jwt_required()
@use_args(LogoutSchema(), location="json")
def logout(args):
    service.logout(get_jwt(), args["refresh"])
    return {"detail": "Successfully logged out."}


@bp.get("/me")
@responds(200, UserSchema)
@jwt_required()
def me():
    return user_schema.dump(service.get_user(current_user_id()))
