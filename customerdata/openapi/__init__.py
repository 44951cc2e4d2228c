"""The API description: an OpenAPI 3.1 document generated from the routes and their schemas
(/api/openapi.json), and interactive docs that need no internet access (/api/docs)."""
from .declare import FILE, responds, security, undocumented

__all__ = ["FILE", "register_openapi", "responds", "security", "undocumented"]


def register_openapi(app):
    from .routes import bp

    app.register_blueprint(bp, url_prefix="/api")
