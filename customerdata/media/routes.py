from flask import Blueprint

from ..openapi import FILE, responds
from ..parsing import use_args
from . import service
from .schemas import DownloadArgsSchema

bp = Blueprint("media", __name__)


@bp.get("/media/<path:path>")
@responds(200, FILE, content_type="*/*", headers=("Content-Disposition", "ETag", "Last-Modified"),
          description="The file, as an attachment.")
@responds(206, FILE, content_type="*/*", headers=("Content-Range",),
          description="The part of the file a `Range` header asked for.")
@responds(302, headers=("Location",),
          description="With the s3 storage backend: to a short-lived presigned URL of the object.")
@responds(304, description="Not modified since the `If-None-Match` / `If-Modified-Since` of the request.")
@responds(403)
@responds(416)
@use_args(DownloadArgsSchema(), location="query")
def download(args, path):
    """An attached file, for whoever holds a signed, unexpired link (no token needed)."""
    return service.download(path, args.get("expires"), args.get("signature"))
