#!/usr/bin/env python3
"""In-process cost of one entry create and one entry update, as bench.py's create_json and
update_json send them: the WSGI app called directly (no server, no network), so the figures
hold on a busy machine better than wrk's.

    .venv/bin/python benchmarks/writes.py [--count 2000] [--batches 7] [--pg postgresql://...]
    .venv/bin/python benchmarks/writes.py --profile create      # cProfile, top functions
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python benchmarks/writes.py --only create --count 500 --batches 1

Prints, per kind, the batch of least CPU time: microseconds per request (wall and CPU) and how
long the SQLite writers' turn (the file lock, then the transaction) was held per request (wall,
and CPU time of the holding thread). For
instruction counts run it under callgrind twice, with --count N and --count 0, and divide the
difference by N: the counts repeat to a fraction of a percent under load, the times do not.
"""
import argparse
import io
import os
import secrets
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from customerdata import create_app, prepared  # noqa: E402
from customerdata.extensions import db  # noqa: E402


def call(app, method, path, token, body):
    environ = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False, "wsgi.version": (1, 0),
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)), "HTTP_HOST": "127.0.0.1:8000",
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    status = []
    chunks = app(environ, lambda code, headers, exc_info=None: status.append(code))
    answer = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return int(status[0].split()[0]), answer


def json_call(app, method, path, token, body):
    import orjson

    code, answer = call(app, method, path, token, orjson.dumps(body))
    assert code in (200, 201), (code, answer[:300])
    return orjson.loads(answer)


class TurnTimer:
    """Time the SQLite writers' turn is held (flock to unlock), summed: wall time, and the CPU time
    of the holding thread (which a busy machine disturbs less, but which leaves out waits on the
    disk such as a checkpoint's fsyncs)."""

    def __init__(self):
        self.held = self.held_cpu = 0.0
        self.turns = 0

    def install(self):
        original = prepared._writers_take_turns

        @contextmanager
        def timed(engine):
            with original(engine):
                started, started_cpu = time.perf_counter(), time.thread_time()
                try:
                    yield
                finally:
                    self.held += time.perf_counter() - started
                    self.held_cpu += time.thread_time() - started_cpu
                    self.turns += 1

        prepared._writers_take_turns = timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="requests per batch")
    parser.add_argument("--batches", type=int, default=7)
    parser.add_argument("--only", choices=("create", "update"))
    parser.add_argument("--profile", choices=("create", "update"))
    parser.add_argument("--pg", help="a PostgreSQL database URL (its tables are dropped and created)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes writing at once, as gunicorn's workers (each batch is --count per worker)")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="writes-bench-")
    app = create_app({
        "INSTANCE_PATH": os.path.join(work, "instance"),
        "SQLALCHEMY_DATABASE_URI": args.pg or f"sqlite:///{work}/bench.sqlite3",
        "UPLOAD_FOLDER": os.path.join(work, "uploads"), "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
        "JWT_SECRET_KEY": "bench-jwt-key-that-is-long-enough-for-hs256-0123456789",
    })
    with app.app_context():
        db.drop_all()
        db.create_all()
    import logging
    logging.getLogger("customerdata").setLevel(logging.WARNING)  # the log line is not what is measured
    wsgi = app.wsgi_app if args.profile is None else app.wsgi_app
    password = secrets.token_urlsafe(12)
    json_call(wsgi, "POST", "/api/accounts/register", None, {"username": "bench", "password": password})
    token = json_call(wsgi, "POST", "/api/accounts/login", None, {"username": "bench", "password": password})["access"]
    customer = json_call(wsgi, "POST", "/api/message/customers/", token,
                         {"first_name": "Carl", "last_name": "Poe", "username": "carlpoe", "source": "telegram"})["id"]
    one = json_call(wsgi, "POST", "/api/message/customer-data/", token,
                    {"customer": customer, "key": "one", "value": "value to update"})["id"]
    counter = iter(range(10**9))

    def create():
        n = next(counter)
        code, answer = call(wsgi, "POST", "/api/message/customer-data/", token,
                            b'{"customer": %d, "key": "bench_%d_%d", "value": "created by the benchmark"}'
                            % (customer, os.getpid(), n))
        assert code == 201, answer

    def update():
        n = next(counter)
        code, answer = call(wsgi, "PUT", f"/api/message/customer-data/{one}/", token, b'{"value": "updated %d"}' % n)
        assert code == 200, answer

    kinds = {"create": create, "update": update}
    for run in kinds.values():  # warm up: compiled statements, caches
        for _ in range(50):
            run()

    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        run = kinds[args.profile]
        profiler.enable()
        for _ in range(args.count):
            run()
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(40)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(60)
        return

    if args.workers == 1:
        measure(args, kinds, None)
        return
    import multiprocessing

    with app.app_context():
        db.engine.dispose()  # no pooled connection crosses the fork
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(args.workers)
    workers = [context.Process(target=measure, args=(args, kinds, barrier)) for _ in range(args.workers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def measure(args, kinds, barrier):
    """Run the batches and print the least costly; with a barrier (several workers), the workers
    start each batch together, so that they contend for the writers' turn as gunicorn's do."""
    timer = TurnTimer()
    timer.install()
    for name, run in kinds.items():
        if args.only and name != args.only:
            continue
        best = None
        for _ in range(args.batches):
            timer.held, timer.held_cpu, timer.turns = 0.0, 0.0, 0
            if barrier is not None:
                barrier.wait()
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.count):
                run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            figures = (wall, cpu, timer.held, timer.held_cpu)
            best = figures if best is None or figures[1] < best[1] else best  # by CPU time
        if args.count:
            wall, cpu, held, held_cpu = (figure / args.count * 1e6 for figure in best)
            print(f"{name} (pid {os.getpid()}): {wall:7.1f} µs wall  {cpu:7.1f} µs CPU  "
                  f"writers' turn held {held:6.1f} µs wall, {held_cpu:6.1f} µs CPU", flush=True)


if __name__ == "__main__":
    main()
