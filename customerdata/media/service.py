"""Downloads of attached files through signed links."""
from sqlalchemy import select

from ..errors import DetailError, NotFound
from ..extensions import db
from ..models import CustomerData
from ..storage import get_storage
from ..storage.signing import verify

FILE_NOT_FOUND = "File not found."


def download(path, expires, signature):
    if not verify(path, expires, signature):
        raise DetailError("This download link is invalid or has expired.", status=403)
    file_name = db.session.scalar(select(CustomerData.file_name).where(CustomerData.file == path).limit(1))
    if file_name is None:
        raise NotFound(FILE_NOT_FOUND)
    try:
        response = get_storage().send(path, file_name)
    except FileNotFoundError:
        raise NotFound(FILE_NOT_FOUND) from None
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
