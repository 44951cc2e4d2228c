"""The OpenAPI 3.1 description of the service, generated from the routes that serve requests.

`build_spec(app)` walks `app.url_map`. For each described route (see declare.py) it reads:

- path parameters from the URL rule and its converters;
- query parameters and request bodies from the webargs schemas the view parses
  (`__webargs_argmaps__`, recorded by customerdata.parsing), through apispec's marshmallow plugin;
- success answers from `@responds`, and error answers from ERROR_ANSWERS below: each applies to
  the routes its `when` selects, so adding a status there (429 for rate limits, say) adds it to
  every route it concerns.
"""
import copy
import http
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass

import marshmallow as ma
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls

from ..fields import Email, IdList, PrimaryKey, Text, Upload
from ..listing import Ordering
from .declare import answers_of, is_declared, is_undocumented, security_of

OPENAPI_VERSION = "3.1.0"
TITLE = "CustomerData API"
API_VERSION = "1.0.0"
DESCRIPTION = (
    "Custom key-value data, with optional file attachments, that each user keeps about their customers.\n\n"
    "Authenticate with `Authorization: Bearer <access token>` (from login or refresh). Validation errors "
    "are 400s keyed by field name (`non_field_errors` for the body as a whole); other errors are "
    '`{"detail": "..."}`. Every answer carries `X-Request-ID`.'
)

# Security schemes, by the name `@security(...)` uses.
SECURITY_SCHEMES = {
    "access": ("accessToken", "The `access` token of a login or refresh answer."),
    "refresh": ("refreshToken",
                "The `refresh` token of a login or refresh answer; it works once (rotation)."),
}

# Response headers, referenced by name from @responds(headers=...) and from ERROR_ANSWERS.
HEADERS = {
    "X-Request-ID": {
        "description": "The request's own `X-Request-ID` when it is 1 to 128 letters, digits, `.`, `_` "
                       "or `-`; a new one otherwise.",
        "required": True, "schema": {"type": "string"}},
    "X-Total-Count": {"description": "Number of items before paging; sent when `limit` or `offset` is given.",
                      "schema": {"type": "integer", "minimum": 0}},
    "Link": {"description": 'URLs of the `rel="next"` and `rel="prev"` pages; sent when `limit` or `offset` '
                            "is given and there is such a page.", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": '`Bearer realm="api"`', "required": True,
                         "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}},
    "Content-Disposition": {"description": "`attachment`, with the name the file was uploaded with "
                                           "(RFC 5987 encoded; when it is not ASCII, `filename` is the "
                                           "stored name).", "schema": {"type": "string"}},
    "ETag": {"description": "The version of what is answered: for `If-None-Match` on downloads, for "
                            "`If-Match` on entry writes.", "schema": {"type": "string"}},
    "Last-Modified": {"description": "For `If-Modified-Since` requests.", "schema": {"type": "string"}},
    "Location": {"description": "Where the answer is.", "required": True, "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` on an answer replayed for a retry with the same "
                                           "Idempotency-Key.", "schema": {"type": "string", "enum": ["true"]}},
    "Content-Range": {"description": "The part of the file sent, as `bytes first-last/size`.",
                      "schema": {"type": "string"}},
}
ALWAYS_SENT_HEADERS = ("X-Request-ID",)
IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "description": "Makes the POST safe to retry: the first answer is kept for IDEMPOTENCY_HOURS and a retry of "
                   "the same request gets it again (with `Idempotent-Replayed: true`). 1 to 255 printable ASCII "
                   'characters, bare or quoted (`"abc"`).',
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}}

