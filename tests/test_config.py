"""Configuration layering (defaults → environment → create_app's mapping) and generated keys
(README, "Configuration")."""
import json
import os
import stat
import subprocess
from datetime import timedelta

import pytest

from customerdata import create_app
from customerdata.config import normalize_database_url
from customerdata.extensions import db

SETTINGS_FROM_ENVIRONMENT = ("SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_URL", "UPLOAD_FOLDER",
                             "MAX_CONTENT_LENGTH", "MAX_VALUE_LENGTH", "ACCESS_TOKEN_MINUTES",
                             "REFRESH_TOKEN_DAYS", "INSTANCE_PATH")
PASSWORD = "carol-password-1"


@pytest.fixture
def clean_env(monkeypatch):
    for name in SETTINGS_FROM_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def make_app(clean_env, tmp_path):
    """create_app on a throw-away instance folder and SQLite file; engines are disposed after."""
    apps = []

    def make(instance="instance", with_database=True, **overrides):
        config = {"TESTING": True, "INSTANCE_PATH": str(tmp_path / instance)}
        if with_database:
            config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'config.sqlite3'}"
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def with_tables(app):
    with app.app_context():
        db.create_all()
    return app


def login(client, username="carol", password=PASSWORD):
    client.post("/api/accounts/register", json={"username": username, "password": password})
    response = client.post("/api/accounts/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def keys_file(app):
    return os.path.join(app.instance_path, "secret_keys.json")


# Generated keys

def test_missing_keys_are_generated_into_the_instance_folder(make_app):
    app = make_app()
    path = keys_file(app)
    assert os.path.isfile(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as fh:
        stored = json.load(fh)
    assert set(stored) == {"SECRET_KEY", "JWT_SECRET_KEY"}
    assert app.config["SECRET_KEY"] == stored["SECRET_KEY"]
    assert app.config["JWT_SECRET_KEY"] == stored["JWT_SECRET_KEY"]
    assert len(app.config["SECRET_KEY"]) >= 32 and len(app.config["JWT_SECRET_KEY"]) >= 32
    assert app.config["SECRET_KEY"] != app.config["JWT_SECRET_KEY"]


def test_generated_keys_are_reused_by_the_next_start(make_app):
    first = make_app()
    with open(keys_file(first)) as fh:
        content = fh.read()
    second = make_app()
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert second.config["JWT_SECRET_KEY"] == first.config["JWT_SECRET_KEY"]
    with open(keys_file(second)) as fh:
        assert fh.read() == content
    leftovers = [name for name in os.listdir(first.instance_path) if name.startswith("secret_keys.json.")]
    assert leftovers == []


def test_each_instance_folder_has_its_own_keys(make_app):
    one, other = make_app("one"), make_app("other")
    assert one.config["SECRET_KEY"] != other.config["SECRET_KEY"]
    assert one.config["JWT_SECRET_KEY"] != other.config["JWT_SECRET_KEY"]


def test_tokens_of_one_start_work_after_a_restart(make_app):
    first = with_tables(make_app())
    tokens = login(first.test_client())
    second = make_app()
    response = second.test_client().get("/api/accounts/me", headers=bearer(tokens["access"]))
    assert response.status_code == 200
    assert response.get_json()["username"] == "carol"


def test_tokens_of_another_instance_folder_are_refused(make_app):
    first = with_tables(make_app("one"))
    tokens = login(first.test_client())
    other = make_app("other")
    response = other.test_client().get("/api/accounts/me", headers=bearer(tokens["access"]))
    assert response.status_code == 401


def test_keys_given_in_the_mapping_are_used_and_nothing_is_written(make_app):
    app = make_app(SECRET_KEY="mapping-secret", JWT_SECRET_KEY="mapping-jwt-secret-" + "x" * 32)
    assert app.config["SECRET_KEY"] == "mapping-secret"
    assert app.config["JWT_SECRET_KEY"] == "mapping-jwt-secret-" + "x" * 32
    assert not os.path.exists(keys_file(app))


def test_keys_from_the_environment_are_used_and_nothing_is_written(make_app, clean_env):
    clean_env.setenv("SECRET_KEY", "env-secret")
    clean_env.setenv("JWT_SECRET_KEY", "env-jwt-secret-" + "y" * 32)
    app = make_app()
    assert app.config["SECRET_KEY"] == "env-secret"
    assert app.config["JWT_SECRET_KEY"] == "env-jwt-secret-" + "y" * 32
    assert not os.path.exists(keys_file(app))


def test_the_mapping_overrides_keys_from_the_environment(make_app, clean_env):
    clean_env.setenv("SECRET_KEY", "env-secret")
    clean_env.setenv("JWT_SECRET_KEY", "env-jwt-secret")
    app = make_app(SECRET_KEY="mapping-secret")
    assert app.config["SECRET_KEY"] == "mapping-secret"
    assert app.config["JWT_SECRET_KEY"] == "env-jwt-secret"


def test_only_the_missing_key_is_generated(make_app):
    app = make_app(SECRET_KEY="mapping-secret")
    with open(keys_file(app)) as fh:
        stored = json.load(fh)
    assert app.config["SECRET_KEY"] == "mapping-secret"
    assert app.config["JWT_SECRET_KEY"] == stored["JWT_SECRET_KEY"]


def test_empty_keys_in_the_environment_count_as_unset(make_app, clean_env):
    clean_env.setenv("SECRET_KEY", "")
    clean_env.setenv("JWT_SECRET_KEY", "")
    app = make_app()
    assert app.config["SECRET_KEY"] and app.config["JWT_SECRET_KEY"]
    assert os.path.exists(keys_file(app))


def test_instance_path_comes_from_the_environment(clean_env, tmp_path):
    clean_env.setenv("INSTANCE_PATH", str(tmp_path / "from-env"))
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    try:
        assert app.instance_path == str(tmp_path / "from-env")
        assert os.path.exists(tmp_path / "from-env" / "secret_keys.json")
        assert app.config["UPLOAD_FOLDER"] == os.path.join(str(tmp_path / "from-env"), "uploads")
    finally:
        with app.app_context():
            db.engine.dispose()


# Database URL

@pytest.mark.parametrize("url, expected", [
    ("postgres://u:p@db.internal:5432/cd", "postgresql+psycopg://u:p@db.internal:5432/cd"),
    ("postgresql://u:p@db.internal:5432/cd", "postgresql+psycopg://u:p@db.internal:5432/cd"),
    ("postgresql://postgres@127.0.0.1/test?sslmode=disable",
     "postgresql+psycopg://postgres@127.0.0.1/test?sslmode=disable"),
    ("postgres:///customerdata", "postgresql+psycopg:///customerdata"),
    ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ("sqlite:///instance/customerdata.sqlite3", "sqlite:///instance/customerdata.sqlite3"),
    ("sqlite://", "sqlite://"),
    ("mysql+pymysql://u@h/postgres://x", "mysql+pymysql://u@h/postgres://x"),
])
def test_normalize_database_url(url, expected):
    assert normalize_database_url(url) == expected


@pytest.mark.parametrize("url", ["postgres://u:p@127.0.0.1:1/customerdata",
                                 "postgresql://u:p@127.0.0.1:1/customerdata"])
def test_database_url_from_the_environment_uses_psycopg_3(make_app, clean_env, url):
    clean_env.setenv("DATABASE_URL", url)
    app = make_app(with_database=False)
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u:p@127.0.0.1:1/customerdata"
    with app.app_context():
        assert db.engine.url.drivername == "postgresql+psycopg"


def test_database_url_in_the_mapping_is_normalised_too(make_app, clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://env@127.0.0.1:1/env")
    app = make_app(SQLALCHEMY_DATABASE_URI="postgresql://mapping@127.0.0.1:1/mapping")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://mapping@127.0.0.1:1/mapping"


def test_default_database_is_sqlite_in_the_instance_folder(make_app):
    app = make_app(with_database=False)
    expected = os.path.join(app.instance_path, "customerdata.sqlite3")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{expected}"


# Other settings

def test_defaults_without_environment(make_app):
    app = make_app()
    assert app.config["MAX_CONTENT_LENGTH"] == 50 * 1024 * 1024
    assert app.config["MAX_VALUE_LENGTH"] == 1_048_576
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=15)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=7)
    assert app.config["UPLOAD_FOLDER"] == os.path.join(app.instance_path, "uploads")


def test_environment_variables_reach_the_config(make_app, clean_env, tmp_path):
    clean_env.setenv("UPLOAD_FOLDER", str(tmp_path / "env-uploads"))
    clean_env.setenv("MAX_CONTENT_LENGTH", "2048")
    clean_env.setenv("MAX_VALUE_LENGTH", "99")
    clean_env.setenv("ACCESS_TOKEN_MINUTES", "5")
    clean_env.setenv("REFRESH_TOKEN_DAYS", "2")
    app = make_app()
    assert app.config["UPLOAD_FOLDER"] == str(tmp_path / "env-uploads")
    assert app.config["MAX_CONTENT_LENGTH"] == 2048
    assert app.config["MAX_VALUE_LENGTH"] == 99
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=5)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=2)


