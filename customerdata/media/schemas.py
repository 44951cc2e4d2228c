from marshmallow import Schema, fields


class DownloadArgsSchema(Schema):
    """The query of a signed download link: both come from an entry's `file_url`."""

    expires = fields.String(metadata={"description": "Unix time at which the link stops working."})
    signature = fields.String(metadata={"description": "Signature of the path and the expiry time."})
