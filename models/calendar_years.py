"""Which years' office calendars are confirmed (R2.3): DGPA make-up days and closures entered.

The DGPA (行政院人事行政總處) publishes each year's 政府行政機關辦公日曆表, usually in the summer
before. Until the operations team has checked it against the holidays package and entered its
make-up days and adjusted days off (`flask calendar workday/close`), working-day clocks reaching
into that year may be wrong. From October of the year before, such a year is flagged on the
console home; confirming it (console or `flask calendar confirm YEAR`) records who checked it and
recomputes every open clock as of the given `now`.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar
from .base import BaseModel, DomainError, taipei_date, utcnow
from .deadlines import recompute_open_clocks
from .events import record
from .outbox import unit_of_work

# Years whose DGPA calendar was checked when the code was written (models.calendar.KNOWN_MAKEUP_WORKDAYS).
CONFIRMED_IN_CODE = frozenset({2024, 2025, 2026})
FLAG_FROM_MONTH = 10  # October of the year before


class CalendarYear(BaseModel):
    """The operations team's confirmation that a year's office calendar is entered in full."""

    year = peewee.IntegerField(unique=True)
    confirmed_at = peewee.DateTimeField(default=utcnow)
    confirmed_by = peewee.CharField(max_length=128, null=True)




def is_confirmed(year: int) -> bool:
    """True when the year's office calendar was confirmed (in code or by the operations team)."""
    return year in CONFIRMED_IN_CODE or CalendarYear.select().where(CalendarYear.year == year).exists()


def years_to_confirm(now: dt.datetime | None = None) -> list[int]:
    """Unconfirmed years that clocks may already reach: this one, and from October the next."""
    today = taipei_date(now or utcnow())
    years = [today.year] + ([today.year + 1] if today.month >= FLAG_FROM_MONTH else [])
    return [year for year in years if not is_confirmed(year)]


def confirm_year(year: int, by: str | None = None, now: dt.datetime | None = None) -> CalendarYear:
    """Record that `year`'s DGPA calendar is entered, and recompute every open clock as of `now`."""
    if not calendar.MIN_YEAR <= year <= calendar.MAX_YEAR:
        raise DomainError(f"年份須介於 {calendar.MIN_YEAR} 年至 {calendar.MAX_YEAR} 年之間。", code="bad_year")
    if is_confirmed(year):
        raise DomainError(f"{year} 年的辦公日曆已確認過。", code="already_confirmed")
    now = now or utcnow()
    with unit_of_work():  # one transaction: the confirmation and every clock it recomputes
        row = CalendarYear.create(year=year, confirmed_at=now, confirmed_by=(by or "")[:128] or None)
        record((by or "system:calendar")[:128], "calendar.year_confirmed", "calendar", None,
               detail={"year": year}, now=now)
        calendar.invalidate_cache()
        recompute_open_clocks(now)
    return row
