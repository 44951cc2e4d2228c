"""A live CustomerData server for tests that talk to it over real HTTP (for example a Node client).

    from live_server import live_server   # tests/ is on sys.path under pytest's "prepend" mode

    with live_server() as server:
        urllib.request.urlopen(server.base_url + "/api/accounts/me")

`live_server()` runs the app under gunicorn as a subprocess of this interpreter's environment
(`Path(sys.executable).parent / "gunicorn"`), bound to 127.0.0.1 on a port the kernel picks, with
its own temporary instance folder, upload folder and secret keys. The database is a SQLite file in
that folder, or, when TEST_DATABASE_URL names a PostgreSQL server, a throwaway database
`customerdata_live_<random>` created on that server and dropped afterwards. Either way the schema
comes from `flask --app wsgi db upgrade`, as in a deployment. Every wait is bounded.
"""
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

START_TIMEOUT = 60       # seconds for gunicorn to listen and the app to answer
MIGRATE_TIMEOUT = 120    # seconds for `flask db upgrade`
STOP_TIMEOUT = 15        # seconds between SIGTERM and SIGKILL
KILL_TIMEOUT = 5
PG_TIMEOUT = 10          # connect timeout for the maintenance connection

# Variables of the caller's environment that would change how gunicorn or the app start.
SCRUBBED = ("GUNICORN_CMD_ARGS", "GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_TIMEOUT", "FLASK_APP",
            "FLASK_DEBUG", "DATABASE_URL", "INSTANCE_PATH", "UPLOAD_FOLDER", "SECRET_KEY", "JWT_SECRET_KEY",
            "STORAGE_BACKEND", "S3_BUCKET", "S3_PREFIX", "S3_ENDPOINT_URL", "S3_REGION")

# 127.0.0.1 is always reached directly, whatever http_proxy the environment names
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
API_TIMEOUT = 20         # seconds for one request made by api()

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


class LiveServerError(RuntimeError):
    """The server could not be prepared or did not come up; the message carries its log."""


class LiveServer:
    def __init__(self, process, port, root, env, log_path):
        self.process = process
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.root = root
        self.env = env
        self.log_path = log_path
        self.instance_path = env["INSTANCE_PATH"]
        self.upload_folder = env["UPLOAD_FOLDER"]
        self.database_url = env["DATABASE_URL"]

    def log(self):
        """Everything gunicorn and the app wrote so far (access log included)."""
        return _read(self.log_path)


def _read(path):
    try:
        return Path(path).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _tail(text, lines=60):
    return "\n".join(text.splitlines()[-lines:])


# Database

def _is_postgresql(url):
    return url.split(":", 1)[0].split("+", 1)[0] in ("postgres", "postgresql")


@contextlib.contextmanager
def _throwaway_postgresql(server_url):
    """A new, empty database on the server of `server_url`; yields its URL, drops it afterwards."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url(server_url.replace("postgres://", "postgresql://", 1))
    maintenance = url.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    name = f"customerdata_live_{secrets.token_hex(6)}"
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=PG_TIMEOUT) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=PG_TIMEOUT) as connection:
            force = sql.SQL(" WITH (FORCE)") if connection.info.server_version >= 130000 else sql.SQL("")
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)) + force)


@contextlib.contextmanager
def _database(root):
    """The database URL the server uses: a throwaway PostgreSQL database or a SQLite file."""
    test_url = os.environ.get("TEST_DATABASE_URL")
    if not test_url:
        yield f"sqlite:///{root / 'instance' / 'customerdata.sqlite3'}"
    elif _is_postgresql(test_url):
        with _throwaway_postgresql(test_url) as url:
            yield url
    else:
        raise LiveServerError(f"TEST_DATABASE_URL: only PostgreSQL URLs are supported here, not {test_url!r}")


def _migrate(env, log_path):
    """`flask --app wsgi db upgrade` against the server's database, output appended to the log."""
    with open(log_path, "ab") as log:
        try:
            result = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO_ROOT,
                                    env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    timeout=MIGRATE_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise LiveServerError(f"flask db upgrade took over {MIGRATE_TIMEOUT}s:\n"
                                  f"{_tail(_read(log_path))}") from None
    if result.returncode != 0:
        raise LiveServerError(f"flask db upgrade failed ({result.returncode}):\n{_tail(_read(log_path))}")


# Server process

def _wait_until_answering(process, log_path):
    """The port from gunicorn's "Listening at" line, once the app answers an HTTP request there."""
    deadline = time.monotonic() + START_TIMEOUT
    port = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LiveServerError(f"gunicorn exited with {process.returncode}:\n{_tail(_read(log_path))}")
        if port is None:
            match = LISTENING.search(_read(log_path))
            port = int(match.group(1)) if match else None
        # any HTTP answer proves a worker runs the app; /api/accounts/me without a token is a 401
        if port is not None and answers(f"http://127.0.0.1:{port}/api/accounts/me"):
            return port
        time.sleep(0.1)
    raise LiveServerError(f"the server did not answer within {START_TIMEOUT}s:\n{_tail(_read(log_path))}")


def answers(url):
    """Whether anything answers HTTP at `url`, an error status included."""
    try:
        with DIRECT.open(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def stop(process):
    """SIGTERM, then SIGKILL if the process has not ended within STOP_TIMEOUT."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=KILL_TIMEOUT)


@contextlib.contextmanager
def live_server(env_overrides=None, workers=2):
    """Start the app under gunicorn on 127.0.0.1; yields a LiveServer (`.base_url`), stops it after.

    `env_overrides` is layered over the server's environment last (a value of None removes the
    variable); it reaches `flask db upgrade` too. Giving DATABASE_URL there uses that database as it
    is: the caller then owns its schema and its cleanup.
    """
    overrides = dict(env_overrides or {})
    root = Path(tempfile.mkdtemp(prefix="customerdata-live-"))
    log_path = root / "server.log"
    try:
        (root / "instance").mkdir()
        # an empty configuration file: without -c gunicorn would read ./gunicorn.conf.py of the repository
        config = root / "gunicorn_live.conf.py"
        config.write_text("# settings are on the command line\n")
        with contextlib.ExitStack() as stack:
            own_database = "DATABASE_URL" not in overrides
            database_url = stack.enter_context(_database(root)) if own_database else overrides["DATABASE_URL"]
            env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
            env.update({
                "INSTANCE_PATH": str(root / "instance"),
                "DATABASE_URL": database_url,
                "UPLOAD_FOLDER": str(root / "uploads"),
                "SECRET_KEY": secrets.token_urlsafe(32),
                "JWT_SECRET_KEY": secrets.token_urlsafe(48),
                "PYTHONUNBUFFERED": "1",
            })
            for name, value in overrides.items():
                if value is None:
                    env.pop(name, None)
                else:
                    env[name] = str(value)
            if own_database:
                _migrate(env, log_path)
            command = [str(BIN / "gunicorn"), "-c", str(config), "--no-control-socket",
                       "--bind", "127.0.0.1:0", "--workers", str(workers), "--worker-class", "sync",
                       "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-",
                       "wsgi:app"]
            with open(log_path, "ab") as log:
                process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                           stdout=log, stderr=subprocess.STDOUT)
            try:
                port = _wait_until_answering(process, log_path)
                yield LiveServer(process, port, root, env, log_path)
            finally:
                stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def api(base_url, method, path, body=None, token=None, timeout=API_TIMEOUT):
    """(status, JSON body) of one request to a live server, for a test's own setup and checks."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base_url + path, method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with DIRECT.open(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)
