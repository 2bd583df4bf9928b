"""Flask CLI commands (INTERFACES.md): db, deadlines, mail, staff, agencies, calendar, line."""
from __future__ import annotations

import datetime as dt
import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup

db_cli = AppGroup("db", help="Create or upgrade the schema.")
deadlines_cli = AppGroup("deadlines", help="Apply the rules whose time has come.")
mail_cli = AppGroup("mail", help="Inbound email.")


@db_cli.command("init")
def db_init():
    """Create every table (idempotent)."""
    from models import create_tables

    create_tables()
    click.echo("database ready")


@db_cli.command("migrate")
def db_migrate():
    """Create missing tables and apply in-place upgrades (idempotent)."""
    from models import create_tables

    create_tables()
    click.echo("database up to date")


@db_cli.command("reindex-similar")
def db_reindex_similar():
    """Build the similar-proposal index of every queued proposal (R9.1.4): the backfill after a deploy
    or a lexicon edit (`db migrate` queues them; searches also catch up, a few hundred at a time)."""
    from models import create_tables
    from models.similar import refresh

    create_tables()
    click.echo(f"similar-proposal index: {refresh()} proposals analysed")


def parse_now(value: str | None) -> dt.datetime | None:
    """ISO-8601; a naive value is Asia/Taipei time. Returns naive UTC."""
    if not value:
        return None
    from models.base import TAIPEI, to_utc_naive

    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-12-03T09:00 or 2026-12-03T01:00:00+00:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=TAIPEI)
    return to_utc_naive(parsed)


@deadlines_cli.command("sweep")
@click.option("--now", "now_text", default=None, help="apply rules as of this instant (ISO-8601; naive = Asia/Taipei)")
def deadlines_sweep(now_text):
    """Apply every rule whose time has come (idempotent, safe to run concurrently)."""
    from jobs.sweep import run_sweep

    results = run_sweep(parse_now(now_text))
    click.echo(json.dumps(results, ensure_ascii=False, sort_keys=True))
    if any(v < 0 for v in results.values()):
        sys.exit(1)


@deadlines_cli.command("scheduler")
@click.option("--interval", default=60, show_default=True, help="seconds between sweeps")
def deadlines_scheduler(interval):
    """Enqueue the sweep every minute (the Procfile's scheduler process)."""
    from jobs.scheduler import run_forever

    run_forever(interval)


@mail_cli.command("inbound")
def mail_inbound():
    """Read one raw RFC 822 message on stdin and process it (Postfix pipe transport)."""
    from models.inbound import MailRejected, receive_mail

    raw = sys.stdin.buffer.read(11 * 1024 * 1024)
    try:
        outcome = receive_mail(raw)
    except MailRejected as rejected:
        click.echo(f"rejected: {rejected}", err=True)
        sys.exit(65)  # EX_DATAERR: the MTA bounces it
    click.echo(outcome)


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_cli)
    app.cli.add_command(deadlines_cli)
    app.cli.add_command(mail_cli)
    for module_name, attr in (("webapp.cli_calendar", "calendar_cli"), ("webapp.cli_agencies", "agencies_cli"),
                              ("webapp.cli_staff", "staff_cli"), ("webapp.cli_line", "line_cli"),
                              ("webapp.cli_dev", "dev_cli")):
        try:
            module = __import__(module_name, fromlist=[attr])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        app.cli.add_command(getattr(module, attr))