# Bodies of error answers.
SCHEMAS = {
    "ErrorDetail": {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"],
               "description": "An error that is not about one field."},
    "FieldErrors": {"type": "object", "minProperties": 1,
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Messages by field name; `non_field_errors` for the body as a whole.",
                    "example": {"key": ["This field is required."]}},
    "ExistingValuesConflict": {
        "type": "object", "required": ["detail", "invalid_count", "invalid"],
        "properties": {"detail": {"type": "string"}, "invalid_count": {"type": "integer", "minimum": 1},
                       "invalid": {"type": "array", "maxItems": 20, "items": {
                           "type": "object", "properties": {
                               "id": {"type": "integer"}, "customer": {"type": "integer"},
                               "value": {"type": "string", "maxLength": 100},
                               "errors": {"type": "array", "items": {"type": "string"}}}}}},
        "description": "The entries (at most 20 listed) whose values the definition refuses."},
    "ServerPage": {"type": "string", "description": "An HTML page of the HTTP server."},
    "Conflict": {"anyOf": [{"$ref": "#/components/schemas/ExistingValuesConflict"},
                           {"$ref": "#/components/schemas/ErrorDetail"}]},
    "ItemErrors": {"type": "object", "required": ["items"], "additionalProperties": False,
                   "properties": {"items": {"type": "array", "items": {
                       "type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}}},
                   "description": "An atomic bulk write that failed: one object of field errors per item, empty "
                                  "for the valid ones; nothing was written.",
                   "example": {"items": [{}, {"value": ["A valid integer is required."]}]}},
    "InvalidInput": {"anyOf": [{"$ref": "#/components/schemas/FieldErrors"},
                               {"$ref": "#/components/schemas/ErrorDetail"}],
                     "description": "Field errors, or a detail (a malformed JSON body)."},
}


@dataclass(frozen=True)
class Route:
    rule: str
    path: str                   # the OpenAPI form: {name} for <converter:name>
    endpoint: str
    methods: tuple
    view: Callable
    path_parameters: tuple      # ((name, converter), ...)
    argmaps: tuple              # ((argmap, webargs location), ...)
    security: str | None
    rate_limited: bool

    @property
    def takes_input(self):
        return bool(self.argmaps)

    @property
    def idempotent(self):
        """POSTs under /api/message/ take Idempotency-Key (customerdata/idempotency.py)."""
        return "POST" in self.methods and self.rule.startswith("/api/message/")

    @property
    def takes_body(self):
        return any(location in BODY_LOCATIONS for _, location in self.argmaps)


@dataclass(frozen=True)
class ErrorAnswer:
    status: int
    description: str
    schema: str                 # a name in SCHEMAS
    when: Callable[[Route], bool]
    headers: tuple = ()
    content_type: str = "application/json"

    @property
    def component(self):
        words = re.findall(r"[A-Za-z]+", http.HTTPStatus(self.status).phrase)
        return "".join(word.capitalize() for word in words)


def _never(route):
    return False


def _always(route):
    return True


# Every error answer, and which routes give it without saying so. `@responds(status)` adds one to a
# route explicitly (`when=_never`: only where declared).
ERROR_ANSWERS = (
    ErrorAnswer(400, "Invalid input: field errors, or a malformed JSON body.", "InvalidInput",
                when=lambda route: route.takes_input),
    ErrorAnswer(401, "No token, or one that is malformed, expired, revoked or of the wrong type "
                     "(for login: wrong credentials).", "ErrorDetail",
                when=lambda route: route.security is not None, headers=("WWW-Authenticate",)),
    ErrorAnswer(403, "Forbidden.", "ErrorDetail", when=_never),
    ErrorAnswer(404, "Not found, or not the caller's.", "ErrorDetail",
                when=lambda route: bool(route.path_parameters)),
    ErrorAnswer(409, "A request with this Idempotency-Key is still being processed; or (definitions) existing "
                     "values of the key do not fit the definition, and nothing changed.", "Conflict",
                when=lambda route: route.idempotent),
    ErrorAnswer(410, "The cursor is older than the changes kept; reload the lists and follow the feed from "
                     "the newest change.", "ErrorDetail", when=_never),
    ErrorAnswer(412, "`If-Match` names an ETag the entry no longer has; nothing changed.", "ErrorDetail",
                when=_never),
    ErrorAnswer(422, "This Idempotency-Key was used with another request.", "ErrorDetail",
                when=lambda route: route.idempotent),
    ErrorAnswer(413, "The request body is larger than the limit (`MAX_CONTENT_LENGTH`).", "ErrorDetail",
                when=lambda route: route.takes_body),
    ErrorAnswer(414, "The request line is longer than the server takes (8,190 bytes): gunicorn answers with "
                     "its own page before the app sees the request.", "ServerPage", when=_always,
                content_type="text/html"),
    ErrorAnswer(415, "A body of an unsupported `Content-Type`.", "ErrorDetail",
                when=lambda route: route.takes_body),
    ErrorAnswer(416, "The `Range` asked for lies outside the file.", "ErrorDetail", when=_never),
    ErrorAnswer(429, "Too many requests from this client; try again after `Retry-After` seconds.",
                "ErrorDetail",
                when=lambda route: route.rate_limited, headers=("Retry-After",)),
    ErrorAnswer(500, "Unexpected error (logged with the request id).", "ErrorDetail", when=_always),
    ErrorAnswer(503, "The database is unavailable; try again shortly.", "ErrorDetail", when=_always,
                headers=("Retry-After",)),
)
ERRORS_BY_STATUS = {error.status: error for error in ERROR_ANSWERS}

# webargs locations: where their fields go in the description.
PARAMETER_LOCATIONS = {"query": "query", "querystring": "query", "headers": "header", "cookies": "cookie"}
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
BODY_LOCATIONS = {"json": ("application/json",), "body": ("application/json", *FORM_TYPES)}

# Flask URL converters: the schema of the path parameter they match.
CONVERTER_SCHEMAS = {
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string", "minLength": 1},
    "default": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
    "string": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"},
}
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>.*?)\))?:)?(?P<name>[A-Za-z_]\w*)>")
IGNORED_METHODS = {"HEAD", "OPTIONS"}


