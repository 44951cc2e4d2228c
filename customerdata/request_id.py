"""X-Request-ID on every answer: the client's own when it is safe to echo, a new one otherwise."""
import os
import re

from flask import has_request_context, request

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
ENVIRON_KEY = "customerdata.request_id"


def assign(environ):
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    environ[ENVIRON_KEY] = request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
    return request_id


def current():
    """The id of the request being served, for log lines written while serving it."""
    return request.environ.get(ENVIRON_KEY) if has_request_context() else None
