"""Typed values: what each type of data key accepts, stores and compares, in one place.

Writes, filters, definitions and the JSON Schema all ask this module. A value is always text in
requests and answers; a typed key stores its canonical text plus the typed form its comparisons
and ordering use (`number` for numbers, booleans and choice positions, `instant` for dates and
times), so no query converts values.
"""
import functools
import hashlib
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import marshmallow as ma

TYPES = ("text", "integer", "decimal", "boolean", "date", "datetime", "email", "url", "phone", "choice",
         "multi_choice", "file")

# which constraints each type uses; `unique` is every type's but file's
CONSTRAINTS = {
    "min": ("integer", "decimal", "date", "datetime"),
    "max": ("integer", "decimal", "date", "datetime"),
    "min_length": ("text",),
    "max_length": ("text",),
    "pattern": ("text",),
    "choices": ("choice", "multi_choice"),
    "region": ("phone",),
    "max_size": ("file",),
    "extensions": ("file",),
    "unique": tuple(name for name in TYPES if name != "file"),
}

LOOKUPS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains")
COMPARED = ("integer", "decimal", "date", "datetime")  # the types __gt/__gte/__lt/__lte take
CONTAINED = ("text", "email", "url", "phone", "multi_choice")  # the types __contains takes


def lookups_of(type_name):
    lookups = ["eq", "ne"]
    if type_name != "multi_choice":
        lookups.append("in")
    if type_name in COMPARED:
        lookups += ["gt", "gte", "lt", "lte"]
    if type_name in CONTAINED:
        lookups.append("contains")
    return lookups


def sort_column(type_name):
    """The stored column that orders values of this type: number, instant or the text itself."""
    if type_name in ("integer", "decimal", "boolean", "choice"):
        return "number"
    if type_name in ("date", "datetime"):
        return "instant"
    return "value"


def compared_column(type_name):
    return "number" if type_name in ("integer", "decimal") else "instant"


MAX_SAFE_INTEGER = 9_007_199_254_740_991  # the largest integer a JSON client (a double) holds exactly
MAX_DIGITS = 15
INVALID = {
    "integer": "A valid integer is required.",
    "decimal": "A valid number is required.",
    "boolean": "Must be a valid boolean.",
    "date": "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
    "datetime": "Datetime has wrong format. Use one of these formats instead: "
                "YYYY-MM-DDThh:mm[:ss[.uuuuuu]]+HH:MM or Z.",
    "email": "Enter a valid email address.",
    "url": "Enter a valid URL.",
    "phone": "Enter a valid phone number.",
}
NEEDS_FILE = "This key needs a file."
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
# a decimal already in its canonical form: '-' the only sign, no leading zeros, no trailing zeros
# after the point, no exponent (what a key's stored values are once typed, and most numbers sent)
CANONICAL_DECIMAL = re.compile(r"-?(?:[1-9][0-9]*(?:\.[0-9]*[1-9])?|0\.[0-9]*[1-9])|0", re.ASCII)
# the longest such text of at most MAX_DIGITS digits: "-0." and 15 digits
CANONICAL_NUMBER_LENGTH = MAX_DIGITS + 3
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
DATETIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]+))?)?"
                      r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))", re.ASCII)
# JSON Schema patterns (ECMA-262) of the canonical forms, anchored as the contract asks
SCHEMA_PATTERNS = {
    "integer": r"^(?:[+-]?[0-9]+)$",
    "decimal": r"^(?:[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)$",
    "boolean": r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0|[Yy][Ee][Ss]|[Nn][Oo]|[Oo][Nn]|[Oo][Ff][Ff])$",
    "phone": r"^(?:\+[1-9][0-9]{1,14})$",
}
SCHEMA_FORMATS = {"date": "date", "datetime": "date-time", "email": "email", "url": "uri"}


class ValueLookup(NamedTuple):
    """One filter on values as a query gives it: `param` is the parameter as written (its errors go
    there), `lookup` one of LOOKUPS or "exists", `raw` the text after `=`."""

    key: str | None
    lookup: str
    raw: str
    param: str


class Refused(Exception):
    """A value (or file) that its key's definition does not take; `field` is value or file."""

    def __init__(self, message, field="value"):
        super().__init__(message)
        self.message, self.field = message, field


class Typed(NamedTuple):
    """A value as stored: its canonical text and the typed form its comparisons use."""

    value: str
    number: float | None = None
    instant: datetime | None = None


