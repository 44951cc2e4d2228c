"""webargs parsing with the contract's errors: field-keyed 400s, JSON parse errors, 415."""
import marshmallow as ma
from webargs.flaskparser import FlaskParser, is_json_request

from .errors import InvalidInput, ParseError, UnsupportedMediaType

FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


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


def _has_body(req):
    return bool(req.content_length) or bool(req.mimetype) or req.headers.get("Transfer-Encoding") == "chunked"


parser = Parser(unknown=ma.EXCLUDE)
use_args = parser.use_args
