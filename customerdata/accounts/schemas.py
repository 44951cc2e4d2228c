import marshmallow as ma
from marshmallow import Schema, fields

from ..fields import Email, InputSchema, Text, Timestamp

USERNAME_RULE = ma.validate.Regexp(
    r"^[\w.@+-]+\Z",
    error="Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
)


class RegisterSchema(InputSchema):
    username = Text(required=True, max_length=150, validate=USERNAME_RULE)
    password = Text(required=True, min_length=8, max_length=1024, trim=False)
    email = Email(max_length=254, blank_to_none=True, allow_none=True, load_default=None)


class LoginSchema(InputSchema):
    username = Text(required=True)
    password = Text(required=True, trim=False)


class LogoutSchema(InputSchema):
    refresh = Text(load_default=None, allow_none=True)


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    email = fields.String(allow_none=True)
    created_at = Timestamp()


class TokenPairSchema(Schema):
    access = fields.String()
    refresh = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class DetailSchema(Schema):
    detail = fields.String()
