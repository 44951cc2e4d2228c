"""/api/openapi.json and /api/docs (Swagger UI from the flask-swagger-ui package, not a CDN). Public."""
from importlib.resources import files

from flask import Blueprint, current_app, render_template, send_from_directory

from .declare import undocumented

# Swagger UI's own distribution files, as the package ships them
SWAGGER_UI = files("flask_swagger_ui") / "dist"
CACHE_KEY = "customerdata_openapi"

bp = Blueprint("openapi", __name__, template_folder="templates", static_folder="static",
               static_url_path="/docs/static")


@bp.get("/openapi.json")
@undocumented
def document():
    spec = current_app.extensions.get(CACHE_KEY)
    if spec is None:
        # apispec and the spec's tables: only this route needs them
        from .spec import build_spec

        spec = current_app.extensions[CACHE_KEY] = build_spec(current_app)
    return spec


@bp.get("/docs", strict_slashes=False)
@undocumented
def docs():
    return render_template("openapi/docs.html")


@bp.get("/docs/swagger-ui/<path:filename>")
@undocumented
def swagger_ui(filename):
    return send_from_directory(str(SWAGGER_UI), filename)
