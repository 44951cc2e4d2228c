"""Shapes of the message API: customers and their data entries, by direction and use."""
from marshmallow import Schema, fields

from ..fields import Choice, Email, InputSchema, Text
from ..listing import ListArgsSchema, Ordering
from ..models import CUSTOMER_SOURCES

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def Timestamp(**kwargs):
    return fields.DateTime(format=TIMESTAMP_FORMAT, **kwargs)


class CustomerSchema(Schema):
    id = fields.Integer()
    user = fields.Integer(attribute="user_id")
    first_name = fields.String(allow_none=True)
    last_name = fields.String(allow_none=True)
    username = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone_number = fields.String(allow_none=True)
    source = fields.String(metadata={"enum": list(CUSTOMER_SOURCES)})
    display_name = fields.String()
    created_at = Timestamp()
    updated_at = Timestamp()


def _name(**kwargs):
    return Text(max_length=100, blank_to_none=True, allow_none=True, **kwargs)


class CustomerUpdateSchema(InputSchema):
    """Fields a client may change; absent ones stay as they are, blank ones become null."""

    first_name = _name()
    last_name = _name()
    username = _name()
    phone_number = _name()
    email = Email(max_length=250, blank_to_none=True, allow_none=True)
    source = Choice(CUSTOMER_SOURCES)


class CustomerCreateSchema(CustomerUpdateSchema):
    source = Choice(CUSTOMER_SOURCES, load_default="unknown")


class CustomerListArgsSchema(ListArgsSchema):
    ordering = Ordering(("created_at", "updated_at", "first_name", "last_name", "username"))


class CustomerDeletedSchema(Schema):
    message = fields.String()
    deleted_id = fields.Integer()
    deleted_data_count = fields.Integer()
