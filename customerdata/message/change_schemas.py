"""Shapes of the change log: changes as answered (history and feed), and the arguments of its routes."""
import marshmallow as ma
from marshmallow import Schema, fields, post_dump

from ..fields import Choice, InputSchema, Integer, Text, Timestamp
from ..listing import PageArgsSchema
from ..models import CHANGE_KINDS, CHANGE_SOURCES


class ChangeSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(CHANGE_KINDS)})
    at = Timestamp()
    source = fields.String(metadata={"enum": list(CHANGE_SOURCES)})
    request_id = fields.String(allow_none=True)
    customer = fields.Integer(attribute="customer_id", allow_none=True)
    entry = fields.Integer(attribute="entry_id", allow_none=True)
    data_key = fields.Integer(attribute="data_key_id", allow_none=True)
    changes = fields.Dict(metadata={"description": 'The fields that changed, each {"from": old, "to": new}.'})
    deleted_data_count = fields.Integer(metadata={"description": "On customer.deleted only.", "x-optional": True})

    @post_dump
    def only_on_customer_deletes(self, data, **kwargs):
        if data["kind"] != "customer.deleted":
            data.pop("deleted_data_count", None)
        return data


class FeedChangeSchema(ChangeSchema):
    data = fields.Dict(allow_none=True, metadata={
        "description": "The customer, entry (without file_url) or definition as answered right after the "
                       "change; null for deletes."})


class CustomerHistoryArgsSchema(PageArgsSchema):
    kind = Choice(CHANGE_KINDS)
    key = Text(trim=False, allow_blank=True, metadata={
        "description": "Entry changes whose key, before or after the change, is this one."})


class FeedArgsSchema(Schema):
    after = Text(trim=False, allow_blank=True, metadata={
        "description": "A cursor from the previous answer's Link, or `latest`; none: from the oldest change kept."})
    limit = Integer(load_default=100, validate=ma.validate.Range(1, 1000, error="Ensure this value is between 1 and "
                                                                               "1000."))
    kind = Choice(CHANGE_KINDS)
    customer = Integer()


class RevertSchema(InputSchema):
    change = Integer(required=True, metadata={"description": "The id of a change of this entry."})
