#!/usr/bin/env python3
"""Flat cost at scale: the same requests against a user with 1,000 entries and one with 200,000,
in a database of 1,000,000 entries.

    .venv/bin/python benchmarks/scale.py [--pg postgresql://postgres@127.0.0.1:5432/scale15] [--sqlite PATH]
                                         [--reuse] [--seconds 5] [--only TEXT ...]

The database (a PostgreSQL database of that name, created or emptied; or a SQLite file) gets its
schema from `flask db upgrade`, then 1,000,000 entries written straight through the driver (COPY
on PostgreSQL, executemany on SQLite), every column as the service's own writes fill it: the
casefolded search_text, value_hash, number/instant under the typed definitions (and the number of
a canonical decimal without one, value_types.untyped), created_at and updated_at, and a change row
per customer and per entry (the feed). Users:

- `big`: 20,000 customers x 10 entries (200,000), keys with definitions integer `age`, choice
  `plan` (free/pro/team), date `last_order`, a numeric `score` without one, and six text keys of
  real words;
- `small`: the same shape with 100 customers (1,000 entries);
- 400 others sharing the remaining 799,000 entries.

The server is the project under gunicorn (2 sync workers, 127.0.0.1, rate limits off); each
request is measured with wrk (8 connections, 2 threads) for --seconds against each user, and the
table gives p50/p99 (ms) and req/s for both users and the ratio of the p50s. The deep page is
at three quarters of each user's entries (offset=750 and offset=150000), then the same page as the
Link next URL of the page before it asks for it (with the last row's cursor), the feed page after the
user's 151st-newest change. Export is timed
whole (rows/s), the bulk upsert (1,000 items, updates of existing entries) as a median of three,
and creating a `decimal` definition over `score` (one value per customer) once. --reuse skips
the seeding when the database already holds it. --only (repeatable) measures only the rows whose
label contains one of the given texts, e.g. `--only segment` (every row when not given).
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from live_server import DIRECT, api, live_server  # noqa: E402

from customerdata.listing import Position  # noqa: E402
from customerdata.message.history import encode_cursor  # noqa: E402
from customerdata.message.value_types import untyped  # noqa: E402

TOTAL_ENTRIES = 1_000_000
BIG_CUSTOMERS, SMALL_CUSTOMERS, OTHER_USERS = 20_000, 100, 400
KEYS_PER_CUSTOMER = 10
PLANS = ("free", "pro", "team")
TEXT_KEYS = ("nickname", "city", "interests", "status", "note", "comment")
TEXT_WORDS = {"nickname": (1, 1), "city": (1, 2), "interests": (2, 4), "status": (1, 3), "note": (3, 8),
              "comment": (5, 12)}
PASSWORD = "scale-bench-password"
START = datetime(2025, 1, 1)
SEED = 15

# Common English words, used when /usr/share/dict/words is missing.
BUILT_IN_WORDS = """
able about above accept account across act action active actor add address admit adult affect after again
against age agency agent agree ahead air allow almost alone along already also always amount analysis animal
answer anyone appear apply approach area argue arm around arrive art article artist ask assume attack attention
audience author avoid away baby back bad bag ball bank bar base beat beautiful because become bed before begin
behavior behind believe benefit best better between beyond big bill billion bird bit black blood blue board body
book born both box boy break bring brother budget build building business buy call camera campaign cancer
candidate capital car card care career carry case catch cause cell center central century certain chair
challenge chance change character charge check child choice choose church citizen city civil claim class clear
close coach cold collection college color come commercial common community company compare computer concern
condition conference congress consider consumer contain continue control cost could country couple course court
cover create crime cultural culture cup current customer cut dark data daughter dead deal death debate decade
decide decision deep defense degree democrat describe design despite detail determine develop difference
different difficult dinner direction director discover discuss disease doctor dog door down draw dream drive drop
drug during each early east easy economic economy edge education effect effort eight either election else
employee energy enjoy enough enter entire environment especially establish even evening event ever every
evidence exactly example executive exist expect experience expert explain face fact factor fail fall family far
fast father fear federal feel feeling field fight figure fill film final finally financial find fine finger
finish fire firm first fish five floor focus follow food foot force foreign forget form former forward four free
friend front full fund future game garden general generation girl give glass goal good government great green
ground group grow growth guess gun guy hair half hand hang happen happy hard have head health hear heart heat
heavy help herself high himself history hold home hope hospital hotel hour house however huge human hundred
husband idea identify image imagine impact important improve include including increase indeed indicate
individual industry information inside instead institution interest interesting international interview into
investment involve issue item itself join just keep kind kitchen know knowledge land language large last late
later laugh lawyer lead leader learn least leave left legal less letter level life light like likely line list
listen little live local long look lose loss love machine magazine main maintain major majority make manage
management manager many market marriage material matter maybe mean measure media medical meet meeting member
memory mention message method middle might military million mind minute miss mission model modern moment money
month more morning most mother mouth move movement movie much music must myself name nation national natural
nature near nearly necessary need network never news newspaper next nice night none north note nothing notice
number occur offer office officer official often once only onto open operation opportunity option order
organization other others outside over own owner page pain painting paper parent part participant particular
partner party pass past patient pattern peace people perform perhaps period person personal phone physical pick
picture piece place plan plant play player point police policy political politics poor popular population
position positive possible power practice prepare present president pressure pretty prevent price private
probably problem process produce product production professional professor program project property protect
prove provide public pull purpose push quality question quickly quite race radio raise range rate rather reach
read ready real reality realize really reason receive recent recently recognize record reduce reflect region
relate relationship religious remain remember remove report represent require research resource respond
response rest result return reveal rich right rise risk road rock role room rule safe same save scene school
science scientist score season seat second section security seek seem sell send senior sense series serious
serve service seven several shake share shoot short shot should shoulder show side sign significant similar
simple simply since sing single sister site situation size skill skin small smile social society soldier some
somebody someone something sometimes song soon sort sound source south southern space speak special specific
speech spend sport spring staff stage stand standard star start state statement station stay step still stock
stop store story strategy street strong structure student study stuff style subject success successful such
suddenly suffer suggest summer support sure surface system table take talk task teach teacher team technology
television tell tend term test than thank that their them themselves then theory there these they thing think
third those though thought thousand threat three through throughout throw thus time today together tonight too
total tough toward town trade traditional training travel treat treatment tree trial trip trouble true truth try
turn type under understand unit until upon usually value various very victim view violence visit voice vote
wait walk wall want watch water weapon wear week weight well west western what whatever wheel when where
whether which while white whole whom whose wide wife will wind window wish with within without woman wonder
word work worker world worry would write writer wrong yard yeah year young yourself zebra äsch straße
""".split()


def word_list():
    path = Path("/usr/share/dict/words")
    if path.exists():
        words = [word for word in path.read_text(errors="replace").split() if word.isalpha() and "'" not in word]
        if len(words) > 1000:
            return words
    return BUILT_IN_WORDS


# Rows, as the service writes them (customerdata/models.py, message/entries.py, message/changes.py)

def fold(text):
    return (text or "").casefold()


def stamp(moment):
    return moment.isoformat(sep=" ", timespec="microseconds")


def answered_time(moment):
    return moment.isoformat(timespec="microseconds") + "Z"


class Seed:
    """Ids and rows of the whole data set, generated in id order."""

    def __init__(self, words):
        self.random = random.Random(SEED)
        self.words = words
        self.customer_id = 0
        self.entry_id = 0
        self.change_id = 0
        self.clock = START

    def tick(self):
        self.clock += timedelta(milliseconds=7)
        return self.clock

    def text(self, key):
        low, high = TEXT_WORDS[key]
        return " ".join(self.random.choice(self.words) for _ in range(self.random.randint(low, high)))

    def customer(self, user_id):
        """(customer row, its change row, [(entry row, change row)])."""
        self.customer_id += 1
        cid = self.customer_id
        now = self.tick()
        first, last = self.random.choice(self.words).title(), self.random.choice(self.words).title()
        username = f"{first.lower()}{cid}"
        email = f"{username}@example.com"
        phone = f"+1555{cid:07d}"
        names = (first, last, username, email, phone)
        search_text = "\n".join(fold(name) for name in names)
        customer = (cid, user_id, first, last, username, email, phone, "instagram", search_text, now, now)
        data = {"id": cid, "user": user_id, "first_name": first, "last_name": last, "username": username,
                "email": email, "phone_number": phone, "source": "instagram",
                "display_name": f"{first} {last} (@{username}) | instagram",
                "created_at": answered_time(now), "updated_at": answered_time(now)}
        changes = {name: {"from": None, "to": value} for name, value in
                   zip(("first_name", "last_name", "username", "email", "phone_number", "source"),
                       (*names, "instagram"))}
        customer_change = self.change(user_id, "customer.created", now, cid, None, None, changes, data)
        customer_name = f"{first} {last} (@{username}) | instagram"
        entries = []
        for key, value, number, instant in self.values():
            self.entry_id += 1
            eid = self.entry_id
            at = self.tick()
            entry = (eid, cid, user_id, key, value, f"{fold(key)}\n{fold(value)}", number, instant,
                     hashlib.sha256(value.encode()).hexdigest(), at, at)
            snapshot = {"id": eid, "customer": cid, "user": user_id, "key": key, "value": value, "file": None,
                        "file_name": None, "customer_name": customer_name, "created_at": answered_time(at),
                        "updated_at": answered_time(at)}
            entries.append((entry, self.change(user_id, "entry.created", at, cid, eid, key,
                                               {"key": {"from": None, "to": key},
                                                "value": {"from": None, "to": value}}, snapshot)))
        return customer, customer_change, entries

    def values(self):
        """(key, canonical value, number, instant) of one customer's ten entries."""
        rnd = self.random
        age = rnd.randint(18, 80)
        plan = rnd.randrange(len(PLANS))
        day = START.date() - timedelta(days=rnd.randint(0, 700))
        last_order = datetime(day.year, day.month, day.day)
        score = f"{rnd.randint(0, 9999)}.{rnd.randint(0, 99):02d}"
        yield "age", str(age), float(age), None
        yield "plan", PLANS[plan], float(plan), None
        yield "last_order", day.isoformat(), None, last_order
        # numeric text with no definition yet: the number a value without one carries
        yield "score", score, untyped(score).number, None
        for key in TEXT_KEYS:
            text = self.text(key)
            yield key, text, untyped(text).number, None

    def change(self, user_id, kind, at, customer_id, entry_id, entry_key, changes, data):
        self.change_id += 1
        return (self.change_id, user_id, kind, at, "import", customer_id, entry_id, entry_key,
                json.dumps(changes, ensure_ascii=False), json.dumps(data, ensure_ascii=False))


