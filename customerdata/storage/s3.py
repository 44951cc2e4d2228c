"""Files in an S3-compatible object store (AWS S3, Cloudflare R2, MinIO, ...) through boto3.

The object key is `S3_PREFIX` + the stored path, so `file` reads `/media/customer_data/...` on
either backend and a migration copies keys one to one. Credentials come from boto3's usual chain
(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role).

- Objects are private (no ACL is granted) and stored as `application/octet-stream` with an
  attachment disposition, so nothing in the bucket can run in a browser.
- Uploads stream through `upload_fileobj`: one PUT below PART_SIZE, a multipart upload above,
  with at most MAX_CONCURRENCY parts in flight and IN_MEMORY_PARTS parts buffered, so a worker
  holds a few parts of an upload in memory however large the file.
- Nothing is overwritten. A free name is found with HEAD as on a file system, and the write
  itself is conditional (`If-None-Match: *` on PutObject and CompleteMultipartUpload), which
  closes the race between two uploads of the same name: the loser gets 412 and takes another
  name. A server that answers the condition with 501 Not Implemented is written to without it
  from then on (logged once), leaving HEAD as the only guard.
- Downloads go through the app's signed `/media` link (`url_for_download`); `send` answers it with
  a redirect to a short-lived presigned GET that forces the attachment disposition and type.
"""
import logging
import os
import secrets
from datetime import UTC
from urllib.parse import quote, urlencode

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import redirect, request

from . import MEDIA_PREFIX, Storage, attachment, dated_folder, safe_name, with_suffix
from .signing import sign

log = logging.getLogger("customerdata.storage")

MIB = 1024 * 1024
PART_SIZE = 8 * MIB            # multipart above this size, in parts of this size
MAX_CONCURRENCY = 2            # parts uploaded at once
IN_MEMORY_PARTS = 2            # parts read ahead of the uploads
PRESIGNED_SECONDS = 300        # the redirect target is followed at once; it need not live long
ATTEMPTS = 20
STORED_TYPE = "application/octet-stream"
NOT_FOUND = ("404", "NoSuchKey", "NotFound")
TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")  # If-None-Match: * lost to another write


def transfer_config():
    config = TransferConfig(multipart_threshold=PART_SIZE, multipart_chunksize=PART_SIZE,
                            max_concurrency=MAX_CONCURRENCY, use_threads=True,
                            preferred_transfer_client="classic")
    config.max_in_memory_upload_chunks = IN_MEMORY_PARTS  # not an argument of boto3's TransferConfig
    return config


class _KeptOpen:
    """The stream as s3transfer sees it: it closes what it uploaded, and a retry needs it open."""

    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def close(self):
        pass


def _position(stream):
    """Where a seekable stream stands, to upload it again from there; None when it cannot seek."""
    seekable = getattr(stream, "seekable", None)
    return stream.tell() if seekable is not None and seekable() else None


def _code(error):
    return str(error.response.get("Error", {}).get("Code", ""))


def _status(error):
    return error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


class S3Storage(Storage):
    def __init__(self, bucket, prefix="", endpoint_url=None, region=None):
        if not bucket:
            raise ValueError("S3_BUCKET must be set when STORAGE_BACKEND=s3")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix and prefix.strip("/") else ""
        # S3-compatible servers behind an endpoint URL (MinIO, moto) expect path-style addressing
        config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3},
                        connect_timeout=5, read_timeout=60,
                        s3={"addressing_style": "path" if endpoint_url else "auto"})
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url or None,
                                                      region_name=region or None, config=config)
        self.transfer = transfer_config()
        self.conditional_writes = True
        for operation in ("PutObject", "CompleteMultipartUpload"):
            self.client.meta.events.register(f"before-parameter-build.s3.{operation}", self._no_overwrite)

    @classmethod
    def from_config(cls, config):
        return cls(config.get("S3_BUCKET"), config.get("S3_PREFIX") or "", config.get("S3_ENDPOINT_URL"),
                   config.get("S3_REGION"))

    def _no_overwrite(self, params, **kwargs):
        if self.conditional_writes:
            params["IfNoneMatch"] = "*"

    def _key(self, path):
        parts = (path or "").split("/")
        if not path or path.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise FileNotFoundError(path)
        return self.prefix + path

    def _head(self, path):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(path))
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                raise FileNotFoundError(path) from None
            raise

    def _put_new(self, path, stream, original_name):
        """Upload under `path` unless something is there already (FileExistsError)."""
        extra = {"ContentType": STORED_TYPE, "ContentDisposition": attachment(original_name, path)}
        start = _position(stream)
        while True:
            try:
                self.client.upload_fileobj(_KeptOpen(stream), self.bucket, self._key(path), ExtraArgs=extra,
                                           Config=self.transfer)
                return
            except ClientError as error:
                if _status(error) == 412 or _code(error) in TAKEN:
                    raise FileExistsError(path) from None
                refused = _status(error) == 501 or _code(error) == "NotImplemented"
                if not (refused and self.conditional_writes and start is not None):
                    raise
                log.warning("the object store refuses conditional writes; relying on HEAD before each write")
                self.conditional_writes = False
                stream.seek(start)

    def save(self, stream, original_name):
        folder = dated_folder()
        name = safe_name(original_name)
        start = _position(stream)
        for attempt in range(ATTEMPTS):
            path = f"{folder}/{name if attempt == 0 else with_suffix(name)}"
            if self.exists(path):
                continue
            try:
                self._put_new(path, stream, original_name)
            except FileExistsError:
                # another upload took the name between HEAD and the write: try another, from the start
                if start is None:
                    raise
                stream.seek(start)
                continue
            return path
        raise FileExistsError(f"no free name for {name} in {folder}")

    def save_as(self, path, stream, original_name):
        if self.exists(path):
            raise FileExistsError(path)
        self._put_new(path, stream, original_name)
        return path

    def open(self, path):
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(path))["Body"]
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                raise FileNotFoundError(path) from None
            raise

    def send(self, path, download_name):
        self._head(path)  # a missing object is the app's 404, not the store's XML
        url = self.client.generate_presigned_url("get_object", ExpiresIn=PRESIGNED_SECONDS, Params={
            "Bucket": self.bucket, "Key": self._key(path),
            "ResponseContentDisposition": attachment(download_name, path),
            "ResponseContentType": STORED_TYPE,
        })
        response = redirect(url, code=302)
        response.headers["Cache-Control"] = "no-store"
        return response

    def delete(self, path):
        try:
            key = self._key(path)
        except FileNotFoundError:
            return
        # DeleteObject of a missing key succeeds: deleting twice is not an error
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def exists(self, path):
        try:
            self._head(path)
        except FileNotFoundError:
            return False
        return True

    def size(self, path):
        return self._head(path)["ContentLength"]

    def modified_at(self, path):
        return self._head(path)["LastModified"].astimezone(UTC).replace(tzinfo=None)

    def paths(self):
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                path = item["Key"][len(self.prefix):]
                if path and not os.path.basename(path).startswith("."):
                    yield path

    def check_writable(self):
        key = f"{self.prefix}.readyz-{os.getpid()}-{secrets.token_hex(4)}"
        self.client.put_object(Bucket=self.bucket, Key=key, Body=b"ok", ContentType=STORED_TYPE)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def url_for_download(self, path):
        # the app's own signed link, as for local files; `send` turns it into a presigned one
        if not path:
            return None
        return f"{request.host_url.rstrip('/')}{MEDIA_PREFIX}{quote(path)}?{urlencode(sign(path))}"
