"""Routes of bulk writes on the message blueprint: bulk upsert, CSV/JSON Lines export, CSV import."""
from flask import Response, current_app, stream_with_context

from ..auth import current_user_id
from ..extensions import limiter
from ..openapi import responds
from ..parsing import use_args
from ..serialization import item_dumper
from . import bulk, transfer
from .bulk_schemas import (
    BulkUpsertedSchema,
    BulkUpsertSchema,
    ExportArgsSchema,
    ImportArgsSchema,
    ImportedSchema,
    ImportFileSchema,
    load_import_row,
)
from .routes import bp
from .schemas import CustomerDataSchema

# one budget per user for the three routes: BULK_RATE_LIMIT of bulk upserts, imports and exports together
bulk_limit = limiter.shared_limit(lambda: current_app.config["BULK_RATE_LIMIT"], scope="bulk",
                                  key_func=lambda: f"user:{current_user_id()}")
dump_exported_entry = item_dumper(CustomerDataSchema(exclude=("file_url",)))
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


@bp.post("/customer-data/bulk-upsert/")
@responds(200, BulkUpsertedSchema)
@responds(207, BulkUpsertedSchema, description="Some items failed; the others are written.")
@responds(400, {"anyOf": [{"$ref": "#/components/schemas/InvalidInput"}, {"$ref": "#/components/schemas/ItemErrors"}]},
          description="Invalid input; with `atomic`, the items' errors when any item failed (nothing written).")
@bulk_limit
@use_args(BulkUpsertSchema(), location="json")
def bulk_upsert(args):
    """Create or update up to 1,000 entries in one transaction, with a result per item."""
    try:
        outcome = bulk.upsert(current_user_id(), args["items"], args["atomic"])
    except bulk.AtomicFailure as failure:
        outcome = failure.outcome
    return bulk.answer(outcome, args["atomic"])


@bp.get("/customer-data/export/")
@responds(200, {"type": "string"}, content_type=("text/csv", "application/jsonl"), headers=("Content-Disposition",),
          description="CSV (or, with format=jsonl, one entry per line as JSON), streamed.")
@bulk_limit
@use_args(ExportArgsSchema(), location="query")
def export_entries(args):
    """Every entry the list would answer with these filters, as CSV or JSON Lines (default order: id)."""
    fmt = args["format"]
    chunks = transfer.export_chunks(current_user_id(), dump_exported_entry, fmt, args["bom"],
                                    customer_id=args.get("customer"), key=args.get("key"), search=args["search"],
                                    ordering=args.get("ordering"), value_lookups=args["value_lookups"])
    return Response(stream_with_context(chunks), content_type=EXPORT_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="customer-data.{fmt}"'})


@bp.post("/customer-data/import/")
@responds(200, ImportedSchema)
@responds(207, ImportedSchema, description="Some rows failed; the others are written.")
@responds(400, {"anyOf": [{"$ref": "#/components/schemas/InvalidInput"}, {"$ref": "#/components/schemas/Imported"}]},
          description="Invalid input; with `atomic`, the report of a failed import (nothing written).")
@bulk_limit
@use_args(ImportArgsSchema(), location="query")
@use_args(ImportFileSchema(), location="body")
def import_entries(query, body):
    """Entries from a CSV with the columns customer, key, value (an export imports back)."""
    rows = transfer.read_csv(body["file"])
    report, failed_atomically = transfer.import_rows(current_user_id(), rows, load_import_row, query["mode"],
                                                     query["dry_run"], query["atomic"])
    if failed_atomically:
        return report, 400
    return report, (207 if report["failed"] and not query["dry_run"] else 200)
