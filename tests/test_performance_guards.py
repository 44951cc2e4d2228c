"""Performance properties that hold by design and are asserted as counts and bytes, not times."""
import http.client
import json
import os
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import event, insert

from customerdata.extensions import db
from customerdata.models import Customer, CustomerData, utcnow


def seed(app, owner_id, customer_id, count):
    now = utcnow()
    with app.app_context():
        db.session.execute(insert(CustomerData), [
            {"customer_id": customer_id, "user_id": owner_id, "key": f"k{n:05d}", "value": f"value {n}",
             "search_text": f"k{n:05d}\nvalue {n}", "created_at": now + timedelta(microseconds=n),
             "updated_at": now + timedelta(microseconds=n)} for n in range(count)])
        db.session.commit()


def count_statements(app, client, path, headers, method="GET", **request):
    """The statements the database driver runs for one request, whichever way they reach it.

    Hot reads run on the driver without a SQLAlchemy Connection (customerdata/prepared.py), so a
    `before_cursor_execute` listener would miss them: a pool `checkout` listener instead hooks
    every connection the request borrows at the driver (sqlite3's trace callback, psycopg's
    cursor factory), which sees the ORM's statements and the prepared ones alike.
    """
    statements = []
    with app.app_context():
        engine = db.engine

    def hook(dbapi_connection, connection_record, connection_proxy):
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(statements.append)
        else:
            base = dbapi_connection.cursor_factory
            connection_record.info["cursor_factory"] = base

            class CountingCursor(base):
                def execute(self, query, *args, **kwargs):
                    statements.append(query)
                    return super().execute(query, *args, **kwargs)

            dbapi_connection.cursor_factory = CountingCursor

    def unhook(dbapi_connection, connection_record):
        if dbapi_connection is None:
            return
        if engine.dialect.name == "sqlite":
            dbapi_connection.set_trace_callback(None)
        elif "cursor_factory" in connection_record.info:
            dbapi_connection.cursor_factory = connection_record.info.pop("cursor_factory")

    event.listen(engine, "checkout", hook)
    event.listen(engine, "checkin", unhook)
    try:
        response = client.open(path, method=method, headers=headers, **request)
    finally:
        event.remove(engine, "checkout", hook)
        event.remove(engine, "checkin", unhook)
    assert response.status_code in (200, 201), response.get_json()
    return response.get_json(), statements


# the token check and the list itself; on §6 also the check that the customer is the caller's
@pytest.mark.parametrize(("path", "expected"), [
    ("/api/message/customer-data/", 2), ("/api/message/customer-data/?customer={c}", 2),
    ("/api/message/customer/{c}/data/", 3), ("/api/message/customer-data/?search=value", 2),
    ("/api/message/customer-data/?limit=5&offset=1", 3),  # and the total for X-Total-Count
    ("/api/message/customer-data/?search=value&limit=5&offset=1", 2),  # a search's page carries its total
])
def test_list_costs_the_same_statements_for_1_10_and_1000_entries(app, client, alice, path, expected):
    counts = {}
    for size in (1, 10, 1000):
        with app.app_context():
            customer = Customer(user_id=alice.id, first_name="Big", username=f"c{size}")
            customer.index_for_search()
            db.session.add(customer)
            db.session.commit()
            customer_id = customer.id
        seed(app, alice.id, customer_id, size)
        listed, statements = count_statements(app, client, path.format(c=customer_id), alice.headers)
        if "{c}" in path:
            assert len(listed) == size
            assert all(entry["customer_name"] == f"Big (@c{size}) | unknown" for entry in listed)
        counts[size] = len(statements)
    assert counts == {1: expected, 10: expected, 1000: expected}, counts


def test_a_write_is_one_short_transaction_of_constant_statements(app, client, alice):
    """A create or update reads its key's definition and writes the row and its change in one
    transaction (so a definition change cannot slip in between), and nothing else: the statements
    are the same whatever the data, and on PostgreSQL the key's shared advisory lock comes first.
    An update reads the definition in the statement that locks the entry."""
    with app.app_context():
        customer = Customer(user_id=alice.id, first_name="Ann")
        customer.index_for_search()
        db.session.add(customer)
        db.session.commit()
        customer_id = customer.id
        postgresql = db.engine.dialect.name == "postgresql"
    begin = ["BEGIN", "SELECT"] if postgresql else ["BEGIN"]  # PostgreSQL: and the key's advisory lock

    def words(statements):
        return [sql.split()[0] for sql in statements]

    created, statements = count_statements(app, client, "/api/message/customer-data/", alice.headers, "POST",
                                           json={"customer": customer_id, "key": "k", "value": "v"})
    # the token check, the customer's name; then the definition, the insert and its change
    assert words(statements) == ["SELECT", "SELECT", *begin, "SELECT", "INSERT", "INSERT", "COMMIT"], statements
    # PostgreSQL takes the lock of the key an update keeps, so it reads the entry's key first
    keeps_key = ["SELECT"] if postgresql else []
    for body, read_first, old_definition in (({"value": "w"}, keeps_key, []), ({"key": "renamed"}, [], ["SELECT"])):
        _, statements = count_statements(app, client, f"/api/message/customer-data/{created['id']}/",
                                         alice.headers, "PUT", json=body)
        # the token check; then the entry locked with the definition, (on a rename the old key's
        # definition), the update and its change
        assert words(statements) == ["SELECT", *read_first, *begin, "SELECT", *old_definition, "UPDATE", "INSERT",
                                     "COMMIT"], statements


