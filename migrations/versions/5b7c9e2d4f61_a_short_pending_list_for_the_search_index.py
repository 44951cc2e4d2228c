"""a short pending list for the trigram index of search

A GIN index takes new entries into a pending list first (fastupdate) and merges them in batches;
every search reads the whole list, unindexed, before the index itself. PostgreSQL's default lets
it grow to 4 MB: with 254 pending pages after a few bulk writes, each of a search's two statements
(count and page) spent 1.1 ms more in the list, for every user, whatever their entries. At 256 kB
a scan reads at most 32 pending pages (about 0.1 ms), and a single-row insert costs the same as
with the default (about 200 µs, against 300 µs with no pending list at all). The list there now
is merged into the index here.

Revision ID: 5b7c9e2d4f61
Revises: 3f8e2b6c1d47
Create Date: 2026-12-04 23:40:00.000000

"""
from alembic import op

# whichever of them the earlier migrations made (the second one needs btree_gin)
SEARCH_INDEXES = ('ix_customer_data_user_search_trgm', 'ix_customer_data_search_trgm')
PENDING_LIST_KB = 256


# revision identifiers, used by Alembic.
revision = '5b7c9e2d4f61'
down_revision = '3f8e2b6c1d47'
branch_labels = None
depends_on = None


def _existing():
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        return []
    return [name for name in SEARCH_INDEXES
            if bind.exec_driver_sql(f"SELECT to_regclass('{name}') IS NOT NULL").scalar()]


def upgrade():
    for name in _existing():
        op.execute(f'ALTER INDEX {name} SET (gin_pending_list_limit = {PENDING_LIST_KB})')
        op.execute(f"SELECT gin_clean_pending_list('{name}')")


def downgrade():
    for name in _existing():
        op.execute(f'ALTER INDEX {name} RESET (gin_pending_list_limit)')
