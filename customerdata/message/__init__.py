from . import data_key_routes  # noqa: F401  (adds the definition routes to bp)
from .routes import bp

__all__ = ["bp"]
