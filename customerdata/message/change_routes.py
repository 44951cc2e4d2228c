"""Routes of the change log on the message blueprint: history, revert and the changes feed."""
from urllib.parse import urlencode

from flask import Response, request, stream_with_context

from ..auth import current_user_id
from ..listing import Page, PageArgsSchema, paging_headers
from ..openapi import responds
from ..parsing import looked_up_first, use_args
from . import customer_export, entries, history
from .change_schemas import (
    ChangeSchema,
    CustomerHistoryArgsSchema,
    FeedArgsSchema,
    FeedChangeSchema,
    RevertSchema,
)
from .routes import PAGING, bp, customer_schema, entry_answer
from .schemas import CustomerDataSchema

dump_exported_entries = CustomerDataSchema(exclude=("file_url",), many=True).dump

dump_changes = ChangeSchema(many=True).dump
dump_feed = FeedChangeSchema(many=True).dump


@bp.get("/customer-data/<int:entry_id>/history/")
@responds(200, ChangeSchema, many=True, headers=PAGING)
@use_args(PageArgsSchema(), location="query")
def entry_history(args, entry_id):
    page = Page.from_args(args)
    changes, total = history.entry_history(current_user_id(), entry_id, page)
    return dump_changes(changes), 200, (paging_headers(page, total) if page else {})


@bp.get("/customers/<int:customer_id>/history/")
@responds(200, ChangeSchema, many=True, headers=PAGING)
@use_args(CustomerHistoryArgsSchema(), location="query")
def customer_history(args, customer_id):
    page = Page.from_args(args)
    changes, total = history.customer_history(current_user_id(), customer_id, args.get("key"), args.get("kind"), page)
    return dump_changes(changes), 200, (paging_headers(page, total) if page else {})


@bp.post("/customer-data/<int:entry_id>/revert/")
@responds(200, CustomerDataSchema, headers=("ETag",))
@looked_up_first(entries.get_entry, "entry_id")
@use_args(RevertSchema(), location="json")
def revert_entry(args, entry_id):
    return entry_answer(history.revert_entry(current_user_id(), entry_id, args["change"]))


@bp.get("/changes/")
@responds(200, FeedChangeSchema, many=True, headers=("Link",))
@responds(410)
@use_args(FeedArgsSchema(), location="query")
def changes_feed(args):
    """The caller's changes after the cursor, in the order they became visible; follow `Link` rel="next"."""
    shown, cursor = history.feed(current_user_id(), args.get("after"), args["limit"], args.get("kind"),
                                 args.get("customer"))
    query = {"after": cursor, "limit": args["limit"]}
    query.update((name, args[name]) for name in ("kind", "customer") if name in args)
    return dump_feed(shown), 200, {"Link": f'<{request.base_url}?{urlencode(query)}>; rel="next"'}


@bp.get("/customers/<int:customer_id>/export/")
@responds(200, {"type": "string", "format": "binary"}, content_type="application/zip",
          description="customer.json, entries.json, history.json and files/<entry id>/<file name>.",
          headers=("Content-Disposition",))
def export_customer(customer_id):
    """Everything kept about one customer, with its files, as one zip (streamed)."""
    archive = customer_export.customer_zip(current_user_id(), customer_id, customer_schema.dump,
                                           dump_exported_entries, dump_changes)
    return Response(stream_with_context(archive), mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="customer-{customer_id}.zip"'})
