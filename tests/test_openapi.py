"""The API description: /api/openapi.json is a valid OpenAPI 3.1 document of exactly the routes
the app serves, generated from their schemas; /api/docs renders it with assets of this origin."""
import re
import warnings

import pytest
from flask import Blueprint
from openapi_spec_validator import OpenAPIV31SpecValidator

from customerdata.openapi import responds
from customerdata.openapi import spec as openapi_spec
from customerdata.openapi.spec import UndescribedRoute, build_spec

# Routes outside /api/ that the description covers; the description's own routes are left out.
DESCRIBED_OUTSIDE_API = {"/media/<path:path>", "/healthz", "/readyz"}
DESCRIPTION_ENDPOINTS = re.compile(r"^openapi\.")
IGNORED_METHODS = {"HEAD", "OPTIONS"}
EVERY_ROUTE_ERRORS = {"414", "500", "503"}


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def resolve(document, node):
    while "$ref" in node:
        kind, name = node["$ref"].split("/")[-2:]
        node = document["components"][kind][name]
    return node


def test_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(document).validate()


def test_document_is_built_without_warnings(app):
    """apispec warns when two schemas claim one component name (and then renames one)."""
    with app.test_request_context(), warnings.catch_warnings():
        warnings.simplefilter("error")
        build_spec(app)


def test_paths_and_methods_are_exactly_the_served_ones(app, document):
    served = set()
    for rule in app.url_map.iter_rules():
        if DESCRIPTION_ENDPOINTS.match(rule.endpoint) or rule.endpoint == "static":
            continue
        if rule.rule.startswith("/api/") or rule.rule in DESCRIBED_OUTSIDE_API:
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            served |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    described = {(path, method) for path, method, _ in operations(document)}
    assert described == served
    assert ("/media/{path}", "get") in described
    assert not any(path.startswith(("/api/openapi", "/api/docs")) for path, _ in described)


def test_the_description_routes_are_public(client):
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/docs").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_operation_ids_are_unique(document):
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids))


def test_create_entry_takes_json_multipart_and_urlencoded_with_a_binary_file(document):
    body = document["paths"]["/api/message/customer-data/"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "multipart/form-data",
                                    "application/x-www-form-urlencoded"}
    multipart = resolve(document, body["content"]["multipart/form-data"]["schema"])
    assert multipart["properties"]["file"] == {"type": "string", "format": "binary",
                                               "description": "The file (one)."}
    assert set(multipart["required"]) == {"customer", "key"}
    assert multipart["properties"]["customer"]["type"] == "integer"
    assert multipart["properties"]["value"]["maxLength"] == 1048576
    json_body = resolve(document, body["content"]["application/json"]["schema"])
    assert json_body["properties"]["file"]["type"] == "null"
    # a text value in the file slot of a form is refused: urlencoded forms have no file field
    form = resolve(document, body["content"]["application/x-www-form-urlencoded"]["schema"])
    assert "file" not in form["properties"]
    update = document["paths"]["/api/message/customer-data/{entry_id}/"]
    for method in ("put", "patch"):
        content = update[method]["requestBody"]["content"]
        multipart = resolve(document, content["multipart/form-data"]["schema"])
        assert multipart["properties"]["file"]["format"] == "binary"
        assert multipart["properties"]["remove_file"]["type"] == "boolean"
        assert "required" not in multipart


def test_the_value_limit_follows_the_configuration(app_config):
    app_config["MAX_VALUE_LENGTH"] = 500
    from customerdata import create_app

    document = create_app(app_config).test_client().get("/api/openapi.json").get_json()
    assert document["components"]["schemas"]["CustomerDataCreate"]["properties"]["value"]["maxLength"] == 500


ENTRY_ORDERING = ["key", "created_at", "updated_at"]
CUSTOMER_ORDERING = ["created_at", "updated_at", "first_name", "last_name", "username"]


@pytest.mark.parametrize("path, allowed", [("/api/message/customer-data/", ENTRY_ORDERING),
                                           ("/api/message/customer/{customer_id}/data/", ENTRY_ORDERING),
                                           ("/api/message/customers/", CUSTOMER_ORDERING)])
