"""Shapes of the message API: customers and their data entries, by direction and use."""
import marshmallow as ma
from flask import current_app
from marshmallow import Schema, fields, post_load, pre_load, validates_schema

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
from ..listing import Cursor, ListArgsSchema, Ordering
from ..models import CUSTOMER_SOURCES, display_name
from ..storage import get_storage, media_url_path
from .queries import DEFAULT_ORDER
from .value_types import LOOKUPS, ValueLookup


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


MAX_DATA_CONDITIONS = 10
DATA_PREFIX = "data."


class CustomerOrdering(Ordering):
    """The customer fields, and `data.<key>`: customers by the typed value of one of their keys."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = Text._deserialize(self, value, attr, data, **kwargs)
        if not text:
            return None
        parsed = []
        for part in text.split(","):
            part = part.strip()
            name = part.removeprefix("-")
            if not (name in self.allowed or (name.startswith(DATA_PREFIX) and name[len(DATA_PREFIX):].strip())):
                raise self.make_error("unknown", value=part, allowed=", ".join((*self.allowed, "data.<key>")))
            parsed.append((name, part.startswith("-")))
        return parsed


def data_condition(param, raw):
    """A segment condition from a `data.<key>[__<lookup>]` parameter: the name splits at its last
    `__` only when a lookup name follows, so `data.a__b` is the key `a__b`."""
    name = param[len(DATA_PREFIX):]
    key, separator, lookup = name.rpartition("__")
    if not separator or lookup not in (*LOOKUPS, "exists"):
        key, lookup = name, "eq"
    return ValueLookup(key, lookup, raw, param)


class CustomerListArgsSchema(ListArgsSchema):
    ordering = CustomerOrdering(("created_at", "updated_at", "first_name", "last_name", "username"))
    conditions = fields.Raw(load_default=(), metadata={"parameter": {
        "in": "query", "name": "data", "style": "form", "explode": True,
        "description": "Segment conditions on the customers' data, ANDed (at most 10): `data.<key>=<v>`, "
                       "`data.<key>__<lookup>=<v>` with the lookups of the entry lists (`eq`, `ne`, `gt`, `gte`, "
                       "`lt`, `lte`, `in`, `contains`), typed by the key's definition, and "
                       "`data.<key>__exists=true|false`.",
        "schema": {"type": "object", "propertyNames": {"pattern": r"^data\..+"},
                   "additionalProperties": {"type": "string"}}}})

    @pre_load
    def gather_data_conditions(self, data, **kwargs):
        """`data.` parameters have names of the client's choosing: gathered here, each checked."""
        raw = getattr(data, "data", data)  # webargs' proxy over the request's MultiDict
        loaded = {name: data[name] for name in self.fields if name != "conditions" and name in data}
        conditions, errors, seen = [], {}, set()
        for param in dict.fromkeys(raw.keys()):
            if not param.startswith(DATA_PREFIX):
                continue
            values = raw.getlist(param) if hasattr(raw, "getlist") else [raw[param]]
            condition = data_condition(param, values[-1])
            if not condition.key.strip():
                errors[param] = ["This field may not be blank."]
            elif "\x00" in param or "\x00" in condition.raw:
                errors[param] = ["Null characters are not allowed."]
            elif len(values) > 1 or (condition.key, condition.lookup) in seen:
                errors[param] = ["This condition is given more than once."]
            seen.add((condition.key, condition.lookup))
            conditions.append(condition)
        if len(conditions) > MAX_DATA_CONDITIONS:
            errors.setdefault("non_field_errors", []).append(
                f"At most {MAX_DATA_CONDITIONS} data. conditions are allowed.")
        if errors:
            raise ma.ValidationError(errors)
        loaded["conditions"] = conditions
        return loaded


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


ENTRY_ORDERING = ("key", "created_at", "updated_at", "value")
VALUE_PARAMETERS = {"value": "eq", **{f"value__{lookup}": lookup for lookup in LOOKUPS if lookup != "eq"}}
VALUE_DESCRIPTIONS = {
    "eq": "Entries of `key` whose value equals this one (normalised as a write of the key's type).",
    "ne": "Entries of `key` whose value differs from this one.",
    "gt": "Greater than: numbers, dates and times of `key` (integer, decimal, date, datetime keys).",
    "gte": "Greater than or equal (integer, decimal, date, datetime keys).",
    "lt": "Less than (integer, decimal, date, datetime keys).",
    "lte": "Less than or equal (integer, decimal, date, datetime keys).",
    "in": "One of a comma-separated list (at most 100), each normalised as for `value`.",
    "contains": "Case-insensitive substring (text, email, url, phone keys); for multi_choice keys, "
                "holds every listed choice.",
}


class EntryListArgsSchema(ListArgsSchema):
    """What both entry lists take: `key`, typed `value` lookups on it, ordering (`value` typed by `key`)."""

    key = Text(trim=False, allow_blank=True)  # exact match; a Text refuses what no key can be (NUL)
    ordering = Ordering(ENTRY_ORDERING)
    cursor = Cursor(metadata={"description": "Where the page starts in the newest-first order, instead of "
                                             "`offset`: as the Link header's rel=\"next\" URL carries it."})
    locals().update({name: Text(trim=False, allow_blank=True, metadata={"description": VALUE_DESCRIPTIONS[lookup]})
                     for name, lookup in VALUE_PARAMETERS.items()})

    @validates_schema
    def value_needs_a_key(self, data, **kwargs):
        if "key" not in data and any(name in data for name in VALUE_PARAMETERS):
            raise ma.ValidationError({"key": ["Filtering on value needs a key."]})

    @validates_schema
    def cursor_in_the_newest_first_order(self, data, **kwargs):
        if "cursor" in data and tuple(data.get("ordering") or DEFAULT_ORDER) != DEFAULT_ORDER:
            raise ma.ValidationError({"cursor": ["A cursor pages the default order (newest first) only."]})

    @post_load
    def gather_value_lookups(self, data, **kwargs):
        data["value_lookups"] = [ValueLookup(data.get("key"), lookup, data.pop(name), name)
                                 for name, lookup in VALUE_PARAMETERS.items() if name in data]
        return data


class CustomerDataListArgsSchema(EntryListArgsSchema):
    customer = Integer()


class CustomerEntriesArgsSchema(EntryListArgsSchema):
    pass


class BulkDeleteSchema(InputSchema):
    data_ids = IdList(max_items=1000, required=True)


class BulkDeletedSchema(Schema):
    message = fields.String()
    deleted_count = fields.Integer()


class CustomerDataDeletedSchema(Schema):
    message = fields.String()
    deleted_key = fields.String()
