"""Search on PostgreSQL goes through the trigram index (models.SEARCH_INDEX) with the contract's
semantics, and a database without the index is named in the log, once."""
import logging

import pytest
from sqlalchemy import create_engine, text

from customerdata.database import configure_engine
from customerdata.extensions import db
from customerdata.listing import LIKE_ESCAPE, like_pattern
from customerdata.models import SEARCH_INDEX, CustomerData


@pytest.fixture
def postgresql(postgresql_app):
    with postgresql_app.app_context():
        yield postgresql_app


STORED = {"Ärger im Büro": "école", "100% sure": "percent", "100 sure": "plain", "a_b": "underscore",
          "axb": "x", "path/to": "slash", "ΩΜΈΓΑ": "omega"}
# term searched -> keys found, as the contract has it: Unicode case folding, % _ / taken literally
EXPECTED = {"ärger": {"école"}, "BÜRO": {"école"}, "0% s": {"percent"}, "a_b": {"underscore"},
            "h/t": {"slash"}, "ωμέγα": {"omega"}, "sure": {"percent", "plain"}}


def _owner_and_customer(app):
    """A user registered through the API and a customer of theirs: (user id, customer id)."""
    registered = app.test_client().post("/api/accounts/register",
                                        json={"username": "alice", "password": "alice-password-1"})
    owner = registered.get_json()["id"]
    with db.engine.begin() as connection:
        customer = connection.execute(text("INSERT INTO customers (user_id, source, search_text, created_at, "
                                           "updated_at) VALUES (:u, 'unknown', '', now(), now()) RETURNING id"),
                                      {"u": owner}).scalar()
    return owner, customer


def test_search_through_the_trigram_index_keeps_the_contracts_semantics(postgresql):
    owner, customer = _owner_and_customer(postgresql)
    with db.engine.begin() as connection:
        for value, key in STORED.items():
            connection.execute(text("INSERT INTO customer_data (customer_id, user_id, key, value, search_text, "
                                    "value_hash, created_at, updated_at) VALUES (:c, :u, :k, :v, :s, '', now(), "
                                    "now())"),
                               {"c": customer, "u": owner, "k": key, "v": value,
                                "s": CustomerData.search_text_for(key, value)})
        # many entries of the owner that match no term, so that reading them all would cost
        connection.execute(text("INSERT INTO customer_data (customer_id, user_id, key, value, search_text, value_hash, "
                                "created_at, updated_at) SELECT :c, :u, 'filler' || n, 'filler', 'filler' || n || "
                                "E'\\nfiller', '', now(), now() FROM generate_series(1, 5000) AS n"),
                           {"c": customer, "u": owner})
        connection.execute(text(f"SELECT gin_clean_pending_list('{SEARCH_INDEX}')"))  # as autovacuum would
        connection.execute(text("ANALYZE customer_data"))
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        query = text(f"SELECT key FROM customer_data WHERE user_id = CAST(:u AS integer) AND search_text LIKE :p ESCAPE '{LIKE_ESCAPE}'")
        plan = "\n".join(connection.execute(text(f"EXPLAIN {query.text}"),
                                            {"u": owner, "p": like_pattern("ärger")}).scalars())
        assert SEARCH_INDEX in plan
        # the owner and the trigrams both in the index's condition: no bitmap of all the owner's entries
        assert "user_id =" in plan.split("Index Cond:")[1].split("\n")[0], plan
        for term, keys in EXPECTED.items():
            found = set(connection.execute(query, {"u": owner, "p": like_pattern(term.casefold())}).scalars())
            assert found == keys, term


def test_a_database_without_the_search_index_is_logged_once(postgresql, caplog):
    with db.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {SEARCH_INDEX}"))
    engine = create_engine(db.engine.url)
    configure_engine(engine)
    try:
        with caplog.at_level(logging.WARNING, logger="customerdata.database"):
            for _ in range(2):
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                engine.dispose()  # the next connect is a new connection
        warnings = [record for record in caplog.records if record.name == "customerdata.database"]
        assert len(warnings) == 1 and "trigram" in warnings[0].getMessage()
    finally:
        engine.dispose()


def test_a_database_with_the_search_index_logs_nothing(postgresql, caplog):
    engine = create_engine(db.engine.url)
    configure_engine(engine)
    try:
        with caplog.at_level(logging.WARNING, logger="customerdata.database"):
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        assert not [record for record in caplog.records if record.name == "customerdata.database"]
    finally:
        engine.dispose()


def test_a_search_reads_a_short_pending_list_however_many_writes_came_before(postgresql):
    """New entries wait in the GIN index's pending list, which every search reads whole; at
    PostgreSQL's 4 MB the 4,000 entries below leave some 300 pages there, at the index's 256 kB at
    most 32."""
    owner, customer = _owner_and_customer(postgresql)
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE customer_data SET (autovacuum_enabled = false)"))  # it would merge the list
        connection.execute(text("INSERT INTO customer_data (customer_id, user_id, key, value, search_text, value_hash, "
                                "created_at, updated_at) SELECT :c, :u, 'note' || n, 'v', 'note' || n || "
                                "E'\\nthe quick brown fox ' || md5(n::text) || ' jumps over the lazy dog', '', now(), "
                                "now() FROM generate_series(1, 4000) AS n"),
                           {"c": customer, "u": owner})
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE customer_data"))  # a plain ANALYZE leaves the list as it is
        # the planner counts the pending pages in the index's cost, and with a long list reads the table instead
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL enable_indexscan = off"))
        plan = connection.execute(text(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM customer_data "
            "WHERE user_id = CAST(:u AS integer) AND search_text LIKE '%zebra%'"), {"u": owner}).scalar()
    scans = []

    def walk(node):
        if node["Node Type"] == "Bitmap Index Scan":
            scans.append(node)
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    assert [scan["Index Name"] for scan in scans] == [SEARCH_INDEX], plan
    pages = scans[0]["Shared Hit Blocks"] + scans[0]["Shared Read Blocks"]
    assert pages <= 40, pages
