"""File storage behind one small interface; the configured backend is found with `get_storage()`.

Stored paths are relative, such as `customer_data/2024/01/15/contract.pdf`, the same for every
backend; the API shows them as `/media/<path>`. Storage knows bytes, never rows.
"""
import mimetypes
import os
import re
import secrets
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from urllib.parse import quote

from flask import current_app
from werkzeug.http import dump_options_header
from werkzeug.utils import secure_filename

MEDIA_PREFIX = "/media/"
MAX_STEM = 100


class Storage(ABC):
    @abstractmethod
    def save(self, stream, original_name):
        """Write the stream under a new, never-overwriting name; return the stored path."""

    @abstractmethod
    def save_as(self, path, stream, original_name):
        """Write the stream at exactly `path` (a migration keeps paths); FileExistsError when taken."""

    @abstractmethod
    def size(self, path):
        """Bytes stored at the path (FileNotFoundError when absent)."""

    @abstractmethod
    def open(self, path):
        """A readable binary file object of the stored path (FileNotFoundError when absent)."""

    @abstractmethod
    def delete(self, path):
        """Remove the stored path; a path already gone is not an error."""

    @abstractmethod
    def exists(self, path):
        """Whether the stored path holds a file."""

    @abstractmethod
    def paths(self):
        """Every stored path, for the maintenance commands."""

    @abstractmethod
    def modified_at(self, path):
        """When the stored path was last written (naive UTC)."""

    @abstractmethod
    def check_writable(self):
        """Raise unless a file can be written and removed right now (readiness probe)."""

    @abstractmethod
    def send(self, path, download_name):
        """A response that delivers the file as an attachment named download_name."""

    @abstractmethod
    def url_for_download(self, path):
        """An absolute URL that downloads the stored path without a token, for a limited time."""


# types a browser shows without running anything; every other file is served as bytes
INERT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain",
               "text/csv", "application/zip", "audio/", "video/")


def download_type(name):
    guessed = mimetypes.guess_type(name)[0] or ""
    return guessed if guessed.startswith(INERT_TYPES) else "application/octet-stream"


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def attachment(name, stored_path):
    """`Content-Disposition: attachment` naming the file as the client uploaded it (RFC 6266).

    An ASCII name goes in `filename` as it is. Any other goes in `filename*` (RFC 5987, UTF-8), and
    `filename`, for clients that read only that one, is the stored safe name (the base name of the
    stored path): dropping what ASCII cannot spell turns `قرارداد.pdf` into `.pdf`, which
    `curl -OJ` saves as a hidden file.
    """
    fallback = os.path.basename(stored_path)
    name = CONTROL.sub("_", name or "") or fallback
    if name.isascii():
        return dump_options_header("attachment", {"filename": name})
    return dump_options_header("attachment", {"filename": fallback,
                                              "filename*": f"UTF-8''{quote(name, safe='!#$&+-.^_`|~')}"})


def dated_folder(now=None):
    now = now or datetime.now(UTC)
    return f"customer_data/{now:%Y/%m/%d}"


def safe_name(original_name):
    """A file-system-safe name for the upload; random when secure_filename leaves nothing usable."""
    extension = secure_filename(os.path.splitext(original_name or "")[1]).lower()[:16]
    extension = f".{extension}" if extension and extension.isalnum() else ""
    name = secure_filename(original_name or "")
    stem = os.path.splitext(name)[0]
    # secure_filename drops non-Latin letters: "قرارداد.pdf" leaves "pdf", which names nothing
    if not stem or name.lower() == extension.lstrip(".") or stem.startswith("."):
        return secrets.token_hex(8) + extension
    return stem[:MAX_STEM] + extension


def with_suffix(name):
    stem, extension = os.path.splitext(name)
    return f"{stem}_{secrets.token_hex(4)}{extension}"


def media_url_path(path):
    return MEDIA_PREFIX + path if path else None


BACKENDS = ("local", "s3")


def build_storage(config, backend):
    """A new storage of the named backend, set up from the app's configuration."""
    if backend == "s3":
        from .s3 import S3Storage

        return S3Storage.from_config(config)
    if backend == "local":
        from .local import LocalStorage

        return LocalStorage(config["UPLOAD_FOLDER"])
    raise ValueError(f"STORAGE_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")


def get_storage():
    """The configured backend (STORAGE_BACKEND), built once per app."""
    storage = current_app.extensions.get("customerdata_storage")
    if storage is None:
        storage = build_storage(current_app.config, current_app.config["STORAGE_BACKEND"])
        current_app.extensions["customerdata_storage"] = storage
    return storage
