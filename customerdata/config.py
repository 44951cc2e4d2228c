"""Configuration: defaults, then environment variables, then the mapping given to create_app.

Every setting an operator can change is read here and documented in the README's table.
No secret lives in this file: unset keys are generated once into the instance folder.
"""
import json
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path

from limits import parse_many

from .errors import ConfigurationError
from .serialization import json_column_text

MIB = 1024 * 1024

# Keeps `instance/` at the repository root whether the package is imported from a checkout or
# installed in editable mode; INSTANCE_PATH moves it anywhere else.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INSTANCE_PATH = PROJECT_ROOT / "instance"


def instance_path(overrides):
    return str(overrides.get("INSTANCE_PATH") or os.environ.get("INSTANCE_PATH") or DEFAULT_INSTANCE_PATH)


def normalize_database_url(url):
    """Accept the URL forms users paste and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


# Environment values are checked when the app starts: a value an operator mistyped fails then, in
# one line naming the setting and what it takes, not as a traceback or as tokens nobody accepts.
WHOLE_NUMBER = re.compile(r"-?[0-9]+")
SWITCH = {"true": True, "1": True, "yes": True, "on": True,
          "false": False, "0": False, "no": False, "off": False}
STORAGE_BACKENDS = ("local", "s3")


def whole_number(name, default, minimum, unit):
    """An integer setting of at least `minimum`; unset or empty: the default."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not WHOLE_NUMBER.fullmatch(raw) or int(raw) < minimum:
        raise ConfigurationError(f"{name} must be a whole number of {unit} >= {minimum}, "
                                 f"not {os.environ[name]!r}")
    return int(raw)


def switch(name, default):
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in SWITCH:
        raise ConfigurationError(f"{name} must be true or false (or 1/0, yes/no, on/off), "
                                 f"not {os.environ[name]!r}")
    return SWITCH[raw]


def choice(name, default, choices):
    value = (os.environ.get(name) or default).strip().lower()
    if value not in choices:
        raise ConfigurationError(f"{name} must be {' or '.join(choices)}, not {value!r}")
    return value


def rate(name, default):
    """A rate limit in flask-limiter's notation, checked now rather than on the route's first call."""
    value = os.environ.get(name, "").strip() or default
    try:
        valid = all(item.amount >= 1 for item in parse_many(value))
    except ValueError:
        valid = False
    if not valid:
        raise ConfigurationError(f"{name} must be a rate such as '10 per minute' or '100/hour', "
                                 f"not {value!r}")
    return value


def from_environment(instance):
    """Settings with their defaults, overridden by environment variables where set."""
    env = os.environ
    settings = {
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL")
        or f"sqlite:///{os.path.join(instance, 'customerdata.sqlite3')}",
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER") or os.path.join(instance, "uploads"),
        "STORAGE_BACKEND": choice("STORAGE_BACKEND", "local", STORAGE_BACKENDS),
        "S3_BUCKET": env.get("S3_BUCKET") or None,
        "S3_PREFIX": env.get("S3_PREFIX") or "",
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL") or None,
        "S3_REGION": env.get("S3_REGION") or None,
        "MAX_CONTENT_LENGTH": whole_number("MAX_CONTENT_LENGTH", 50 * MIB, 1, "bytes"),
        "MAX_VALUE_LENGTH": whole_number("MAX_VALUE_LENGTH", 1_048_576, 1, "characters"),
        "MEDIA_URL_LIFETIME": whole_number("MEDIA_URL_SECONDS", 3600, 1, "seconds"),
        "CHANGES_RETENTION_DAYS": whole_number("CHANGES_RETENTION_DAYS", 365, 0, "days"),
        "IDEMPOTENCY_HOURS": whole_number("IDEMPOTENCY_HOURS", 24, 1, "hours"),
        # a claimed key whose request ran longer than a worker may is free again (its worker died)
        "IDEMPOTENCY_RUNNING_SECONDS": whole_number("GUNICORN_TIMEOUT", 60, 0, "seconds"),
        # 0 would mint tokens that have expired when they are answered
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=whole_number("ACCESS_TOKEN_MINUTES", 15, 1, "minutes")),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=whole_number("REFRESH_TOKEN_DAYS", 7, 1, "days")),
        "CORS_ORIGINS": [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()],
        "TRUSTED_PROXY_HOPS": whole_number("TRUSTED_PROXY_HOPS", 0, 0, "proxies"),
        "RATELIMIT_ENABLED": switch("RATELIMIT_ENABLED", True),
        # shared by every worker of this host (rate_limits.py); redis://... shares it between hosts
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI")
        or f"sqlite:///{os.path.join(instance, 'rate_limits.sqlite3')}",
        "LOGIN_RATE_LIMIT": rate("LOGIN_RATE_LIMIT", "10 per minute"),
        "REGISTER_RATE_LIMIT": rate("REGISTER_RATE_LIMIT", "10 per minute"),
        "REFRESH_RATE_LIMIT": rate("REFRESH_RATE_LIMIT", "30 per minute"),
        "BULK_RATE_LIMIT": rate("BULK_RATE_LIMIT", "60 per minute"),
        "WEBHOOKS_ALLOW_HTTP": switch("WEBHOOKS_ALLOW_HTTP", False),
        "WEBHOOKS_ALLOW_PRIVATE": switch("WEBHOOKS_ALLOW_PRIVATE", False),
        "WEBHOOKS_TIMEOUT_SECONDS": whole_number("WEBHOOKS_TIMEOUT_SECONDS", 10, 1, "seconds"),
        "WEBHOOKS_LEASE_SECONDS": whole_number("WEBHOOKS_LEASE_SECONDS", 60, 2, "seconds"),
        "WEBHOOKS_LOG_DAYS": whole_number("WEBHOOKS_LOG_DAYS", 30, 1, "days"),
        "WEBHOOKS_CONCURRENCY": whole_number("WEBHOOKS_CONCURRENCY", 8, 1, "deliveries"),
    }
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        if env.get(name):
            settings[name] = env[name]
    return settings


