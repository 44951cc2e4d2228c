"""SQLAlchemy models. Times are naive UTC on every database."""
import hashlib
from datetime import UTC, datetime

from sqlalchemy import (
    DDL,
    JSON,
    BigInteger,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)


def same_as_created(context):
    """Insert default for updated_at: the very instant written to created_at."""
    return context.get_current_parameters()["created_at"]


def hash_of_value(context):
    """Insert default for value_hash, so every way of adding a row keeps it (the typed write sets it too)."""
    return hashlib.sha256(context.get_current_parameters()["value"].encode("utf-8", "surrogatepass")).hexdigest()


def compared(obj, name, type_, reflected, compare_to):
    """Alembic's include_object: all but the indexes the models create as DDL (DDL_INDEXES)."""
    return name not in DDL_INDEXES


def fold(text):
    """The form searched and compared: case folded for all of Unicode, the same on every database."""
    return (text or "").casefold()


class User(db.Model):
    __tablename__ = "users"
    # SQLite would otherwise hand a deleted row's id to the next one; ids are never reused
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150))
    # casefolded username: uniqueness regardless of case, enforced by the database
    username_key: Mapped[str] = mapped_column(String(600), unique=True)
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


CUSTOMER_SOURCES = ("unknown", "instagram", "telegram", "whatsapp")


class Customer(db.Model):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    username: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(250))
    phone_number: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(20), default="unknown")
    # folded copy of the searchable fields, one per line, so a term never spans two fields
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=same_as_created)

    __table_args__ = (Index("ix_customers_user_created", "user_id", "created_at", "id"),
                      {"sqlite_autoincrement": True})

    SEARCHED = ("first_name", "last_name", "username", "email", "phone_number")

    def index_for_search(self):
        self.search_text = "\n".join(fold(getattr(self, name)) for name in self.SEARCHED)

    @property
    def display_name(self):
        return display_name(self.id, self.first_name, self.last_name, self.username, self.source)


def display_name(customer_id, first_name, last_name, username, source):
    name = f"{first_name or ''} {last_name or ''}".strip()
    if name and username:
        return f"{name} (@{username}) | {source}"
    if name:
        return f"{name} | {source}"
    if username:
        return f"@{username} | {source}"
    return f"Customer {customer_id} | {source}"


SEARCH_INDEX = "ix_customer_data_user_search_trgm"


class CustomerData(db.Model):
    """One key-value entry (with an optional file) that a user keeps about a customer."""

    __tablename__ = "customer_data"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text, default="")
    # stored path relative to the storage root (customer_data/YYYY/MM/DD/name), and the client's name
    file: Mapped[str | None] = mapped_column(String(500))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    # folded key and value, one per line, so a search term never spans the two
    search_text: Mapped[str] = mapped_column(Text, default="")
    # the typed form of the value under its key's definition (message/value_types.py): numbers,
    # booleans and choice positions in `number`, dates and times (UTC) in `instant`; without a
    # definition, the number of a decimal in canonical form (value_types.untyped), which nothing
    # the key answers reads
    number: Mapped[float | None] = mapped_column(Double)
    instant: Mapped[datetime | None]
    # SHA-256 of the value: equality of values up to 1 MiB through an index any of them fits;
    # `unique_hash` holds it only under a `unique` definition, where the database refuses a repeat
    value_hash: Mapped[str] = mapped_column(String(64), default=hash_of_value)
    unique_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=same_as_created)

    __table_args__ = (
        UniqueConstraint("customer_id", "user_id", "key"),
        # the customer last: a segment's count reads a condition's customers from the index alone
        Index("ix_customer_data_user_key_value_hash", "user_id", "key", "value_hash", "customer_id"),
        Index("ix_customer_data_user_created", "user_id", "created_at", "id"),
        # one customer's entries, newest first: both equalities lead, so no database prefers
        # scanning all of the owner's entries (which it did with a customer-first index)
        Index("ix_customer_data_user_customer_created", "user_id", "customer_id", "created_at", "id"),
        # the export's pages in id order, whatever plan a prepared statement settles on
        Index("ix_customer_data_user_id", "user_id", "id"),
        {"sqlite_autoincrement": True},
    )

    @staticmethod
    def search_text_for(key, value):
        return f"{fold(key)}\n{fold(value)}"


