"""The `--now` option of the commands that judge clocks (time travel for the sweep, migrations, calendars)."""
from __future__ import annotations

import datetime as dt

import click

from models.base import TAIPEI, to_utc_naive


def parse_now(value: str | None) -> dt.datetime | None:
    """ISO-8601; a naive value is Asia/Taipei time. Returns naive UTC."""
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-12-03T09:00 or 2026-12-03T01:00:00+00:00") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=TAIPEI)
    return to_utc_naive(parsed)
