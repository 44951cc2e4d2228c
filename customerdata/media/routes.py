from flask import Blueprint, request

from . import service

bp = Blueprint("media", __name__)


@bp.get("/media/<path:path>")
def download(path):
    """An attached file, for whoever holds a signed, unexpired link (no token needed)."""
    return service.download(path, request.args.get("expires"), request.args.get("signature"))
