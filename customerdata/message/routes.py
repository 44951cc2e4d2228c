from flask import Blueprint, request

from .. import idempotency
from ..auth import current_user_id, require_access_token
from ..listing import Page, paging_headers
from ..openapi import responds
from ..parsing import looked_up_first, use_args
from ..serialization import item_dumper, row_dumper
from . import customers, entries
from .schemas import (
    BulkDeletedSchema,
    BulkDeleteSchema,
    CustomerCreateSchema,
    CustomerDataCreateSchema,
    CustomerDataDeletedSchema,
    CustomerDataListArgsSchema,
    CustomerDataSchema,
    CustomerDataUpdateSchema,
    CustomerDeletedSchema,
    CustomerEntriesArgsSchema,
    CustomerListArgsSchema,
    CustomerSchema,
    CustomerUpdateSchema,
)

bp = Blueprint("message", __name__)

PAGING = ("X-Total-Count", "Link")  # headers of a paged list

customer_schema = CustomerSchema()
dump_customers = row_dumper(customer_schema)


bp.before_request(require_access_token)  # every route of this blueprint needs an access token
idempotency.register(bp)  # after the token check: keys are per user


def _listed(dump, rows, total, page, next_position=None):
    return dump(rows), 200, (paging_headers(page, total, next_position) if page else {})


@bp.get("/customers/")
@responds(200, CustomerSchema, many=True, headers=PAGING)
@use_args(CustomerListArgsSchema(), location="query")
def list_customers(args):
    page = Page.from_args(args)
    rows, total = customers.list_customers(current_user_id(), args["search"], args.get("ordering"), page,
                                           args["conditions"])
    return _listed(dump_customers, rows, total, page)


@bp.post("/customers/")
@responds(201, CustomerSchema)
@use_args(CustomerCreateSchema(), location="json")
def create_customer(args):
    return customer_schema.dump(customers.create_customer(current_user_id(), **args)), 201


@bp.get("/customers/<int:customer_id>/")
@responds(200, CustomerSchema)
def get_customer(customer_id):
    return customer_schema.dump(customers.get_customer(current_user_id(), customer_id))


@bp.route("/customers/<int:customer_id>/", methods=["PUT", "PATCH"])
@responds(200, CustomerSchema)
@looked_up_first(customers.get_customer, "customer_id")
@use_args(CustomerUpdateSchema(), location="json")
def update_customer(args, customer_id):
    return customer_schema.dump(customers.update_customer(current_user_id(), customer_id, args))


@bp.delete("/customers/<int:customer_id>/")
@responds(200, CustomerDeletedSchema)
def delete_customer(customer_id):
    count = customers.delete_customer(current_user_id(), customer_id)
    return CustomerDeletedSchema().dump({
        "message": f"Customer {customer_id} deleted successfully",
        "deleted_id": customer_id,
        "deleted_data_count": count,
    })


# Customer data entries

entry_schema = CustomerDataSchema()
dump_entries = row_dumper(entry_schema)
dump_entry = item_dumper(entry_schema)


@bp.get("/customer-data/")
@responds(200, CustomerDataSchema, many=True, headers=PAGING)
@use_args(CustomerDataListArgsSchema(), location="query")
def list_entries(args):
    page = Page.from_args(args)
    rows, total = entries.list_entries(current_user_id(), args.get("customer"), args.get("key"), args["search"],
                                       args.get("ordering"), page, args["value_lookups"])
    return _listed(dump_entries, rows, total, page, entries.next_position(rows, args.get("ordering")))


def entry_answer(entry, status=200):
    """An entry with its ETag, which If-Match on a later write names."""
    return dump_entry(entry), status, {"ETag": entries.etag(entry)}


def if_match():
    """The strong ETags of If-Match ({"*"} for any), or None without the header."""
    if "If-Match" not in request.headers:
        return None
    tags = request.if_match
    return {"*"} if tags.star_tag else {f'"{tag}"' for tag in tags.as_set()}


@bp.post("/customer-data/")
@responds(201, CustomerDataSchema, headers=("ETag",))
@use_args(CustomerDataCreateSchema(), location="body")
def create_entry(args):
    entry = entries.create_entry(current_user_id(), args["customer"], args["key"], args["value"], args["file"])
    return entry_answer(entry, 201)


@bp.get("/customer-data/<int:entry_id>/")
@responds(200, CustomerDataSchema, headers=("ETag",))
def get_entry(entry_id):
    return entry_answer(entries.get_entry(current_user_id(), entry_id))


@bp.route("/customer-data/<int:entry_id>/", methods=["PUT", "PATCH"])
@responds(200, CustomerDataSchema, headers=("ETag",))
@responds(412)
@looked_up_first(entries.get_entry, "entry_id")
@use_args(CustomerDataUpdateSchema(), location="body")
def update_entry(args, entry_id):
    return entry_answer(entries.update_entry(current_user_id(), entry_id, **args, if_match=if_match()))


@bp.delete("/customer-data/<int:entry_id>/")
@responds(200, CustomerDataDeletedSchema)
@responds(412)
def delete_entry(entry_id):
    key = entries.delete_entry(current_user_id(), entry_id, if_match())
    return CustomerDataDeletedSchema().dump({"message": f"Customer data '{key}' deleted successfully",
                                             "deleted_key": key})


@bp.get("/customer/<int:customer_id>/data/")
@responds(200, CustomerDataSchema, many=True, headers=PAGING)
@use_args(CustomerEntriesArgsSchema(), location="query")
def list_customer_entries(args, customer_id):
    page = Page.from_args(args)
    rows, total = entries.list_customer_entries(current_user_id(), customer_id, args.get("key"), args["search"],
                                                args.get("ordering"), page, args["value_lookups"])
    return _listed(dump_entries, rows, total, page, entries.next_position(rows, args.get("ordering")))


@bp.post("/customer-data/bulk-delete/")
@responds(200, BulkDeletedSchema)
@use_args(BulkDeleteSchema(), location="json")
def bulk_delete_entries(args):
    count = entries.bulk_delete_entries(current_user_id(), args["data_ids"])
    return BulkDeletedSchema().dump({"message": f"Successfully deleted {count} customer data item(s)",
                                     "deleted_count": count})
