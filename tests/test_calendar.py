"""Counting periods (RULES.md R2.3) and the `calendar` CLI (INTERFACES.md)."""
from __future__ import annotations

import datetime as dt

import flask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models import calendar as cal
from models import deadlines
from models.base import DomainError

D = dt.date.fromisoformat


@pytest.fixture(autouse=True)
def _fresh_calendar_cache():
    """The conftest truncates tables without telling the calendar; start and end every test clean."""
    cal.invalidate_cache()
    yield
    cal.invalidate_cache()


@pytest.fixture
def listener_calls(monkeypatch):
    """Record each run of the deadlines' recomputation (models.deadlines.RECOMPUTATIONS) for one test."""
    calls: list[str] = []
    monkeypatch.setattr(deadlines, "RECOMPUTATIONS", [("test", lambda now: calls.append("changed"))])
    return calls


@pytest.fixture
def cli(db):
    from webapp.cli_calendar import calendar_cli

    app = flask.Flask(__name__)
    app.cli.add_command(calendar_cli)
    return app.test_cli_runner()


# --- R2.3 working days --------------------------------------------------------------------------

@pytest.mark.parametrize("day, working", [
    ("2026-11-27", True),   # Friday
    ("2026-11-28", False),  # Saturday
    ("2026-11-29", False),  # Sunday
    ("2026-02-13", True),   # last working day before Lunar New Year 2026
    ("2026-02-14", False), ("2026-02-16", False), ("2026-02-17", False),  # Lunar New Year 2026...
    ("2026-02-20", False), ("2026-02-22", False),  # ...holidays Feb 14-22
    ("2026-02-23", True),
    ("2026-02-27", False),  # Peace Memorial Day (observed, 02-28 is a Saturday)
    ("2026-10-26", False),  # Taiwan Restoration Day (observed), PUBLIC since 2025
    ("2026-12-25", False),  # Constitution Day, a day off again since 2025
    ("2024-12-25", True),   # ...but a working day in 2024
    ("2025-02-08", True),   # make-up Saturday (for 2025-01-27)
    ("2024-02-17", True),   # make-up Saturday (for 2024-02-08)
    ("2025-01-27", False),  # the day off it paid for
    ("2026-03-12", True),   # Arbor Day: WORKDAY category, not a day off
])
def test_r2_3_working_day(day, working):
    assert cal.is_working_day(D(day)) is working


def test_r2_3_makeup_days_come_from_package_data():
    assert cal.makeup_workdays(2025) == [D("2025-02-08")]
    assert cal.makeup_workdays(2024) == [D("2024-02-17")]
    assert cal.makeup_workdays(2026) == []


def test_r2_3_public_holidays_are_public_category_in_zh_tw():
    names = dict(cal.public_holidays(2026))
    assert names[D("2026-01-01")] == "中華民國開國紀念日"
    assert D("2026-03-12") not in names  # Arbor Day is not a day off
    assert all(day.year == 2026 for day in names)


@pytest.mark.parametrize("start, n, expected", [
    ("2026-11-27", 3, "2026-12-02"),  # Friday: Mon, Tue, Wed
    ("2026-11-28", 1, "2026-11-30"),  # from a Saturday
    ("2026-02-12", 3, "2026-02-24"),  # across Lunar New Year 2026
    ("2026-02-13", 1, "2026-02-23"),
    ("2025-02-06", 3, "2025-02-10"),  # counts make-up Saturday 2025-02-08
    ("2026-12-30", 2, "2027-01-04"),  # across the year end and 2027-01-01
    ("2026-11-27", 0, "2026-11-27"),
])
def test_r2_3_add_working_days(start, n, expected):
    assert cal.add_working_days(D(start), n) == D(expected)


