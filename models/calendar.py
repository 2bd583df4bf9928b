"""Working days and the length of every clock (RULES.md "Counting periods", R2.3).

A working day is a weekday that is not a Taiwan public holiday, plus the make-up working days
(補班); operator overrides (typhoon closures, extra make-up days) win over both.

Sources:
- Public holidays: `holidays.TW`, PUBLIC category only (the package's WORKDAY category lists
  commemorative days that are *not* days off). Names are in zh-TW.
- Make-up working days: the package records them in `HolidayBase.weekend_workdays` (filled from
  its DGPA-checked `special_public_holidays` substitutions). `KNOWN_MAKEUP_WORKDAYS` below adds the
  DGPA announcements for 2024-2027 so a package upgrade cannot silently drop one.
- Overrides: the `CalendarOverride` table, cached in-process per year (see `invalidate_cache`).

Every due date here is a *last day*: the clock ends at 23:59:59 Asia/Taipei of that day
(`deadline_utc`, `models.base.end_of_day_utc`).
"""
from __future__ import annotations

import calendar as _stdcal
import datetime as dt
import functools
import threading
import time
import unicodedata
from collections.abc import Callable

import holidays
import peewee
from holidays.constants import PUBLIC

from .base import TAIPEI, BaseModel, DomainError, db, end_of_day_utc, utcnow
from .events import record
from .settings import EXTENSION_RULES, PERIOD_RULES

# The lengths of the clocks are rule values: models/settings.py (PERIOD_RULES, EXTENSION_RULES).
RULES = PERIOD_RULES
EXTENSIONS = EXTENSION_RULES

# Make-up working Saturdays announced by the DGPA (行政院人事行政總處 政府行政機關辦公日曆表).
# - 2024 (113年): 02-17 (for 02-08).   - 2025 (114年): 02-08 (for 01-27).
# - 2026 (115年): none; holidays moved by the 2025 紀念日及節日實施條例 need no make-up day.
# - 2027 (116年): not announced when this was written; add it here, or by `flask calendar workday`.
KNOWN_MAKEUP_WORKDAYS: dict[dt.date, str] = {
    dt.date(2024, 2, 17): "補行上班（2024-02-08 調整放假）",
    dt.date(2025, 2, 8): "補行上班（2025-01-27 調整放假）",
}

