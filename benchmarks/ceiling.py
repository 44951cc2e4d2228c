#!/usr/bin/env python3
"""How near the floor a Flask app can come on bench.py's get_one, whatever the app does.

    .venv/bin/python benchmarks/ceiling.py [--floor ../shared/peers/floor] [--rounds 3] [--duration 6]

Two servers answer GET /api/message/customer-data/<id>/ from the same SQLite file:

  floor   bench.py's floor (raw WSGI, sqlite3, PyJWT), imported from --floor
  flask   a Flask app with one route that runs the floor's own code for it (the token decoded, the
          revocation looked up, the row read and shaped by the floor's functions, the answer made
          with json.dumps), so the only difference is Flask's request and response cycle

Both run under this venv's gunicorn with bench.py's settings (2 sync workers, 1 thread,
127.0.0.1); wrk (-t1 -c8, --duration seconds) alternates between them for --rounds rounds and the
medians are printed, with flask / floor: the most a Flask service can reach of the floor's get_one
on this machine.
"""
import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

FLASK_APP = """
import json
import sys
sys.path.insert(0, {floor!r})
import jwt
from flask import Flask, Response, request
import app as floor

application = Flask(__name__)


def respond(body, status=200):  # the floor's json.dumps, not Flask's provider (which sorts the keys)
    return Response(json.dumps(body), status, mimetype="application/json")


@application.get("/api/message/customer-data/<int:entry_id>/")
def get_one(entry_id):
    db = floor.conn()
    try:
        claims = jwt.decode(request.headers.get("Authorization", "")[7:], floor.SECRET, algorithms=["HS256"],
                            options={{"require": ["exp", "sub", "jti"]}})
        user = int(claims["sub"])
    except Exception:
        return respond({{"detail": "Invalid token"}}, 401)
    if db.execute("SELECT 1 FROM revoked_token WHERE jti = ?", (claims["jti"],)).fetchone():
        return respond({{"detail": "Token has been revoked"}}, 401)
    row = db.execute(floor.SELECT + " WHERE d.id = ? AND d.user_id = ?", (entry_id, user)).fetchone()
    if row is None:
        return respond({{"detail": "Not found."}}, 404)
    return respond(floor.row_out(row, request.host))
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(work, env, module):
    port = free_port()
    neutral = work / "neutral.gunicorn.conf.py"
    neutral.touch()
    process = subprocess.Popen(
        [BIN / "gunicorn", "--config", neutral, "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--worker-class", "sync", "--threads", "1", module], cwd=work, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
        except urllib.error.HTTPError:
            return process, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{module} did not come up")


def wrk(port, path, token, duration):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(f'wrk.headers["Authorization"]="Bearer {token}"\n')
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{duration}s", "-s", script.name,
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
    os.unlink(script.name)
    if "Non-2xx" in out:
        raise SystemExit(f"non-2xx answers:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floor", default=str(REPO.parent / "shared" / "peers" / "floor"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=6)
    args = parser.parse_args()
    floor_dir = os.path.abspath(args.floor)
    if not os.path.exists(os.path.join(floor_dir, "app.py")):
        raise SystemExit(f"no floor app.py in {floor_dir} (--floor)")
    work = Path(tempfile.mkdtemp(prefix="ceiling-"))
    env = dict(os.environ, FLOOR_DB=str(work / "floor.sqlite3"), PYTHONPATH=floor_dir)
    provisioned = subprocess.run([sys.executable, os.path.join(floor_dir, "app.py")], env=env, check=True,
                                 capture_output=True, text=True).stdout
    token = json.loads(provisioned)["users"]["alice"]["access"]
    with sqlite3.connect(env["FLOOR_DB"]) as db:  # bench.py's seed: 1,000 entries, one read from the middle
        db.executemany("INSERT INTO customer_data (customer_id, user_id, key, value, created_at, updated_at)"
                       " VALUES (1, 1, ?, ?, '2026-12-05T00:00:00.000000Z', '2026-12-05T00:00:00.000000Z')",
                       [(f"field_{i:05d}", f"value number {i} for the benchmark, some text to carry")
                        for i in range(1000)])
        entry_id = db.execute("SELECT id FROM customer_data WHERE key = 'field_00500'").fetchone()[0]
    (work / "flask_floor.py").write_text(FLASK_APP.format(floor=floor_dir))
    servers = {"floor": serve(work, env, "app:app"), "flask": serve(work, env, "flask_floor:application")}
    path = f"/api/message/customer-data/{entry_id}/"
    figures = {name: [] for name in servers}
    try:
        for round_number in range(args.rounds):
            for name, (_, port) in servers.items():
                figures[name].append(wrk(port, path, token, args.duration))
                print(f"round {round_number} {name:6} {figures[name][-1]:9.1f} req/s", flush=True)
    finally:
        for process, _ in servers.values():
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
    floor, flask = statistics.median(figures["floor"]), statistics.median(figures["flask"])
    print(f"\n`{' '.join([Path(sys.executable).name, *sys.argv])}`")
    print(f"get_one median req/s: floor {floor:.1f}, flask {flask:.1f}, flask / floor {flask / floor:.2f}")


if __name__ == "__main__":
    main()
