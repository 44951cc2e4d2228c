"""What every list route shares: its query arguments, search terms, ordering and paging headers."""
import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from marshmallow import Schema

from .fields import Integer, Text
from .models import fold

MAX_LIMIT = 1000
MAX_ID = 2**31 - 1  # ids are 32-bit integers on PostgreSQL; larger ones exist nowhere
SEARCH_SEPARATORS = re.compile(r"[\s,]+")


def search_terms(search):
    """Folded terms of a search string; each must be found for a row to match."""
    return [fold(term) for term in SEARCH_SEPARATORS.split(search or "") if term]


# "/" rather than "\\": one escape character that reads the same on SQLite and PostgreSQL
LIKE_ESCAPE = "/"


def like_literal(text):
    """`text` in a LIKE pattern, with %, _ and the escape character taken literally."""
    for special in (LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, LIKE_ESCAPE + special)
    return text


def like_pattern(term):
    """A LIKE pattern finding `term` anywhere."""
    return f"%{like_literal(term)}%"


class Ordering(Text):
    """Comma-separated field names, each optionally prefixed with "-"; parsed to [(name, descending)]."""

    default_error_messages = {**Text.default_error_messages,
                              "unknown": "Invalid ordering \"{value}\". Allowed fields: {allowed}, "
                                         "each optionally prefixed with \"-\"."}

    def __init__(self, allowed, **kwargs):
        super().__init__(allow_blank=True, **kwargs)
        self.allowed = tuple(allowed)
        self.metadata.setdefault("description", "Comma-separated: " + ", ".join(self.allowed)
                                 + "; prefix with - for descending.")

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if not value:  # ?ordering= means the default order, as in DRF
            return None
        parsed = []
        for part in value.split(","):
            part = part.strip()
            name = part.removeprefix("-")
            if name not in self.allowed:
                raise self.make_error("unknown", value=part, allowed=", ".join(self.allowed))
            parsed.append((name, part.startswith("-")))
        return parsed


class PageArgsSchema(Schema):
    """Paging of a list: `limit` and `offset`."""

    limit = Integer(validate=ma.validate.Range(1, MAX_LIMIT, error="Ensure this value is between 1 and 1000."))
    offset = Integer(validate=ma.validate.Range(0, error="Ensure this value is greater than or equal to 0."))


class ListArgsSchema(PageArgsSchema):
    """Base of list query arguments; subclasses add `ordering` and filters."""

    search = Text(allow_blank=True, load_default="")


def opaque(text):
    """`text` as a token a client passes back unread: URL-safe base64 without its padding."""
    return urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def unopaque(token):
    """The text of an `opaque` token; ValueError for anything else (binascii's and decoding's
    errors are ValueErrors)."""
    return urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")


class Position(NamedTuple):
    """Where a row stands in a newest-first list: its creation time, then its id."""

    created_at: datetime
    id: int

    def cursor(self):
        """The opaque text a `cursor` argument carries to start a page after this row."""
        return opaque(f"{self.created_at.isoformat()}|{self.id}")


class Cursor(Text):
    """A newest-first list's keyset position (`Position`), as the Link header's next URL carries it.

    With it the next page starts right after the last row of the one before, found through the
    list's index, instead of skipping `offset` rows one by one (at offset=150,000 that skipping was
    most of the request), and a row added or removed above meanwhile shifts nothing.
    """

    default_error_messages = {**Text.default_error_messages,
                              "cursor": "Invalid cursor: use the URL of the Link header's rel=\"next\"."}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            instant, separator, row_id = unopaque(text).partition("|")
            position = Position(datetime.fromisoformat(instant), int(row_id))
        except ValueError:
            raise self.make_error("cursor") from None
        if not separator or position.created_at.tzinfo is not None or not 0 < position.id <= MAX_ID:
            raise self.make_error("cursor")
        return position


@dataclass
class Page:
    limit: int | None
    offset: int
    after: Position | None = None  # the keyset position of a `cursor`, where the page starts instead of `offset`

    @classmethod
    def from_args(cls, args):
        if "limit" not in args and "offset" not in args and "cursor" not in args:
            return None
        return cls(args.get("limit"), args.get("offset", 0), args.get("cursor"))


def paging_headers(page, total, next_position=None):
    """X-Total-Count and a Link header with next/prev URLs for the current request; the next URL
    carries `next_position` (the last row's, in a newest-first list) as its cursor."""
    headers = {"X-Total-Count": str(total)}
    links = []
    if page.limit is not None and page.offset + page.limit < total:
        cursor = None if next_position is None else next_position.cursor()
        links.append(f'<{_paged_url(page.offset + page.limit, page.limit, cursor)}>; rel="next"')
    if page.offset > 0:
        # without a limit this page runs to the end, and the one before it is everything above it
        limit = page.limit if page.limit is not None else page.offset
        links.append(f'<{_paged_url(max(page.offset - limit, 0), limit)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _paged_url(offset, limit, cursor=None):
    args = request.args.to_dict(flat=False)
    args["offset"], args["limit"] = [str(offset)], [str(limit)]
    args.pop("cursor", None)
    if cursor is not None:
        args["cursor"] = [cursor]
    return f"{request.base_url}?{urlencode(args, doseq=True)}"
