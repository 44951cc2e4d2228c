"""Flask-JWT-Extended's manager, remembering which tokens it has already verified.

A client sends the same access token with every request for its lifetime, and checking it costs
three JWT decodes and an HMAC each time. Each worker keeps the claims of tokens whose signature it
has verified; a later request with the very same token string only re-checks the expiry. What can
change about a valid token — revocation, its user being deleted — is still looked up per request
(auth.token_unusable).
"""
import time

from flask_jwt_extended import JWTManager

MAX_REMEMBERED = 10_000


class CachingJWTManager(JWTManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._verified = {}

    def init_app(self, app, *args, **kwargs):
        self._verified.clear()  # another app may have another key
        super().init_app(app, *args, **kwargs)

    def _decode_jwt_from_config(self, encoded_token, csrf_value=None, allow_expired=False):
        claims = None if allow_expired else self._remembered(encoded_token)
        if claims is not None:
            return dict(claims)
        claims = super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        if not allow_expired and "exp" in claims:
            if len(self._verified) >= MAX_REMEMBERED:
                self._verified.clear()
            self._verified[encoded_token] = dict(claims)
        return claims

    def remembered_access_claims(self, encoded_token):
        """The claims of an access token this worker verified, if it has not expired; else None."""
        claims = self._remembered(encoded_token)
        return claims if claims is not None and claims.get("type") == "access" else None

    def _remembered(self, encoded_token):
        claims = self._verified.get(encoded_token)
        return claims if claims is not None and time.time() < claims["exp"] else None
