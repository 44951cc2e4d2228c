"""gunicorn settings for CustomerData (used by the Quickstart and in production).

Each value can be overridden by the environment variable named beside it, or on the command line.
"""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8)))
# threads > 1 switches to the gthread worker: more requests in flight per worker while one waits
# on the database or a slow client
threads = int(os.environ.get("GUNICORN_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))  # a 50 MiB upload on a slow link needs time
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))  # requests in flight finish on SIGTERM
keepalive = 5
# the longest request line gunicorn takes (its default is 4,094): filters, searches and cursors fit
limit_request_line = 8190
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))  # recycle workers after N requests (0: never)
max_requests_jitter = max_requests // 10
# gunicorn 27 opens one control socket per machine by default; several instances would collide
control_socket_disable = True
# The app writes one JSON line per request (with user id and duration) on stderr. gunicorn's own
# access log repeats what it knows, request id included; set GUNICORN_ACCESS_LOG=- to have it.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
access_log_format = ('{"remote": "%(h)s", "request": "%(r)s", "status": %(s)s, "bytes": "%(B)s", '
                     '"duration_us": %(D)s, "request_id": "%({x-request-id}o)s"}')
errorlog = "-"
