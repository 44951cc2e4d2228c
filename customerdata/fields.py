"""marshmallow fields that speak Django REST Framework's messages, as CONTRACT.md asks."""
import marshmallow as ma
from marshmallow import Schema, fields

REQUIRED = "This field is required."
NULL = "This field may not be null."
BASE_MESSAGES = {"required": REQUIRED, "null": NULL}


class Text(fields.String):
    """A string trimmed of surrounding white space, then checked for blank and length.

    With `blank_to_none`, an empty string means "no value" (stored as null).
    """

    default_error_messages = {
        **BASE_MESSAGES,
        "invalid": "Not a valid string.",
        "blank": "This field may not be blank.",
        "max_length": "Ensure this field has no more than {max_length} characters.",
        "min_length": "Ensure this field has at least {min_length} characters.",
    }

    def __init__(self, *, max_length=None, min_length=None, allow_blank=False, blank_to_none=False,
                 trim=True, **kwargs):
        super().__init__(**kwargs)
        self.max_length, self.min_length = max_length, min_length
        self.allow_blank, self.blank_to_none, self.trim = allow_blank or blank_to_none, blank_to_none, trim

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if self.trim:
            value = value.strip()
        if not value:
            if not self.allow_blank:
                raise self.make_error("blank")
            return None if self.blank_to_none else value
        max_length = self.max_length() if callable(self.max_length) else self.max_length
        if max_length is not None and len(value) > max_length:
            raise self.make_error("max_length", max_length=max_length)
        if self.min_length is not None and len(value) < self.min_length:
            raise self.make_error("min_length", min_length=self.min_length)
        return value


class Email(Text):
    default_error_messages = {**Text.default_error_messages, "invalid_email": "Enter a valid email address."}

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if value:
            try:
                ma.validate.Email()(value)
            except ma.ValidationError:
                raise self.make_error("invalid_email") from None
        return value


class Choice(fields.String):
    default_error_messages = {**BASE_MESSAGES, "invalid_choice": '"{input}" is not a valid choice.'}

    def __init__(self, choices, **kwargs):
        super().__init__(**kwargs)
        self.choices = tuple(choices)
        self.metadata.setdefault("enum", list(self.choices))

    def _deserialize(self, value, attr, data, **kwargs):
        if value not in self.choices:
            raise self.make_error("invalid_choice", input=value)
        return value


class Integer(fields.Integer):
    """An integer that refuses booleans and fractions, as DRF does."""

    default_error_messages = {**BASE_MESSAGES, "invalid": "A valid integer is required.",
                              "too_large": "A valid integer is required."}

    def __init__(self, **kwargs):
        super().__init__(strict=False, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        result = super()._validated(value)
        if not -(2**63) <= result < 2**63:
            raise self.make_error("too_large")
        return result


class Boolean(fields.Boolean):
    default_error_messages = {**BASE_MESSAGES, "invalid": "Must be a valid boolean."}
    truthy = {True, "true", "True", "TRUE", "1", 1, "yes", "on"}
    falsy = {False, "false", "False", "FALSE", "0", 0, "no", "off"}


class InputSchema(Schema):
    """Base of every request-body schema: unknown fields are ignored, a non-object body is named."""

    class Meta:
        unknown = ma.EXCLUDE

    error_messages = {"type": "Invalid data. Expected a JSON object."}
