"""Standard Webhooks signatures: `whsec_` secrets and the webhook-* headers of a delivery."""
import base64
import hashlib
import hmac
import secrets

PREFIX = "whsec_"


def new_secret():
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret, event_id, timestamp, body):
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under one secret."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    digest = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets_in_force, event_id, timestamp, body):
    """The signing headers; during a rotation one signature per secret, space separated."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(secret, event_id, timestamp, body) for secret in secrets_in_force),
    }
