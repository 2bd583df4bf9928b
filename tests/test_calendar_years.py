"""A year whose office calendar (DGPA make-up days and closures) is not confirmed is flagged from
October of the year before; confirming it, in the console or the CLI, recomputes open clocks (R2.3)."""
from __future__ import annotations

import datetime as dt
import html

import pytest

from models import calendar, calendar_years, deadlines
from models.base import TAIPEI, to_utc_naive
from models.calendar_years import CalendarYear
from models.events import AuditEvent
from models.proposals import Proposal
from tests.factories import reload, submitted_proposal
from tests.fixtures_console import console_post, ensure_agencies


def taipei(*args) -> dt.datetime:
    return to_utc_naive(dt.datetime(*args, tzinfo=TAIPEI))


@pytest.fixture(autouse=True)
def _fresh_calendar(db):
    calendar.invalidate_cache()
    yield
    calendar.invalidate_cache()


def _pin(monkeypatch, *when):
    monkeypatch.setattr(calendar_years, "utcnow", lambda: taipei(*when))


def _home(client) -> str:
    return html.unescape(client.get("/console/").get_data(as_text=True))


@pytest.mark.parametrize("when, flagged", [
    ((2026, 9, 30, 23, 0), []),        # September: not yet
    ((2026, 10, 1, 8, 0), [2027]),     # from October of the year before
    ((2027, 3, 1, 9, 0), [2027]),      # and through the year itself
    ((2025, 11, 1, 9, 0), []),         # 2026 is confirmed in code
])
def test_r2_3_unconfirmed_office_calendar_flagged_from_october(when, flagged, monkeypatch):
    _pin(monkeypatch, *when)
    assert calendar_years.years_to_confirm() == flagged


def test_r2_3_console_home_flags_and_ops_confirm_the_year(ops_client, agency_client, monkeypatch):
    _pin(monkeypatch, 2026, 10, 15, 9, 0)
    page = _home(ops_client)
    assert "2027 年（民國 116 年）辦公日曆尚未確認" in page and "/console/calendar?year=2027" in page
    assert "辦公日曆尚未確認" not in _home(agency_client)  # the team's task
    calendar_page = html.unescape(ops_client.get("/console/calendar?year=2027").get_data(as_text=True))
    assert "2027 年辦公日曆：尚未確認" in calendar_page

    refused = console_post(agency_client, "/console/calendar/years/2027/confirm", token_from="/console/calendar")
    assert refused.status_code == 403 and CalendarYear.select().count() == 0

    response = console_post(ops_client, "/console/calendar/years/2027/confirm", token_from="/console/calendar?year=2027")
    assert response.status_code == 302
    assert CalendarYear.get(CalendarYear.year == 2027).confirmed_by.startswith("staff:")
    assert AuditEvent.select().where(AuditEvent.action == "calendar.year_confirmed").count() == 1
    assert "辦公日曆尚未確認" not in _home(ops_client)
    assert "2027 年辦公日曆：已確認" in html.unescape(ops_client.get("/console/calendar?year=2027").get_data(as_text=True))
    again = console_post(ops_client, "/console/calendar/years/2027/confirm", token_from="/console/calendar?year=2027",
                         follow_redirects=True)
    assert "已確認過" in html.unescape(again.get_data(as_text=True))
    assert CalendarYear.select().count() == 1


def test_r2_3_cli_confirm_recomputes_clocks_reaching_into_the_year_as_of_now(runner, monkeypatch):
    ensure_agencies()
    # Submitted Wednesday 2026-12-30: 12-31, (01-01 holiday), 01-04, 01-05 -> due 2027-01-05.
    proposal = submitted_proposal(now=taipei(2026, 12, 30, 10, 0))
    assert proposal.review_due == dt.date(2027, 1, 5)
    # A clock another process dated before the year's calendar was entered in full.
    Proposal.update(review_due=dt.date(2027, 1, 4)).where(Proposal.id == proposal.id).execute()
    seen = []
    monkeypatch.setattr(deadlines, "RECOMPUTATIONS", [*deadlines.RECOMPUTATIONS, ("test", seen.append)])
    result = runner.invoke(args=["calendar", "confirm", "2027", "--now", "2027-01-04T09:00:00"])
    assert result.exit_code == 0, result.output
    assert "2027 年辦公日曆已確認" in result.output
    assert reload(proposal).review_due == dt.date(2027, 1, 5)
    assert seen == [taipei(2027, 1, 4, 9, 0)]
    again = runner.invoke(args=["calendar", "confirm", "2027"])
    assert again.exit_code == 1 and "已確認過" in again.stderr
    assert runner.invoke(args=["calendar", "confirm", "20277"]).exit_code == 2