def value_hash(value):
    """What equality and `unique` compare: values may be 1 MiB long, longer than any index entry."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


# Parsing: text in, Typed out (or Refused). `definition` gives choices and region where needed.

def parse(type_name, text, definition=None):
    if type_name in ("text", "file"):
        return Typed(text)
    return PARSERS[type_name](text, definition)


def _integer(text, definition):
    if not INTEGER.fullmatch(text):
        raise Refused(INVALID["integer"])
    number = int(text)
    if number > MAX_SAFE_INTEGER:
        raise Refused(f"Ensure this value is less than or equal to {MAX_SAFE_INTEGER}.")
    if number < -MAX_SAFE_INTEGER:
        raise Refused(f"Ensure this value is greater than or equal to {-MAX_SAFE_INTEGER}.")
    return Typed(str(number), float(number))


def canonical_number(text):
    """The number of a decimal in its canonical form with at most 15 digits, else None: what a
    `decimal` key stores beside that text, found without the Decimal round trip (20,000 values in
    0.05 s, not 0.1 s)."""
    if len(text) > CANONICAL_NUMBER_LENGTH or not CANONICAL_DECIMAL.fullmatch(text):
        return None
    # its digits as _decimal counts them: those of the text but a leading "0" before the point
    digits = len(text) - text.startswith("-") - ("." in text) - text.lstrip("-").startswith("0")
    return float(text) if digits <= MAX_DIGITS else None


def _decimal(text, definition):
    number = canonical_number(text)
    if number is not None:
        return Typed(text, number)
    if not DECIMAL.fullmatch(text):
        raise Refused(INVALID["decimal"])
    try:
        sign, digits, exponent = Decimal(text).as_tuple()
    except InvalidOperation:
        raise Refused(INVALID["decimal"]) from None
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:  # trailing zeros are no digits of the number
        digits.pop()
        exponent += 1
    if digits == [0]:
        return Typed("0", 0.0)
    # counted as Django REST Framework's DecimalField counts max_digits
    total = len(digits) + exponent if exponent >= 0 else max(len(digits), -exponent)
    if total > MAX_DIGITS:
        raise Refused(f"Ensure that there are no more than {MAX_DIGITS} digits in total.")
    canonical = format(Decimal((sign, tuple(digits), exponent)), "f")
    return Typed(canonical, float(canonical))


def _boolean(text, definition):
    word = text.lower()
    if word in TRUE_WORDS:
        return Typed("true", 1.0)
    if word in FALSE_WORDS:
        return Typed("false", 0.0)
    raise Refused(INVALID["boolean"])


def _date(text, definition):
    try:
        if not DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise Refused(INVALID["date"]) from None
    return Typed(text, None, datetime(day.year, day.month, day.day))


def _datetime(text, definition):
    match = DATETIME.fullmatch(text)
    try:
        if not match:
            raise ValueError
        year, month, day, hour, minute, second, fraction, zulu, sign, off_hours, off_minutes = match.groups()
        offset = timedelta()
        if not zulu:
            if int(off_hours) > 23 or int(off_minutes) > 59:
                raise ValueError
            offset = timedelta(hours=int(off_hours), minutes=int(off_minutes)) * (-1 if sign == "-" else 1)
        microsecond = int((fraction or "0")[:6].ljust(6, "0"))
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), microsecond,
                         tzinfo=timezone(offset))
        instant = local.astimezone(UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise Refused(INVALID["datetime"]) from None
    return Typed(render_instant(instant), None, instant)


def render_instant(instant):
    text = (f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d}T"
            f"{instant.hour:02d}:{instant.minute:02d}:{instant.second:02d}")
    return text + (f".{instant.microsecond:06d}Z" if instant.microsecond else "Z")


_email_validator = ma.validate.Email()
_url_validator = ma.validate.URL(relative=False, schemes={"http", "https"}, require_tld=False)


def _email(text, definition):
    try:
        _email_validator(text)
    except ma.ValidationError:
        raise Refused(INVALID["email"]) from None
    local, _, domain = text.rpartition("@")
    return Typed(f"{local}@{domain.lower()}")


def _url(text, definition):
    try:
        _url_validator(text)
    except ma.ValidationError:
        raise Refused(INVALID["url"]) from None
    return Typed(text)


def _phone(text, definition):
    import phonenumbers  # about 1 MiB a worker; only keys of type phone use it

    region = getattr(definition, "region", None)
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise Refused(INVALID["phone"]) from None
    if not phonenumbers.is_valid_number(number):
        raise Refused(INVALID["phone"])
    return Typed(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def _choice_index(text, choices):
    wanted = text.casefold()
    for index, choice in enumerate(choices):
        if choice["value"].casefold() == wanted:
            return index
    raise Refused(f'"{text}" is not a valid choice.')


def _choice(text, definition):
    choices = definition.choices
    index = _choice_index(text, choices)
    return Typed(choices[index]["value"], float(index))


def _multi_choice(text, definition):
    choices = definition.choices
    held = {_choice_index(part.strip(), choices) for part in text.split(",")}
    return Typed(",".join(choices[index]["value"] for index in sorted(held)))


PARSERS = {"integer": _integer, "decimal": _decimal, "boolean": _boolean, "date": _date, "datetime": _datetime,
           "email": _email, "url": _url, "phone": _phone, "choice": _choice, "multi_choice": _multi_choice}


def multi_choice_parts(text, definition):
    """The canonical choices a multi_choice filter names (each must be held)."""
    return _multi_choice(text, definition).value.split(",")


# Checking a whole entry against its key's definition

def check(definition, value, file_name=None, file_size=None):
    """The stored form of an entry's value under `definition` (None: a key without one, text).

    Raises Refused for a value or file the definition does not take. Every type but `file`
    checks the value only when it is not empty, so an entry holding just a file always fits.
    """
    if definition is None:
        return untyped(value)
    if definition.type == "file":
        _check_file(definition, file_name, file_size)
        return Typed(value)
    if not value:
        return Typed(value)
    typed = parse(definition.type, value, definition)
    _check_constraints(definition, typed)
    return typed


def untyped(value):
    """The stored form of a value of a key without a definition: its text, and the number of a
    decimal in canonical form (`canonical_number`) as a `decimal` key would store it.

    That number is no part of what the key answers: filters, ordering, segments and `unique` go
    by the definition's type, and a key without one is text, so none of them reads it. It is kept
    so that a `decimal` (or `integer`) definition created over numbers that are canonical already
    finds their typed column filled and writes nothing to them (data_keys._check_existing): one
    new row version per value, in eight indexes, was most of what such a definition cost. Every
    write of a value without a definition stores it, and deleting a definition puts it back."""
    return Typed(value, canonical_number(value))


def _check_file(definition, file_name, file_size):
    if file_name is None:
        raise Refused(NEEDS_FILE, "file")
    if definition.max_size is not None and file_size is not None and file_size > definition.max_size:
        raise Refused(f"The file is larger than {definition.max_size} bytes.", "file")
    if definition.extensions:
        extension = file_name.rpartition(".")[2].lower() if "." in file_name else ""
        if extension not in definition.extensions:
            raise Refused(f'File extension "{extension}" is not allowed. Allowed extensions are: '
                          f'{", ".join(definition.extensions)}.', "file")


def _check_constraints(definition, typed):
    if definition.type in COMPARED:
        at = typed.number if definition.type in ("integer", "decimal") else typed.instant
        if definition.min is not None and at < bound(definition.type, definition.min):
            raise Refused(f"Ensure this value is greater than or equal to {definition.min}.")
        if definition.max is not None and at > bound(definition.type, definition.max):
            raise Refused(f"Ensure this value is less than or equal to {definition.max}.")
    elif definition.type == "text":
        if definition.min_length is not None and len(typed.value) < definition.min_length:
            raise Refused(f"Ensure this field has at least {definition.min_length} characters.")
        if definition.max_length is not None and len(typed.value) > definition.max_length:
            raise Refused(f"Ensure this field has no more than {definition.max_length} characters.")
        if definition.pattern is not None and not compiled_pattern(definition.pattern).fullmatch(typed.value):
            raise Refused("This value does not match the required pattern.")


@functools.lru_cache(maxsize=256)
def bound(type_name, stored):
    """A stored min/max (canonical text) in the form values of its type compare with."""
    typed = parse(type_name, stored)
    return typed.number if type_name in ("integer", "decimal") else typed.instant


@functools.cache
def _re2():
    """RE2 with its options; imported on first use: 2.5 MiB a worker, only for keys with a pattern."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a refused pattern is the client's 400, not a line on stderr
    return re2, options


