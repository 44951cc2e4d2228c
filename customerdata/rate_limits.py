"""Rate-limit counters in a SQLite file that every worker process of a host shares.

The default `RATELIMIT_STORAGE_URI` is `sqlite:///<instance folder>/rate_limits.sqlite3`: with
`memory://` each gunicorn worker counts on its own, so five workers let 50 login attempts a minute
through a limit of "10 per minute". `limits` has no file store of its own; this is one for its
fixed-window strategy (flask-limiter's default), registered under the `sqlite` scheme when this
module is imported. Redis (`redis://...`) remains the store for several hosts.

Each increment is one statement (an upsert that starts a new window once the old one has expired,
returning the count), so concurrent workers never lose a count. Counters need no durability: the
file is in WAL mode with `synchronous=NORMAL`, and expired rows are purged now and then.
"""
import os
import sqlite3
import threading
import time

from limits.storage import Storage

BUSY_TIMEOUT = 5          # seconds a write waits for another worker's
PURGE_EVERY = 60          # seconds between purges of expired counters, per process

SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limit_counters (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL,
    expires_at REAL NOT NULL
)
"""
INCREMENT = """
INSERT INTO rate_limit_counters (key, value, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    value = CASE WHEN expires_at <= :now THEN :amount ELSE value + :amount END,
    expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry ELSE expires_at END
RETURNING value
"""


def path_of(uri):
    """`sqlite:///relative/path` or `sqlite:////absolute/path`, as SQLAlchemy writes them."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        raise ValueError(f"a SQLite rate-limit store is sqlite:///<path of a file>, not {uri!r}")
    return uri[len(prefix):]


def _use_wal(connection):
    """Put the file in WAL mode (kept by the file: once is enough). The switch needs the file to
    itself, and SQLite answers "database is locked" at once, without waiting out the busy timeout,
    while another process opens it too: the workers of a fresh instance start side by side, and
    one that failed here failed to boot. So it tries again until BUSY_TIMEOUT has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteStorage(Storage):
    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri, wrap_exceptions=False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.path = path_of(uri)
        self._local = threading.local()
        self._purged_at = 0.0
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        # at start-up, so that a folder that cannot hold the file fails here, not on the first login
        connection = self._connection()
        _use_wal(connection)
        connection.execute(SCHEMA)

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _connection(self):
        """One connection per thread of each process (a forked worker opens its own)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            connection.execute("PRAGMA synchronous=NORMAL")
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    def incr(self, key, expiry, amount=1):
        now = time.time()
        connection = self._connection()
        # fetchall: the statement runs to its end, which commits (a cursor left open holds the lock)
        [(value,)] = connection.execute(INCREMENT, {"key": key, "amount": amount, "now": now,
                                                    "expiry": expiry}).fetchall()
        if now - self._purged_at > PURGE_EVERY:
            self._purged_at = now
            connection.execute("DELETE FROM rate_limit_counters WHERE expires_at <= ?", (now,))
        return value

    def _row(self, key):
        rows = self._connection().execute(
            "SELECT value, expires_at FROM rate_limit_counters WHERE key = ? AND expires_at > ?",
            (key, time.time())).fetchall()
        return rows[0] if rows else None

    def get(self, key):
        row = self._row(key)
        return row[0] if row else 0

    def get_expiry(self, key):
        row = self._row(key)
        return row[1] if row else time.time()

    def check(self):
        try:
            self._connection().execute("SELECT 1").fetchall()
        except sqlite3.Error:
            return False
        return True

    def reset(self):
        return self._connection().execute("DELETE FROM rate_limit_counters").rowcount

    def clear(self, key):
        self._connection().execute("DELETE FROM rate_limit_counters WHERE key = ?", (key,))
