"""marshmallow fields that speak Django REST Framework's messages, as CONTRACT.md asks."""
import marshmallow as ma
from marshmallow import Schema, fields

REQUIRED = "This field is required."
NULL = "This field may not be null."
NULL_CHARACTERS = "Null characters are not allowed."  # DRF's words; PostgreSQL cannot store them
BASE_MESSAGES = {"required": REQUIRED, "null": NULL}


class Text(fields.String):
    """A string trimmed of surrounding white space, then checked for blank and length.

    With `blank_to_none`, an empty string means "no value" (stored as null).
    """

    default_error_messages = {
        **BASE_MESSAGES,
        "invalid": "Not a valid string.",
        "null_characters": NULL_CHARACTERS,
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
        # as DRF's CharField: numbers are taken as their text, other types are refused
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.make_error("invalid")
        value = str(value)
        if "\x00" in value:
            raise self.make_error("null_characters")
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

    default_error_messages = {**BASE_MESSAGES, "invalid": "A valid integer is required."}

    def __init__(self, **kwargs):
        super().__init__(strict=False, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        return super()._validated(value)


class Boolean(fields.Boolean):
    default_error_messages = {**BASE_MESSAGES, "invalid": "Must be a valid boolean."}
    truthy = {True, "true", "True", "TRUE", "1", "yes", "on"}
    falsy = {False, "false", "False", "FALSE", "0", "no", "off"}


class Timestamp(fields.DateTime):
    """RFC 3339 in UTC with a Z suffix and microseconds; times are stored as naive UTC."""

    @staticmethod
    def render(value):
        return value.isoformat(timespec="microseconds") + "Z"

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else self.render(value)


class InputSchema(Schema):
    """Base of every request-body schema: unknown fields are ignored, a non-object body is named."""

    class Meta:
        unknown = ma.EXCLUDE

    error_messages = {"type": "Invalid data. Expected a JSON object."}


class PrimaryKey(fields.Field):
    """An id given in a body, with DRF's messages for a related object's primary key."""

    default_error_messages = {**BASE_MESSAGES,
                              "incorrect_type": "Incorrect type. Expected pk value, received {data_type}."}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.make_error("incorrect_type", data_type=type(value).__name__)
        if isinstance(value, str):
            value = value.strip()
            if not value.isascii() or not value.lstrip("-").isdigit():
                raise self.make_error("incorrect_type", data_type="str")
            value = int(value)
        return value


class IdList(fields.Field):
    """A non-empty list of integer ids, at most `max_items`, duplicates counted once."""

    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_list": 'Expected a list of items but got type "{input_type}".',
        "empty": "This list may not be empty.",
        "too_long": "Ensure this field has no more than {max_items} elements.",
        "invalid_item": "A valid integer is required.",
    }

    def __init__(self, max_items, **kwargs):
        super().__init__(**kwargs)
        self.max_items = max_items

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("not_a_list", input_type=type(value).__name__)
        if not value:
            raise self.make_error("empty")
        if len(value) > self.max_items:
            raise self.make_error("too_long", max_items=self.max_items)
        if any(isinstance(item, bool) or not isinstance(item, int) for item in value):
            raise self.make_error("invalid_item")
        return sorted(set(value))


class Upload(fields.Field):
    """One uploaded file, or None. Sees every value sent under its name (`is_multiple`), so that
    several files, a text value in the file slot and a browser's empty picker are told apart."""

    is_multiple = True
    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_file": "The submitted data was not a file. Check the encoding type on the form.",
        "several": "Send one file.",
        "empty": "The submitted file is empty.",
        "null_characters": NULL_CHARACTERS,
        "name_too_long": "Ensure this filename has at most {max_length} characters (it has {length}).",
    }

    def __init__(self, max_name_length=255, allow_empty=False, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.max_name_length, self.allow_empty = max_name_length, allow_empty
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("format", "binary")

    def _deserialize(self, value, attr, data, **kwargs):
        from werkzeug.datastructures import FileStorage

        values = value if isinstance(value, list) else [value]
        uploads = [item for item in values if isinstance(item, FileStorage) and not _empty_picker(item)]
        others = [item for item in values if not isinstance(item, FileStorage) and item not in ("", None)]
        if others and not uploads:
            raise self.make_error("not_a_file")
        if len(uploads) > 1:
            raise self.make_error("several")
        if not uploads:
            return None
        upload = uploads[0]
        if _is_empty(upload.stream) and not self.allow_empty:
            raise self.make_error("empty")
        name = client_file_name(upload.filename)
        if "\x00" in name:
            raise self.make_error("null_characters")
        if len(name) > self.max_name_length:
            raise self.make_error("name_too_long", max_length=self.max_name_length, length=len(name))
        return upload


def client_file_name(filename):
    """The name the client sent, Unicode kept, without any directory part."""
    return (filename or "").replace("\\", "/").rsplit("/", 1)[-1]


def _empty_picker(upload):
    """A browser's "no file chosen": a part with no file name and no content."""
    return not upload.filename and _is_empty(upload.stream)


def _is_empty(stream):
    position = stream.tell()
    empty = not stream.read(1)
    stream.seek(position)
    return empty


def at_least(minimum):
    return ma.validate.Range(min=minimum, error=f"Ensure this value is greater than or equal to {minimum}.")


def at_most(maximum):
    return ma.validate.Range(max=maximum, error=f"Ensure this value is less than or equal to {maximum}.")


def between(minimum, maximum):
    return ma.validate.Range(minimum, maximum, error=f"Ensure this value is between {minimum} and {maximum}.")


class Bound(fields.Field):
    """A min or max of a typed key: a number, or a string in the type's format (parsed by the service,
    which knows the type)."""

    default_error_messages = {**BASE_MESSAGES, "invalid": "Enter a number or a string in the key type's format."}

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.metadata.setdefault("type", ["number", "string"])  # apispec adds null

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.make_error("invalid")
        text = value.strip() if isinstance(value, str) else repr(value)
        return text or None


class ChoiceList(fields.Field):
    """The choices of a choice key: [{"value": ..., "label": ...}] (or plain strings), 1 to 500."""

    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_list": 'Expected a list of items but got type "{input_type}".',
        "too_short": "Ensure this field has at least 1 elements.",
        "too_long": "Ensure this field has no more than {max_items} elements.",
        "invalid_item": 'Each choice is an object {{"value": ..., "label": ...}} or a string.',
        "blank": "This field may not be blank.",
        "value_too_long": "Ensure this field has no more than 100 characters.",
        "label_too_long": "Ensure each label has no more than 100 characters.",
        "comma": "Choice values may not contain commas.",
        "repeated": "Choice values must be unique regardless of case.",
        "null_characters": NULL_CHARACTERS,
    }
    MAX_ITEMS = 500

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.metadata.setdefault("type", "array")
        self.metadata.setdefault("items", {"oneOf": [
            {"type": "string"},
            {"type": "object", "properties": {"value": {"type": "string"}, "label": {"type": "string"}},
             "required": ["value"]}]})

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("not_a_list", input_type=type(value).__name__)
        if not value:
            raise self.make_error("too_short")
        if len(value) > self.MAX_ITEMS:
            raise self.make_error("too_long", max_items=self.MAX_ITEMS)
        choices, seen = [], set()
        for item in value:
            raw_value, raw_label = (item, None) if isinstance(item, str) else (
                (item.get("value"), item.get("label")) if isinstance(item, dict) else (None, None))
            if not isinstance(raw_value, str) or not isinstance(raw_label, (str, type(None))):
                raise self.make_error("invalid_item")
            choice_value, label = raw_value.strip(), (raw_label or "").strip()
            if "\x00" in choice_value or "\x00" in label:
                raise self.make_error("null_characters")
            if not choice_value:
                raise self.make_error("blank")
            if len(choice_value) > 100:
                raise self.make_error("value_too_long")
            if len(label) > 100:
                raise self.make_error("label_too_long")
            if "," in choice_value:
                raise self.make_error("comma")
            if choice_value.casefold() in seen:
                raise self.make_error("repeated")
            seen.add(choice_value.casefold())
            choices.append({"value": choice_value, "label": label or choice_value})
        return choices


