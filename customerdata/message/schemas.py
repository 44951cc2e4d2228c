"""Shapes of the message API: customers and their data entries, by direction and use."""
from flask import current_app
from marshmallow import Schema, fields

from ..fields import (
    Boolean,
    Choice,
    Email,
    IdList,
    InputSchema,
    Integer,
    PrimaryKey,
    Text,
    Timestamp,
    Upload,
)
from ..listing import ListArgsSchema, Ordering
from ..models import CUSTOMER_SOURCES, display_name
from ..storage import get_storage, media_url_path


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


# Customer data entries

def _max_value_length():
    return current_app.config["MAX_VALUE_LENGTH"]


class CustomerDataSchema(Schema):
    """An entry as answered. Reads rows that carry the customer's name columns alongside."""

    id = fields.Integer()
    customer = fields.Integer()
    user = fields.Integer()
    key = fields.String()
    value = fields.String()
    file = fields.Function(lambda row: media_url_path(row.file), metadata={"type": ["string", "null"]})
    file_url = fields.Function(lambda row: get_storage().url_for_download(row.file) if row.file else None, metadata={"type": ["string", "null"]})
    file_name = fields.String(allow_none=True)
    customer_name = fields.Function(
        lambda row: display_name(row.customer, row.customer_first_name, row.customer_last_name,
                                 row.customer_username, row.customer_source),
        metadata={"type": "string"})
    created_at = Timestamp()
    updated_at = Timestamp()


class CustomerDataUpdateSchema(InputSchema):
    """PUT and PATCH: every field optional; `customer` and `user` are ignored (an entry never moves)."""

    key = Text(max_length=255)
    value = Text(max_length=_max_value_length, allow_blank=True)
    file = Upload()
    remove_file = Boolean(load_default=False)


class CustomerDataCreateSchema(InputSchema):
    customer = PrimaryKey(required=True)
    key = Text(required=True, max_length=255)
    value = Text(max_length=_max_value_length, allow_blank=True, load_default="")
    file = Upload(load_default=None)


ENTRY_ORDERING = ("key", "created_at", "updated_at")


class CustomerDataListArgsSchema(ListArgsSchema):
    customer = Integer()
    key = Text(trim=False, allow_blank=True)  # exact match; a Text refuses what no key can be (NUL)
    ordering = Ordering(ENTRY_ORDERING)


class CustomerEntriesArgsSchema(ListArgsSchema):
    ordering = Ordering(ENTRY_ORDERING)


class BulkDeleteSchema(InputSchema):
    data_ids = IdList(max_items=1000, required=True)


class BulkDeletedSchema(Schema):
    message = fields.String()
    deleted_count = fields.Integer()


class CustomerDataDeletedSchema(Schema):
    message = fields.String()
    deleted_key = fields.String()
