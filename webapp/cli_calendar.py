"""`flask calendar ...`: due dates and working-day overrides (INTERFACES.md, RULES.md R2.3).

The app factory registers it with `app.cli.add_command(calendar_cli)`.
"""
from __future__ import annotations

import datetime as dt
import getpass
import re
from typing import NoReturn

import click
from flask.cli import AppGroup

from models import calendar as cal
from models import calendar_years, deadlines
from models.base import DomainError

from .cli_time import parse_now

calendar_cli = AppGroup("calendar", help="工作日曆：期限計算與停班、補班設定（R2.3）。")

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
EXIT_USAGE = 2
EXIT_REFUSED = 1


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    click.echo(message, err=True)
    raise SystemExit(code)


def _parse_day(value: str) -> dt.date:
    """A strict YYYY-MM-DD date, or exit 2 with a zh-TW message."""
    text = (value or "").strip()
    try:
        if not _DATE_RE.match(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"日期格式錯誤：{value!r}，請使用 YYYY-MM-DD。")


def _operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"[:128]
    except (OSError, KeyError, ImportError):  # no login name (container without a passwd entry)
        return "cli"


@calendar_cli.command("due")
@click.argument("rule")
@click.argument("start")
def due_command(rule: str, start: str) -> None:
    """Print the last day (YYYY-MM-DD) of the clock RULE sets for an event on START."""
    rule = rule.strip().upper()
    if rule not in cal.RULES:
        _fail(f"未知的規則：{rule!r}。可用：{', '.join(cal.RULES)}")
    day = _parse_day(start)
    try:
        click.echo(cal.due_date(rule, day).isoformat())
    except (ValueError, OverflowError) as exc:
        _fail(f"無法計算期限：{exc}")


def _set(kind: str, date_text: str, reason: str) -> None:
    day = _parse_day(date_text)
    was_working = cal.is_working_day(day)
    try:
        override = deadlines.add_override(day, kind, reason, by=_operator())
    except DomainError as exc:
        _fail(exc.message, EXIT_REFUSED)
    note = ""
    if was_working == cal.is_working_day(day):
        note = f"（此日原本即為{'工作日' if was_working else '非工作日'}，期限不受影響）"
    click.echo(f"{override.day.isoformat()} 已設為{cal.KINDS[kind]}：{override.reason}{note}")
    click.echo("所有未屆期的期限已重新計算。")


@calendar_cli.command("close")
@click.argument("date")
@click.option("--reason", required=True, help="原因，例如「颱風停止上班」（200 字以內）。")
def close_command(date: str, reason: str) -> None:
    """Mark DATE closed (typhoon / 停班): not a working day."""
    _set(cal.KIND_CLOSED, date, reason)


@calendar_cli.command("workday")
@click.argument("date")
@click.option("--reason", required=True, help="原因，例如「補行上班」（200 字以內）。")
def workday_command(date: str, reason: str) -> None:
    """Mark DATE an extra make-up working day."""
    _set(cal.KIND_WORKDAY, date, reason)


@calendar_cli.command("clear")
@click.argument("date")
def clear_command(date: str) -> None:
    """Remove the override of DATE."""
    day = _parse_day(date)
    try:
        removed = deadlines.clear_override(day, by=_operator())
    except DomainError as exc:
        _fail(exc.message, EXIT_REFUSED)
    if removed:
        click.echo(f"{day.isoformat()} 的設定已移除；所有未屆期的期限已重新計算。")
    else:
        click.echo(f"{day.isoformat()} 沒有停班或補班設定，未變更。")


@calendar_cli.command("confirm")
@click.argument("year", type=click.IntRange(cal.MIN_YEAR, cal.MAX_YEAR))
@click.option("--now", "now_text", default=None, help="recompute clocks as of this instant (ISO-8601; naive = Asia/Taipei)")
def confirm_command(year: int, now_text: str | None) -> None:
    """Confirm YEAR's DGPA office calendar is entered; every open clock is recomputed."""
    try:
        calendar_years.confirm_year(year, by=_operator(), now=parse_now(now_text))
    except DomainError as exc:
        _fail(exc.message, EXIT_REFUSED)
    click.echo(f"{year} 年辦公日曆已確認；所有未屆期的期限已重新計算。")


@calendar_cli.command("list")
@click.option("--year", type=click.IntRange(cal.MIN_YEAR, cal.MAX_YEAR), default=None,
              help="西元年（預設：今年，臺北時間）。")
def list_command(year: int | None) -> None:
    """List the working-day overrides, make-up days and public holidays of a year."""
    year = year or cal.today_taipei().year
    overrides = cal.list_overrides(year)
    overridden = {o.day: o for o in overrides}
    click.echo(f"{year} 年 停班／補班設定（營運小組）：")
    if not overrides:
        click.echo("  （無）")
    for o in overrides:
        click.echo(f"  {o.day.isoformat()}  {o.kind}  {o.kind_label}  {o.reason}")
    click.echo(f"{year} 年 補行上班日（行政院人事行政總處）：")
    makeup = cal.makeup_workdays(year)
    if not makeup:
        click.echo("  （無）")
    for day in makeup:
        click.echo(f"  {day.isoformat()}  補行上班{_overridden_note(overridden.get(day))}")
    click.echo(f"{year} 年 國定假日（放假日）：")
    for day, name in cal.public_holidays(year):
        click.echo(f"  {day.isoformat()}  {name}{_overridden_note(overridden.get(day))}")


def _overridden_note(override: cal.CalendarOverride | None) -> str:
    return f"（已由設定改為{override.kind_label}）" if override is not None else ""
