"""R8: the operations team reviews a consultation before it opens; R8.1: within 3 working days.

Driven from the console forms as the agency and the team use them; asserts the rows, the emails in
the SMTP sink and the pages.
"""
from __future__ import annotations

import datetime as dt

import pytest

from models import calendar, settings
from models.consultations import APPROVED, DRAFT, IN_REVIEW, OPEN, Consultation
from models.events import AuditEvent
from tests.fixtures_console import csrf_token_from
from tests.helpers import flashes, load_agencies, page_text, sweep, taipei
from tests.test_consultations import FIELDS, console_act, create_in_console


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def reload(row: Consultation) -> Consultation:
    return Consultation.get_by_id(row.id)


def _draft(agency_client) -> Consultation:
    assert create_in_console(agency_client).status_code == 302
    return Consultation.get()


def test_r8_1_an_agency_cannot_open_its_consultation_unreviewed(app, client, agency_client):
    row = _draft(agency_client)
    closes = calendar.today_taipei() + dt.timedelta(days=10)
    page = page_text(agency_client, f"/console/consultations/{row.id}")
    assert "送交營運小組審核" in page and 'data-testid="open-form"' not in page
    # A hand-made POST to the open route is refused with the reason, and nothing changes.
    response = agency_client.post(f"/console/consultations/{row.id}/open",
                                  data={"open-closes_on": closes.isoformat(), "open-version": str(row.version),
                                        "csrf_token": csrf_token_from(page)})
    assert response.status_code == 302
    assert "須經營運小組審核通過後才能開放" in flashes(agency_client)
    assert reload(row).state == DRAFT and reload(row).opens_at is None
    assert client.get(f"/consultations/{row.id}").status_code == 404


def test_r8_1_review_passes_within_three_working_days_then_the_agency_opens(app, client, smtp, agency_client,
                                                                         ops_client):
    row = _draft(agency_client)
    assert console_act(agency_client, row.id, "submit", {}).status_code == 302
    submitted = reload(row)
    assert submitted.state == IN_REVIEW
    assert submitted.review_due == calendar.due_date("R8.1", calendar.today_taipei())
    assert settings.period_text("R8.1") == "3 個工作天"
    assert "已送交營運小組審核" in flashes(agency_client)
    to_team = smtp.last_to(settings.OPS_NOTIFY_EMAIL)
    assert FIELDS["title"] in str(to_team["Subject"]) and f"{submitted.review_due:%Y-%m-%d}" in smtp.body(to_team)
    # Agency staff see the clock but cannot review their own consultation.
    assert "應於" in page_text(agency_client, f"/console/consultations/{row.id}")
    assert console_act(ops_client, row.id, "pass", {}).status_code == 302
    assert "已審核通過" in flashes(ops_client)
    approved = reload(row)
    assert approved.state == APPROVED and approved.reviewed_by.startswith("staff:")
    to_agency = smtp.last_to("civil@taichung.gov.tw")
    assert "審核通過" in str(to_agency["Subject"])
    closes = calendar.today_taipei() + dt.timedelta(days=10)
    assert console_act(agency_client, row.id, "open", {"closes_on": closes.isoformat()}).status_code == 302
    assert reload(row).state == OPEN
    assert "徵詢中" in page_text(client, f"/consultations/{row.id}")
    actions = [e.action for e in AuditEvent.select().where((AuditEvent.subject_type == "consultation")
                                                            & (AuditEvent.subject_id == row.id)).order_by(AuditEvent.id)]
    assert actions == ["consultation_created", "consultation_submitted", "consultation_review_passed",
                       "consultation_opened"]


def test_r8_1_agency_staff_cannot_pass_or_return(app, agency_client):
    row = _draft(agency_client)
    console_act(agency_client, row.id, "submit", {})
    page = page_text(agency_client, f"/console/consultations/{row.id}")
    assert 'data-testid="pass-form"' not in page
    forged = {"csrf_token": csrf_token_from(page), "pass-version": str(reload(row).version)}
    assert agency_client.post(f"/console/consultations/{row.id}/pass", data=forged).status_code == 403
    assert reload(row).state == IN_REVIEW


def test_r8_1_returned_with_reasons_then_resubmitted(app, smtp, agency_client, ops_client):
    row = _draft(agency_client)
    console_act(agency_client, row.id, "submit", {})
    # No reason: refused, nothing changes.
    assert console_act(ops_client, row.id, "return", {"reasons": ""}).status_code == 400
    assert reload(row).state == IN_REVIEW
    reasons = "諮詢依據應為第十點（一）1，並請縮短期程。"
    assert console_act(ops_client, row.id, "return", {"reasons": reasons}).status_code == 302
    returned = reload(row)
    assert returned.state == DRAFT and returned.return_reasons == reasons
    mail = smtp.last_to("civil@taichung.gov.tw")
    assert "退回修改" in str(mail["Subject"]) and reasons in smtp.body(mail)
    assert reasons in page_text(agency_client, f"/console/consultations/{row.id}")
    assert console_act(agency_client, row.id, "submit", {}).status_code == 302
    assert reload(row).state == IN_REVIEW


def test_r8_1_an_overdue_review_is_reminded_to_the_team_once(app, runner, smtp, agency_client):
    row = _draft(agency_client)
    console_act(agency_client, row.id, "submit", {})
    due = reload(row).review_due
    before = len(smtp.to(settings.OPS_NOTIFY_EMAIL))
    sweep(runner, taipei(f"{due.isoformat()}T23:00:00"))  # the last day itself: not yet overdue
    assert len(smtp.to(settings.OPS_NOTIFY_EMAIL)) == before
    late = f"{(due + dt.timedelta(days=1)).isoformat()}T09:00:00"
    sweep(runner, taipei(late))
    sweep(runner, taipei(late))
    reminders = [m for m in smtp.to(settings.OPS_NOTIFY_EMAIL) if "審核逾期" in str(m["Subject"])]
    assert len(reminders) == 1 and FIELDS["title"] in str(reminders[0]["Subject"])
    assert reload(row).state == IN_REVIEW  # reminded, not blocked


def test_r8_1_calendar_due_counts_three_working_days(runner):
    result = runner.invoke(args=["calendar", "due", "R8.1", "2026-11-27"])  # a Friday
    assert result.exit_code == 0, result.output
    assert "2026-12-02" in result.output
