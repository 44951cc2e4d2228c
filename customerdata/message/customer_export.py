"""One customer's data in one zip, for a data subject's request: streamed, never held whole.

The JSON files are what the API answers (the customer, its entries without file_url, its
history); the attached files follow as `files/<entry id>/<file name>`, read from storage in
chunks while the zip is sent, so a worker holds one chunk of a file at a time.
"""
import orjson
import zipstream

from ..storage import get_storage
from .customers import get_customer
from .entries import list_customer_entries
from .history import customer_history

CHUNK = 1024 * 1024


def customer_zip(owner_id, customer_id, dump_customer, dump_entries, dump_changes):
    """A ZipStream of the customer's data; the dump_* functions give the API's own answers."""
    customer = get_customer(owner_id, customer_id)
    entries, _ = list_customer_entries(owner_id, customer_id)
    changes, _ = customer_history(owner_id, customer_id)
    archive = zipstream.ZipStream(compress_type=zipstream.ZIP_DEFLATED)
    archive.add(orjson.dumps(dump_customer(customer), option=orjson.OPT_INDENT_2), "customer.json")
    archive.add(orjson.dumps(dump_entries(entries), option=orjson.OPT_INDENT_2), "entries.json")
    archive.add(orjson.dumps(dump_changes(changes), option=orjson.OPT_INDENT_2), "history.json")
    storage = get_storage()
    for entry in entries:
        if entry.file:
            # stored as they are (compressing a scan or a PDF again gains nothing)
            archive.add(_chunks(storage, entry.file), f"files/{entry.id}/{_member_name(entry.file_name)}",
                        compress_type=zipstream.ZIP_STORED)
    return archive


def _chunks(storage, path):
    with storage.open(path) as stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def _member_name(file_name):
    """The client's file name as a zip member: no directory part, nothing an unzip tool climbs out with."""
    name = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return name if name not in ("", ".", "..") else "file"
