from . import bulk_routes, change_routes, data_key_routes  # noqa: F401  (they add their routes to bp)
from .routes import bp

__all__ = ["bp"]
