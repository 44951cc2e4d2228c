"""Every error the service answers with, in the JSON shapes of CONTRACT.md.

Services raise the domain exceptions defined here; `register_error_handlers` turns them, HTTP
exceptions, Flask-JWT-Extended's and PyJWT's errors and anything unexpected into responses.
Configuration refuses a setting with ConfigurationError at start-up.
"""
import logging
import math
import time

import click
import jwt as pyjwt
from flask import jsonify, request
from flask_jwt_extended.exceptions import (
    JWTExtendedException,
    NoAuthorizationError,
    RevokedTokenError,
    WrongTokenError,
)
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from . import request_id
from .extensions import db, limiter
from .form_limits import FormLimitExceeded

log = logging.getLogger("customerdata.errors")


class ConfigurationError(click.ClickException, RuntimeError):
    """A setting the app cannot start with, in one line naming it and what it takes.

    Raised while the app is created. A click exception too, so that `flask` prints the line
    ("Error: ...") instead of a traceback; gunicorn.conf.py checks the settings the same way
    before any worker starts.
    """


class ServiceError(Exception):
    status = 400

    def body(self):
        raise NotImplementedError


class InvalidInput(ServiceError):
    """Field-keyed validation errors: {"field": ["message", ...]}."""

    def __init__(self, messages):
        super().__init__(messages)
        self.messages = messages

    @classmethod
    def on(cls, field, message):
        return cls({field: [message]})

    def body(self):
        return self.messages


class DetailError(ServiceError):
    """An error answered as {"detail": message}."""

    def __init__(self, detail, status=None, headers=None):
        super().__init__(detail)
        self.detail = detail
        self.status = status or self.status
        self.headers = headers or {}

    def body(self):
        return {"detail": self.detail}


class ExistingValuesConflict(ServiceError):
    """A definition that existing values do not fit: 409 with the report of the offending ones."""

    status = 409

    def __init__(self, report):
        super().__init__(report)
        self.report = report

    def body(self):
        count = self.report["invalid_count"]
        detail = f"{count} existing value{'s do' if count != 1 else ' does'} not fit this definition."
        return {"detail": detail, "invalid_count": count, "invalid": self.report["invalid"]}


class ParseError(DetailError):
    status = 400


class NotFound(DetailError):
    status = 404


class PreconditionFailed(DetailError):
    status = 412


class AuthenticationFailed(DetailError):
    status = 401


class UnsupportedMediaType(DetailError):
    status = 415

    def __init__(self, mimetype, body_is_json=False):
        detail = f'Unsupported media type "{mimetype}" in request.'
        if body_is_json:  # `curl -d '{...}'` labels JSON as a form unless told otherwise
            detail = (f'Unsupported media type "{mimetype}" in request: the body is JSON; '
                      "send it with Content-Type: application/json.")
        super().__init__(detail)


def _error(body, status, headers=None):
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def unauthorized(detail):
    return _error({"detail": detail}, 401, {"WWW-Authenticate": 'Bearer realm="api"'})


HTTP_DETAILS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
}

JWT_DETAILS = (
    (pyjwt.ExpiredSignatureError, "Token has expired."),
    (pyjwt.MissingRequiredClaimError, "Token is missing a required claim."),
    (pyjwt.InvalidSignatureError, "Token signature is invalid."),
)


def token_error(error):
    return unauthorized(_jwt_detail(error))


def _jwt_detail(error):
    for kind, detail in JWT_DETAILS:
        if isinstance(error, kind):
            return detail
    if isinstance(error, NoAuthorizationError):
        return "Authentication credentials were not provided."
    if isinstance(error, RevokedTokenError):
        return "Token has been revoked."
    if isinstance(error, WrongTokenError):
        return "Token has the wrong type for this endpoint."
    return "Token is invalid."


def retry_after(error):
    """Seconds until the window of the breached rate limit ends (for the 429's Retry-After)."""
    breached = limiter.current_limit
    if breached is not None and breached.breached:
        return max(1, math.ceil(breached.window.reset_time - time.time()))
    limit = getattr(error, "limit", None)  # a 429 flask-limiter did not record: its whole window
    return limit.limit.get_expiry() if limit is not None else 60


def register_error_handlers(app):
    @app.errorhandler(ServiceError)
    def service_error(error):
        if isinstance(error, AuthenticationFailed):
            return unauthorized(error.detail)
        return _error(error.body(), error.status, getattr(error, "headers", None))

    @app.errorhandler(HTTPException)
    def http_error(error):
        if error.code == 405:
            detail = f'Method "{request.method}" not allowed.'
        elif error.code == 429:
            detail = f"Request was throttled: the limit is {error.description}. Try again later."
        elif isinstance(error, FormLimitExceeded):
            detail = error.description
        elif error.code == 413:
            limit = app.config["MAX_CONTENT_LENGTH"]
            detail = f"Request body is larger than the limit of {limit} bytes ({limit / 1048576:g} MiB)."
        else:
            detail = HTTP_DETAILS.get(error.code, error.name + ".")
        response = _error({"detail": detail}, error.code)
        if error.code == 405:
            response.headers["Allow"] = error.get_response().headers.get("Allow", "")
        elif error.code == 429:
            response.headers["Retry-After"] = str(retry_after(error))
        return response

    # Flask-JWT-Extended registers its own handlers (422s, {"msg": ...}) in init_app; these
    # replace them, so this must run after the extensions are bound.
    token_errors = (JWTExtendedException, pyjwt.PyJWTError)
    registered = [kind for kind in app.error_handler_spec[None][None] if issubclass(kind, token_errors)]
    for kind in (*token_errors, *registered):
        app.register_error_handler(kind, token_error)

    @app.errorhandler(IntegrityError)
    def integrity_error(error):
        # Services turn the constraints they expect into field errors; this is the safety net.
        db.session.rollback()
        log.warning("unexpected integrity error (request %s): %s", request_id.current(), error.orig)
        return _error({"detail": "The request conflicts with existing data."}, 400)

    @app.errorhandler(OperationalError)
    def database_unavailable(error):
        db.session.rollback()
        log.exception("database error (request %s)", request_id.current())
        return _error({"detail": "The database is unavailable; try again shortly."}, 503, {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def unexpected(error):
        db.session.rollback()
        log.exception("unhandled error (request %s)", request_id.current())
        return _error({"detail": "Internal server error."}, 500)