class UndescribedRoute(RuntimeError):
    """A route under /api/ that declares no answers: add @responds to it."""


# Routes

def described_routes(app):
    """Every route the description covers, in URL map order."""
    routes = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if rule.endpoint == "static" or rule.endpoint.endswith(".static") or is_undocumented(view):
            continue
        under_api = rule.rule.startswith("/api/")
        if not (under_api or is_declared(view)):
            continue
        if not is_declared(view):
            raise UndescribedRoute(f"{rule.rule} ({rule.endpoint}) declares no answers: "
                                   "add @responds to the view")
        routes.append(Route(
            rule=rule.rule,
            path=RULE_VARIABLE.sub(lambda match: "{" + match["name"] + "}", rule.rule),
            endpoint=rule.endpoint,
            methods=tuple(method for method in sorted(rule.methods) if method not in IGNORED_METHODS),
            view=view,
            path_parameters=tuple((match["name"], match["converter"] or "default")
                                  for match in RULE_VARIABLE.finditer(rule.rule)),
            argmaps=tuple(getattr(view, "__webargs_argmaps__", ())),
            security=security_of(view, "access" if under_api else None),
            rate_limited=_rate_limited(app, rule.endpoint),
        ))
    return routes


def _rate_limited(app, endpoint):
    """Whether Flask-Limiter has a limit for the endpoint: its own, its blueprint's, a default or
    an application-wide one (enabled or not: the description does not change with RATELIMIT_ENABLED)."""
    from flask_limiter.constants import ExemptionScope

    from ..extensions import limiter

    manager = limiter.limit_manager
    blueprint = endpoint.rpartition(".")[0] or None
    limits, decorated = manager.resolve_limits(app, endpoint, blueprint)
    application_exempt = manager.exemption_scope(app, endpoint, blueprint) & ExemptionScope.APPLICATION
    return bool(limits or decorated or (manager.application_limits and not application_exempt))


def _schema_instance(argmap):
    if isinstance(argmap, ma.Schema):
        return argmap
    if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
        return argmap()
    if isinstance(argmap, dict):
        return ma.Schema.from_dict(argmap)()
    raise TypeError(f"cannot describe a webargs argmap of type {type(argmap).__name__}")


def schema_name(schema):
    """Component name of a marshmallow schema: its class name without "Schema"."""
    name = resolve_schema_cls(schema).__name__
    return name.removesuffix("Schema") or name


# Custom fields of customerdata.fields, in JSON schema terms

