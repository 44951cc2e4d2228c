"""Files in a folder of the local file system (the instance folder by default)."""
import contextlib
import os
import secrets
import shutil
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from flask import request, send_file

from . import (
    MEDIA_PREFIX,
    Storage,
    attachment,
    dated_folder,
    download_type,
    safe_name,
    with_suffix,
)
from .signing import sign

CHUNK = 1024 * 1024
ATTEMPTS = 20


class LocalStorage(Storage):
    def __init__(self, root):
        self.root = os.path.abspath(root)

    def _absolute(self, path):
        absolute = os.path.abspath(os.path.join(self.root, path))
        if not absolute.startswith(self.root + os.sep):
            raise FileNotFoundError(path)
        return absolute

    def save(self, stream, original_name):
        folder = dated_folder()
        os.makedirs(os.path.join(self.root, folder), exist_ok=True)
        name = safe_name(original_name)
        for attempt in range(ATTEMPTS):
            path = f"{folder}/{name if attempt == 0 else with_suffix(name)}"
            try:
                # O_EXCL: two uploads of the same name never write into one file
                fd = os.open(self._absolute(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            try:
                with os.fdopen(fd, "wb") as target:
                    shutil.copyfileobj(stream, target, CHUNK)
            except BaseException:
                self.delete(path)
                raise
            return path
        raise FileExistsError(f"no free name for {name} in {folder}")

    def save_as(self, path, stream, original_name):
        folder, name = os.path.split(self._absolute(path))
        os.makedirs(folder, exist_ok=True)
        # written aside, then linked into place: an interrupted copy never leaves a partial file at
        # `path`, and link() refuses to replace a file that is there already
        partial = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.part")
        try:
            with open(partial, "xb") as fh:
                shutil.copyfileobj(stream, fh, CHUNK)
            os.link(partial, os.path.join(folder, name))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        return path

    def size(self, path):
        absolute = self._absolute(path)
        if not os.path.isfile(absolute):
            raise FileNotFoundError(path)
        return os.path.getsize(absolute)

    def check_writable(self):
        os.makedirs(self.root, exist_ok=True)
        probe = os.path.join(self.root, f".readyz-{os.getpid()}")
        with open(probe, "wb") as fh:
            fh.write(b"ok")
        os.unlink(probe)

    def open(self, path):
        return open(self._absolute(path), "rb")

    def send(self, path, download_name):
        absolute = self._absolute(path)
        if not os.path.isfile(absolute):
            raise FileNotFoundError(path)
        # conditional=True gives Range, ETag and If-Modified-Since support
        response = send_file(absolute, mimetype=download_type(download_name), as_attachment=True,
                             download_name=download_name, conditional=True, etag=True, max_age=0)
        response.headers["Content-Disposition"] = attachment(download_name, path)
        return response

    def delete(self, path):
        try:
            os.unlink(self._absolute(path))
        except FileNotFoundError:
            pass

    def modified_at(self, path):
        mtime = os.path.getmtime(self._absolute(path))
        return datetime.fromtimestamp(mtime, UTC).replace(tzinfo=None)

    def exists(self, path):
        try:
            return os.path.isfile(self._absolute(path))
        except FileNotFoundError:
            return False

    def paths(self):
        for folder, _, names in os.walk(self.root):
            for name in names:
                if name.startswith("."):
                    continue
                yield os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/")

    def url_for_download(self, path):
        if not path:
            return None
        return f"{request.host_url.rstrip('/')}{MEDIA_PREFIX}{quote(path)}?{urlencode(sign(path))}"
