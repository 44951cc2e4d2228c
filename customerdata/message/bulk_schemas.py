"""Shapes of the bulk routes: bulk upsert items, the CSV import's and export's arguments, their answers."""
from flask import current_app
from marshmallow import Schema, fields

from ..fields import (
    BASE_MESSAGES,
    Boolean,
    Choice,
    InputSchema,
    PrimaryKey,
    Text,
    Upload,
)
from .bulk import Item
from .schemas import CustomerDataListArgsSchema

MAX_ITEMS = 1000


def _max_value_length():
    return current_app.config["MAX_VALUE_LENGTH"]


class BulkItemSchema(InputSchema):
    customer = PrimaryKey(required=True)
    key = Text(required=True, max_length=255)
    value = Text(required=True, max_length=_max_value_length)


class ImportRowSchema(BulkItemSchema):
    """A CSV row: the item rules, but an empty value is allowed (it writes nothing)."""

    value = Text(max_length=_max_value_length, allow_blank=True, load_default="")


def load_import_row(cells):
    return BulkItems.load_item(cells, ImportRowSchema())


class BulkItems(fields.Field):
    """1 to 1,000 items, each loaded on its own: an item's errors are its result, not the request's."""

    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_list": 'Expected a list of items but got type "{input_type}".',
        "empty": "This list may not be empty.",
        "too_long": "Ensure this field has no more than {max_items} elements.",
    }
    item_schema = BulkItemSchema()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.metadata.setdefault("type", "array")
        self.metadata.setdefault("minItems", 1)
        self.metadata.setdefault("maxItems", MAX_ITEMS)
        self.metadata.setdefault("items", {"type": "object", "required": ["customer", "key", "value"], "properties": {
            "customer": {"type": "integer"}, "key": {"type": "string", "maxLength": 255},
            "value": {"type": "string", "minLength": 1}}})

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("not_a_list", input_type=type(value).__name__)
        if not value:
            raise self.make_error("empty")
        if len(value) > MAX_ITEMS:
            raise self.make_error("too_long", max_items=MAX_ITEMS)
        return [self.load_item(item) for item in value]


    @classmethod
    def load_item(cls, item, schema=None):
        schema = schema or cls.item_schema
        if not isinstance(item, dict):
            return Item(errors={"non_field_errors": [
                f"Invalid data. Expected a dictionary, but got {type(item).__name__}."]})
        errors = schema.validate(item)
        if errors:
            return Item(errors={("non_field_errors" if name == "_schema" else name): messages
                                for name, messages in errors.items()})
        return Item(fields=schema.load(item))


class BulkUpsertSchema(InputSchema):
    items = BulkItems(required=True)
    atomic = Boolean(load_default=False)


class BulkResultSchema(Schema):
    index = fields.Integer()
    status = fields.String(metadata={"enum": ["created", "updated", "unchanged", "error"]})
    id = fields.Integer(metadata={"x-optional": True})
    errors = fields.Dict(metadata={"x-optional": True})


class BulkUpsertedSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()
    results = fields.List(fields.Nested(BulkResultSchema))


class ExportArgsSchema(CustomerDataListArgsSchema):
    """The list's filters and ordering, without paging: every entry the list would answer."""

    class Meta:
        exclude = ("limit", "offset")

    format = Choice(("csv", "jsonl"), load_default="csv")
    bom = Boolean(load_default=False, metadata={"description": "Start a CSV with a UTF-8 BOM (for Excel)."})


class ImportArgsSchema(Schema):
    mode = Choice(("upsert", "create"), load_default="upsert")
    dry_run = Boolean(load_default=False)
    atomic = Boolean(load_default=False)


class ImportFileSchema(InputSchema):
    """multipart/form-data with the CSV as `file`."""

    file = Upload(required=True, allow_empty=True, error_messages={"required": "No file was submitted."})


class RowErrorSchema(Schema):
    row = fields.Integer()
    errors = fields.Dict()


class ImportedSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    failed = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema), metadata={"description": "At most 1,000 listed."})
