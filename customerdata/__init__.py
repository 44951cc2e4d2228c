"""CustomerData: custom key-value data, with files, that each user keeps about their customers."""
from flask import Flask
from flask.cli import AppGroup
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config
from .form_limits import FormLimitedRequest
from .openapi import register_openapi


def create_app(config_overrides=None):
    """Application factory; `config_overrides` is layered over defaults and environment (tests)."""
    overrides = dict(config_overrides or {})
    app = App(__name__, instance_path=config.instance_path(overrides), static_folder=None)
    app.session_interface = NoCookieSession()
    app.cli = CommandLine(app)
    app.request_class = FormLimitedRequest
    config.load(app, overrides)
    register_json(app)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_openapi(app)
    register_error_handlers(app)
    register_commands(app)
    return app


class App(Flask):
    """Flask, with the check of each hook and view for `async def` made once per function.

    Flask asks `inspect.iscoroutinefunction` of every hook and view on every request (seven times
    for an entry read, 5 µs of its 140); the answer never changes. Hooks and views are few; a
    callback made per request (`after_this_request`) is checked each time and not kept.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._synchronous = {}

    def ensure_sync(self, func):
        synchronous = self._synchronous.get(func)
        if synchronous is None:
            synchronous = super().ensure_sync(func)
            if len(self._synchronous) < 1000:
                self._synchronous[func] = synchronous
        return synchronous


class CommandLine(AppGroup):
    """The app's `flask` commands; `flask db ...` sets up Flask-Migrate when it runs.

    Flask-Migrate imports alembic (about 6 MiB in every gunicorn worker, which never migrates);
    the `db` group is added the first time a command line asks for it.
    """

    def __init__(self, app):
        super().__init__(app.name)
        self.app = app

    def get_command(self, ctx, name):
        if name == "db":
            enable_migrations(self.app)
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), "db"})


def enable_migrations(app):
    """Flask-Migrate on `app`: the `flask db` commands and flask_migrate's functions (tests)."""
    if "migrate" not in app.extensions:
        # loads alembic: only for migrations, see CommandLine
        from flask_migrate import Migrate

        from .extensions import db

        Migrate(render_as_batch=True, compare_type=True).init_app(
            app, db, directory=str(config.PROJECT_ROOT / "migrations"))


class NoCookieSession(SessionInterface):
    """Clients authenticate with bearer tokens; nothing is kept in a cookie session.

    Flask's default session builds a signing serializer on every request to look for a cookie this
    API never sets; without it Flask hands views its null session, which refuses writes.
    """

    def open_session(self, app, request):
        return None

    def save_session(self, app, session, response):
        pass


def register_json(app):
    from .serialization import OrjsonProvider

    app.json = OrjsonProvider(app)  # answers keep the field order of the schemas


def register_logging(app):
    from .envelope import Envelope
    from .logs import configure_logging

    configure_logging()
    app.wsgi_app = Envelope(app.wsgi_app)


def register_extensions(app):
    from . import (
        auth,  # noqa: F401  (registers the token checks on the JWT manager)
        rate_limits,  # noqa: F401  (registers the sqlite:// rate-limit store with limits)
    )
    from .database import configure_engine
    from .extensions import cors, db, jwt, limiter
    from .prepared import release_driver_connection

    db.init_app(app)
    app.teardown_appcontext(release_driver_connection)
    jwt.init_app(app)
    limiter.init_app(app)
    if app.config["CORS_ORIGINS"]:
        cors.init_app(app, resources={r"/api/*": {}, r"/media/*": {}}, origins=app.config["CORS_ORIGINS"],
                      allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                      expose_headers=["X-Request-ID", "X-Total-Count", "Link", "Content-Disposition"],
                      max_age=600)
    if app.config["TRUSTED_PROXY_HOPS"]:
        hops = app.config["TRUSTED_PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    with app.app_context():
        configure_engine(db.engine)


def register_blueprints(app):
    from .accounts import bp as accounts_bp
    from .health import bp as health_bp
    from .media import bp as media_bp
    from .message import bp as message_bp
    from .webhooks.routes import bp as webhooks_bp

    # Every route answers with and without its trailing slash, itself: no 308 (an HTML page, which
    # urllib will not follow for a POST), and /api/accounts/me/ is not a 404. Rules read this when
    # they are added, so it comes before any blueprint; the described paths stay as written.
    app.url_map.strict_slashes = False
    app.register_blueprint(accounts_bp, url_prefix="/api/accounts")
    app.register_blueprint(message_bp, url_prefix="/api/message")
    app.register_blueprint(webhooks_bp, url_prefix="/api/webhooks")
    app.register_blueprint(media_bp)
    app.register_blueprint(health_bp)


def register_error_handlers(app):
    from .errors import register_error_handlers as register

    register(app)


def register_commands(app):
    from .commands import register_commands as register

    register(app)
