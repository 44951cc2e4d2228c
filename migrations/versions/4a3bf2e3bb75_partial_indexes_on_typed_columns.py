"""index typed columns and unique hashes only where they are set

`number`, `instant` and `unique_hash` are null for every value of a key without a definition (or
not of that type, or not `unique`); their indexes now leave those rows out, so such writes update
three indexes fewer. The lookups that use them (`number >= …`, `instant < …`, a unique value)
imply the column is not null, which both databases take as licence to use a partial index.

Revision ID: 4a3bf2e3bb75
Revises: 0602173a277f
Create Date: 2026-12-04 17:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

# SQLite's batch mode rebuilds the table; ids must still never be reused
KEEP_AUTOINCREMENT = {"sqlite_autoincrement": True}
PARTIAL_INDEXES = (
    'CREATE INDEX ix_customer_data_user_key_number ON customer_data (user_id, "key", number) '
    'WHERE number IS NOT NULL',
    'CREATE INDEX ix_customer_data_user_key_instant ON customer_data (user_id, "key", instant) '
    'WHERE instant IS NOT NULL',
    'CREATE UNIQUE INDEX uq_customer_data_user_id_key_unique_hash ON customer_data (user_id, "key", unique_hash) '
    'WHERE unique_hash IS NOT NULL',
)


# revision identifiers, used by Alembic.
revision = '4a3bf2e3bb75'
down_revision = '0602173a277f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('customer_data', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint('uq_customer_data_user_id_key_unique_hash', type_='unique')
        batch_op.drop_index('ix_customer_data_user_key_number')
        batch_op.drop_index('ix_customer_data_user_key_instant')
    for statement in PARTIAL_INDEXES:
        op.execute(statement)


def downgrade():
    for name in ('uq_customer_data_user_id_key_unique_hash', 'ix_customer_data_user_key_instant',
                 'ix_customer_data_user_key_number'):
        op.execute(f'DROP INDEX {name}')
    with op.batch_alter_table('customer_data', schema=None, table_kwargs=KEEP_AUTOINCREMENT) as batch_op:
        batch_op.create_index('ix_customer_data_user_key_instant', ['user_id', 'key', 'instant'], unique=False)
        batch_op.create_index('ix_customer_data_user_key_number', ['user_id', 'key', 'number'], unique=False)
        batch_op.create_unique_constraint('uq_customer_data_user_id_key_unique_hash',
                                          ['user_id', 'key', 'unique_hash'])
