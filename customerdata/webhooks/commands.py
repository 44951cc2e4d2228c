"""`flask webhooks worker` and `flask webhooks purge`."""
import click
from flask import current_app
from flask.cli import AppGroup

webhooks = AppGroup("webhooks", help="Deliver webhooks and maintain their logs.")


@webhooks.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 256), help="Endpoints served at once "
              "(default: WEBHOOKS_CONCURRENCY).")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (cron, tests).")
def worker_command(concurrency, once):
    """Send pending deliveries until SIGTERM; several workers may share one PostgreSQL."""
    from . import delivery, worker

    if once:
        worker.check_settings(current_app.config)  # run() checks them itself
        click.echo(f"Made {delivery.deliver_due()} delivery attempt(s).")
        return
    worker.run(current_app._get_current_object(), concurrency)


@webhooks.command("purge")
def purge_command():
    """Delete finished deliveries older than WEBHOOKS_LOG_DAYS (cron: daily)."""
    from . import service

    click.echo(f"Purged {service.purge()} finished deliver(ies) older than "
               f"{current_app.config['WEBHOOKS_LOG_DAYS']} day(s).")
