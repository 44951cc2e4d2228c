"""gunicorn settings for CustomerData; each can be overridden on the command line or by env."""
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", min(multiprocessing.cpu_count() * 2 + 1, 8)))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))  # a 50 MiB upload on a slow link needs time
graceful_timeout = 30  # requests in flight finish on SIGTERM before a worker exits
keepalive = 5
# gunicorn 27 opens one control socket per machine by default; several instances would collide
control_socket_disable = True
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
