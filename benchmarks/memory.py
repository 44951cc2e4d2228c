#!/usr/bin/env python3
"""Resident memory of the service under gunicorn, as bench.py starts it, beside the least a
Flask app on the same libraries holds.

    .venv/bin/python benchmarks/memory.py [--rows 1000] [--requests 50]

Each target runs under this venv's gunicorn with bench.py's settings (an empty config file,
2 sync workers, 1 thread, 127.0.0.1), on SQLite. The service is migrated, given a user, a
customer and --rows entries, then sent --requests of each of bench.py's scenarios (the whole
list, one customer's list, one entry, an update, a create), four at a time so that both
workers serve. The reference apps get --requests GETs of their one route:

  flask          Flask, one view returning a dict
  flask+core     the same view running `select 1` through a SQLAlchemy Core engine
  flask-sqlalchemy  the same through Flask-SQLAlchemy's session and one declarative model

Prints VmRSS per process (MiB) and bench.py's "rss after": it adds every process holding the
listening socket and each one's children, so the master counts once and each worker twice.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

REFERENCES = {
    "flask": """
from flask import Flask
app = Flask(__name__)
@app.get("/")
def index():
    return {"ok": True}
""",
    "flask+core": """
import sqlalchemy as sa
from flask import Flask
engine = sa.create_engine("sqlite:///" + __file__ + ".sqlite3")
app = Flask(__name__)
@app.get("/")
def index():
    with engine.connect() as connection:
        return {"ok": connection.execute(sa.text("select 1")).scalar()}
""",
    "flask-sqlalchemy": """
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
class Base(DeclarativeBase):
    pass
db = SQLAlchemy(model_class=Base)
class Thing(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + __file__ + ".sqlite3"
db.init_app(app)
with app.app_context():
    db.create_all()
@app.get("/")
def index():
    return {"ok": db.session.execute(db.select(Thing)).first() is None}
""",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, token=None, body=None):
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def serve(cwd, module, env, config):
    """gunicorn as bench.py runs it, `config` an empty file; returns (process, base URL) once it answers."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", str(config), "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--worker-class", "sync", "--threads", "1", "--no-control-socket", f"{module}:app"],
        cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()
            return process, base
        except urllib.error.HTTPError:
            return process, base
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{module} did not come up")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024


def processes(master):
    workers = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return master, sorted(map(int, workers))


def exercise_service(base, rows, count):
    call(base, "POST", "/api/accounts/register", body={"username": "memory", "password": "memory-bench-pass-1"})
    token = call(base, "POST", "/api/accounts/login",
                 body={"username": "memory", "password": "memory-bench-pass-1"})["access"]
    big = call(base, "POST", "/api/message/customers/", token, {"first_name": "John", "source": "telegram"})["id"]
    small = call(base, "POST", "/api/message/customers/", token, {"first_name": "Jane", "source": "telegram"})["id"]
    ids = [call(base, "POST", "/api/message/customer-data/", token,
                {"customer": big, "key": f"field_{n:05d}", "value": f"value number {n} for the benchmark"})["id"]
           for n in range(rows)]
    for n in range(10):
        call(base, "POST", "/api/message/customer-data/", token, {"customer": small, "key": f"small_{n}", "value": "v"})
    one = ids[len(ids) // 2]
    spread(count, lambda n: call(base, "GET", "/api/message/customer-data/", token))
    spread(count, lambda n: call(base, "GET", f"/api/message/customer-data/?customer={small}", token))
    spread(count, lambda n: call(base, "GET", f"/api/message/customer-data/{one}/", token))
    spread(count, lambda n: call(base, "PUT", f"/api/message/customer-data/{one}/", token, {"value": f"updated {n}"}))
    spread(count, lambda n: call(base, "POST", "/api/message/customer-data/", token,
                                 {"customer": small, "key": f"created_{n}", "value": "created by the benchmark"}))


def spread(count, request):
    """`count` requests from 4 clients at once, so that both workers serve (as under wrk)."""
    with ThreadPoolExecutor(4) as clients:
        list(clients.map(request, range(count)))


def measure(name, cwd, module, env, config, exercise):
    process, base = serve(cwd, module, env, config)
    try:
        exercise(base)
        master, workers = processes(process.pid)
        sizes = [rss_mib(master)] + [rss_mib(pid) for pid in workers]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    return name, sizes[0], sizes[1:], sizes[0] + 2 * sum(sizes[1:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="memory-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "INSTANCE_PATH")}
        env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
        config = Path(tmp) / "empty.gunicorn.conf.py"  # gunicorn's defaults, as bench.py's
        config.write_text("")
        service_env = dict(env, INSTANCE_PATH=str(Path(tmp) / "instance"))
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO, env=service_env,
                       check=True, capture_output=True)
        results.append(measure("service", REPO, "wsgi", service_env, config,
                               lambda base: exercise_service(base, args.rows, args.requests)))
        for name, source in REFERENCES.items():
            folder = Path(tmp) / name.replace("+", "_")
            folder.mkdir()
            (folder / "reference.py").write_text(source)
            results.append(measure(name, folder, "reference", env, config,
                                   lambda base: spread(args.requests, lambda n: call(base, "GET", "/"))))
    print(f"{'target':18}{'master':>8}{'workers':>16}{'rss after':>11}   (MiB; rss after = master + 2 x workers)")
    for name, master, workers, total in results:
        print(f"{name:18}{master:8.1f}{' '.join(f'{w:7.1f}' for w in workers):>16}{total:11.1f}")


if __name__ == "__main__":
    main()
