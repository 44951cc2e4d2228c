"""Structured logs: JSON lines on stderr, one per request, errors with their stack trace.

Every record made while a request is served carries that request's id, so a 500's trace is found
from the X-Request-ID the client saw (the client never sees the trace).
"""
import logging
import sys
import time
from datetime import UTC, datetime

import orjson
from flask import g, has_request_context, request

REQUEST_FIELDS = ("method", "path", "status", "duration_ms", "user_id")
request_log = logging.getLogger("customerdata.request")


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context() and "request_id" in g:
            entry["request_id"] = g.request_id
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level=logging.INFO):
    """JSON on stderr for the app's loggers; set up once per process."""
    logger = logging.getLogger("customerdata")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_request_logging(app):
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        started = g.get("started")
        request_log.info(
            "%s %s %s", request.method, request.path, response.status_code,
            extra={"method": request.method, "path": request.path, "status": response.status_code,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                   "user_id": g.get("user_id")})
        return response
