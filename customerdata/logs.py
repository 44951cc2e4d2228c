"""Structured logs: JSON lines on stderr, one per request, errors with their stack trace.

Every record made while a request is served carries that request's id, so a 500's trace is found
from the X-Request-ID the client saw (the client never sees the trace).
"""
import logging
import sys
from datetime import UTC, datetime

import orjson

from . import request_id

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
        current_request_id = getattr(record, "request_id", None) or request_id.current()
        if current_request_id:
            entry["request_id"] = current_request_id
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


def log_request(environ, status, duration_ms, user_id, request_id):
    """The one line each request leaves: what was asked, how it ended, for whom, how long it took."""
    method = environ.get("REQUEST_METHOD")
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")  # WSGI's own encoding
    if request_log.isEnabledFor(logging.INFO):
        # made here rather than by request_log.info, which would walk the stack for a caller's
        # file and line that this line never shows (a tenth of its cost)
        request_log.handle(request_log.makeRecord(
            request_log.name, logging.INFO, __file__, 0, "%s %s %s", (method, path, status), None, extra={
                "method": method, "path": path, "status": status, "duration_ms": duration_ms,
                "user_id": user_id, "request_id": request_id}))