def check_environment():
    """Raise ConfigurationError for the first environment variable the app cannot start with
    (gunicorn.conf.py calls it before any worker starts)."""
    _check_storage(from_environment(instance_path({})))


FIXED = {
    "JWT_COOKIE_CSRF_PROTECT": False,
    "JWT_ALGORITHM": "HS256",
    "JWT_DECODE_ALGORITHMS": ["HS256"],
    "JWT_TOKEN_LOCATION": ["headers"],
    "JWT_BLOCKLIST_TOKEN_CHECKS": ["access", "refresh"],
    # flask-limiter's headers put Retry-After on every answer of a limited route, a 201 or a plain
    # 401 too; errors.py sets it on the 429 alone
    "RATELIMIT_HEADERS_ENABLED": False,
    "RATELIMIT_KEY_PREFIX": "customerdata",
}


NEVER_BY_COUNT = 2**31 - 1  # psycopg's prepare_threshold: runs before a statement is prepared


def load(app, overrides):
    """Layer the configuration: fixed defaults, environment, then the caller's mapping."""
    app.config.update(FIXED)
    app.config.update(from_environment(app.instance_path))
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    # No pool_pre_ping (a round trip on every checkout): a connection the server dropped is found
    # and replaced at checkout without one (database.py), or its statement is run again
    # (prepared.py); tests/test_database_restart.py restarts PostgreSQL under the app.
    engine_options = {"json_serializer": json_column_text}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # psycopg would prepare any statement run five times, and PostgreSQL then settles on one
        # generic plan for every owner: for a user with 200,000 entries it sorted all 16,248 ages
        # >= 30 (38 ms) instead of walking the newest entries (1.3 ms). Only the hot statements
        # whose plan fits every parameter are prepared, asked for by name (prepared.py); the rest
        # are planned for their parameters at each run. (None would switch preparing off.)
        engine_options["connect_args"] = {"prepare_threshold": NEVER_BY_COUNT}
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options | app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    # Flask 3.1 caps non-file form fields at 500 kB; a form `value` may be as long as a JSON one
    # (up to 4 bytes a character in UTF-8), so that its own limit answers with the contract's 400.
    if "MAX_FORM_MEMORY_SIZE" not in overrides:
        app.config["MAX_FORM_MEMORY_SIZE"] = app.config["MAX_VALUE_LENGTH"] * 4 + 64 * 1024
    _check_storage(app.config)
    missing = [name for name in ("SECRET_KEY", "JWT_SECRET_KEY") if not app.config.get(name)]
    if missing:
        keys = instance_secret_keys(app.instance_path)
        for name in missing:
            app.config[name] = keys[name]


def _check_storage(settings):
    """A misconfigured file store fails at start-up, not on the first upload."""
    if settings["STORAGE_BACKEND"] not in STORAGE_BACKENDS:
        raise ConfigurationError(f"STORAGE_BACKEND must be local or s3, not {settings['STORAGE_BACKEND']!r}")
    if settings["STORAGE_BACKEND"] == "s3" and not settings.get("S3_BUCKET"):
        raise ConfigurationError("STORAGE_BACKEND=s3 needs S3_BUCKET")


def instance_secret_keys(instance):
    """Keys generated once and kept in the instance folder (mode 0600).

    Every gunicorn worker starts the app on its own; linking a fully written temporary file into
    place makes exactly one of them win and lets the others read the winner's keys.
    """
    path = os.path.join(instance, "secret_keys.json")
    if not os.path.exists(path):
        os.makedirs(instance, exist_ok=True)
        keys = {"SECRET_KEY": secrets.token_urlsafe(48), "JWT_SECRET_KEY": secrets.token_urlsafe(48)}
        tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    with open(path) as fh:
        return json.load(fh)