@pytest.mark.parametrize("start, n, expected", [
    ("2026-01-30", 1, "2026-02-28"),
    ("2026-01-31", 1, "2026-02-28"),
    ("2028-01-31", 1, "2028-02-29"),  # leap year
    ("2026-03-31", 1, "2026-04-30"),
    ("2026-12-31", 1, "2027-01-31"),
    ("2026-12-31", 2, "2027-02-28"),
    ("2026-11-30", 3, "2027-02-28"),
    ("2026-02-28", 1, "2026-03-31"),  # counting starts 03-01: one whole month, to 03-31 (§121 II)
    ("2026-04-30", 1, "2026-05-31"),
    ("2026-02-28", 2, "2026-04-30"),
    ("2026-01-15", 1, "2026-02-15"),  # not from a 1st: the event's date a month later
    ("2028-02-28", 1, "2028-03-28"),  # leap year: counting starts 02-29, not a 1st
    ("2028-02-29", 1, "2028-03-31"),
    ("2028-01-30", 1, "2028-02-29"),
])
def test_r2_3_add_months(start, n, expected):
    assert cal.add_months(D(start), n) == D(expected)


def _civil_code_last_day(event: dt.date, months: int) -> dt.date:
    """§120–§123 read literally, written independently of models.calendar.

    §120 II: the event day is not counted; the period starts the next day. §121 II: a period of
    months that does not start at the beginning of a month ends on the day before the day of the
    last month that corresponds to the start day; where the last month has no such day, on its last
    day. A period starting on the 1st is whole months (§123 I), ending the day before the 1st of the
    month N months on.
    """
    start = event + dt.timedelta(days=1)
    first_of_start = start.replace(day=1)
    target = first_of_start
    for _ in range(months):
        target = (target + dt.timedelta(days=31)).replace(day=1)
    if start.day == 1:
        return target - dt.timedelta(days=1)
    following = (target + dt.timedelta(days=31)).replace(day=1)
    corresponding = target + dt.timedelta(days=start.day - 1)
    if corresponding >= following:  # no such day in the last month: its last day
        return following - dt.timedelta(days=1)
    return corresponding - dt.timedelta(days=1)


@settings(max_examples=3000, deadline=None)
@given(event=st.dates(min_value=dt.date(1998, 1, 1), max_value=dt.date(2199, 10, 31)),
       months=st.integers(min_value=1, max_value=3))
def test_r2_3_add_months_is_civil_code_120_to_123(event, months):
    assert cal.add_months(event, months) == _civil_code_last_day(event, months)


