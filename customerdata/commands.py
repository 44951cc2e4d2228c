"""flask CLI for operators: thin commands that call the services, like routes do."""
import click

from flask.cli import AppGroup

from .accounts import service as accounts
from .auth import issue_tokens
from .errors import ServiceError
from .message import service as message
from .models import CUSTOMER_SOURCES

users = AppGroup("users", help="Manage user accounts.")
customers = AppGroup("customers", help="Manage customers.")


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
    customer = message.create_customer(owner_id, **args)
    click.echo(f"Created customer {customer.id}: {customer.display_name}")


def register_commands(app):
    app.cli.add_command(users)
    app.cli.add_command(customers)
