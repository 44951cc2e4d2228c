from flask import Blueprint
from flask_jwt_extended import get_jwt, jwt_required

from ..auth import current_user_id
from ..parsing import use_args
from . import service
from .schemas import LoginSchema, LogoutSchema, RegisterSchema, TokenPairSchema, UserSchema

bp = Blueprint("accounts", __name__)

user_schema = UserSchema()
tokens_schema = TokenPairSchema()


@bp.post("/register")
@use_args(RegisterSchema(), location="json")
def register(args):
    return user_schema.dump(service.register(**args)), 201


@bp.post("/login")
@use_args(LoginSchema(), location="json")
def login(args):
    return tokens_schema.dump(service.login(**args))


@bp.post("/refresh")
@jwt_required(refresh=True)
def refresh():
    return tokens_schema.dump(service.refresh(get_jwt()))


@bp.post("/logout")
@jwt_required()
@use_args(LogoutSchema(), location="json")
def logout(args):
    service.logout(get_jwt(), args["refresh"])
    return {"detail": "Successfully logged out."}


@bp.get("/me")
@jwt_required()
def me():
    return user_schema.dump(service.get_user(current_user_id()))
