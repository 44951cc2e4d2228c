"""gunicorn settings for CustomerData (used by the Quickstart and in production).

Each value can be overridden by the environment variable named beside it, or on the command line.
The app's own settings are checked here too, before any worker starts: a bad one ends gunicorn
with one line naming it ("Error: ACCESS_TOKEN_MINUTES must be ...") rather than a traceback from
every worker.
"""
import multiprocessing
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # the repository, whatever the cwd

try:
    from customerdata.config import check_environment, whole_number
    from customerdata.errors import ConfigurationError
except ImportError:  # gunicorn reads ./gunicorn.conf.py whatever it serves: another app's venv lacks ours
    class ConfigurationError(Exception):
        message = ""

    def check_environment():
        pass

    def whole_number(name, default, minimum, unit):
        return int(os.environ.get(name) or default)

try:
    check_environment()
    bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
    workers = whole_number("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8), 1,
                           "worker processes")
    # threads > 1 switches to the gthread worker: more requests in flight per worker while one waits
    # on the database or a slow client
    threads = whole_number("GUNICORN_THREADS", 1, 1, "threads")
    timeout = whole_number("GUNICORN_TIMEOUT", 60, 0, "seconds")  # a 50 MiB upload on a slow link needs time
    # requests in flight finish on SIGTERM
    graceful_timeout = whole_number("GUNICORN_GRACEFUL_TIMEOUT", 30, 0, "seconds")
    # recycle workers after N requests (0: never)
    max_requests = whole_number("GUNICORN_MAX_REQUESTS", 0, 0, "requests")
except ConfigurationError as error:
    sys.exit(f"Error: {error.message}")
worker_class = "gthread" if threads > 1 else "sync"
keepalive = 5
# the longest request line gunicorn takes (its default is 4,094): filters, searches and cursors fit
limit_request_line = 8190
max_requests_jitter = max_requests // 10
# gunicorn 27 opens one control socket per machine by default; several instances would collide
control_socket_disable = True
# The app writes one JSON line per request (with user id and duration) on stderr. gunicorn's own
# access log repeats what it knows, request id included; set GUNICORN_ACCESS_LOG=- to have it.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = ('{"remote": "%(h)s", "request": "%(r)s", "status": %(s)s, "bytes": "%(B)s", '
                     '"duration_us": %(D)s, "request_id": "%({x-request-id}o)s"}')
errorlog = "-"
