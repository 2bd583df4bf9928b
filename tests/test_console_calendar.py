"""Working-day overrides set from the console recompute every open clock at once (R2.3)."""
from __future__ import annotations

import datetime as dt

from models import calendar
from models.base import TAIPEI, to_utc_naive
from models.calendar import CalendarOverride
from tests.factories import reload, submitted_proposal
from tests.fixtures_console import console_post


def _friday_submission():
    from tests.fixtures_console import ensure_agencies

    ensure_agencies()
    friday = to_utc_naive(dt.datetime(2026, 11, 27, 10, 0, tzinfo=TAIPEI))
    return submitted_proposal(now=friday)


def test_r2_3_console_typhoon_day_moves_open_review_clock(ops_client, monkeypatch):
    # The console judges open clocks as of the instant of the change; pin it (the clock must still be open).
    monkeypatch.setattr(calendar, "utcnow", lambda: to_utc_naive(dt.datetime(2026, 11, 30, 9, 0, tzinfo=TAIPEI)))
    proposal = _friday_submission()
    assert proposal.review_due == dt.date(2026, 12, 2)
    response = console_post(ops_client, "/console/calendar", {"day": "2026-12-01", "kind": "closed",
                                                              "reason": "颱風停止上班"}, token_from="/console/calendar")
    assert response.status_code == 302
    assert reload(proposal).review_due == dt.date(2026, 12, 3)
    page = ops_client.get("/console/calendar?year=2026").get_data(as_text=True)
    assert "颱風停止上班" in page
    console_post(ops_client, "/console/calendar/2026-12-01/clear", {}, token_from="/console/calendar")
    assert reload(proposal).review_due == dt.date(2026, 12, 2)
    assert CalendarOverride.select().count() == 0


def test_r2_3_agency_staff_see_calendar_but_cannot_change_it(agency_client):
    assert agency_client.get("/console/calendar").status_code == 200
    response = console_post(agency_client, "/console/calendar", {"day": "2026-12-01", "kind": "closed",
                                                                 "reason": "x"}, token_from="/console/calendar")
    assert response.status_code == 403
    assert CalendarOverride.select().count() == 0


def test_r2_3_console_override_needs_reason_and_csrf(ops_client):
    response = ops_client.post("/console/calendar", data={"day": "2026-12-01", "kind": "closed", "reason": "颱風"})
    assert response.status_code == 400
    console_post(ops_client, "/console/calendar", {"day": "2026-12-01", "kind": "closed", "reason": ""},
                 token_from="/console/calendar")
    assert CalendarOverride.select().count() == 0
