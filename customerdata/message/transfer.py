"""Entries in and out as files: CSV and JSON Lines export, CSV import.

Exports stream: ids first, then rows a batch at a time, each batch written as it comes. Cells a
spreadsheet would run as a formula (=, +, -, @, tab, carriage return, ') get one leading ', which
the import removes again, so values round-trip. Imports read the whole file once for its shape
(encoding, header, ragged rows: a 400 naming the row, nothing written), then write it through the
bulk upsert in chunks of 1,000 rows, each its own transaction unless the import is atomic.
"""
import codecs
import csv
import io

import orjson

from ..errors import InvalidInput
from . import bulk
from .entries import iter_listed_entries

CSV_COLUMNS = ("id", "customer", "customer_name", "key", "value", "file_name", "created_at", "updated_at")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")
MAX_ROWS = 100_000
MAX_ATOMIC_ROWS = 1000
IMPORT_CHUNK = 1000
LISTED_ERRORS = 1000
REQUIRED_COLUMNS = ("customer", "key", "value")
NEEDS_COLUMNS = "The CSV needs the columns customer, key, value."
# a cell may hold a value of 1 MiB characters; beyond this the csv module refuses it (a 400)
csv.field_size_limit(8 * 1024 * 1024)


def escape_cell(text):
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_cell(text):
    return text[1:] if text.startswith("'") else text


# Export

def export_chunks(owner_id, dump_entry, fmt, bom, **filters):
    """The export's bytes, a batch of rows at a time; `dump_entry` gives an entry as answered."""
    rows = iter_listed_entries(owner_id, **filters)
    if fmt == "jsonl":
        return _jsonl(rows, dump_entry)
    return _csv(rows, dump_entry, bom)


def _jsonl(rows, dump_entry):
    batch = []
    for row in rows:
        batch.append(orjson.dumps(dump_entry(row)))
        if len(batch) == 500:
            yield b"\n".join(batch) + b"\n"
            batch = []
    if batch:
        yield b"\n".join(batch) + b"\n"


def _csv(rows, dump_entry, bom):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield (codecs.BOM_UTF8 if bom else b"") + _drain(buffer)
    for count, row in enumerate(rows, 1):
        answered = dump_entry(row)
        writer.writerow([escape_cell("" if answered[name] is None else str(answered[name])) for name in CSV_COLUMNS])
        if count % 500 == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer):
    data = buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    return data


# Import

def read_csv(upload):
    """The data rows of an uploaded CSV as (row number, {column: cell}); a 400 on `file` naming the
    first row that is not UTF-8, not as wide as the header, or not CSV at all. Read a line at a time."""
    if upload is None:  # a JSON body, or a form without a file
        raise InvalidInput.on("file", "No file was submitted.")
    stream = upload.stream
    stream.seek(0)
    lines = _decoded_lines(stream)
    first = next(lines, None)
    if first is None:
        raise InvalidInput.on("file", NEEDS_COLUMNS)
    first = first.removeprefix("\ufeff")
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(_chain(first, lines), delimiter=delimiter, strict=True)
    number = 1  # rows as a spreadsheet numbers them: a quoted line break stays inside its row
    try:
        header = [cell.strip().lower() for cell in next(reader, [])]
        if not all(name in header for name in REQUIRED_COLUMNS):
            raise InvalidInput.on("file", NEEDS_COLUMNS)
        places = [header.index(name) for name in REQUIRED_COLUMNS]
        rows = []
        for number, cells in enumerate(reader, 2):
            if not any(cell.strip() for cell in cells):
                continue  # a blank line
            if len(cells) != len(header):
                raise InvalidInput.on("file", f"Row {number} has {len(cells)} cells; the header has {len(header)}.")
            if len(rows) == MAX_ROWS:
                raise InvalidInput.on("file", f"Ensure the file has no more than {MAX_ROWS} rows.")
            rows.append((number, {name: unescape_cell(cells[place])
                                  for name, place in zip(REQUIRED_COLUMNS, places, strict=True)}))
    except csv.Error as error:
        raise InvalidInput.on("file", f"Row {number + 1} is not valid CSV: {error}.") from None
    return rows


def _decoded_lines(stream):
    for number, line in enumerate(stream, 1):
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput.on("file", f"Row {number} is not valid UTF-8.") from None


def _chain(first, rest):
    yield first
    yield from rest


def import_rows(owner_id, rows, load_row, mode="upsert", dry_run=False, atomic=False):
    """Write the rows (`load_row` turns a row's cells into a bulk Item) as a bulk upsert with source
    `import`; returns the import's report and whether it failed atomically (nothing written). A dry
    run writes nothing whatever `atomic` says, so it reports every row."""
    if atomic and len(rows) > MAX_ATOMIC_ROWS:
        raise InvalidInput.on("atomic", f"An atomic import takes at most {MAX_ATOMIC_ROWS} rows.")
    atomic = atomic and not dry_run
    items = [load_row(cells) for _, cells in rows]
    numbers = [number for number, _ in rows]
    first = {}
    for index, item in enumerate(items):  # repeats across the whole file, not only within a chunk
        if item.errors is None:
            slot = (item.fields["customer"], item.fields["key"])
            if slot in first:
                item.errors = {"key": [f"Repeated in this file (row {numbers[first[slot]]})."]}
            else:
                first[slot] = index
    totals = {"created": 0, "updated": 0, "unchanged": 0}
    results = []
    chunk = max(len(items), 1) if atomic else IMPORT_CHUNK
    for start in range(0, max(len(items), 1), chunk):
        try:
            outcome = bulk.upsert(owner_id, items[start:start + chunk], atomic=atomic, source="import", mode=mode,
                                  dry_run=dry_run)
        except bulk.AtomicFailure as failure:
            return _report(failure.outcome.results, numbers, {"created": 0, "updated": 0, "unchanged": 0}), True
        for name in totals:
            totals[name] += getattr(outcome, name)
        results += outcome.results
    return _report(results, numbers, totals), False


def _report(results, numbers, totals):
    errors = [{"row": numbers[index], "errors": result} for index, result in enumerate(results)
              if isinstance(result, dict)]
    return {**totals, "failed": len(errors), "errors": errors[:LISTED_ERRORS]}