def _worker_peak_rss_kb(master_pid):
    children = open(f"/proc/{master_pid}/task/{master_pid}/children").read().split()
    assert len(children) == 1, children
    status = open(f"/proc/{children[0]}/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))


def _post_streamed(base_url, path, token, fields, file_name, file_size):
    """A multipart POST whose file part is generated on the fly: the client never holds it whole."""
    boundary = secrets.token_hex(16)
    head = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in fields.items())
    head += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
             "Content-Type: application/octet-stream\r\n\r\n")
    tail = f"\r\n--{boundary}--\r\n".encode()
    chunk = os.urandom(1024 * 1024)

    def body():
        yield head.encode()
        sent = 0
        while sent < file_size:
            piece = chunk[:min(len(chunk), file_size - sent)]
            sent += len(piece)
            yield piece
        yield tail

    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("POST", path, body=body(), headers={
        "Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head.encode()) + file_size + len(tail))})
    response = connection.getresponse()
    return response.status, json.loads(response.read())


def test_a_100_mb_upload_and_its_customer_export_add_less_than_20_mb_to_the_worker(tmp_path):
    from live_server import api, live_server

    def call(path, body, token=None):
        status, answer = api(base, "POST", path, body, token)
        assert status in (200, 201), answer
        return answer

    size = 100 * 1024 * 1024
    with live_server({"MAX_CONTENT_LENGTH": str(size + 1024 * 1024)}, workers=1) as server:
        base = server.base_url
        call("/api/accounts/register", {"username": "big", "password": "big-uploads-1"})
        token = call("/api/accounts/login", {"username": "big", "password": "big-uploads-1"})["access"]
        customer = call("/api/message/customers/", {"first_name": "Big"}, token)["id"]
        # warm the worker up with a small upload so the baseline includes every import and pool
        status, _ = _post_streamed(base, "/api/message/customer-data/", token,
                                   {"customer": customer, "key": "warm"}, "warm.bin", 1024 * 1024)
        assert status == 201
        before = _worker_peak_rss_kb(server.process.pid)
        status, entry = _post_streamed(base, "/api/message/customer-data/", token,
                                       {"customer": customer, "key": "big"}, "big.bin", size)
        assert status == 201, entry
        growth_kb = _worker_peak_rss_kb(server.process.pid) - before
        stored = os.path.join(server.upload_folder, entry["file"].removeprefix("/media/"))
        assert os.path.getsize(stored) == size
        print(f"100 MiB upload: worker peak RSS grew by {growth_kb / 1024:.1f} MiB")
        assert growth_kb < 20 * 1024, f"peak RSS grew by {growth_kb} kB"

        # the customer's export streams the file through the zip a chunk at a time
        zip_size = _read_streamed(base, f"/api/message/customers/{customer}/export/", token)
        growth_kb = _worker_peak_rss_kb(server.process.pid) - before
        print(f"its customer export ({zip_size / 1048576:.1f} MiB zip): worker peak RSS grew by "
              f"{growth_kb / 1024:.1f} MiB")
        assert zip_size > size
        assert growth_kb < 20 * 1024, f"peak RSS grew by {growth_kb} kB"


def _read_streamed(base_url, path, token):
    """GET an answer, reading it in chunks that are dropped; returns its size."""
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    assert response.status == 200
    size = 0
    while chunk := response.read(1024 * 1024):
        size += len(chunk)
    return size


@pytest.mark.parametrize("existing", [False, True], ids=["creates", "updates"])
def test_a_bulk_upsert_of_1000_items_takes_at_most_30_statements(app, client, alice, existing):
    """Statements grow with chunks of items, never per item: customers, definitions, existing
    entries, the upsert and the changes are each a statement per chunk."""
    with app.app_context():
        customers = [Customer(user_id=alice.id, first_name=f"C{n}") for n in range(100)]
        db.session.add_all(customers)
        db.session.commit()
        ids = [customer.id for customer in customers]
    client.post("/api/message/data-keys/", json={"key": "k3", "type": "integer"}, headers=alice.headers)
    items = [{"customer": ids[n % 100], "key": f"k{n // 100}", "value": str(n)} for n in range(1000)]
    if existing:
        assert client.post("/api/message/customer-data/bulk-upsert/", json={"items": items},
                           headers=alice.headers).status_code == 200
        items = [{**item, "value": str(int(item["value"]) + 1)} for item in items]
    answer, statements = count_statements(app, client, "/api/message/customer-data/bulk-upsert/", alice.headers,
                                          "POST", json={"items": items})
    assert answer["failed"] == 0 and answer["updated" if existing else "created"] == 1000, answer
    print(f"1,000 items: {len(statements)} statements")
    assert len(statements) <= 30, statements
