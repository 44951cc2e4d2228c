"""Expiring signatures for download URLs, so a browser can follow them without a token."""
import time

from flask import current_app
from itsdangerous import Signer

SALT = "customerdata.media-download"


def _signer():
    return Signer(current_app.config["SECRET_KEY"], salt=SALT)


def sign(path, lifetime=None):
    """Query arguments that make `path` downloadable until now + lifetime (seconds)."""
    lifetime = lifetime or current_app.config["MEDIA_URL_LIFETIME"]
    expires = int(time.time()) + int(lifetime)
    signature = _signer().get_signature(f"{path}\n{expires}").decode()
    return {"expires": str(expires), "signature": signature}


def verify(path, expires, signature):
    """True when the signature was made for this path and expiry, and the expiry has not passed."""
    # ASCII digits only: isdigit() alone lets "²" through, which int() refuses
    if not expires or not signature or not expires.isascii() or not expires.isdigit():
        return False
    if int(expires) < time.time():
        return False
    return _signer().verify_signature(f"{path}\n{expires}".encode(), signature.encode())
