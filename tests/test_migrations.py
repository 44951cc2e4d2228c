"""Migrations are the source of truth: upgrading an empty database yields exactly the models."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from customerdata.extensions import db


def test_upgrade_builds_the_schema_of_the_models(app):
    with app.app_context():
        db.drop_all()
        upgrade()
        try:
            with db.engine.connect() as connection:
                diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                        db.metadata)
            assert diff == []
            assert {"users", "customers", "customer_data", "data_keys", "revoked_tokens"} <= set(
                inspect(db.engine).get_table_names())
            if db.engine.dialect.name == "sqlite":  # compare_metadata does not see AUTOINCREMENT
                with db.engine.connect() as connection:
                    tables = connection.exec_driver_sql(
                        "SELECT name FROM sqlite_master WHERE sql LIKE '%AUTOINCREMENT%'").scalars().all()
                assert set(tables) == {"users", "customers", "customer_data", "data_keys"}
        finally:
            downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