# Indexes declared as DDL, created after the table (and by their migrations), left out of
# Alembic's comparison (`compared`); tests/test_migrations.py compares their definitions itself.
# Partial ones, the same on both databases: untyped values have no instant or unique_hash, and a
# number only when they are a decimal in canonical form (value_types.untyped), so most of their
# writes skip these three indexes (SQLAlchemy takes an index's WHERE only per dialect, and
# postgresql_where would load PostgreSQL's dialect into every worker).
# The customer comes last in the typed ones: a segment ordered by a typed value walks the index
# in the order it answers (ties by -id), and a count reads the customers from the index alone.
PARTIAL_INDEXES = {
    "ix_customer_data_user_key_number": 'CREATE INDEX {name} ON customer_data (user_id, "key", number, '
                                        "customer_id) WHERE number IS NOT NULL",
    "ix_customer_data_user_key_instant": 'CREATE INDEX {name} ON customer_data (user_id, "key", instant, '
                                         "customer_id) WHERE instant IS NOT NULL",
    # under a `unique` definition the database refuses a repeated value
    "uq_customer_data_user_id_key_unique_hash": 'CREATE UNIQUE INDEX {name} ON customer_data (user_id, "key", '
                                                "unique_hash) WHERE unique_hash IS NOT NULL",
}
# PostgreSQL: search's LIKE '%term%' over the folded text goes through trigrams instead of reading
# every entry of the owner. The owner is in the same GIN index (btree_gin), so a search finds the
# owner's matches alone: with trigrams only, it ANDed the matches of every user with a bitmap of
# all the owner's entries (migrations 0602173a277f and 3f8e2b6c1d47 go on without the extensions
# when they cannot be had). New entries wait in the index's pending list, which every search reads
# whole: it is kept to 256 kB, not PostgreSQL's 4 MB (migration 5b7c9e2d4f61).
SEARCH_EXTENSIONS = ("pg_trgm", "btree_gin")
POSTGRESQL_INDEXES = {
    SEARCH_INDEX: "CREATE INDEX {name} ON customer_data USING gin (user_id, search_text gin_trgm_ops) "
                  "WITH (gin_pending_list_limit = 256)",
}
DDL_INDEXES = PARTIAL_INDEXES.keys() | POSTGRESQL_INDEXES.keys()

for _extension in SEARCH_EXTENSIONS:
    event.listen(CustomerData.__table__, "before_create",
                 DDL(f"CREATE EXTENSION IF NOT EXISTS {_extension}").execute_if(dialect="postgresql"))
for _name, _sql in PARTIAL_INDEXES.items():
    event.listen(CustomerData.__table__, "after_create", DDL(_sql.format(name=_name)))
for _name, _sql in POSTGRESQL_INDEXES.items():
    event.listen(CustomerData.__table__, "after_create", DDL(_sql.format(name=_name)).execute_if(dialect="postgresql"))


DATA_KEY_TYPES = ("text", "integer", "decimal", "boolean", "date", "datetime", "email", "url", "phone", "choice",
                  "multi_choice", "file")


class DataKey(db.Model):
    """A user's definition of one key: its type and constraints (message/value_types.py)."""

    __tablename__ = "data_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(20))
    label: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    archived: Mapped[bool] = mapped_column(default=False)
    # bounds in the canonical text of the type (numbers, dates, times)
    min: Mapped[str | None] = mapped_column(String(40))
    max: Mapped[str | None] = mapped_column(String(40))
    min_length: Mapped[int | None]
    max_length: Mapped[int | None]
    pattern: Mapped[str | None] = mapped_column(String(500))
    choices: Mapped[list | None] = mapped_column(JSON)  # [{"value": ..., "label": ...}]
    region: Mapped[str | None] = mapped_column(String(2))
    max_size: Mapped[int | None] = mapped_column(BigInteger)
    extensions: Mapped[list | None] = mapped_column(JSON)
    unique: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=same_as_created)

    __table_args__ = (UniqueConstraint("user_id", "key"), {"sqlite_autoincrement": True})


