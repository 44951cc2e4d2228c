"""`flask webhooks worker`: the delivery process, run beside gunicorn (one or more, any host).

The main thread claims endpoints with due deliveries, as many as it has free threads, and each
thread serves one endpoint (delivery.serve): a receiver that hangs holds its own thread for the
timeout, never another endpoint's deliveries. SIGTERM (or Ctrl-C) stops the claiming; the
deliveries in flight finish, leases are given back, and the process exits.
"""
import logging
import os
import signal
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

from ..errors import ConfigurationError
from ..extensions import db
from ..models import utcnow
from . import delivery

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5


def check_settings(config):
    if config["WEBHOOKS_LEASE_SECONDS"] <= config["WEBHOOKS_TIMEOUT_SECONDS"]:
        raise ConfigurationError(
            f"WEBHOOKS_LEASE_SECONDS ({config['WEBHOOKS_LEASE_SECONDS']}) must be more than "
            f"WEBHOOKS_TIMEOUT_SECONDS ({config['WEBHOOKS_TIMEOUT_SECONDS']}): a delivery still running "
            "would be claimed and sent again by another worker")


def run(app, concurrency=None, stop=None):
    """Deliver until SIGTERM/SIGINT (or `stop` is set); returns how many attempts were made."""
    check_settings(app.config)
    concurrency = concurrency or app.config["WEBHOOKS_CONCURRENCY"]
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    log.info("webhooks worker %s started: %d at a time", name, concurrency)
    busy, sent = {}, 0

    def serve(endpoint_id):
        with app.app_context():
            try:
                return delivery.serve(endpoint_id, name, stop)
            except Exception:
                log.exception("serving webhook endpoint %s failed", endpoint_id)
                return 0

    with ThreadPoolExecutor(concurrency, thread_name_prefix="webhooks") as pool:
        while not stop.is_set():
            for endpoint_id, future in list(busy.items()):
                if future.done():
                    sent += future.result()
                    del busy[endpoint_id]
            if len(busy) < concurrency:
                with app.app_context():
                    try:
                        claimed = delivery.claim(name, utcnow(), concurrency - len(busy))
                    except Exception:  # the database away for a moment: try again at the next poll
                        log.exception("claiming webhook deliveries failed")
                        db.session.rollback()
                        claimed = []
                for endpoint_id in claimed:
                    busy[endpoint_id] = pool.submit(serve, endpoint_id)
            stop.wait(POLL_SECONDS)
        log.info("webhooks worker %s stopping: %d deliveries in flight", name, len(busy))
    sent += sum(future.result() for future in busy.values())
    log.info("webhooks worker %s stopped", name)
    return sent
