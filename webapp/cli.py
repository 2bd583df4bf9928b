"""Flask CLI commands (INTERFACES.md): db, deadlines, mail, staff, agencies, calendar, line."""
from __future__ import annotations

import json
import sys
import time

import click
from flask import Flask
from flask.cli import AppGroup

from jobs.scheduler import run_forever
from jobs.sweep import run_sweep
from models import similar
from models.base import utcnow
from models.month_clocks import correct_month_clocks
from models.two_factor import seal_stored_secrets

from .cli_agencies import agencies_cli
from .cli_calendar import calendar_cli
from .cli_line import line_cli
from .cli_staff import staff_cli
from .cli_time import parse_now
from .mailparse import MailRejected, receive_raw_mail
from .schema import create_schema

db_cli = AppGroup("db", help="Create or upgrade the schema.")
deadlines_cli = AppGroup("deadlines", help="Apply the rules whose time has come.")
mail_cli = AppGroup("mail", help="Inbound email.")


@db_cli.command("init")
def db_init():
    """Create every table (idempotent)."""
    create_schema()
    click.echo("database ready")


@db_cli.command("migrate")
@click.option("--now", "now_text", default=None, help="judge open clocks as of this instant (ISO-8601; naive = Asia/Taipei)")
def db_migrate(now_text):
    """Create missing tables, apply in-place upgrades and correct stored clocks (idempotent)."""
    create_schema()
    click.echo(f"two-factor secrets encrypted: {seal_stored_secrets()}")  # stored in clear before (issue 11)
    # Clocks stored under the old month count (R2.3), every lapse included, as of --now.
    corrected = correct_month_clocks(parse_now(now_text) or utcnow(), everything=True)
    click.echo(f"month clocks corrected: {json.dumps(corrected, sort_keys=True)}")
    click.echo("database up to date")


@db_cli.command("reindex-similar")
def db_reindex_similar():
    """Build the similar-proposal index of every queued proposal (R9.1.4): the backfill after a deploy
    or a lexicon edit (`db migrate` queues them; searches also catch up, a few hundred at a time).  With a
    sentence model (SIMILAR_MODEL_DIR), embed every proposal still without its vectors too (its title, and its
    title with its content), saying how far it is."""
    create_schema()
    click.echo(f"similar-proposal index: {similar.refresh()} proposals analysed")
    if similar.vectors.enabled():
        started = time.monotonic()

        def progress(done: int) -> None:
            click.echo(f"  similar-proposal vectors: {done} proposals embedded so far ({time.monotonic() - started:.0f} s)")

        embedded = similar.vectors.catch_up(seconds=None, progress=progress)
        engine = similar.vectors.encoder().engine  # onnxruntime, or numpy: about twice as slow (bench/README.md)
        click.echo(f"similar-proposal vectors: {embedded} proposals embedded, each title and each title with its "
                   f"content (the model's layers run in {engine})")
    elif similar.vectors.status():
        click.echo(f"similar-proposal vectors: not in use ({similar.vectors.status()})")


@deadlines_cli.command("sweep")
@click.option("--now", "now_text", default=None, help="apply rules as of this instant (ISO-8601; naive = Asia/Taipei)")
def deadlines_sweep(now_text):
    """Apply every rule whose time has come (idempotent, safe to run concurrently)."""
    results = run_sweep(parse_now(now_text))
    click.echo(json.dumps(results, ensure_ascii=False, sort_keys=True))
    if any(v < 0 for v in results.values()):
        sys.exit(1)


@deadlines_cli.command("scheduler")
@click.option("--interval", default=60, show_default=True, help="seconds between sweeps")
def deadlines_scheduler(interval):
    """Enqueue the sweep every minute (the Procfile's scheduler process)."""
    run_forever(interval)


@mail_cli.command("inbound")
def mail_inbound():
    """Read one raw RFC 822 message on stdin and process it (Postfix pipe transport)."""
    raw = sys.stdin.buffer.read(11 * 1024 * 1024)
    try:
        outcome = receive_raw_mail(raw)
    except MailRejected as rejected:
        click.echo(f"rejected: {rejected}", err=True)
        sys.exit(65)  # EX_DATAERR: the MTA bounces it
    click.echo(outcome)


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(deadlines_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(calendar_cli)
    app.cli.add_command(agencies_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(line_cli)
