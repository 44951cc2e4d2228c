"""webargs parsing with the contract's errors: field-keyed 400s, JSON parse errors, 415."""
import functools
import json
import re

import marshmallow as ma
from webargs.flaskparser import FlaskParser, is_json_request

from .auth import current_user_id
from .errors import InvalidInput, ParseError, UnsupportedMediaType

URLENCODED = "application/x-www-form-urlencoded"
FORM_TYPES = frozenset({"multipart/form-data", URLENCODED})
# what is left of a \uD800-\uDFFF escape without its pair: no UTF-8 can store or answer it
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def field_errors(messages):
    """webargs keys errors by location ({"json": {...}}); the contract keys them by field."""
    flat = {}
    for location_errors in messages.values():
        for field, errors in location_errors.items():
            name = "non_field_errors" if field == ma.exceptions.SCHEMA else field
            flat.setdefault(name, []).extend(errors if isinstance(errors, list) else [errors])
    return flat


class Parser(FlaskParser):
    __location_map__ = dict(FlaskParser.__location_map__, body="load_body")

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        raise InvalidInput(field_errors(error.messages))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        raise ParseError(f"JSON parse error - {error}")

    def _raw_load_json(self, req):
        """The JSON body, refusing what the decoder accepts but no field can hold."""
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if _holds_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds an unpaired surrogate (\\uD800-\\uDFFF)")
        return data

    def load_json(self, req, schema):
        if _has_body(req) and not is_json_request(req):
            raise _unsupported(req)
        return super().load_json(req, schema)

    def load_body(self, req, schema):
        """JSON, multipart or urlencoded: the fields (and files) of whichever the client sent.

        A form body that is really a JSON object (`curl -d '{...}'` without a Content-Type) is a
        415 that says so: parsed as a form it is one field named after the whole body, and the
        request would otherwise change nothing or fail on fields it does carry.
        """
        if not _has_body(req) or is_json_request(req):
            return self.load_json(req, schema)
        if req.mimetype not in FORM_TYPES:
            raise _unsupported(req)
        if req.mimetype == URLENCODED:
            # read before the form parser splits it on "&", "=" and "+"; the parser reads the copy
            _refuse_json_object(req)
        merged = req.form.copy()
        merged.update(req.files)
        if not merged:
            # multipart without a boundary parses as nothing and leaves the body unread
            _refuse_json_object(req)
        return self._makeproxy(merged, schema)

    def use_args(self, argmap, req=None, *, location=None, **kwargs):
        """webargs' decorator; it also records (argmap, location) on the view for the API description."""
        decorate = super().use_args(argmap, req, location=location, **kwargs)

        def decorator(view):
            wrapper = decorate(view)
            recorded = getattr(view, "__webargs_argmaps__", ())
            wrapper.__webargs_argmaps__ = (*recorded, (argmap, location or self.location))
            return wrapper

        return decorator


def _holds_lone_surrogate(data):
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _unsupported(req):
    return UnsupportedMediaType(req.mimetype, body_is_json=_is_json_object(_unread_body(req)))


def _refuse_json_object(req):
    if _is_json_object(_unread_body(req)):
        raise UnsupportedMediaType(req.mimetype, body_is_json=True)


def _unread_body(req):
    """What is left of the body (cached: a form parser reads it again), unless it is longer than a
    form field may be (MAX_FORM_MEMORY_SIZE) or of unknown length; then None and nothing is read."""
    length, limit = req.content_length, req.max_form_memory_size
    if length is None or (limit is not None and length > limit):
        return None
    return req.get_data(cache=True)


def _is_json_object(data):
    if not data or not data.lstrip().startswith(b"{"):
        return False
    try:
        return isinstance(json.loads(data), dict)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return False


def _has_body(req):
    return bool(req.content_length) or bool(req.mimetype) or req.headers.get("Transfer-Encoding") == "chunked"


parser = Parser(unknown=ma.EXCLUDE)
use_args = parser.use_args


def looked_up_first(lookup, id_arg):
    """On an item route, a missing or foreign id is a 404 even when the body is invalid too.

    DRF finds the object before it validates the body; here the body is parsed first, so when
    parsing fails the id is looked up before the error leaves (free when the body is valid).
    """
    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except (InvalidInput, ParseError, UnsupportedMediaType):
                lookup(current_user_id(), kwargs[id_arg])
                raise
        return wrapper
    return decorator
