"""The webhooks blueprint: /api/webhooks/endpoints/ and their deliveries."""
from flask import Blueprint

from ..auth import current_user_id, require_access_token
from ..listing import Page, paging_headers
from ..openapi import responds
from ..parsing import looked_up_first, use_args
from . import service
from .schemas import (
    DeliveryListArgsSchema,
    DeliverySchema,
    EndpointCreateSchema,
    EndpointDeletedSchema,
    EndpointSchema,
    EndpointUpdateSchema,
    EndpointWithSecretSchema,
    QueuedSchema,
)

bp = Blueprint("webhooks", __name__)
bp.before_request(require_access_token)

endpoint_schema = EndpointSchema()
endpoint_with_secret = EndpointWithSecretSchema()
dump_deliveries = DeliverySchema(many=True).dump


@bp.get("/endpoints/")
@responds(200, EndpointSchema, many=True)
def list_endpoints():
    return endpoint_schema.dump(service.list_endpoints(current_user_id()), many=True)


@bp.post("/endpoints/")
@responds(201, EndpointWithSecretSchema)
@use_args(EndpointCreateSchema(), location="json")
def create_endpoint(args):
    """Register a URL for the caller's changes; the answer holds its signing secret (only this once)."""
    return endpoint_with_secret.dump(service.create_endpoint(current_user_id(), args)), 201


@bp.get("/endpoints/<int:endpoint_id>/")
@responds(200, EndpointSchema)
def get_endpoint(endpoint_id):
    return endpoint_schema.dump(service.get_endpoint(current_user_id(), endpoint_id))


@bp.route("/endpoints/<int:endpoint_id>/", methods=["PUT", "PATCH"])
@responds(200, EndpointSchema)
@looked_up_first(service.get_endpoint, "endpoint_id")
@use_args(EndpointUpdateSchema(), location="json")
def update_endpoint(args, endpoint_id):
    """Change what is given; `enabled: true` re-enables a disabled endpoint and resumes its deliveries."""
    return endpoint_schema.dump(service.update_endpoint(current_user_id(), endpoint_id, args))


@bp.delete("/endpoints/<int:endpoint_id>/")
@responds(200, EndpointDeletedSchema)
def delete_endpoint(endpoint_id):
    """Delete the endpoint; its pending deliveries are dropped."""
    service.delete_endpoint(current_user_id(), endpoint_id)
    return {"message": f"Webhook endpoint {endpoint_id} deleted.", "deleted_id": endpoint_id}


@bp.post("/endpoints/<int:endpoint_id>/rotate-secret/")
@responds(200, EndpointWithSecretSchema)
def rotate_secret(endpoint_id):
    """A new secret; the previous one keeps signing beside it for 24 hours."""
    return endpoint_with_secret.dump(service.rotate_secret(current_user_id(), endpoint_id))


@bp.post("/endpoints/<int:endpoint_id>/test/")
@responds(202, QueuedSchema)
def test_endpoint(endpoint_id):
    """Queue a `webhook.test` event (whatever `events` says)."""
    return {"delivery": service.queue_test(current_user_id(), endpoint_id).id}, 202


@bp.get("/endpoints/<int:endpoint_id>/deliveries/")
@responds(200, DeliverySchema, many=True, headers=("X-Total-Count", "Link"))
@use_args(DeliveryListArgsSchema(), location="query")
def list_deliveries(args, endpoint_id):
    """The endpoint's deliveries, newest first, with their attempts."""
    page = Page.from_args(args)
    deliveries, total = service.list_deliveries(current_user_id(), endpoint_id, args.get("status"), page)
    return dump_deliveries(deliveries), 200, (paging_headers(page, total) if page else {})


@bp.post("/endpoints/<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver/")
@responds(202, QueuedSchema)
def redeliver(endpoint_id, delivery_id):
    """Queue the same event again: same `webhook-id`, same body."""
    return {"delivery": service.redeliver(current_user_id(), endpoint_id, delivery_id).id}, 202