CHANGE_KINDS = ("customer.created", "customer.updated", "customer.deleted", "entry.created", "entry.updated",
                "entry.deleted", "data_key.created", "data_key.updated", "data_key.deleted")
CHANGE_SOURCES = ("api", "bulk", "import", "definition", "revert", "cli")
# 64-bit ids; SQLite gives a rowid (its own 64-bit integer) only to a column typed INTEGER
CHANGE_ID = BigInteger().with_variant(Integer, "sqlite")


class Change(db.Model):
    """One committed write of a customer, an entry or a definition (message/changes.py)."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(CHANGE_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(20))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # ids, not foreign keys: a change outlives what it changed (history of deleted entries, tombstones)
    customer_id: Mapped[int | None]
    entry_id: Mapped[int | None]
    data_key_id: Mapped[int | None]
    # the entry's key after the change (before it, for a delete) and, on a rename, before it
    entry_key: Mapped[str | None] = mapped_column(String(255))
    entry_key_before: Mapped[str | None] = mapped_column(String(255))
    changes: Mapped[dict] = mapped_column(JSON)
    data: Mapped[dict | None] = mapped_column(JSON)  # the resource as answered right after the change
    deleted_data_count: Mapped[int | None]
    # PostgreSQL: the id of the writing transaction, which orders the feed so that no change is
    # passed over while an older transaction is still open; 0 on SQLite, whose writers take turns
    txid: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_changes_user_txid", "user_id", "txid", "id"),
        Index("ix_changes_user_customer", "user_id", "customer_id", "id"),
        Index("ix_changes_user_entry", "user_id", "entry_id", "id"),
        {"sqlite_autoincrement": True},
    )


class ChangePurge(db.Model):
    """Per user, the feed position up to which `flask changes purge` removed changes."""

    __tablename__ = "change_purges"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         autoincrement=False)
    txid: Mapped[int] = mapped_column(BigInteger)
    change_id: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(db.Model):
    """A POST's Idempotency-Key and, once it ran, its kept answer (customerdata/idempotency.py)."""

    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request (idempotency.fingerprint)
    status: Mapped[int | None]  # null while the first request runs
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)

    __table_args__ = (UniqueConstraint("user_id", "key"),)


class RevokedToken(db.Model):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(db.Model):
    """A URL a user's changes are delivered to (customerdata/webhooks)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)  # as the user gave them, ["*"] included
    event_mask: Mapped[int]  # a bit per change kind it takes (webhooks/events.py): the outbox matches on it
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    secret: Mapped[str] = mapped_column(String(64))
    # after a rotation the old secret signs beside the new one until previous_secret_until
    previous_secret: Mapped[str | None] = mapped_column(String(64))
    previous_secret_until: Mapped[datetime | None]
    # the first failure since the last success: three days of nothing but failures disable it
    failing_since: Mapped[datetime | None]
    # the delivery worker that serves it now, until when (a killed worker's lease runs out)
    leased_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=same_as_created)


class WebhookDelivery(db.Model):
    """One event for one endpoint: an outbox row written in its change's transaction."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(CHANGE_ID, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    change_id: Mapped[int | None] = mapped_column(BigInteger)  # none for webhook.test
    customer_id: Mapped[int | None]  # the change's, so that erasing a customer finds its deliveries
    event_id: Mapped[str] = mapped_column(String(40))  # webhook-id: one per change, kept by redeliveries
    type: Mapped[str] = mapped_column(String(30))
    event_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10))  # pending, delivered or failed
    next_attempt_at: Mapped[datetime | None]
    attempt_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(index=True)

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_due", "endpoint_id", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_customer", "customer_id"),
        {"sqlite_autoincrement": True},
    )


class WebhookAttempt(db.Model):
    """One try at a delivery, as the delivery log shows it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(CHANGE_ID, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
                                             index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(255))
    duration_ms: Mapped[int]
    response: Mapped[str] = mapped_column(Text, default="")  # the first 1,024 bytes of the answer, as text

    __table_args__ = ({"sqlite_autoincrement": True},)
