"""Extension objects, unbound: the application factory binds them with init_app."""
from flask_cors import CORS
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .jwt_manager import CachingJWTManager
from .route_limiter import RouteLimiter

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# Objects keep their values after a commit: answers are built from them without a reload query.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
jwt = CachingJWTManager()
# the client address is the peer's, or the proxy-reported one once ProxyFix trusts the proxy
limiter = RouteLimiter(key_func=get_remote_address)
cors = CORS()


def unchanged(instance):
    """End the transaction of a write that changes nothing; `instance` stays as read for the answer.

    A rollback expires what the session holds, and a row deleted meanwhile would fail the reload.
    """
    db.session.expunge(instance)
    db.session.rollback()
    return instance
