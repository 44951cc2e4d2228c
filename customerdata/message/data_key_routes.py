"""Routes of the data-key definitions, on the message blueprint: /api/message/data-keys/."""
from ..auth import current_user_id
from ..openapi import responds
from ..parsing import looked_up_first, use_args
from . import data_keys
from .data_key_schemas import (
    DataKeyCreateSchema,
    DataKeyDeletedSchema,
    DataKeyListArgsSchema,
    DataKeySchema,
    DataKeyUpdateSchema,
    DryRunArgsSchema,
    DryRunReportSchema,
)
from .routes import bp

definition_schema = DataKeySchema()
report_schema = DryRunReportSchema()


def _written(definition_or_report, status):
    if isinstance(definition_or_report, dict):  # a dry run's report
        return report_schema.dump(definition_or_report), 200
    return definition_schema.dump(definition_or_report), status


@bp.get("/data-keys/")
@responds(200, DataKeySchema, many=True)
@use_args(DataKeyListArgsSchema(), location="query")
def list_data_keys(args):
    return definition_schema.dump(data_keys.list_definitions(current_user_id(), args.get("key"),
                                                             args.get("archived")), many=True)


@bp.post("/data-keys/")
@responds(201, DataKeySchema)
@responds(200, DryRunReportSchema, description="With `dry_run=true`: the check of existing values.")
@responds(409)
@use_args(DryRunArgsSchema(), location="query")
@use_args(DataKeyCreateSchema(), location="json")
def create_data_key(query, body):
    return _written(data_keys.create_definition(current_user_id(), body, query["dry_run"]), 201)


@bp.get("/data-keys/<int:definition_id>/")
@responds(200, DataKeySchema)
def get_data_key(definition_id):
    return definition_schema.dump(data_keys.get_definition(current_user_id(), definition_id))


@bp.route("/data-keys/<int:definition_id>/", methods=["PUT", "PATCH"])
@responds(200, {"oneOf": [{"$ref": "#/components/schemas/DataKey"}, {"$ref": "#/components/schemas/DryRunReport"}]},
          description="The definition, or with `dry_run=true` the check of existing values.")
@responds(409)
@looked_up_first(data_keys.get_definition, "definition_id")
@use_args(DryRunArgsSchema(), location="query")
@use_args(DataKeyUpdateSchema(), location="json")
def update_data_key(query, body, definition_id):
    return _written(data_keys.update_definition(current_user_id(), definition_id, body, query["dry_run"]), 200)


@bp.delete("/data-keys/<int:definition_id>/")
@responds(200, DataKeyDeletedSchema)
def delete_data_key(definition_id):
    key = data_keys.delete_definition(current_user_id(), definition_id)
    return DataKeyDeletedSchema().dump({"message": f"Definition of '{key}' deleted; its values stay as text.",
                                        "deleted_id": definition_id})


@bp.get("/data-keys/schema/")
@responds(200, {"type": "object", "description": "A JSON Schema (2020-12) of one customer's data, "
                                                  "{key: value}, under the caller's definitions."})
def data_keys_json_schema():
    return data_keys.json_schema(current_user_id())
