"""Structured logs: JSON lines on stderr, one per request, errors with their stack trace.

Every record made while a request is served carries that request's id, so a 500's trace is found
from the X-Request-ID the client saw (the client never sees the trace).
"""
import logging
import os
import sys
import threading
import time
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
    if request_log.isEnabledFor(logging.INFO):
        method = environ.get("REQUEST_METHOD")
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")  # WSGI's own encoding
        request_log.handle(RequestRecord(
            args=(method, path, status), method=method, path=path, status=status, duration_ms=duration_ms,
            user_id=user_id, request_id=request_id))


class RequestRecord(logging.LogRecord):
    """A request's log record, made in one update of its attributes.

    `LogRecord.__init__` works out, for every record, the file and module of its caller from a
    path, whether its arguments are one mapping, the thread's and the process's names and more
    (7 µs of a 190 µs entry read in process); for a request's line all of that is fixed but the
    time, the thread and the process. The attributes are the standard ones, so any formatter
    reads it as it would another record.
    """

    FIXED = {
        "name": request_log.name, "msg": "%s %s %s", "levelname": "INFO", "levelno": logging.INFO,
        "pathname": __file__, "filename": os.path.basename(__file__), "module": __name__.rpartition(".")[2],
        "lineno": 0, "funcName": "log_request", "exc_info": None, "exc_text": None, "stack_info": None,
        "processName": None, "taskName": None,
    }

    def __init__(self, **attributes):
        created = time.time()
        self.__dict__.update(
            self.FIXED, created=created, msecs=created % 1 * 1000,
            relativeCreated=(created - logging._startTime) * 1000,
            thread=threading.get_ident(), threadName=threading.current_thread().name, process=os.getpid(),
            **attributes)
