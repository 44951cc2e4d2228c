"""What the API description cannot read from a route itself: its answers and who may call it.

Parameters and request bodies come from the webargs schemas the view parses (customerdata.parsing
records them); path parameters from the URL rule. These decorators add the rest, next to the route:

    @bp.post("/customers/")
    @responds(201, CustomerSchema)
    @use_args(CustomerCreateSchema(), location="json")
    def create_customer(args): ...

The error answers a route can give because of what it does (401 with a token, 400 with input,
404 with an id in the path, 500, 503, …) are derived in spec.py from one table, ERROR_ANSWERS;
`@responds(403)` without a schema adds one of that table's answers to a route explicitly.

Every route under /api/ is described; another route is described once it carries `@responds`
(a health check: `@responds(200, HealthSchema)` is all it takes). `@undocumented` leaves a route
out (the description's own routes).
"""
from dataclasses import dataclass

ANSWERS = "__openapi_answers__"
SECURITY = "__openapi_security__"
UNDOCUMENTED = "__openapi_undocumented__"

# the schema of a response body that is a file's bytes
FILE = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class Answer:
    status: int
    schema: object = None          # a marshmallow Schema (class or instance), a JSON schema dict, or None
    many: bool = False
    content_type: str | tuple = "application/json"  # several: the answer comes in either
    description: str | None = None
    headers: tuple = ()            # names from spec.HEADERS


def responds(status, schema=None, *, many=False, content_type="application/json", description=None,
             headers=()):
    """Record one answer of the view; stacked decorators list them top to bottom."""
    answer = Answer(status, schema, many, content_type, description, tuple(headers))

    def decorate(view):
        setattr(view, ANSWERS, (answer, *getattr(view, ANSWERS, ())))
        return view

    return decorate


def security(scheme):
    """Which token the view takes: "access" (the default under /api/), "refresh", or None (no token)."""

    def decorate(view):
        setattr(view, SECURITY, scheme)
        return view

    return decorate


def undocumented(view):
    setattr(view, UNDOCUMENTED, True)
    return view


def answers_of(view):
    return getattr(view, ANSWERS, ())


def is_declared(view):
    return hasattr(view, ANSWERS)


def is_undocumented(view):
    return getattr(view, UNDOCUMENTED, False)


def security_of(view, default):
    return getattr(view, SECURITY, default)
