"""flask CLI for operators: thin commands that call the services, like routes do."""
import csv
import sys
from datetime import timedelta

import click
import orjson
from flask import current_app
from flask.cli import AppGroup

from .accounts import service as accounts
from .auth import issue_tokens
from .errors import ServiceError
from .message import customers as customer_records
from .message import entries
from .models import CUSTOMER_SOURCES

users = AppGroup("users", help="Manage user accounts.")
customers = AppGroup("customers", help="Manage customers.")
storage = AppGroup("storage", help="Check, repair and migrate stored files against entry rows.")
tokens = AppGroup("tokens", help="Maintain the token revocation list.")
customer_data = AppGroup("customer-data", help="Export customer data entries.")
changes = AppGroup("changes", help="Maintain the change log.")
idempotency_keys = AppGroup("idempotency", help="Maintain the kept answers of Idempotency-Key requests.")


def _user_or_fail(username):
    user = accounts.find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username!r}.")
    return user


def _validated(schema, data):
    """Run CLI input through the same schema as the API, so both accept the same values."""
    errors = schema.validate(data)
    if errors:
        raise click.ClickException("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items()))
    return schema.load(data)


@users.command("create")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--email", default=None)
def create_user(username, password, email):
    """Create a user (the password is prompted unless given)."""
    from .accounts.schemas import RegisterSchema

    args = _validated(RegisterSchema(), {"username": username, "password": password, "email": email})
    try:
        user = accounts.register(**args)
    except ServiceError as error:
        raise click.ClickException(str(error.body())) from None
    click.echo(f"Created user {user.username} (id {user.id}).")


@users.command("list")
def list_users():
    """List users: id, username, email, created."""
    for user in accounts.list_users():
        click.echo(f"{user.id}\t{user.username}\t{user.email or '-'}\t{user.created_at:%Y-%m-%d %H:%M}")


@users.command("token")
@click.argument("username")
def user_token(username):
    """Print a fresh access token for USERNAME."""
    click.echo(issue_tokens(_user_or_fail(username).id)["access"])


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_user(username, yes):
    """Delete USERNAME with their customers, entries and files."""
    user = _user_or_fail(username)
    if not yes:
        click.confirm(f"Delete {user.username} and everything they own?", abort=True)
    accounts.delete_user(user)
    click.echo(f"Deleted user {username}.")


@customers.command("create")
@click.option("--owner", required=True, help="Username of the owning user.")
@click.option("--first-name")
@click.option("--last-name")
@click.option("--username")
@click.option("--email")
@click.option("--phone-number")
@click.option("--source", type=click.Choice(CUSTOMER_SOURCES), default="unknown", show_default=True)
def create_customer(owner, **fields):
    """Create a customer owned by OWNER; prints its id."""
    from .message.schemas import CustomerCreateSchema

    owner_id = _user_or_fail(owner).id
    args = _validated(CustomerCreateSchema(), {k: v for k, v in fields.items() if v is not None})
    customer = customer_records.create_customer(owner_id, **args)
    click.echo(f"Created customer {customer.id}: {customer.display_name}")


MIN_AGE = click.option("--min-age", default=10, show_default=True, type=click.IntRange(0),
                       help="Minutes a file without a row must have existed to count as orphaned "
                            "(younger ones may belong to uploads in flight).")


def _report(found):
    for path in found.orphans:
        click.echo(f"orphaned file (no row): {path}")
    for entry_id, path in found.dangling:
        click.echo(f"missing file of entry {entry_id}: {path}")
    click.echo(f"{len(found.orphans)} orphaned file(s), {len(found.dangling)} entry row(s) without their file.")


@storage.command("check")
@MIN_AGE
def storage_check(min_age):
    """Report files without a row and rows without a file; exit 1 when there are any."""
    from .message import file_audit

    found = file_audit.audit(timedelta(minutes=min_age))
    _report(found)
    if not found.clean:
        sys.exit(1)


@storage.command("repair")
@MIN_AGE
@click.option("--dry-run", is_flag=True, help="Only say what would be done.")
def storage_repair(min_age, dry_run):
    """Delete orphaned files and clear the file of rows whose file is gone."""
    from .message import file_audit

    found = file_audit.audit(timedelta(minutes=min_age))
    _report(found)
    if dry_run:
        click.echo("Dry run: nothing changed.")
        return
    file_audit.repair(found)
    click.echo(f"Repaired: deleted {len(found.orphans)} file(s), cleared {len(found.dangling)} row(s).")


@storage.command("sizes")
def storage_sizes():
    """Store the size of files kept before sizes were (a file key's max_size checks it)."""
    from .message import file_audit

    filled, unreadable = file_audit.fill_sizes()
    click.echo(f"Stored the size of {filled} file(s); {unreadable} could not be read (see storage check).")
    if unreadable:
        sys.exit(1)


@storage.command("migrate")
@click.option("--to", "target", type=click.Choice(["s3", "local"]), required=True,
              help="Backend to copy to; files come from the other (local = UPLOAD_FOLDER, s3 = S3_*).")
@click.option("--dry-run", is_flag=True, help="Only list the files that would be copied.")
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1),
              help="Entry rows read per query.")