def test_the_mapping_overrides_the_environment(make_app, clean_env, tmp_path):
    clean_env.setenv("UPLOAD_FOLDER", str(tmp_path / "env-uploads"))
    clean_env.setenv("MAX_CONTENT_LENGTH", "2048")
    clean_env.setenv("ACCESS_TOKEN_MINUTES", "5")
    app = make_app(UPLOAD_FOLDER=str(tmp_path / "mapping-uploads"), MAX_CONTENT_LENGTH=4096,
                   JWT_ACCESS_TOKEN_EXPIRES=timedelta(minutes=30))
    assert app.config["UPLOAD_FOLDER"] == str(tmp_path / "mapping-uploads")
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=30)


def test_max_content_length_from_the_environment_is_enforced(make_app, clean_env):
    clean_env.setenv("MAX_CONTENT_LENGTH", "2048")
    client = make_app().test_client()
    response = client.post("/api/accounts/register", json={"username": "carol", "password": "x" * 4000})
    assert response.status_code == 413
    assert "2048" in response.get_json()["detail"]


def test_access_token_minutes_from_the_environment_set_the_token_lifetime(make_app, clean_env):
    clean_env.setenv("ACCESS_TOKEN_MINUTES", "5")
    tokens = login(with_tables(make_app()).test_client())
    assert tokens["expires_in"] == 300