class Region(fields.Field):
    """An ISO 3166 alpha-2 region that phone numbers know, stored upper-case."""

    default_error_messages = {**BASE_MESSAGES, "invalid_region": '"{input}" is not a valid region.'}

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.metadata.setdefault("type", "string")
        self.metadata.setdefault("pattern", "^[A-Za-z]{2}$")

    def _deserialize(self, value, attr, data, **kwargs):
        import phonenumbers  # about 1 MiB a worker; only definitions of phone keys need it

        region = value.strip().upper() if isinstance(value, str) else None
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise self.make_error("invalid_region", input=value)
        return region


class ExtensionList(fields.Field):
    """File extensions a file key takes: stored lower-case, without the dot, each once."""

    default_error_messages = {
        **BASE_MESSAGES,
        "not_a_list": 'Expected a list of items but got type "{input_type}".',
        "empty": "This list may not be empty.",
        "invalid_item": "Each extension is a string of 1 to 20 letters or digits, such as \"pdf\".",
    }

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, **kwargs)
        self.metadata.setdefault("type", "array")
        self.metadata.setdefault("items", {"type": "string"})

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list):
            raise self.make_error("not_a_list", input_type=type(value).__name__)
        if not value:
            raise self.make_error("empty")
        extensions = []
        for item in value:
            extension = item.strip().removeprefix(".").lower() if isinstance(item, str) else ""
            if not 0 < len(extension) <= 20 or "\x00" in extension or "." in extension or "/" in extension:
                raise self.make_error("invalid_item")
            if extension not in extensions:
                extensions.append(extension)
        return extensions
