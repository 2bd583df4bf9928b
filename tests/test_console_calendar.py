"""Working-day overrides set from the console recompute every open clock at once (R2.3)."""
from __future__ import annotations

import datetime as dt

from models import calendar
from models.base import TAIPEI, to_utc_naive
from models.calendar import CalendarOverride
from tests.factories import reload, submitted_proposal
from tests.fixtures_console import console_post


def _friday_submission() -> tuple:
    """A proposal submitted on a Friday at least a week ahead: its review clock is open whatever today is
    (an override counts only for clocks not yet expired, R2.3)."""
    from tests.fixtures_console import ensure_agencies

    ensure_agencies()
    day = calendar.today_taipei() + dt.timedelta(days=7)
    day += dt.timedelta(days=(4 - day.weekday()) % 7)
    friday = to_utc_naive(dt.datetime.combine(day, dt.time(10, 0), tzinfo=TAIPEI))
    return submitted_proposal(now=friday), day


def test_r2_3_console_typhoon_day_moves_open_review_clock(ops_client):
    proposal, friday = _friday_submission()
    due = calendar.add_working_days(friday, 3)
    closed = calendar.add_working_days(friday, 2)  # a working day inside the clock
    assert proposal.review_due == due
    response = console_post(ops_client, "/console/calendar", {"day": closed.isoformat(), "kind": "closed",
                                                              "reason": "颱風停止上班"}, token_from="/console/calendar")
    assert response.status_code == 302
    assert reload(proposal).review_due == calendar.add_working_days(due, 1)
    page = ops_client.get(f"/console/calendar?year={closed.year}").get_data(as_text=True)
    assert "颱風停止上班" in page
    console_post(ops_client, f"/console/calendar/{closed.isoformat()}/clear", {}, token_from="/console/calendar")
    assert reload(proposal).review_due == due
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


def test_r2_3_a_closure_moves_many_review_clocks_by_their_submission_day(db):
    """The override moves each open review clock from its own submission day, in one UPDATE per new
    last day; a clock whose days the closure does not touch, or that already expired, stays."""
    from models.deadlines import add_override
    from models.proposals import Proposal, recompute_review_clocks
    from tests.fixtures_console import ensure_agencies

    ensure_agencies()
    monday = calendar.today_taipei() + dt.timedelta(days=14)
    monday -= dt.timedelta(days=monday.weekday())
    at = lambda day: to_utc_naive(dt.datetime.combine(day, dt.time(10, 0), tzinfo=TAIPEI))  # noqa: E731
    early = [submitted_proposal(now=at(monday)) for _ in range(3)]
    late = [submitted_proposal(now=at(monday + dt.timedelta(days=3))) for _ in range(2)]
    untouched = submitted_proposal(now=at(monday + dt.timedelta(days=7)))
    expired = submitted_proposal(now=at(monday))
    Proposal.update(review_due=calendar.today_taipei() - dt.timedelta(days=1)).where(Proposal.id == expired.id).execute()
    before = {p.id: reload(p).review_due for p in [*early, *late, untouched]}

    add_override(monday + dt.timedelta(days=3), "closed", "颱風停止上班", by="test")  # Thursday

    for p in early:  # Monday + 3 working days is Thursday: the closure pushes it to Friday
        assert reload(p).review_due == calendar.add_working_days(before[p.id], 1)
    for p in late:  # submitted on the closed Thursday: counted from it, three working days after it
        assert reload(p).review_due == calendar.add_working_days(monday + dt.timedelta(days=3), 3)
    assert reload(untouched).review_due == before[untouched.id]
    assert reload(expired).review_due == calendar.today_taipei() - dt.timedelta(days=1)
    recompute_review_clocks(at(calendar.today_taipei()))  # again: nothing more moves
    assert reload(early[0]).review_due == calendar.add_working_days(before[early[0].id], 1)