def test_a_misconfigured_file_store_fails_at_start_up(app_config):
    import pytest as _pytest

    from customerdata import create_app as _create_app

    with _pytest.raises(RuntimeError, match="STORAGE_BACKEND must be local or s3"):
        _create_app(app_config | {"STORAGE_BACKEND": "ftp"})
    with _pytest.raises(RuntimeError, match="needs S3_BUCKET"):
        _create_app(app_config | {"STORAGE_BACKEND": "s3", "S3_BUCKET": None})


# Settings checked at start-up

@pytest.mark.parametrize("name, value, message", [
    ("ACCESS_TOKEN_MINUTES", "abc", "ACCESS_TOKEN_MINUTES must be a whole number of minutes >= 1, not 'abc'"),
    ("ACCESS_TOKEN_MINUTES", "0", "ACCESS_TOKEN_MINUTES must be a whole number of minutes >= 1, not '0'"),
    ("REFRESH_TOKEN_DAYS", "-1", "REFRESH_TOKEN_DAYS must be a whole number of days >= 1, not '-1'"),
    ("MAX_CONTENT_LENGTH", "50M", "MAX_CONTENT_LENGTH must be a whole number of bytes >= 1, not '50M'"),
    ("MAX_VALUE_LENGTH", "0", "MAX_VALUE_LENGTH must be a whole number of characters >= 1, not '0'"),
    ("MEDIA_URL_SECONDS", "1.5", "MEDIA_URL_SECONDS must be a whole number of seconds >= 1, not '1.5'"),
    ("TRUSTED_PROXY_HOPS", "-1", "TRUSTED_PROXY_HOPS must be a whole number of proxies >= 0, not '-1'"),
    ("RATELIMIT_ENABLED", "maybe",
     "RATELIMIT_ENABLED must be true or false (or 1/0, yes/no, on/off), not 'maybe'"),
    ("STORAGE_BACKEND", "ftp", "STORAGE_BACKEND must be local or s3, not 'ftp'"),
    ("LOGIN_RATE_LIMIT", "ten a minute",
     "LOGIN_RATE_LIMIT must be a rate such as '10 per minute' or '100/hour', not 'ten a minute'"),
    ("REFRESH_RATE_LIMIT", "0 per minute",
     "REFRESH_RATE_LIMIT must be a rate such as '10 per minute' or '100/hour', not '0 per minute'"),
    ("WEBHOOKS_ALLOW_HTTP", "sometimes",
     "WEBHOOKS_ALLOW_HTTP must be true or false (or 1/0, yes/no, on/off), not 'sometimes'"),
    ("WEBHOOKS_ALLOW_PRIVATE", "2",
     "WEBHOOKS_ALLOW_PRIVATE must be true or false (or 1/0, yes/no, on/off), not '2'"),
    ("WEBHOOKS_TIMEOUT_SECONDS", "0", "WEBHOOKS_TIMEOUT_SECONDS must be a whole number of seconds >= 1, not '0'"),
    ("WEBHOOKS_LEASE_SECONDS", "1", "WEBHOOKS_LEASE_SECONDS must be a whole number of seconds >= 2, not '1'"),
    ("WEBHOOKS_LOG_DAYS", "a month", "WEBHOOKS_LOG_DAYS must be a whole number of days >= 1, not 'a month'"),
    ("WEBHOOKS_CONCURRENCY", "0", "WEBHOOKS_CONCURRENCY must be a whole number of deliveries >= 1, not '0'"),
])
def test_a_bad_setting_fails_at_start_up_with_one_line_naming_it(make_app, clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(RuntimeError) as raised:
        make_app()
    assert str(raised.value) == message


@pytest.mark.parametrize("value, enabled", [("false", False), ("OFF", False), ("0", False), ("no", False),
                                            ("true", True), ("On", True), ("1", True), ("yes", True),
                                            ("", True)])
def test_rate_limits_switch_takes_the_usual_spellings(make_app, clean_env, value, enabled):
    clean_env.setenv("RATELIMIT_ENABLED", value)
    assert make_app().config["RATELIMIT_ENABLED"] is enabled


def test_whole_numbers_may_carry_surrounding_spaces(make_app, clean_env):
    clean_env.setenv("ACCESS_TOKEN_MINUTES", " 5 ")
    clean_env.setenv("TRUSTED_PROXY_HOPS", "0")
    app = make_app()
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(minutes=5)
    assert app.config["TRUSTED_PROXY_HOPS"] == 0


def _run(command, env_changes, tmp_path):
    from live_server import BIN, REPO_ROOT, SCRUBBED

    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED}
    env.update({"INSTANCE_PATH": str(tmp_path / "instance"), **env_changes})
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO_ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_the_flask_cli_prints_the_one_line(tmp_path):
    status, output = _run(["flask", "--app", "wsgi", "users", "list"], {"ACCESS_TOKEN_MINUTES": "abc"},
                          tmp_path)
    assert status != 0
    assert output == "Error: ACCESS_TOKEN_MINUTES must be a whole number of minutes >= 1, not 'abc'"


@pytest.mark.parametrize("name, value, message", [
    ("ACCESS_TOKEN_MINUTES", "0", "ACCESS_TOKEN_MINUTES must be a whole number of minutes >= 1, not '0'"),
    # gunicorn itself reads WEB_CONCURRENCY with int() before any configuration file: "many" is its traceback
    ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be a whole number of worker processes >= 1, not '0'"),
    ("GUNICORN_TIMEOUT", "1m", "GUNICORN_TIMEOUT must be a whole number of seconds >= 0, not '1m'"),
])
def test_gunicorn_prints_the_one_line_and_starts_no_worker(tmp_path, name, value, message):
    status, output = _run(["gunicorn", "-c", "gunicorn.conf.py", "--bind", "127.0.0.1:0", "wsgi:app"],
                          {name: value}, tmp_path)
    assert status != 0
    assert output == f"Error: {message}"