KIND_CLOSED = "closed"  # typhoon / closure day (停班停課): not a working day
KIND_WORKDAY = "workday"  # extra make-up working day
KINDS = {KIND_CLOSED: "停止上班", KIND_WORKDAY: "補行上班"}
REASON_MAX = 200
MIN_YEAR, MAX_YEAR = 1998, 2200  # holidays.TW starts in 1998; the upper bound only stops runaways
OVERRIDE_CACHE_SECONDS = 2  # other processes (workers) see an operator's change within seconds
_BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class CalendarOverride(BaseModel):
    """An operator's decision about one day: closed (typhoon) or an extra working day."""

    day = peewee.DateField(unique=True)
    kind = peewee.CharField(max_length=16, constraints=[peewee.Check("kind IN ('closed', 'workday')")])
    reason = peewee.CharField(max_length=REASON_MAX)
    created_by = peewee.CharField(max_length=128, null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def kind_label(self) -> str:
        return KINDS.get(self.kind, self.kind)




# ---------------------------------------------------------------------------------------------
# Public holidays and make-up days (package data; cached per year, immutable).

@functools.lru_cache(maxsize=64)
def _holiday_year(year: int) -> tuple[dict[dt.date, str], frozenset[dt.date]]:
    """({public holiday: zh-TW name}, make-up working days) of one year."""
    if year < MIN_YEAR:
        return {}, frozenset()
    tw = holidays.TW(years=year, categories=(PUBLIC,), language="zh_TW")
    days = {day: name for day, name in sorted(tw.items()) if day.year == year}
    makeup = {d for d in getattr(tw, "weekend_workdays", set()) if d.year == year}
    makeup |= {d for d in KNOWN_MAKEUP_WORKDAYS if d.year == year}
    return days, frozenset(makeup)


def public_holidays(year: int) -> list[tuple[dt.date, str]]:
    """Taiwan's public holidays (days off, incl. observed and substituted days) of `year`, sorted."""
    return sorted(_holiday_year(int(year))[0].items())


def makeup_workdays(year: int) -> list[dt.date]:
    """The official make-up working days (補班, usually Saturdays) of `year`, sorted."""
    return sorted(_holiday_year(int(year))[1])


# ---------------------------------------------------------------------------------------------
# Operator overrides: one query per range of years, cached in-process.

_cache_lock = threading.Lock()
_override_cache: dict[int, tuple[float, dict[dt.date, str]]] = {}  # year -> (loaded at, {day: kind})


def invalidate_cache() -> None:
    """Forget the cached overrides (called by every change; call it after raw SQL changes too)."""
    with _cache_lock:
        _override_cache.clear()


def _overrides_for(year: int) -> dict[dt.date, str]:
    """{day: kind} of one year, loading the year before and after with the same query."""
    now = time.monotonic()
    with _cache_lock:
        hit = _override_cache.get(year)
        if hit is not None and now - hit[0] < OVERRIDE_CACHE_SECONDS:
            return hit[1]
    if db.obj is None:  # no database bound (pure date arithmetic, e.g. a unit test): no overrides
        return {}
    first, last = year - 1, year + 1
    loaded: dict[int, dict[dt.date, str]] = {y: {} for y in range(first, last + 1)}
    query = (CalendarOverride.select(CalendarOverride.day, CalendarOverride.kind)
             .where(CalendarOverride.day.between(dt.date(first, 1, 1), dt.date(last, 12, 31))))
    for day, kind in query.tuples():
        loaded[day.year][day] = kind
    with _cache_lock:
        for y, days in loaded.items():
            _override_cache[y] = (now, days)
    return loaded[year]


# ---------------------------------------------------------------------------------------------
# Day arithmetic.

def _as_date(day: dt.date) -> dt.date:
    if isinstance(day, dt.datetime):
        raise TypeError("pass a date (use models.base.taipei_date() for an instant)")
    if not isinstance(day, dt.date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def is_working_day(day: dt.date) -> bool:
    """R2.3: a weekday that is not a public holiday, or a make-up day; operator overrides win."""
    day = _as_date(day)
    kind = _overrides_for(day.year).get(day)
    if kind is not None:
        return kind == KIND_WORKDAY
    holiday_days, makeup = _holiday_year(day.year)
    if day in makeup:
        return True
    return day.weekday() < 5 and day not in holiday_days


def _step_limit(n: int) -> int:
    # Generous bound: even a year of closures cannot make us loop forever.
    return n * 7 + 3660


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The Nth working day after `day` (the day itself is not counted); n == 0 returns `day`."""
    day = _as_date(day)
    if n < 0:
        raise ValueError("n must be >= 0")
    current, found = day, 0
    for _ in range(_step_limit(n)):
        if found == n:
            return current
        current += dt.timedelta(days=1)
        if is_working_day(current):
            found += 1
    raise RuntimeError(f"no {n} working days found after {day}")


def add_calendar_days(day: dt.date, n: int) -> dt.date:
    """The Nth calendar day after `day`."""
    return _as_date(day) + dt.timedelta(days=n)


def add_months(day: dt.date, n: int) -> dt.date:
    """The last day of N months counted from the day after `day` (Civil Code §120 II, §121, §123).

    Counting starts the next day. When that is the 1st of a month, the period is N whole months and
    ends on the last day of the Nth month (02-28 + 1 = 03-31; 04-30 + 1 = 05-31). Otherwise it ends
    on the day before the start's date N months later, i.e. `day`'s date N months later, or that
    month's last day where it has no such date (01-30 + 1 = 02-28/29; 01-15 + 1 = 02-15).
    """
    day = _as_date(day)
    index = day.year * 12 + (day.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    month_end = _stdcal.monthrange(year, month)[1]
    if (day + dt.timedelta(days=1)).day == 1:  # §121 II first clause: whole months from the 1st
        return dt.date(year, month, month_end)
    return dt.date(year, month, min(day.day, month_end))


def next_working_day_on_or_after(day: dt.date) -> dt.date:
    """`day` if it is a working day, otherwise the first working day after it."""
    day = _as_date(day)
    current = day
    for _ in range(_step_limit(0)):
        if is_working_day(current):
            return current
        current += dt.timedelta(days=1)
    raise RuntimeError(f"no working day found after {day}")


def _count(unit: str, start: dt.date, length: int) -> dt.date:
    if unit == "working_days":
        return add_working_days(start, length)
    if unit == "months":
        return add_months(start, length)
    return add_calendar_days(start, length)


def due_date(rule: str, start: dt.date) -> dt.date:
    """The last day of the clock that RULE sets for an event on `start` (RULES.md R2.3).

    Working-day clocks (R9.2.1, R9.2.5) end on a working day by construction; agency duties
    (R9.4.4, R10.2) move to the next working day; participation windows (R9.3.2, R10.1.4) and
    the R9.3.3 notice day never move. Unknown rule: ValueError.
    """
    try:
        unit, length, moved = RULES[rule]
    except KeyError:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}") from None
    last = _count(unit, _as_date(start), length)
    return next_working_day_on_or_after(last) if moved else last


def extension_due(rule: str, original_due: dt.date) -> dt.date:
    """The last day after the one extension RULE allows (R9.4.4: +1 month, R10.2: +14 days).

    The length is added to `original_due` (the last day as the clock stood, already moved to a
    working day if it was), counted the same way, and moved to the next working day.
    """
    try:
        unit, length = EXTENSIONS[rule]
    except KeyError:
        raise ValueError(f"rule {rule!r} allows no extension; expected one of {', '.join(EXTENSIONS)}") from None
    return next_working_day_on_or_after(_count(unit, _as_date(original_due), length))


def deadline_utc(rule: str, start: dt.date) -> dt.datetime:
    """The instant (naive UTC) the clock of RULE ends: 23:59:59.999999 Asia/Taipei of `due_date`."""
    return end_of_day_utc(due_date(rule, start))


def today_taipei() -> dt.date:
    return dt.datetime.now(TAIPEI).date()


# ---------------------------------------------------------------------------------------------
# Operator actions.

def validate_reason(reason: str | None) -> str:
    """The trimmed reason, or DomainError (zh-TW) when empty, too long or with control characters."""
    text = (reason or "").strip()
    if not text:
        raise DomainError("請填寫原因。", code="reason_required")
    if len(text) > REASON_MAX:
        raise DomainError(f"原因不可超過 {REASON_MAX} 字。", code="reason_too_long")
    for ch in text:
        if unicodedata.category(ch) in {"Cc", "Zl", "Zp"} or ch in _BIDI_CONTROLS:
            raise DomainError("原因含有不允許的控制字元。", code="reason_invalid")
    return text


def _check_day(day: dt.date) -> dt.date:
    try:
        day = _as_date(day)
    except TypeError:
        raise DomainError("日期格式錯誤，請使用 YYYY-MM-DD。", code="bad_date") from None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        raise DomainError(f"日期須介於 {MIN_YEAR} 年至 {MAX_YEAR} 年之間。", code="bad_date")
    return day


def _audit(by: str | None, action: str, reason: str | None, detail: dict) -> None:
    record((by or "system:calendar")[:128], action, "calendar", None, reason=reason, detail=detail)


def _no_recompute(now: dt.datetime) -> None:
    return None


def add_override(day: dt.date, kind: str, reason: str, by: str | None = None, now: dt.datetime | None = None, *,
                 recompute: Callable[[dt.datetime], object] = _no_recompute) -> CalendarOverride:
    """Mark `day` closed (typhoon) or an extra working day; replaces any override of that day.

    `recompute(now)` runs afterwards in the same transaction (`models.deadlines` passes the one that
    moves every open clock); if it raises, the override is rolled back.
    """
    day = _check_day(day)
    if kind not in KINDS:
        raise DomainError("種類須為 closed（停止上班）或 workday（補行上班）。", code="bad_kind")
    text = validate_reason(reason)
    now = now or utcnow()
    try:
        with db.atomic():
            override = CalendarOverride.get_or_none(CalendarOverride.day == day)
            previous = override.kind if override else None
            if override is None:
                override = CalendarOverride(day=day)
            override.kind, override.reason, override.created_by = kind, text, by[:128] if by else None
            override.created_at = now
            override.save()
            _audit(by, f"calendar.{kind}", text, {"day": day.isoformat(), "previous": previous})
            invalidate_cache()
            recompute(now)
    finally:
        invalidate_cache()  # also after a rollback
    return override


def clear_override(day: dt.date, by: str | None = None, now: dt.datetime | None = None, *,
                   recompute: Callable[[dt.datetime], object] = _no_recompute) -> bool:
    """Remove the override of `day`; False when there was none (nothing changes, nobody is told)."""
    day = _check_day(day)
    now = now or utcnow()
    try:
        with db.atomic():
            override = CalendarOverride.get_or_none(CalendarOverride.day == day)
            if override is None:
                return False
            override.delete_instance()
            _audit(by, "calendar.clear", override.reason, {"day": day.isoformat(), "previous": override.kind})
            invalidate_cache()
            recompute(now)
    finally:
        invalidate_cache()
    return True


def list_overrides(year: int | None = None) -> list[CalendarOverride]:
    """Every override (of `year` if given), by day."""
    query = CalendarOverride.select().order_by(CalendarOverride.day)
    if year is not None:
        query = query.where(CalendarOverride.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return list(query)