def plan_customers():
    """[(user_id, customer count)] in seeding order; user 1 is big, 2 small, 3.. the others."""
    other_entries = TOTAL_ENTRIES - (BIG_CUSTOMERS + SMALL_CUSTOMERS) * KEYS_PER_CUSTOMER
    other_customers = other_entries // KEYS_PER_CUSTOMER
    plan = [(1, BIG_CUSTOMERS), (2, SMALL_CUSTOMERS)]
    for index in range(OTHER_USERS):
        plan.append((3 + index, other_customers // OTHER_USERS + (index < other_customers % OTHER_USERS)))
    return plan


USERS = ["big", "small"] + [f"other{n}" for n in range(OTHER_USERS)]
DEFINITIONS = (("age", "integer", None), ("plan", "choice", [{"value": p, "label": p.title()} for p in PLANS]),
               ("last_order", "date", None))
CUSTOMER_COLUMNS = ("id", "user_id", "first_name", "last_name", "username", "email", "phone_number", "source",
                    "search_text", "created_at", "updated_at")
ENTRY_COLUMNS = ("id", "customer_id", "user_id", "key", "value", "search_text", "number", "instant", "value_hash",
                 "created_at", "updated_at")
CHANGE_COLUMNS = ("id", "user_id", "kind", "at", "source", "customer_id", "entry_id", "entry_key", "changes",
                  "data", "txid")


def user_rows(password_hash):
    return [(number + 1, name, name, None, password_hash, START) for number, name in enumerate(USERS)]


def definition_rows():
    rows = []
    for user_id in range(1, len(USERS) + 1):
        for position, (key, type_name, choices) in enumerate(DEFINITIONS):
            rows.append((user_id, key, type_name, key, "", position, False, None if choices is None else
                         json.dumps(choices), False, START, START))
    return rows


DEFINITION_COLUMNS = ("user_id", "key", "type", "label", "description", "position", "archived", "choices", "unique",
                      "created_at", "updated_at")


def generate(batch_customers=2000):
    """Batches of (customers, customer changes, entries, entry changes), in id order."""
    seed = Seed(word_list())
    batch = ([], [], [], [])
    for user_id, count in plan_customers():
        for _ in range(count):
            customer, customer_change, entries = seed.customer(user_id)
            batch[0].append(customer)
            batch[1].append(customer_change)
            for entry, change in entries:
                batch[2].append(entry)
                batch[3].append(change)
            if len(batch[0]) >= batch_customers:
                yield batch
                batch = ([], [], [], [])
    if batch[0]:
        yield batch


# Seeding through the driver

def quoted(columns):
    return ", ".join('"' + name + '"' for name in columns)  # `unique` is a reserved word


def _copy_text(value):
    if value is None:
        return "\\N"
    if isinstance(value, datetime):
        return stamp(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def _copy(cursor, table, columns, rows):
    with cursor.copy(f"COPY {table} ({quoted(columns)}) FROM STDIN") as copy:
        copy.write("".join("\t".join(_copy_text(value) for value in row) + "\n" for row in rows))


def seed_postgresql(url, password_hash):
    import psycopg

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        txid = cursor.execute("SELECT pg_current_xact_id()::text::bigint").fetchone()[0]
        _copy(cursor, "users", ("id", "username", "username_key", "email", "password_hash", "created_at"),
              user_rows(password_hash))
        _copy(cursor, "data_keys", DEFINITION_COLUMNS, definition_rows())
        for customers, customer_changes, entries, entry_changes in generate():
            _copy(cursor, "customers", CUSTOMER_COLUMNS, customers)
            _copy(cursor, "customer_data", ENTRY_COLUMNS, entries)
            _copy(cursor, "changes", CHANGE_COLUMNS, [(*row, txid) for row in customer_changes + entry_changes])
        for table in ("users", "customers", "customer_data", "changes", "data_keys"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")


def seed_sqlite(path, password_hash):
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")

    def insert(table, columns, rows):
        rows = [tuple(stamp(v) if isinstance(v, datetime) else v for v in row) for row in rows]
        connection.executemany(f"INSERT INTO {table} ({quoted(columns)}) VALUES "
                               f"({', '.join('?' * len(columns))})", rows)

    with connection:
        insert("users", ("id", "username", "username_key", "email", "password_hash", "created_at"),
               user_rows(password_hash))
        insert("data_keys", DEFINITION_COLUMNS, definition_rows())
        for customers, customer_changes, entries, entry_changes in generate():
            insert("customers", CUSTOMER_COLUMNS, customers)
            insert("customer_data", ENTRY_COLUMNS, entries)
            insert("changes", CHANGE_COLUMNS, [(*row, 0) for row in customer_changes + entry_changes])
    connection.execute("ANALYZE")
    connection.close()


# The database and the server

def migrate(database_url, instance):
    env = {**os.environ, "DATABASE_URL": database_url, "INSTANCE_PATH": str(instance)}
    subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=REPO, env=env,
                   check=True, capture_output=True)


def prepare_postgresql(url, reuse):
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database
    if name in (None, "postgres", "test", "template0", "template1"):
        raise SystemExit(f"--pg must name a database of its own, not {name!r}")
    plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    maintenance = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and reuse:
            with psycopg.connect(plain) as own:
                try:
                    seeded = own.execute("SELECT count(*) FROM customer_data").fetchone()[0] >= TOTAL_ENTRIES
                except psycopg.Error:
                    seeded = False
            if seeded:
                return plain, False
        if exists:
            connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return plain, True


def vacuum(url):
    """Visibility map and statistics as a settled database has them: the VACUUM after the seed can
    leave pages not all-visible while another transaction of the server is open (a count then
    reads the heap: 42 ms instead of 2 ms for 16,248 rows), and a rerun leaves dead rows."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE customer_data, customers, changes, data_keys")


def seed(database_url, path=None):
    from werkzeug.security import generate_password_hash

    password_hash = generate_password_hash(PASSWORD)
    started = time.perf_counter()
    if path is None:
        seed_postgresql(database_url, password_hash)
    else:
        seed_sqlite(path, password_hash)
    return time.perf_counter() - started


# Measuring

WRK_LATENCY = re.compile(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
WRK_RATE = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_STATUS = re.compile(r"Non-2xx or 3xx responses: (\d+)")
UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, token, seconds):
    result = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}",
                             url], capture_output=True, text=True, check=True)
    out = result.stdout
    if WRK_STATUS.search(out):
        raise SystemExit(f"wrk saw errors for {url}:\n{out}")
    latency = {percent: float(number) * UNIT[unit] for percent, number, unit in WRK_LATENCY.findall(out)}
    return latency["50"], latency["99"], float(WRK_RATE.search(out).group(1))


def fetch(base, method, path, token, body=None, lines=False):
    headers = {"Authorization": f"Bearer {token}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
    started = time.perf_counter()
    with DIRECT.open(request, timeout=600) as response:
        size = 0  # bytes, or with lines the lines (CSV values here hold no line breaks)
        while chunk := response.read(1 << 20):
            size += chunk.count(b"\n") if lines else len(chunk)
        return time.perf_counter() - started, response.status, response.headers, size


def targets(database_url, user_id, customers):
    """What each request names for one user: an entry, a customer, a recent cursor, an offset."""
    from sqlalchemy import create_engine, text

    offset = customers * KEYS_PER_CUSTOMER * 3 // 4
    engine = create_engine(database_url)
    with engine.connect() as connection:
        entry = connection.scalar(text("SELECT min(id) FROM customer_data WHERE user_id = :u"), {"u": user_id})
        # the last entry of the page before the deep one: the cursor of that page's Link next URL
        before_created_at, before_id = connection.execute(text(
            "SELECT created_at, id FROM customer_data WHERE user_id = :u ORDER BY created_at DESC, id DESC "
            "LIMIT 1 OFFSET :o"), {"u": user_id, "o": offset - 1}).one()
        customer = connection.scalar(text("SELECT max(id) FROM customers WHERE user_id = :u"), {"u": user_id})
        txid, change = connection.execute(text(
            "SELECT txid, id FROM changes WHERE user_id = :u ORDER BY txid DESC, id DESC LIMIT 1 OFFSET 150"),
            {"u": user_id}).one()
    engine.dispose()
    cursor = encode_cursor(txid, change)
    position = Position(datetime.fromisoformat(str(before_created_at)), before_id)
    return {"entry": entry, "customer": customer, "cursor": cursor, "offset": offset,
            "position": position.cursor()}


SEARCHED_WORD = "rock"  # a 4-letter word of both word lists


def requests_of(target):
    return [
        ("get one entry", f"/api/message/customer-data/{target['entry']}/"),
        ("a customer's 10 entries", f"/api/message/customer/{target['customer']}/data/"),
        (f"search={SEARCHED_WORD}&limit=50", f"/api/message/customer-data/?search={SEARCHED_WORD}&limit=50"),
        ("key=age&value__gte=30&limit=50", "/api/message/customer-data/?key=age&value__gte=30&limit=50"),
        ("segment plan=pro, age>=30, -last_order", "/api/message/customers/?data.plan=pro&data.age__gte=30&limit=50"
                                                   "&ordering=-data.last_order"),
        ("changes feed, 100 after a recent cursor", f"/api/message/changes/?after={target['cursor']}&limit=100"),
        ("offset=3/4 of entries&limit=50", f"/api/message/customer-data/?offset={target['offset']}&limit=50"),
        ("the same page from the Link next before it (cursor)",
         f"/api/message/customer-data/?limit=50&offset={target['offset']}&cursor={target['position']}"),
    ]


def chosen(label, only):
    return not only or any(text in label for text in only)


def measure(base, database_url, seconds, only=()):
    tokens = {}
    for name in ("small", "big"):
        status, body = api(base, "POST", "/api/accounts/login", {"username": name, "password": PASSWORD})
        assert status == 200, body
        tokens[name] = body["access"]
    sizes = {"small": (2, SMALL_CUSTOMERS), "big": (1, BIG_CUSTOMERS)}
    plans = {name: requests_of(targets(database_url, user_id, customers))
             for name, (user_id, customers) in sizes.items()}
    rows = []
    for index, (label, _) in enumerate(plans["big"]):
        if not chosen(label, only):
            continue
        figures = {}
        notes = {}
        for name in ("small", "big"):
            path = plans[name][index][1]
            _, status, headers, _ = fetch(base, "GET", path, tokens[name])  # warm, and check it answers
            assert status == 200, (path, status)
            notes[name] = headers.get("X-Total-Count")
            figures[name] = wrk(base + path, tokens[name], seconds)
        rows.append((label, figures, notes))
    extras = []
    for name in ("small", "big") if chosen("export csv, rows/s", only) else ():
        spent, status, _, count = fetch(base, "GET", "/api/message/customer-data/export/?format=csv", tokens[name],
                                        lines=True)
        assert status == 200
        count -= 1  # the header
        extras.append(("export csv, rows/s", name, count / spent, f"{count:,} rows in {spent:.2f} s"))
    for name in ("small", "big") if chosen("bulk upsert, 1,000 items, s", only) else ():
        user_id, customers = sizes[name]
        first = 1 if name == "big" else BIG_CUSTOMERS + 1
        keys = (*TEXT_KEYS, "bulk6", "bulk7", "bulk8", "bulk9")  # 600 updates, 400 creates (updates after)
        times = []
        for round_number in range(3):
            items = [{"customer": first + n % 100, "key": keys[n // 100], "value": f"bulk {round_number} {n}"}
                     for n in range(1000)]
            spent, status, _, _ = fetch(base, "POST", "/api/message/customer-data/bulk-upsert/", tokens[name],
                                        {"items": items})
            assert status == 200, status
            times.append(spent)
        extras.append(("bulk upsert, 1,000 items, s", name, statistics.median(times), "median of 3"))
    for name in ("small", "big") if chosen("decimal definition over score, s", only) else ():
        _, listed = api(base, "GET", "/api/message/data-keys/", token=tokens[name])
        for definition in listed:  # left by an earlier run on a reused database
            if definition["key"] == "score":
                api(base, "DELETE", f"/api/message/data-keys/{definition['id']}/", token=tokens[name])
        spent, status, _, _ = fetch(base, "POST", "/api/message/data-keys/", tokens[name],
                                    {"key": "score", "type": "decimal"})
        assert status == 201, status
        count = SMALL_CUSTOMERS if name == "small" else BIG_CUSTOMERS
        extras.append(("decimal definition over score, s", name, spent, f"{count:,} values"))
    return rows, extras


def report(database, rows, extras, command, seeded):
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"\n{database}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{memory:.0f} GiB; "
          f"`{command}`{'' if seeded is None else f'; seeded in {seeded:.0f} s'}\n")
    print("| request | 1,000: p50 / p99 ms, req/s | 200,000: p50 / p99 ms, req/s | p50 ratio | X-Total-Count |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, figures, notes in rows:
        small, big = figures["small"], figures["big"]
        print(f"| {label} | {small[0]:.2f} / {small[1]:.2f}, {small[2]:,.0f} | {big[0]:.2f} / {big[1]:.2f}, "
              f"{big[2]:,.0f} | {big[0] / small[0]:.2f} | {notes['small'] or '-'} / {notes['big'] or '-'} |")
    by_label = {}
    for label, name, value, note in extras:
        by_label.setdefault(label, {})[name] = (value, note)
    for label, values in by_label.items():
        small, big = values["small"], values["big"]
        ratio = big[0] / small[0]
        fmt = "{:,.0f}" if "rows/s" in label else "{:.3f}"
        print(f"| {label} | {fmt.format(small[0])} ({small[1]}) | {fmt.format(big[0])} ({big[1]}) | {ratio:.2f} | |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="PostgreSQL URL naming the benchmark's own database (created or emptied)")
    parser.add_argument("--sqlite", help="SQLite file (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="keep an already seeded database")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration per request and user")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="measure only the rows whose label contains TEXT (repeatable; default: every row)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (apt-get install -y wrk)")
    command = " ".join([Path(sys.executable).name, *sys.argv])
    scratch = Path(tempfile.mkdtemp(prefix="scale15-"))
    seeded = None
    try:
        if args.pg:
            database_url, fresh = prepare_postgresql(args.pg, args.reuse)
            path = None
            database = "PostgreSQL"
        else:
            path = Path(args.sqlite or scratch / "scale.sqlite3").resolve()
            fresh = not (args.reuse and path.exists())
            if fresh and path.exists():
                path.unlink()
            database_url = f"sqlite:///{path}"
            database = "SQLite"
        if fresh:
            migrate(database_url, scratch)
            seeded = seed(database_url, path)
            print(f"seeded {TOTAL_ENTRIES:,} entries in {seeded:.0f} s", file=sys.stderr)
        if path is None:
            vacuum(database_url)
        with live_server({"DATABASE_URL": database_url, "RATELIMIT_ENABLED": "false"}) as server:
            rows, extras = measure(server.base_url, database_url, args.seconds, args.only)
        report(database, rows, extras, command, seeded)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
