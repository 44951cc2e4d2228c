"""Migrations are the source of truth: upgrading an empty database yields exactly the models."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from customerdata import enable_migrations
from customerdata.extensions import db
from customerdata.models import (
    DDL_INDEXES,
    PARTIAL_INDEXES,
    POSTGRESQL_INDEXES,
    compared,
)


@pytest.fixture(autouse=True)
def migrations(app):
    """flask_migrate's functions on the test's app (create_app leaves that to `flask db`)."""
    enable_migrations(app)


def ddl_indexes(connection):
    """{name: definition} of the indexes the models create as DDL, as the database has them."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
    else:
        rows = connection.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes")
    return {name: " ".join(sql.split()) for name, sql in rows if name in DDL_INDEXES}


def test_upgrade_builds_the_schema_of_the_models(app):
    with app.app_context():
        with db.engine.connect() as connection:
            created = ddl_indexes(connection)
        expected = PARTIAL_INDEXES.keys() | (POSTGRESQL_INDEXES.keys() if db.engine.dialect.name == "postgresql" else set())
        assert created.keys() == expected
        db.drop_all()
        upgrade()
        try:
            with db.engine.connect() as connection:
                opts = {"compare_type": True, "include_object": compared}
                diff = compare_metadata(MigrationContext.configure(connection, opts=opts), db.metadata)
            assert diff == []
            assert {"users", "customers", "customer_data", "data_keys", "revoked_tokens"} <= set(
                inspect(db.engine).get_table_names())
            with db.engine.connect() as connection:
                assert ddl_indexes(connection) == created
            if db.engine.dialect.name == "sqlite":  # compare_metadata does not see AUTOINCREMENT
                with db.engine.connect() as connection:
                    tables = connection.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'").scalars().all()
                assert set(tables) == {"users", "customers", "customer_data", "data_keys", "changes", "webhook_endpoints",
                                       "webhook_deliveries", "webhook_attempts"}
        finally:
            downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")


def test_the_typed_keys_migration_fills_hashes_and_sizes_of_existing_entries(app):
    """Entries stored before typed keys get the hash of their value and the size of their file."""
    import hashlib
    import os

    from sqlalchemy import text

    with app.app_context():
        db.drop_all()
        upgrade(revision="75b33dd0c9ef")
        try:
            folder = os.path.join(app.config["UPLOAD_FOLDER"], "customer_data", "2024", "01", "15")
            os.makedirs(folder)
            with open(os.path.join(folder, "scan.pdf"), "wb") as fh:
                fh.write(b"x" * 1234)
            with db.engine.begin() as connection:
                connection.execute(text("INSERT INTO users (id, username, username_key, password_hash, created_at) "
                                        "VALUES (1, 'old', 'old', 'x', '2024-01-15 00:00:00')"))
                connection.execute(text("INSERT INTO customers (id, user_id, source, search_text, created_at, "
                                        "updated_at) VALUES (1, 1, 'unknown', '', '2024-01-15 00:00:00', "
                                        "'2024-01-15 00:00:00')"))
                for entry_id, key, value, path in ((1, "note", "Grüße", None),
                                                   (2, "scan", "", "customer_data/2024/01/15/scan.pdf"),
                                                   (3, "gone", "", "customer_data/2024/01/15/gone.pdf")):
                    connection.execute(text(
                        "INSERT INTO customer_data (id, customer_id, user_id, key, value, file, search_text, "
                        "created_at, updated_at) VALUES (:id, 1, 1, :key, :value, :file, '', "
                        "'2024-01-15 00:00:00', '2024-01-15 00:00:00')"),
                        {"id": entry_id, "key": key, "value": value, "file": path})
            upgrade()
            with db.engine.connect() as connection:
                rows = connection.execute(text(
                    "SELECT id, value_hash, file_size, number, instant, unique_hash FROM customer_data ORDER BY id"
                )).all()
            empty = hashlib.sha256(b"").hexdigest()
            assert [tuple(row) for row in rows] == [
                (1, hashlib.sha256("Grüße".encode()).hexdigest(), None, None, None, None),
                (2, empty, 1234, None, None, None),
                (3, empty, None, None, None, None),  # its file is missing: `storage sizes` reports it
            ]
        finally:
            downgrade(revision="base")
            with db.engine.begin() as connection:
                connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