def test_list_parameters_have_types_and_allowed_values(document, path, allowed):
    parameters = {parameter["name"]: parameter for parameter in document["paths"][path]["get"]["parameters"]}
    assert {"search", "ordering", "limit", "offset"} <= set(parameters)
    assert all(parameter["in"] in ("query", "path") for parameter in parameters.values())
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert parameters["offset"]["schema"] == {"type": "integer", "minimum": 0}
    assert parameters["search"]["schema"]["type"] == "string"
    ordering = parameters["ordering"]
    assert ordering["schema"]["type"] == "string"
    pattern = re.compile(ordering["schema"]["pattern"])
    assert all(name in ordering["description"] for name in allowed)
    for name in allowed:
        assert pattern.fullmatch(name) and pattern.fullmatch(f"-{name}")
    assert pattern.fullmatch(",".join(allowed)) and pattern.fullmatch(f" -{allowed[1]} , {allowed[0]} ")
    assert not pattern.fullmatch("id") and not pattern.fullmatch("key,") and not pattern.fullmatch(",")
    assert pattern.fullmatch("") and pattern.fullmatch("  ")  # the default order, as in DRF
    headers = document["paths"][path]["get"]["responses"]["200"]["headers"]
    assert {"X-Total-Count", "Link", "X-Request-ID"} <= set(headers)


