"""X-Request-ID on every answer: the client's own when it is safe to echo, a new one otherwise."""
import re
import uuid

from flask import g, request

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


def register_request_id(app):
    @app.before_request
    def assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex

    @app.after_request
    def echo_request_id(response):
        # before_request does not run when routing fails early, e.g. for a redirect
        response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
        return response
