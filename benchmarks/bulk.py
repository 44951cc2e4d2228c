#!/usr/bin/env python3
"""Bulk throughput against a live server: a 1,000-item bulk upsert (items/s), a CSV import and a
CSV / JSON Lines export of --rows entries (rows/s).

    .venv/bin/python benchmarks/bulk.py [--rows 100000] [--rounds 3] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

The server is the project under gunicorn (2 sync workers, 127.0.0.1, rate limits off), on a fresh
SQLite file or, with --pg, a throwaway database on that PostgreSQL server, schema by `flask db
upgrade` (tests/live_server.py). Every figure is a median over --rounds. Targets: a 1,000-item bulk
upsert under 1 s, export at 20,000 rows/s or more.
"""
import argparse
import http.client
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_server import api, live_server  # noqa: E402

CUSTOMERS = 1000


def request(base_url, method, path, token, body=None, headers=None):
    host, port = base_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=600)
    connection.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    response = connection.getresponse()
    size = 0
    chunks = []
    while chunk := response.read(1024 * 1024):
        size += len(chunk)
        if response.status != 200 or method != "GET":
            chunks.append(chunk)
    return response.status, b"".join(chunks), size


def timed(call):
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL server URL: run on a throwaway database there")
    args = parser.parse_args()
    if args.pg:
        os.environ["TEST_DATABASE_URL"] = args.pg
    with live_server({"RATELIMIT_ENABLED": "false"}) as server:
        base = server.base_url
        password = secrets.token_urlsafe(12)
        api(base, "POST", "/api/accounts/register", {"username": "bench", "password": password})
        token = api(base, "POST", "/api/accounts/login", {"username": "bench", "password": password})[1]["access"]
        customers = []
        for start in range(0, CUSTOMERS, 100):
            for n in range(start, start + 100):
                customers.append(api(base, "POST", "/api/message/customers/", {"first_name": f"C{n}"}, token)[1]["id"])
        api(base, "POST", "/api/message/data-keys/", {"key": "age", "type": "integer"}, token)
        results = {}

        def upsert(items):
            status, body, _ = request(base, "POST", "/api/message/customer-data/bulk-upsert/", token,
                                      json.dumps({"items": items}), {"Content-Type": "application/json"})
            assert status == 200, body[:500]

        created, updated = [], []
        for round_number in range(args.rounds):
            items = [{"customer": customers[n], "key": f"bulk{round_number}", "value": str(n)} for n in range(1000)]
            created.append(timed(lambda items=items: upsert(items))[0])
            items = [{**item, "value": str(int(item["value"]) + 1)} for item in items]
            updated.append(timed(lambda items=items: upsert(items))[0])
        results["bulk upsert, 1,000 new items"] = (statistics.median(created), 1000)
        results["bulk upsert, 1,000 updated items"] = (statistics.median(updated), 1000)

        per_customer = -(-args.rows // CUSTOMERS)
        lines = ["customer,key,value"] + [f"{customers[n % CUSTOMERS]},imported{n // CUSTOMERS},{n % 90 + 10}"
                                          for n in range(args.rows)]
        csv_bytes = ("\r\n".join(lines) + "\r\n").encode()
        boundary = secrets.token_hex(12)
        multipart = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"rows.csv\"\r\n"
                     "Content-Type: text/csv\r\n\r\n").encode() + csv_bytes + f"\r\n--{boundary}--\r\n".encode()
        seconds, (status, body, _) = timed(lambda: request(
            base, "POST", "/api/message/customer-data/import/", token, multipart,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"}))
        assert status == 200, body[:500]
        assert json.loads(body)["created"] == args.rows, body[:500]
        results[f"import, {args.rows:,} new rows ({per_customer} keys x {CUSTOMERS:,} customers)"] = (seconds, args.rows)
        total = args.rows + args.rounds * 1000
        for fmt in ("csv", "jsonl"):
            times = []
            for _ in range(args.rounds):
                seconds, (status, _, size) = timed(lambda fmt=fmt: request(
                    base, "GET", f"/api/message/customer-data/export/?format={fmt}", token))
                assert status == 200 and size > 0
                times.append(seconds)
            results[f"export {fmt}, {total:,} rows"] = (statistics.median(times), total)

    database = "PostgreSQL" if args.pg else "SQLite"
    print(f"\n{database}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"`{' '.join([Path(sys.executable).name, *sys.argv])}`\n")
    print("| scenario | seconds | rows or items / s |")
    print("| --- | ---: | ---: |")
    for name, (seconds, count) in results.items():
        print(f"| {name} | {seconds:.3f} | {count / seconds:,.0f} |")


if __name__ == "__main__":
    main()