def custom_field_properties(self, field, ret, **kwargs):
    """apispec attribute function for the service's own fields (runs after the built-in ones)."""
    properties = {}
    if isinstance(field, Text):
        max_length = field.max_length() if callable(field.max_length) else field.max_length
        if max_length is not None:
            properties["maxLength"] = max_length
        if field.min_length is not None:
            properties["minLength"] = field.min_length
        if not field.allow_blank and field.trim and "pattern" not in ret:
            properties["pattern"] = r"\S"  # trimmed, white space alone is blank
        elif not field.allow_blank and field.min_length is None:
            properties["minLength"] = 1
    if isinstance(field, Email):
        properties["format"] = "email"
    if isinstance(field, Ordering):
        names = "|".join(re.escape(name) for name in field.allowed)
        term = rf"\s*-?(?:{names})\s*"
        blank = r"\s*" if field.allow_blank else ""  # blank: the default order
        properties["pattern"] = rf"^(?:{term}(?:,{term})*|{blank})$" if blank else rf"^{term}(?:,{term})*$"
    if isinstance(field, IdList):
        properties.update(items={"type": "integer"}, minItems=1, maxItems=field.max_items)
    if isinstance(field, PrimaryKey):
        properties["description"] = "An id (a string of digits is accepted too)."
    if "pattern" in ret and "pattern" not in properties:
        # Python's end-of-string anchor is not ECMAScript's
        properties["pattern"] = ret["pattern"].replace(r"\Z", "$")
    return properties


def _configure(plugin):
    plugin.map_to_openapi_type(PrimaryKey, "integer", None)
    plugin.map_to_openapi_type(IdList, "array", None)
    plugin.converter.add_attribute_function(custom_field_properties)


# The document

def build_spec(app):
    """The OpenAPI document of `app` as a dict. Needs an app context (limits come from the config)."""
    plugin = MarshmallowPlugin(schema_name_resolver=schema_name)
    spec = APISpec(title=TITLE, version=API_VERSION, openapi_version=OPENAPI_VERSION, plugins=[plugin],
                   info={"description": DESCRIPTION})
    _configure(plugin)
    builder = _Builder(spec, plugin.converter)
    builder.components()
    for route in described_routes(app):
        builder.add(route)
    builder.webhooks()
    return builder.finish()


WEBHOOK_HEADERS = (
    ("webhook-id", "The event's id: one per change, the same on every retry and redelivery (deduplicate on it)."),
    ("webhook-timestamp", "Seconds since the epoch when this attempt was signed."),
    ("webhook-signature", "`v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the endpoint's secret; two, "
                          "space separated, during a rotation."),
)


