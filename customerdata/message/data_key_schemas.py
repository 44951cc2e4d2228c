"""Shapes of the data-key definitions: answers, create and update bodies, list and dry-run arguments."""
from marshmallow import Schema, fields

from ..fields import (
    Boolean,
    Bound,
    Choice,
    ChoiceList,
    ExtensionList,
    InputSchema,
    Integer,
    Region,
    Text,
    Timestamp,
    at_least,
    at_most,
    between,
)
from ..models import DATA_KEY_TYPES
from .value_types import answered_bound

MAX_INTEGER = 2**31 - 1  # the columns' integer on PostgreSQL
MAX_BIG_INTEGER = 2**63 - 1


def _bound(name):
    return fields.Function(lambda definition: answered_bound(definition.type, getattr(definition, name)),
                           metadata={"type": ["number", "string", "null"]})


class DataKeySchema(Schema):
    id = fields.Integer()
    key = fields.String()
    type = fields.String(metadata={"enum": list(DATA_KEY_TYPES)})
    label = fields.String()
    description = fields.String()
    position = fields.Integer()
    archived = fields.Boolean()
    min = _bound("min")
    max = _bound("max")
    min_length = fields.Integer(allow_none=True)
    max_length = fields.Integer(allow_none=True)
    pattern = fields.String(allow_none=True)
    choices = fields.List(fields.Dict(), allow_none=True)
    region = fields.String(allow_none=True)
    max_size = fields.Integer(allow_none=True)
    extensions = fields.List(fields.String(), allow_none=True)
    unique = fields.Boolean()
    created_at = Timestamp()
    updated_at = Timestamp()


class DataKeyUpdateSchema(InputSchema):
    """PUT and PATCH: every field optional; null clears a constraint."""

    key = Text(max_length=255)
    type = Choice(DATA_KEY_TYPES)
    label = Text(max_length=100, allow_blank=True, allow_none=True)
    description = Text(max_length=1000, allow_blank=True, allow_none=True)
    position = Integer(validate=between(-MAX_INTEGER - 1, MAX_INTEGER))
    archived = Boolean()
    min = Bound()
    max = Bound()
    min_length = Integer(allow_none=True, validate=[at_least(0), at_most(MAX_INTEGER)])
    max_length = Integer(allow_none=True, validate=[at_least(1), at_most(MAX_INTEGER)])
    pattern = Text(max_length=500, trim=False, blank_to_none=True, allow_none=True)
    choices = ChoiceList()
    region = Region()
    max_size = Integer(allow_none=True, validate=[at_least(1), at_most(MAX_BIG_INTEGER)])
    extensions = ExtensionList()
    unique = Boolean()


class DataKeyCreateSchema(DataKeyUpdateSchema):
    key = Text(required=True, max_length=255)
    type = Choice(DATA_KEY_TYPES, required=True)


class DataKeyListArgsSchema(Schema):
    key = Text(trim=False, allow_blank=True)  # exact match
    archived = Boolean()


class DryRunArgsSchema(Schema):
    dry_run = Boolean(load_default=False, metadata={
        "description": "Check the existing values of the key and answer the report; change nothing."})


class InvalidValueSchema(Schema):
    id = fields.Integer()
    customer = fields.Integer()
    value = fields.String(metadata={"description": "Cut to 100 characters."})
    errors = fields.List(fields.String())


class DryRunReportSchema(Schema):
    valid = fields.Integer()
    changed = fields.Integer()
    invalid_count = fields.Integer()
    invalid = fields.List(fields.Nested(InvalidValueSchema), metadata={"description": "At most 20."})


class DataKeyDeletedSchema(Schema):
    message = fields.String()
    deleted_id = fields.Integer()
