"""the customer's id last in the indexes of typed values and of value hashes

A segment ordered by a typed value walks (user_id, key, number|instant, customer_id) in the
requested direction and meets its customers in the order the list answers them (ties by -id)
with no sort; its count reads the customers of a condition's entries from the index alone
(index-only scans) instead of one table row per matching entry.

Revision ID: 9c1e5d7f2a40
Revises: 4a3bf2e3bb75
Create Date: 2026-12-04 17:45:00.000000

"""
from alembic import op

TYPED = {  # partial, as the models create them (models.PARTIAL_INDEXES); {} takes the customer's id
    'ix_customer_data_user_key_number': 'CREATE INDEX ix_customer_data_user_key_number ON customer_data '
                                        '(user_id, "key", number{}) WHERE number IS NOT NULL',
    'ix_customer_data_user_key_instant': 'CREATE INDEX ix_customer_data_user_key_instant ON customer_data '
                                         '(user_id, "key", instant{}) WHERE instant IS NOT NULL',
}


# revision identifiers, used by Alembic.
revision = '9c1e5d7f2a40'
down_revision = '4a3bf2e3bb75'
branch_labels = None
depends_on = None


def _typed(with_customer):
    for name, statement in TYPED.items():
        op.execute(f'DROP INDEX {name}')
        op.execute(statement.format(', customer_id' if with_customer else ''))


def _hashes(columns):
    op.drop_index('ix_customer_data_user_key_value_hash', table_name='customer_data')
    op.create_index('ix_customer_data_user_key_value_hash', 'customer_data', columns, unique=False)


def upgrade():
    _hashes(['user_id', 'key', 'value_hash', 'customer_id'])
    _typed(True)


def downgrade():
    _typed(False)
    _hashes(['user_id', 'key', 'value_hash'])