@functools.lru_cache(maxsize=256)
def compiled_pattern(pattern):
    """RE2: linear in the length of the text whatever the pattern, so no pattern hangs a worker."""
    re2, options = _re2()
    return re2.compile(pattern, options)


def pattern_error(pattern):
    try:
        compiled_pattern(pattern)
    except _re2()[0].error:
        return "Enter a valid regular expression (RE2 syntax)."
    return None


def answered_bound(type_name, stored):
    """min/max as answered: numbers for the number types, the canonical text for dates and times."""
    if stored is None or type_name not in ("integer", "decimal"):
        return stored
    number = Decimal(stored)
    return int(number) if number == number.to_integral_value() else float(number)


# The JSON Schema of one definition

def json_schema(definition):
    schema = {"type": "string", "x-type": definition.type, "title": definition.label,
              "description": definition.description, "x-position": definition.position}
    type_name = definition.type
    if type_name in SCHEMA_FORMATS:
        schema["format"] = SCHEMA_FORMATS[type_name]
    if type_name in SCHEMA_PATTERNS:
        schema["pattern"] = SCHEMA_PATTERNS[type_name]
    if type_name == "text" and definition.pattern is not None:
        schema["pattern"] = f"^(?:{definition.pattern})$"
    if type_name == "choice":
        schema["enum"] = [choice["value"] for choice in definition.choices]
    if type_name == "multi_choice":
        options = "|".join(_ecma_literal(choice["value"]) for choice in definition.choices)
        schema["pattern"] = f"^(?:(?:{options})(?:,(?:{options}))*)$"
    if type_name in ("choice", "multi_choice"):
        schema["x-choices"] = [dict(choice) for choice in definition.choices]
    if definition.min_length is not None:
        schema["minLength"] = definition.min_length
    if definition.max_length is not None:
        schema["maxLength"] = definition.max_length
    if definition.min is not None:
        schema["x-minimum"] = answered_bound(type_name, definition.min)
    if definition.max is not None:
        schema["x-maximum"] = answered_bound(type_name, definition.max)
    if definition.archived:
        schema["readOnly"] = True
    return schema


def _ecma_literal(text):
    return re.sub(r"[\\^$.*+?()\[\]{}|/-]", lambda match: "\\" + match.group(), text)
