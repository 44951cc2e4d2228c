"""Shapes of webhook endpoints and deliveries: answers, bodies, list arguments, and the events sent."""
from marshmallow import Schema, fields

from ..fields import BASE_MESSAGES, Boolean, Choice, InputSchema, Text, Timestamp
from ..listing import PageArgsSchema
from ..message.change_schemas import FeedChangeSchema
from ..models import CHANGE_KINDS
from .destinations import MAX_URL_LENGTH
from .events import EVERY_KIND, TEST_EVENT

MAX_DESCRIPTION_LENGTH = 1000
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class EventList(fields.Field):
    """Non-empty list of change kinds, or ["*"]; repeated kinds are kept once."""

    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_list": 'Expected a list of items but got type "{input_type}".',
        "empty": "This list may not be empty.",
        "unknown": '"{input}" is not a valid event kind.',
    }

    def __init__(self, **kwargs):
        super().__init__(metadata={"type": "array", "minItems": 1, "uniqueItems": True,
                                   "items": {"type": "string", "enum": [EVERY_KIND, *CHANGE_KINDS]},
                                   "description": 'Kinds of changes to receive, or `["*"]` for all.'}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("not_a_list", input_type=type(value).__name__)
        if not value:
            raise self.make_error("empty")
        for kind in value:
            if kind != EVERY_KIND and kind not in CHANGE_KINDS:
                raise self.make_error("unknown", input=kind if isinstance(kind, str) else repr(kind))
        return list(dict.fromkeys(value))


class EndpointSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    events = fields.List(fields.String())
    description = fields.String()
    enabled = fields.Boolean()
    disabled_reason = fields.String(allow_none=True)
    created_at = Timestamp()
    updated_at = Timestamp()


class EndpointWithSecretSchema(EndpointSchema):
    secret = fields.String(metadata={"description": "`whsec_` + base64 of 32 random bytes: verify signatures with "
                                                    "it. Answered only here."})


class EndpointCreateSchema(InputSchema):
    url = Text(required=True, max_length=MAX_URL_LENGTH, metadata={"description": "https:// (a public host)"})
    events = EventList(required=True)
    description = Text(allow_blank=True, max_length=MAX_DESCRIPTION_LENGTH)
    enabled = Boolean()


class EndpointUpdateSchema(EndpointCreateSchema):
    url = Text(max_length=MAX_URL_LENGTH, metadata={"description": "https:// (a public host)"})
    events = EventList()


class EndpointDeletedSchema(Schema):
    message = fields.String()
    deleted_id = fields.Integer()


class QueuedSchema(Schema):
    delivery = fields.Integer(metadata={"description": "The id of the delivery queued."})


class AttemptSchema(Schema):
    at = Timestamp()
    status_code = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    duration_ms = fields.Integer()
    response = fields.String(metadata={"description": "The first 1,024 bytes of the answer, as text."})


class DeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String(metadata={"description": "The webhook-id header: one per change."})
    type = fields.String()
    status = fields.String(metadata={"enum": list(DELIVERY_STATUSES)})
    next_attempt_at = Timestamp(allow_none=True)
    created_at = Timestamp()
    attempts = fields.List(fields.Nested(AttemptSchema))


class DeliveryListArgsSchema(PageArgsSchema):
    status = Choice(DELIVERY_STATUSES)


class DeliveredChangeSchema(FeedChangeSchema):
    value_omitted = fields.Boolean(metadata={
        "x-optional": True, "description": "Present (true) when a value over 8,192 characters was left out (null): "
                                           "fetch the entry."})


class EventSchema(Schema):
    """The body of every delivery."""

    type = fields.String(metadata={"enum": [*CHANGE_KINDS, TEST_EVENT]})
    timestamp = Timestamp()
    data = fields.Nested(Schema.from_dict({"change": fields.Nested(
        DeliveredChangeSchema, allow_none=True,
        metadata={"description": "The change as the feed answers it (null for webhook.test). A value over 8,192 "
                                 "characters is null here and the change has `value_omitted: true`."})},
        name="EventData"))


def event_names():
    """(type, summary) of every event a receiver can get."""
    return [*((kind, f"A {kind.replace('_', ' ').replace('.', ' ')} change.") for kind in CHANGE_KINDS),
            (TEST_EVENT, "A test event (POST …/test/), whatever the endpoint subscribes to.")]
