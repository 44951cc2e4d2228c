"""webargs parsing with the contract's errors: field-keyed 400s, JSON parse errors, 415."""
import functools
import re

import marshmallow as ma
from webargs.flaskparser import FlaskParser, is_json_request

from .auth import current_user_id
from .errors import InvalidInput, ParseError, UnsupportedMediaType

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
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
            raise UnsupportedMediaType(req.mimetype)
        return super().load_json(req, schema)

    def load_body(self, req, schema):
        """JSON, multipart or urlencoded: the fields (and files) of whichever the client sent."""
        if not _has_body(req) or is_json_request(req):
            return self.load_json(req, schema)
        if req.mimetype not in FORM_TYPES:
            raise UnsupportedMediaType(req.mimetype)
        merged = req.form.copy()
        merged.update(req.files)
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
