"""Configuration: defaults, then environment variables, then the mapping given to create_app.

Every setting an operator can change is read here and documented in the README's table.
No secret lives in this file: unset keys are generated once into the instance folder.
"""
import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

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


def _int(name, default):
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def from_environment(instance):
    """Settings with their defaults, overridden by environment variables where set."""
    env = os.environ
    settings = {
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL")
        or f"sqlite:///{os.path.join(instance, 'customerdata.sqlite3')}",
        "UPLOAD_FOLDER": env.get("UPLOAD_FOLDER") or os.path.join(instance, "uploads"),
        "STORAGE_BACKEND": (env.get("STORAGE_BACKEND") or "local").strip().lower(),
        "S3_BUCKET": env.get("S3_BUCKET") or None,
        "S3_PREFIX": env.get("S3_PREFIX") or "",
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL") or None,
        "S3_REGION": env.get("S3_REGION") or None,
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 50 * MIB),
        "MAX_VALUE_LENGTH": _int("MAX_VALUE_LENGTH", 1_048_576),
        "MEDIA_URL_LIFETIME": _int("MEDIA_URL_SECONDS", 3600),
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(minutes=_int("ACCESS_TOKEN_MINUTES", 15)),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(days=_int("REFRESH_TOKEN_DAYS", 7)),
        "CORS_ORIGINS": [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()],
        "TRUSTED_PROXY_HOPS": _int("TRUSTED_PROXY_HOPS", 0),
        "RATELIMIT_ENABLED": env.get("RATELIMIT_ENABLED", "true").lower() not in ("0", "false", "no", "off"),
        # shared by every worker of this host (rate_limits.py); redis://... shares it between hosts
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI")
        or f"sqlite:///{os.path.join(instance, 'rate_limits.sqlite3')}",
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT") or "10 per minute",
        "REGISTER_RATE_LIMIT": env.get("REGISTER_RATE_LIMIT") or "10 per minute",
        "REFRESH_RATE_LIMIT": env.get("REFRESH_RATE_LIMIT") or "30 per minute",
    }
    for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
        if env.get(name):
            settings[name] = env[name]
    return settings


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


def load(app, overrides):
    """Layer the configuration: fixed defaults, environment, then the caller's mapping."""
    app.config.update(FIXED)
    app.config.update(from_environment(app.instance_path))
    app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # a server restart or a dropped connection must not fail the next request; a file cannot drop
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
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
    if settings["STORAGE_BACKEND"] not in ("local", "s3"):
        raise RuntimeError(f"STORAGE_BACKEND must be local or s3, not {settings['STORAGE_BACKEND']!r}")
    if settings["STORAGE_BACKEND"] == "s3" and not settings.get("S3_BUCKET"):
        raise RuntimeError("STORAGE_BACKEND=s3 needs S3_BUCKET")


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