@settings(max_examples=500, deadline=None)
@given(event=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_r2_3_participation_windows_are_civil_code_months_never_moved(event):
    assert cal.due_date("R9.3.2", event) == _civil_code_last_day(event, 1)
    assert cal.due_date("R10.1.4", event) == _civil_code_last_day(event, 2)
    duty = cal.due_date("R9.4.4", event)
    assert duty == cal.next_working_day_on_or_after(_civil_code_last_day(event, 2))
    assert cal.extension_due("R9.4.4", duty) == cal.next_working_day_on_or_after(_civil_code_last_day(duty, 1))


def test_r2_3_add_calendar_days_and_next_working_day():
    assert cal.add_calendar_days(D("2026-12-31"), 1) == D("2027-01-01")
    assert cal.next_working_day_on_or_after(D("2026-02-14")) == D("2026-02-23")
    assert cal.next_working_day_on_or_after(D("2026-11-27")) == D("2026-11-27")


def test_r2_3_rejects_datetimes_and_negative_counts():
    with pytest.raises(TypeError):
        cal.is_working_day(dt.datetime(2026, 11, 27, 12))
    with pytest.raises(ValueError):
        cal.add_working_days(D("2026-11-27"), -1)


# --- due dates per rule --------------------------------------------------------------------------

@pytest.mark.parametrize("rule, start, expected", [
    ("R9.2.1", "2026-11-27", "2026-12-02"),   # RULES.md example
    ("R9.2.1", "2026-02-12", "2026-02-24"),   # Lunar New Year 2026
    ("R9.2.1", "2025-02-06", "2025-02-10"),   # make-up Saturday counts
    ("R9.2.5", "2026-11-27", "2026-12-04"),
    ("R9.2.5", "2026-02-11", "2026-02-25"),
    ("R9.3.2", "2026-01-30", "2026-02-28"),   # RULES.md example; Saturday and holiday, not moved
    ("R9.3.2", "2028-01-31", "2028-02-29"),   # leap year
    ("R9.3.2", "2026-03-31", "2026-04-30"),
    ("R9.3.3", "2026-12-31", "2027-01-01"),   # the next calendar day, even a holiday
    ("R9.4.4", "2026-06-01", "2026-08-03"),   # 08-01 is a Saturday: moved to Monday
    ("R9.4.4", "2026-08-10", "2026-10-12"),   # 10-10 National Day (Sat): Monday
    ("R9.4.4", "2026-08-25", "2026-10-27"),   # 10-25 Sunday, 10-26 observed holiday
    ("R9.4.4", "2026-05-31", "2026-07-31"),   # Friday, unchanged
    ("R10.1.4", "2026-08-10", "2026-10-10"),  # never moved
    ("R10.1.4", "2025-12-31", "2026-02-28"),
    ("R10.2", "2026-09-26", "2026-10-12"),    # 10-10 Saturday: moved
    ("R10.2", "2026-11-13", "2026-11-27"),    # Friday, unchanged
    ("R10.2", "2026-02-01", "2026-02-23"),    # 02-15 inside Lunar New Year: moved after it
])
def test_r2_3_due_date(rule, start, expected):
    assert cal.due_date(rule, D(start)) == D(expected)


@pytest.mark.parametrize("rule, original, expected", [
    ("R9.4.4", "2026-03-31", "2026-04-30"),
    ("R9.4.4", "2026-12-31", "2027-02-01"),  # 2027-01-31 is a Sunday
    ("R10.2", "2026-11-27", "2026-12-11"),
    ("R10.2", "2026-10-12", "2026-10-27"),   # 10-26 observed holiday
])
def test_r9_4_4_and_r10_2_extension_due(rule, original, expected):
    assert cal.extension_due(rule, D(original)) == D(expected)


# Month ends, every month clock (RULES.md R2.3: counting starts the day after; from a 1st, whole months).
@pytest.mark.parametrize("event, expected", [
    ("2026-02-28", "2026-03-31"),  # not 03-28
    ("2026-04-30", "2026-05-31"),  # a Sunday: windows never move
    ("2026-06-30", "2026-07-31"),
    ("2026-09-30", "2026-10-31"),  # a Saturday, not moved
    ("2026-11-30", "2026-12-31"),
    ("2026-01-30", "2026-02-28"),
    ("2026-01-15", "2026-02-15"),
    ("2028-01-30", "2028-02-29"),  # leap year
    ("2028-02-28", "2028-03-28"),  # leap year: counting starts 02-29
    ("2028-02-29", "2028-03-31"),
])
def test_r9_3_2_seconding_window_month_ends(event, expected):
    assert cal.due_date("R9.3.2", D(event)) == D(expected)


@pytest.mark.parametrize("notice, expected", [
    ("2026-02-28", "2026-04-30"),  # 2 whole months from 03-01 (not 04-28)
    ("2026-04-30", "2026-06-30"),
    ("2026-06-30", "2026-08-31"),
    ("2026-09-30", "2026-11-30"),
    ("2026-11-30", "2027-02-01"),  # 2027-01-31 is a Sunday: the duty moves to Monday
    ("2027-12-31", "2028-02-29"),  # leap year
    ("2028-02-28", "2028-04-28"),
    ("2028-02-29", "2028-05-02"),  # 04-30 Sunday, 05-01 Labour Day
])
def test_r9_4_4_response_month_ends(notice, expected):
    assert cal.due_date("R9.4.4", D(notice)) == D(expected)


@pytest.mark.parametrize("original, expected", [
    ("2026-04-30", "2026-06-01"),  # 05-31 (a Sunday), moved; not 05-30
    ("2026-06-30", "2026-07-31"),
    ("2026-09-30", "2026-11-02"),  # 10-31 Saturday
    ("2026-11-30", "2026-12-31"),
    ("2026-02-27", "2026-03-27"),
    ("2028-02-28", "2028-03-28"),  # leap year
    ("2028-02-29", "2028-03-31"),
])
def test_r9_4_4_extension_month_ends(original, expected):
    assert cal.extension_due("R9.4.4", D(original)) == D(expected)


@pytest.mark.parametrize("opens, expected", [
    ("2026-02-28", "2026-04-30"),
    ("2026-04-30", "2026-06-30"),
    ("2026-06-30", "2026-08-31"),
    ("2026-09-30", "2026-11-30"),
    ("2026-11-30", "2027-01-31"),  # a Sunday: never moved
    ("2027-12-31", "2028-02-29"),  # leap year
    ("2028-02-28", "2028-04-28"),
])
def test_r10_1_4_consultation_month_ends(opens, expected):
    assert cal.due_date("R10.1.4", D(opens)) == D(expected)


def test_r2_3_unknown_rule_is_refused():
    with pytest.raises(ValueError):
        cal.due_date("R9.9.9", D("2026-11-27"))
    with pytest.raises(ValueError):
        cal.extension_due("R9.3.2", D("2026-11-27"))


def test_r2_3_deadline_is_end_of_last_day_taipei():
    # 2026-12-02 23:59:59.999999 +08:00 == 15:59:59.999999 UTC
    assert cal.deadline_utc("R9.2.1", D("2026-11-27")) == dt.datetime(2026, 12, 2, 15, 59, 59, 999999)


# --- operator overrides ---------------------------------------------------------------------------

def test_r2_3_typhoon_closure_moves_working_day_clock(db, listener_calls):
    start = D("2026-11-27")
    assert cal.due_date("R9.2.1", start) == D("2026-12-02")
    deadlines.add_override(D("2026-12-01"), "closed", "颱風停止上班", by="staff:1")
    assert not cal.is_working_day(D("2026-12-01"))
    assert cal.due_date("R9.2.1", start) == D("2026-12-03")
    assert deadlines.clear_override(D("2026-12-01")) is True
    assert cal.due_date("R9.2.1", start) == D("2026-12-02")
    assert listener_calls == ["changed", "changed"]
    assert deadlines.clear_override(D("2026-12-01")) is False
    assert listener_calls == ["changed", "changed"]


def test_r2_3_workday_override_on_saturday(db, listener_calls):
    deadlines.add_override(D("2026-11-28"), "workday", "補行上班")
    assert cal.is_working_day(D("2026-11-28"))
    assert cal.due_date("R9.2.1", D("2026-11-27")) == D("2026-12-01")
    assert [(o.day, o.kind, o.reason) for o in cal.list_overrides(2026)] == [
        (D("2026-11-28"), "workday", "補行上班")]


def test_r2_3_override_replaces_previous_and_moves_agency_duty(db, listener_calls):
    # R10.2 due 2026-11-27 (Friday); closing it moves the duty to Monday.
    deadlines.add_override(D("2026-11-27"), "workday", "先設為補班")
    deadlines.add_override(D("2026-11-27"), "closed", "颱風停止上班")
    assert [o.kind for o in cal.list_overrides()] == ["closed"]
    assert cal.due_date("R10.2", D("2026-11-13")) == D("2026-11-30")
    assert cal.due_date("R10.1.4", D("2026-09-27")) == D("2026-11-27")  # windows never move


def test_r2_3_override_near_year_end_is_seen_from_previous_year(db):
    cal.add_override(D("2027-01-04"), "closed", "颱風停止上班")
    assert cal.add_working_days(D("2026-12-30"), 2) == D("2027-01-05")


def test_r2_3_failing_listener_rolls_back_override(db, monkeypatch):
    def boom(now):
        raise RuntimeError("recompute failed")

    monkeypatch.setattr(deadlines, "RECOMPUTATIONS", [("test", boom)])
    with pytest.raises(RuntimeError):
        deadlines.add_override(D("2026-12-01"), "closed", "颱風停止上班")
    assert cal.list_overrides() == []
    assert cal.is_working_day(D("2026-12-01"))


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201, "颱風\n停班", "a\x00b", "\u202etext"])
def test_r2_3_override_reason_is_validated(db, reason):
    with pytest.raises(DomainError):
        cal.add_override(D("2026-12-01"), "closed", reason)
    assert cal.list_overrides() == []


