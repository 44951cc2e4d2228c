from marshmallow import Schema, fields

CHECK_RESULTS = ["ok", "unavailable"]


class HealthSchema(Schema):
    status = fields.String(metadata={"enum": ["ok"]})


class ReadinessSchema(Schema):
    status = fields.String(metadata={"enum": ["ready", "not ready"]})
    checks = fields.Dict(keys=fields.String(), values=fields.String(metadata={"enum": CHECK_RESULTS}),
                         metadata={"description": "Each dependency (database, storage) and how it answered."})