def storage_migrate(target, dry_run, batch_size):
    """Copy every file an entry references to the TARGET backend; resumable, deletes nothing.

    Paths stay the same, so after the copy switch STORAGE_BACKEND and run this again to pick up
    files uploaded in between.
    """
    from collections import Counter

    from .message import storage_migration as migration

    try:
        source_name, source, destination = migration.backends(target)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    counts, problems = Counter(), []
    with click.progressbar(length=migration.count_files(), label=f"Copying {source_name} -> {target}",
                           file=sys.stderr) as bar:
        for step in migration.migrate(source, destination, batch_size, dry_run):
            counts[step.outcome] += 1
            if step.outcome == migration.WOULD_COPY:
                click.echo(f"would copy: {step.path} ({step.size} bytes)")
            elif step.outcome in migration.PROBLEMS:
                problems.append(step)
            bar.update(1)
    for step in problems:
        click.echo(f"{step.outcome}: {step.path} (entry {step.entry_id})")
    click.echo(", ".join(f"{counts[outcome]} {outcome}" for outcome in (
        migration.WOULD_COPY if dry_run else migration.COPIED, migration.PRESENT, migration.GONE,
        migration.MISSING, migration.CONFLICT)) + ".")
    if dry_run:
        click.echo("Dry run: nothing copied.")
    if problems:
        sys.exit(1)


@tokens.command("purge")
def tokens_purge():
    """Delete revocation rows of tokens that have expired anyway."""
    click.echo(f"Purged {accounts.purge_expired_tokens()} expired revocation(s).")


@changes.command("purge")
def changes_purge():
    """Delete changes older than CHANGES_RETENTION_DAYS (cron: daily); 0 keeps them forever."""
    from .message import history

    click.echo(f"Purged {history.purge()} change(s) older than {current_app.config['CHANGES_RETENTION_DAYS']} "
               "day(s).")


@idempotency_keys.command("purge")
def idempotency_purge():
    """Delete Idempotency-Keys (and their kept answers) older than IDEMPOTENCY_HOURS (cron: hourly)."""
    from . import idempotency

    click.echo(f"Purged {idempotency.purge()} expired Idempotency-Key(s).")


EXPORT_FIELDS = ("id", "customer", "user", "key", "value", "file", "file_name", "customer_name",
                 "created_at", "updated_at")


@customer_data.command("export")
@click.option("--owner", required=True, help="Username whose entries are exported.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True),
              help="File to write (default: standard output).")
def export_customer_data(owner, fmt, output):
    """Export every entry of OWNER as JSON or CSV, streamed in batches."""
    from .message.schemas import CustomerDataSchema
    from .serialization import row_dumper

    owner_id = _user_or_fail(owner).id
    dump = row_dumper(CustomerDataSchema(only=EXPORT_FIELDS))
    total = entries.count_entries(owner_id)
    with click.open_file(output or "-", "w", encoding="utf-8") as out:
        _write_export(out, fmt, dump, entries.iter_entries_for_export(owner_id), total, show_progress=bool(output))
    if output:
        click.echo(f"Exported {total} entr{'y' if total == 1 else 'ies'} of {owner} to {output}.", err=True)


def _write_export(output, fmt, dump, rows, total, show_progress):
    with click.progressbar(length=total, label="Exporting", file=sys.stderr, hidden=not show_progress) as bar:
        if fmt == "csv":
            writer = csv.DictWriter(output, fieldnames=EXPORT_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow(dump([row])[0])
                bar.update(1)
        else:
            output.write("[")
            for index, row in enumerate(rows):
                output.write(("," if index else "") + "\n" + orjson.dumps(dump([row])[0]).decode())
                bar.update(1)
            output.write("\n]\n")


def register_commands(app):
    from .webhooks.commands import webhooks

    for group in (users, customers, storage, tokens, customer_data, changes, idempotency_keys, webhooks):
        app.cli.add_command(group)