def test_r2_3_override_kind_is_validated(db):
    with pytest.raises(DomainError):
        cal.add_override(D("2026-12-01"), "holiday", "理由")


# --- CLI (INTERFACES.md) -------------------------------------------------------------------------

@pytest.mark.parametrize("rule, start, expected", [
    ("R9.2.1", "2026-11-27", "2026-12-02"),
    ("R9.3.2", "2026-01-30", "2026-02-28"),
    ("R9.3.2", "2026-02-28", "2026-03-31"),
    ("R9.3.2", "2026-04-30", "2026-05-31"),
    ("R9.4.4", "2026-02-28", "2026-04-30"),
    ("R9.4.4", "2026-06-01", "2026-08-03"),
    ("R10.1.4", "2026-11-30", "2027-01-31"),
    ("R10.2", "2026-09-26", "2026-10-12"),
])
def test_r2_3_cli_due(cli, rule, start, expected):
    result = cli.invoke(args=["calendar", "due", rule, start])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == expected


@pytest.mark.parametrize("args", [
    ["R9.9.9", "2026-11-27"], ["R9.2.1", "2026-02-30"], ["R9.2.1", "27/11/2026"], ["R9.2.1", "20261127"],
])
def test_r2_3_cli_due_bad_input_exits_2(cli, args):
    result = cli.invoke(args=["calendar", "due", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip()


def test_r2_3_cli_close_clear_workday_list(cli):
    result = cli.invoke(args=["calendar", "close", "2026-12-01", "--reason", "颱風停止上班"])
    assert result.exit_code == 0, result.output
    assert cli.invoke(args=["calendar", "due", "R9.2.1", "2026-11-27"]).stdout.strip() == "2026-12-03"

    assert cli.invoke(args=["calendar", "clear", "2026-12-01"]).exit_code == 0
    assert cli.invoke(args=["calendar", "due", "R9.2.1", "2026-11-27"]).stdout.strip() == "2026-12-02"

    result = cli.invoke(args=["calendar", "workday", "2026-11-28", "--reason", "補行上班"])
    assert result.exit_code == 0, result.output
    assert cli.invoke(args=["calendar", "due", "R9.2.1", "2026-11-27"]).stdout.strip() == "2026-12-01"

    listing = cli.invoke(args=["calendar", "list", "--year", "2026"])
    assert listing.exit_code == 0, listing.output
    assert "2026-11-28  workday" in listing.stdout
    assert "2026-02-17  春節" in listing.stdout
    assert cal.list_overrides()[0].created_by.startswith("cli")


def test_r2_3_cli_refuses_bad_reason_and_date(cli):
    result = cli.invoke(args=["calendar", "close", "2026-12-01", "--reason", " "])
    assert result.exit_code == 1
    assert "原因" in result.stderr
    assert cli.invoke(args=["calendar", "close", "2026-13-01", "--reason", "颱風"]).exit_code == 2
    assert cli.invoke(args=["calendar", "close", "2026-12-01"]).exit_code == 2  # --reason required
    assert cal.list_overrides() == []
