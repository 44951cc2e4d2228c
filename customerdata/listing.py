"""What every list route shares: its query arguments, search terms, ordering and paging headers."""
import re
from dataclasses import dataclass
from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from marshmallow import Schema

from .fields import Integer, Text
from .models import fold

MAX_LIMIT = 1000
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


@dataclass
class Page:
    limit: int | None
    offset: int

    @classmethod
    def from_args(cls, args):
        if "limit" not in args and "offset" not in args:
            return None
        return cls(args.get("limit"), args.get("offset", 0))


def paging_headers(page, total):
    """X-Total-Count and a Link header with next/prev URLs for the current request."""
    headers = {"X-Total-Count": str(total)}
    links = []
    if page.limit is not None and page.offset + page.limit < total:
        links.append(f'<{_paged_url(page.offset + page.limit, page.limit)}>; rel="next"')
    if page.offset > 0:
        # without a limit this page runs to the end, and the one before it is everything above it
        limit = page.limit if page.limit is not None else page.offset
        links.append(f'<{_paged_url(max(page.offset - limit, 0), limit)}>; rel="prev"')
    if links:
        headers["Link"] = ", ".join(links)
    return headers


def _paged_url(offset, limit):
    args = request.args.to_dict(flat=False)
    args["offset"], args["limit"] = [str(offset)], [str(limit)]
    return f"{request.base_url}?{urlencode(args, doseq=True)}"