def test_entry_filters_and_path_ids_are_integers(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/message/customer-data/"]["get"]["parameters"]}
    assert parameters["customer"]["schema"]["type"] == "integer"
    assert parameters["key"]["schema"]["type"] == "string"
    item = document["paths"]["/api/message/customers/{customer_id}/"]["get"]["parameters"]
    assert item == [{"in": "path", "name": "customer_id", "required": True,
                     "schema": {"type": "integer", "minimum": 0}}]


def test_customer_source_lists_its_choices(document):
    schemas = document["components"]["schemas"]
    choices = ["unknown", "instagram", "telegram", "whatsapp"]
    assert schemas["CustomerCreate"]["properties"]["source"]["enum"] == choices
    assert schemas["CustomerCreate"]["properties"]["source"]["default"] == "unknown"
    assert schemas["Customer"]["properties"]["source"]["enum"] == choices


def test_security_bearer_for_api_routes_none_for_register_login_and_downloads(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["accessToken"]["scheme"] == schemes["refreshToken"]["scheme"] == "bearer"
    assert schemes["accessToken"]["bearerFormat"] == "JWT"
    for path, method, operation in operations(document):
        if path in ("/api/accounts/register", "/api/accounts/login") or not path.startswith("/api/"):
            expected = []
        elif path == "/api/accounts/refresh":
            expected = [{"refreshToken": []}]
        else:
            expected = [{"accessToken": []}]
        assert operation["security"] == expected, (path, method)
        assert ("401" in operation["responses"]) == (bool(expected) or path == "/api/accounts/login"), path


def test_error_answers_have_the_contract_shapes(document):
    responses = document["components"]["responses"]
    unauthorized = responses["Unauthorized"]
    assert set(unauthorized["headers"]) == {"X-Request-ID", "WWW-Authenticate"}
    assert resolve(document, unauthorized["content"]["application/json"]["schema"])["required"] == ["detail"]
    invalid = resolve(document, responses["BadRequest"]["content"]["application/json"]["schema"])
    shapes = [resolve(document, shape) for shape in invalid["anyOf"]]
    field_errors = {"type": "array", "items": {"type": "string"}}
    assert field_errors in [shape.get("additionalProperties") for shape in shapes]
    assert ["detail"] in [shape.get("required") for shape in shapes]
    assert "Retry-After" in responses["TooManyRequests"]["headers"]
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]


def test_statuses_follow_what_each_route_does(document):
    paths = document["paths"]
    for path, method, operation in operations(document):
        statuses = set(operation["responses"])
        assert EVERY_ROUTE_ERRORS <= statuses, (path, method)
        assert all("X-Request-ID" in resolve(document, response).get("headers", {})
                   for response in operation["responses"].values()), (path, method)
        has_id = "{" in path
        assert ("404" in statuses) == has_id, (path, method)
        takes_body = "requestBody" in operation
        assert ("415" in statuses) == ("413" in statuses) == takes_body, (path, method)
    assert set(paths["/api/accounts/register"]["post"]["responses"]) >= {"201", "400", "429"}
    assert "429" in paths["/api/accounts/refresh"]["post"]["responses"]
    assert "429" not in paths["/api/accounts/me"]["get"]["responses"]
    assert set(paths["/api/message/customers/{customer_id}/"]["delete"]["responses"]) == {
        "200", "401", "404", "414", "500", "503"}
    download = paths["/media/{path}"]["get"]["responses"]
    assert {"200", "206", "302", "304", "403", "404", "416"} <= set(download)
    assert "Location" in download["302"]["headers"]
    assert download["200"]["content"] == {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    download_parameters = paths["/media/{path}"]["get"]["parameters"]
    assert {parameter["name"] for parameter in download_parameters} == {"path", "expires", "signature"}
    not_ready = paths["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
    assert not_ready == {"$ref": "#/components/schemas/Readiness"}


def test_answers_list_every_field_as_required(document):
    schemas = document["components"]["schemas"]
    for name in ("Customer", "CustomerData", "User", "TokenPair", "BulkDeleted"):
        assert set(schemas[name]["required"]) == set(schemas[name]["properties"]), name
    assert schemas["CustomerData"]["properties"]["file_url"]["type"] == ["string", "null"]
    assert schemas["CustomerData"]["properties"]["created_at"]["format"] == "date-time"


def test_a_status_added_to_the_error_table_reaches_every_route_it_concerns(app, monkeypatch):
    payment = openapi_spec.ErrorAnswer(402, "Pay first.", "ErrorDetail", when=lambda route: route.takes_body)
    monkeypatch.setattr(openapi_spec, "ERROR_ANSWERS", (*openapi_spec.ERROR_ANSWERS, payment))
    with app.test_request_context():
        document = build_spec(app)
    for path, method, operation in operations(document):
        assert ("402" in operation["responses"]) == ("requestBody" in operation), (path, method)
    assert document["components"]["responses"]["PaymentRequired"]["description"] == "Pay first."


def test_an_api_route_without_declared_answers_fails_loudly(app):
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/api/extra", "undeclared", lambda: {})
    app.register_blueprint(extra)
    with app.test_request_context(), pytest.raises(UndescribedRoute, match="/api/extra"):
        build_spec(app)


def test_other_routes_are_described_once_they_declare_answers(app):
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/internal", "internal", lambda: {})
    extra.add_url_rule("/status", "status", responds(200, {"type": "object"})(lambda: {}))
    app.register_blueprint(extra)
    with app.test_request_context():
        paths = build_spec(app)["paths"]
    assert "/internal" not in paths
    assert paths["/status"]["get"]["security"] == []


# /api/docs

def test_docs_page_loads_only_assets_of_this_origin_and_no_inline_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "//" not in re.sub(r"<!DOCTYPE[^>]*>", "", page).replace("://", "")  # no absolute URL at all
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, re.S)
    assert scripts
    assert all('src="/api/docs/' in attributes and not body.strip() for attributes, body in scripts)
    assets = re.findall(r'(?:src|href)="(/api/docs/[^"]+)"', page)
    assert len(assets) >= 4
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        assert served.data
    assert 'data-openapi-url="/api/openapi.json"' in page


def test_docs_assets_are_swagger_ui_5(client):
    """Swagger UI renders OpenAPI 3.1 from version 5 on."""
    bundle = client.get("/api/docs/swagger-ui/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert client.get("/api/docs/swagger-ui/../routes.py").status_code == 404
    from importlib.resources import files

    version = (files("flask_swagger_ui") / "dist" / "VERSION").read_text().strip()
    assert re.fullmatch(r"v?5\.\d+\.\d+", version)


def documented_schema(document, path, method, status, content_type="application/json"):
    """The answer's schema as the document gives it, with the components its $refs point into."""
    response = resolve(document, document["paths"][path][method]["responses"][status])
    return {**response["content"][content_type]["schema"], "components": document["components"]}


@pytest.mark.parametrize("route", ["bulk-upsert", "import"])
def test_an_atomic_bulk_failure_answers_the_documented_400(client, alice, customer, document, route):
    """Schemathesis found bulk upsert's atomic 400 ({"items": [...]}) outside the documented shape."""
    import io

    from jsonschema import Draft202012Validator

    path = f"/api/message/customer-data/{route}/"
    if route == "bulk-upsert":
        response = client.post(path, headers=alice.headers, json={"atomic": True, "items": [
            {"customer": customer, "key": "plan", "value": "pro"}, {"customer": customer, "key": ""}]})
        assert response.get_json() == {"items": [{}, {"key": ["This field may not be blank."],
                                                      "value": ["This field is required."]}]}
    else:
        csv = f"customer,key,value\n{customer},plan,pro\n{customer},,x\n".encode()
        response = client.post(path, headers=alice.headers, query_string={"atomic": "true"},
                               data={"file": (io.BytesIO(csv), "data.csv")}, content_type="multipart/form-data")
        assert response.get_json()["failed"] == 1
    assert response.status_code == 400
    Draft202012Validator(documented_schema(document, path, "post", "400")).validate(response.get_json())