class _Builder:
    def __init__(self, spec, converter):
        self.spec = spec
        self.converter = converter
        self.input_schemas = set()
        self.output_schemas = set()
        self.webhook_items = {}

    def components(self):
        for name, description in SECURITY_SCHEMES.values():
            self.spec.components.security_scheme(name, {"type": "http", "scheme": "bearer",
                                                        "bearerFormat": "JWT", "description": description})
        for name, header in HEADERS.items():
            self.spec.components.header(name, header)
        for name, schema in SCHEMAS.items():
            self.spec.components.schema(name, component=schema)
        for error in ERROR_ANSWERS:
            self.spec.components.response(error.component, {
                "description": error.description,
                "headers": self._headers(error.headers),
                "content": {error.content_type: {"schema": _ref("schemas", error.schema)}},
            })

    def add(self, route):
        operations = {}
        for method in route.methods:
            operations[method.lower()] = self.operation(route, method, several=len(route.methods) > 1)
        self.spec.path(path=route.path, operations=operations)

    def operation(self, route, method, several):
        name = route.view.__name__
        operation = {
            "tags": [route.endpoint.split(".")[0] if "." in route.endpoint else "default"],
            "summary": name.replace("_", " ").capitalize(),
            "operationId": _camel(f"{name}_{method.lower()}" if several else name),
        }
        doc = inspect.getdoc(route.view)
        if doc:
            operation["description"] = doc
        parameters = [{"in": "path", "name": name, "required": True,
                       "schema": dict(CONVERTER_SCHEMAS.get(converter, {"type": "string"}))}
                      for name, converter in route.path_parameters]
        body = None
        for argmap, location in route.argmaps:
            schema = _schema_instance(argmap)
            if location in PARAMETER_LOCATIONS:
                for parameter in self.converter.schema2parameters(schema, location=PARAMETER_LOCATIONS[location]):
                    # a field gathering parameters of the client's naming describes them itself
                    field = schema.fields.get(parameter["name"])
                    parameters.append(field.metadata.get("parameter", parameter) if field else parameter)
            elif location in BODY_LOCATIONS:
                if body is not None:
                    raise TypeError(f"{route.rule}: more than one request body")
                body = self.request_body(schema, BODY_LOCATIONS[location])
            else:
                raise TypeError(f"{route.rule}: no description for the webargs location {location!r}")
        if method == "POST" and route.idempotent:
            parameters.append(IDEMPOTENCY_KEY)
        if parameters:
            operation["parameters"] = parameters
        if body:
            operation["requestBody"] = body
        operation["responses"] = self.responses(route)
        scheme = SECURITY_SCHEMES[route.security][0] if route.security else None
        operation["security"] = [{scheme: []}] if scheme else []
        return operation

    def request_body(self, schema, content_types):
        """The body in each content type; a file field is binary in multipart, null in JSON, absent
        from urlencoded forms (a text value there is refused)."""
        name = schema_name(schema)
        base = self.converter.schema2jsonschema(schema)
        uploads = [field.data_key or key for key, field in schema.fields.items()
                   if isinstance(field, Upload) and not field.dump_only]
        content = {}
        for content_type in content_types:
            variant = copy.deepcopy(base)
            component = name
            if uploads and content_type == "multipart/form-data":
                component = f"{name}Multipart"
                for key in uploads:
                    variant["properties"][key] = {"type": "string", "format": "binary",
                                                  "description": "The file (one)."}
            elif uploads and content_type == "application/x-www-form-urlencoded":
                component = f"{name}Form"
                for key in uploads:
                    del variant["properties"][key]
                    if key in variant.get("required", ()):
                        variant["required"].remove(key)
            elif uploads:
                for key in uploads:
                    variant["properties"][key] = {
                        "type": "null", "description": "A file is sent in a multipart body; null is none."}
            if component not in self.spec.components.schemas:
                self.spec.components.schema(component, component=variant)
            self.input_schemas.add(component)
            content[content_type] = {"schema": _ref("schemas", component)}
        return {"required": bool(base.get("required")), "content": content}

    def responses(self, route):
        responses = {}
        for answer in answers_of(route.view):
            status = str(answer.status)
            if answer.schema is None and answer.status in ERRORS_BY_STATUS:
                responses[status] = _ref("responses", ERRORS_BY_STATUS[answer.status].component)
                continue
            response = {"description": answer.description or http.HTTPStatus(answer.status).phrase + ".",
                        "headers": self._headers(answer.headers)}
            if answer.schema is not None:
                types = (answer.content_type,) if isinstance(answer.content_type, str) else answer.content_type
                response["content"] = {content_type: {"schema": self.response_schema(answer)} for content_type in types}
            responses[status] = response
        for error in ERROR_ANSWERS:
            if str(error.status) not in responses and error.when(route):
                responses[str(error.status)] = _ref("responses", error.component)
        return dict(sorted(responses.items()))

    def response_schema(self, answer):
        if isinstance(answer.schema, dict):
            schema = answer.schema
        else:
            schema = self.converter.resolve_nested_schema(answer.schema)
            self.output_schemas.add(schema["$ref"].rsplit("/", 1)[-1])
        return {"type": "array", "items": schema} if answer.many else schema

    def _headers(self, names):
        return {name: _ref("headers", name) for name in (*ALWAYS_SENT_HEADERS, *names)}

    def webhooks(self):
        """The deliveries a receiver gets (OpenAPI 3.1 `webhooks`), one per kind it can subscribe to."""
        from ..webhooks.schemas import EventSchema, event_names

        body = self.converter.resolve_nested_schema(EventSchema)
        self.output_schemas.add(body["$ref"].rsplit("/", 1)[-1])
        self.webhook_items = {name: {"post": {
            "summary": description,
            "description": "Signed per the Standard Webhooks specification; answer 2xx within the timeout.",
            "parameters": [{"in": "header", "name": header, "required": True, "description": text,
                            "schema": {"type": "string"}} for header, text in WEBHOOK_HEADERS],
            "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
            "responses": {"2XX": {"description": "Received; anything else (3xx too) is retried, 410 disables the "
                                                 "endpoint."}},
        }} for name, description in event_names()}

    def finish(self):
        document = self.spec.to_dict()
        document["webhooks"] = self.webhook_items
        # every field of an answer is always there (null when empty), unless marked x-optional: say
        # so, for generated clients
        for name in self.output_schemas - self.input_schemas:
            component = document["components"]["schemas"][name]
            properties = component.get("properties", {})
            component["required"] = [key for key, value in properties.items() if not value.pop("x-optional", False)]
        return document


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _camel(name):
    first, *rest = name.split("_")
    return first + "".join(word.capitalize() for word in rest)
