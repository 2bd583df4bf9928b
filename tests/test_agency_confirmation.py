"""Confirming the responsible agency (R9.2.5): emailed signed links, console answers, deemed confirmation."""
from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import urlsplit

import pytest

from models import agency_confirmation as confirmation
from models import agency_discussion as discussion
from models import calendar, deadlines
from models.agencies import Agency
from models.agency_confirmation import AgencyAssignment
from models.base import DomainError, taipei_date, utcnow
from models.events import AuditEvent
from tests.factories import reload, seconding_proposal, submitted_proposal
from tests.fixtures_console import console_login, csrf_token, csrf_token_from
from tests.helpers import at_once, forged, load_agencies, sweep, taipei

CIVIL_MAIL = "civil@taichung.gov.tw"
EDU_MAIL = "edu@taichung.gov.tw"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def request_in_console(client, proposal_id: int, lead: str, co: list[str] | tuple = ()):
    token = csrf_token(client, f"/console/review/{proposal_id}")
    return client.post(f"/console/review/{proposal_id}/confirmations",
                       data={"csrf_token": token, "request-lead": lead, "request-co": list(co)})


def emailed_link(smtp, address: str, decision: str = "confirm") -> str:
    """The path of the signed link for `decision` in the last request emailed to `address`."""
    pattern = re.compile(rf"(http://localhost/agency/answer/\S+)\?decision={decision}")
    for message in reversed(smtp.to(address)):
        match = pattern.search(smtp.body(message))
        if match:
            return urlsplit(match.group(1)).path
    raise AssertionError(f"no request with links was emailed to {address}")


def answer_by_link(client, path: str, decision: str, **fields):
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    data = {"csrf_token": csrf_token_from(page.get_data(as_text=True)), "decision": decision, **fields}
    return client.post(path, data=data)


# --- R9.2.5(1) the request --------------------------------------------------------------------------

def test_r9_2_5_request_emails_the_agency_a_signed_link_and_it_confirms(app, ops_client, ops_staff, smtp):
    proposal = seconding_proposal(title="區公所夜間服務時段試辦", agency="CIVIL")
    response = request_in_console(ops_client, proposal.id, "CIVIL")
    assert response.status_code == 302
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert assignment.status == "pending" and assignment.role == "lead"
    assert assignment.due == calendar.due_date("R9.2.5", taipei_date(assignment.requested_at))
    mail = smtp.last_to(CIVIL_MAIL)
    assert "區公所夜間服務時段試辦" in str(mail["Subject"])
    assert f"{assignment.due:%Y-%m-%d}" in smtp.body(mail)

    client = app.test_client()  # the agency's clerk, not logged in
    path = emailed_link(smtp, CIVIL_MAIL)
    page = html.unescape(client.get(path + "?decision=confirm").get_data(as_text=True))
    assert "區公所夜間服務時段試辦" in page and "確認為本機關業務" in page and "非本機關業務" in page
    assert AgencyAssignment.get_by_id(assignment.id).status == "pending"  # opening the link changes nothing
    response = answer_by_link(client, path, "confirm")
    assert response.status_code == 200 and "已收到貴機關的回覆" in html.unescape(response.get_data(as_text=True))
    answered = AgencyAssignment.get_by_id(assignment.id)
    assert answered.status == "confirmed" and answered.answered_by == "agency:CIVIL:link"
    assert AuditEvent.get(AuditEvent.action == "agency_answered").subject_id == proposal.id
    requested = AuditEvent.get(AuditEvent.action == "agency_confirmation_requested")
    assert requested.actor == f"staff:{ops_staff.id}"


def test_r9_2_5_only_proposals_past_review_and_agencies_with_an_address(app, ops_client):
    waiting = submitted_proposal()
    with pytest.raises(DomainError) as refused:
        confirmation.request_confirmation(waiting.id, "staff:1", [("CIVIL", "lead")])
    assert refused.value.code == "bad_state"
    proposal = seconding_proposal()
    Agency.update(contact_email=None).where(Agency.code == "EDU").execute()
    request_in_console(ops_client, proposal.id, "EDU")
    assert "沒有聯絡信箱" in html.unescape(ops_client.get("/console/").get_data(as_text=True))
    assert not AgencyAssignment.select().exists()


def test_r9_2_5_answering_twice_is_refused(app, agency_client, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    client = app.test_client()
    path = emailed_link(smtp, CIVIL_MAIL)
    page = client.get(path).get_data(as_text=True)
    token = csrf_token_from(page)
    assert client.post(path, data={"csrf_token": token, "decision": "confirm"}).status_code == 200
    again = client.post(path, data={"csrf_token": token, "decision": "decline", "note": "其實不是我們的業務"})
    assert again.status_code == 409
    assert "不能再次回覆" in html.unescape(again.get_data(as_text=True))
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert assignment.status == "confirmed" and assignment.note is None
    # and in the console
    list_page = agency_client.get("/console/confirmations").get_data(as_text=True)
    response = agency_client.post(f"/console/confirmations/{assignment.id}/answer",
                                  data={"csrf_token": csrf_token_from(list_page),
                                        f"answer{assignment.id}-decision": "decline",
                                        f"answer{assignment.id}-note": "再回覆一次"})
    assert response.status_code == 302
    assert "不能再次回覆" in html.unescape(agency_client.get("/console/confirmations").get_data(as_text=True))
    assert AuditEvent.select().where(AuditEvent.action == "agency_answered").count() == 1


def test_r9_2_5_forged_expired_or_replaced_links_change_nothing(app, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    client = app.test_client()
    path = emailed_link(smtp, CIVIL_MAIL)
    token = path.rsplit("/", 1)[1]
    assert client.get(forged(path)).status_code == 400
    other_key = confirmation.answer_token(assignment, secret_key="someone-else's-key")
    assert client.get(f"/agency/answer/{other_key}").status_code == 400
    assert client.post(f"/agency/answer/{other_key}", data={"decision": "decline"}).status_code == 400
    assert "連結無效" in html.unescape(client.get("/agency/answer/not-a-token").get_data(as_text=True))

    AgencyAssignment.update(due=dt.date(2020, 1, 6)).where(AgencyAssignment.id == assignment.id).execute()
    expired = client.get(f"/agency/answer/{token}")
    assert expired.status_code == 410 and "已過期" in html.unescape(expired.get_data(as_text=True))
    AgencyAssignment.update(due=assignment.due, token_nonce="replaced-nonce").where(AgencyAssignment.id == assignment.id).execute()
    assert client.get(f"/agency/answer/{token}").status_code == 410
    assert AgencyAssignment.get_by_id(assignment.id).status == "pending"
    assert not AuditEvent.select().where(AuditEvent.action == "agency_answered").exists()


# --- R9.2.5(4) deemed confirmation -------------------------------------------------------------------

def test_r9_2_5_no_answer_in_five_working_days_is_deemed_confirmed_not_before(app, runner, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], taipei(2026, 11, 27, 10),
                                      base_url="http://localhost")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert assignment.due == dt.date(2026, 12, 4)  # Friday + 5 working days
    client = app.test_client()  # the clerk opened the link in time but answers only after the sweep
    path = emailed_link(smtp, CIVIL_MAIL)
    token = csrf_token_from(client.get(path).get_data(as_text=True))

    assert sweep(runner, "2026-12-04T23:59:59")["agency_deemed_confirmations"] == 0
    assert AgencyAssignment.get_by_id(assignment.id).status == "pending"
    assert sweep(runner, "2026-12-05T00:00:01")["agency_deemed_confirmations"] == 1
    deemed = AgencyAssignment.get_by_id(assignment.id)
    assert deemed.status == "deemed" and deemed.answered_by == "system:sweep"
    event = AuditEvent.get(AuditEvent.action == "agency_deemed_confirmed")
    assert event.actor == "system:sweep" and event.subject_id == proposal.id
    assert "視為確認" in str(smtp.last_to(CIVIL_MAIL)["Subject"])
    assert sweep(runner, "2026-12-07T09:00:00")["agency_deemed_confirmations"] == 0
    assert AuditEvent.select().where(AuditEvent.action == "agency_deemed_confirmed").count() == 1

    page = html.unescape(client.get(path).get_data(as_text=True))
    assert "逾期視為確認" in page and 'name="decision"' not in page
    late = client.post(path, data={"csrf_token": token, "decision": "decline", "note": "不是我們的業務"})
    assert late.status_code == 409 and "視為確認" in html.unescape(late.get_data(as_text=True))
    assert AgencyAssignment.get_by_id(assignment.id).status == "deemed"


def test_r9_2_5_an_answer_after_the_last_day_is_refused_even_before_the_sweep(app):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], taipei(2026, 11, 27, 10),
                                      base_url="http://localhost")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    with pytest.raises(DomainError) as refused:
        confirmation.answer(assignment.id, "agency:CIVIL:link", "decline", "不是我們的業務", now=taipei(2026, 12, 5, 0, 0, 1))
    assert refused.value.code == "already_answered" and "視為確認" in refused.value.message
    assert AgencyAssignment.get_by_id(assignment.id).status == "deemed"
    assert AuditEvent.select().where(AuditEvent.action == "agency_deemed_confirmed").count() == 1


def test_r9_2_5_an_answer_on_the_last_day_counts(app):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], taipei(2026, 11, 27, 10),
                                      base_url="http://localhost")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    answered = confirmation.answer(assignment.id, "agency:CIVIL:link", "confirm", now=taipei(2026, 12, 4, 23, 59, 59))
    assert answered.status == "confirmed"


def test_r9_2_5_two_sweeps_at_once_deem_once(app):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead"), ("EDU", "co")],
                                      taipei(2026, 11, 27, 10), base_url="http://localhost")
    when = taipei(2026, 12, 8, 9)
    counts = at_once(app, lambda: confirmation.deem_confirmed(when), 4)
    assert sum(counts) == 2
    assert AuditEvent.select().where(AuditEvent.action == "agency_deemed_confirmed").count() == 2
    assert {a.status for a in AgencyAssignment.select()} == {"deemed"}


def test_r9_2_5_a_closure_day_moves_every_pending_due_day(app):
    proposal = seconding_proposal(agency="CIVIL")
    now = utcnow()
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], now, base_url="http://localhost")
    before = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id).due
    closed = calendar.add_working_days(taipei_date(now), 1)
    deadlines.add_override(closed, "closed", "颱風停止上班", by="staff:1")
    after = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id).due
    assert after == calendar.add_working_days(before, 1) and after > before


# --- R9.2.5(2) subordinate agency, (4) doubts settled with the team ------------------------------------

def test_r9_2_5_a_doubt_opens_a_joint_discussion_settled_in_the_console(app, ops_client, agency_client, smtp):
    proposal = seconding_proposal(title="戶政事務所假日服務", agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    client = app.test_client()
    response = answer_by_link(client, emailed_link(smtp, CIVIL_MAIL, "decline"), "decline",
                              note="本案涉及人事處主管之差勤規定")
    assert response.status_code == 200 and "共同研商" in html.unescape(response.get_data(as_text=True))
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert assignment.status == "declined" and assignment.needs_settling
    assert "需協調" in str(smtp.last_to("rdec-platform@taichung.gov.tw")["Subject"])
    assert "疑義研商" in str(smtp.last_to(CIVIL_MAIL)["Subject"])  # the agency hears the discussion opened

    # both sides write in the discussion
    agency_page = html.unescape(agency_client.get("/console/confirmations").get_data(as_text=True))
    assert agency_client.post(f"/console/confirmations/{assignment.id}/notes",
                              data={"csrf_token": csrf_token_from(agency_page),
                                    f"note{assignment.id}-text": "差勤規定由人事處訂定，本局僅執行"}).status_code == 302
    page = html.unescape(ops_client.get("/console/confirmations").get_data(as_text=True))
    assert "待協調" in page and "差勤規定由人事處訂定" in page and 'data-testid="settle-form"' in page
    response = ops_client.post(f"/console/confirmations/{assignment.id}/settle",
                               data={"csrf_token": csrf_token_from(page), f"settle{assignment.id}-outcome": "keep",
                                     f"settle{assignment.id}-note": "電話協調後由民政局主辦並會同人事處"})
    assert response.status_code == 302
    settled = AgencyAssignment.get_by_id(assignment.id)
    assert settled.status == "confirmed" and settled.settled_at and not settled.needs_settling
    assert AuditEvent.get(AuditEvent.action == "agency_doubt_settled").reason.startswith("電話協調")
    assert AuditEvent.get(AuditEvent.action == "agency_discussion_note").reason.startswith("差勤規定")
    outcome = smtp.last_to(CIVIL_MAIL)
    assert "研商結果" in str(outcome["Subject"]) and "協調後由該機關辦理" in smtp.body(outcome)
    closed = agency_client.post(f"/console/confirmations/{assignment.id}/notes",
                                data={"csrf_token": csrf_token_from(agency_page), f"note{assignment.id}-text": "再補充"})
    assert closed.status_code == 302 and "已協調完成" in html.unescape(agency_client.get("/console/").get_data(as_text=True))


def test_r9_2_5_decline_needs_a_reason_and_released_agency_leaves_the_list(app, ops_client, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    client = app.test_client()
    path = emailed_link(smtp, CIVIL_MAIL, "decline")
    without_reason = answer_by_link(client, path, "decline")
    assert without_reason.status_code == 400 and "理由" in html.unescape(without_reason.get_data(as_text=True))
    assert answer_by_link(client, path, "decline", note="屬教育業務").status_code == 200
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    discussion.settle(assignment.id, "staff:1", "release", "協調後改由教育局辦理")
    request_in_console(ops_client, proposal.id, "EDU")
    assert [a.agency_code for a in confirmation.active_assignments(proposal.id)] == ["EDU"]
    assert reload(proposal).agency_code == "EDU"
    assert confirmation.agencies_of(proposal.id) == {"lead": ["EDU"], "co": []}


# --- R9.2.5(3) lead and co-organisers, disputes -------------------------------------------------------

def test_r9_2_5_two_agencies_lead_and_co_then_disputed_all_lead(app, ops_client, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    assert request_in_console(ops_client, proposal.id, "CIVIL", ["EDU"]).status_code == 302
    roles = {a.agency_code: a.role for a in confirmation.assignments_of(proposal.id)}
    assert roles == {"CIVIL": "lead", "EDU": "co"}
    assert "協辦" in smtp.body(smtp.last_to(EDU_MAIL))
    page = ops_client.get(f"/console/review/{proposal.id}").get_data(as_text=True)
    ops_client.post(f"/console/review/{proposal.id}/roles", data={"csrf_token": csrf_token_from(page), "roles-lead": "EDU"})
    roles = {a.agency_code: a.role for a in confirmation.assignments_of(proposal.id)}
    assert roles == {"CIVIL": "co", "EDU": "lead"}
    assert reload(proposal).agency_code == "EDU"
    ops_client.post(f"/console/review/{proposal.id}/disputed", data={"csrf_token": csrf_token_from(page)})
    assert {a.role for a in confirmation.assignments_of(proposal.id)} == {"lead"}
    assert AuditEvent.select().where(AuditEvent.action == "agency_roles_disputed").exists()
    history = html.unescape(ops_client.get(f"/console/review/{proposal.id}").get_data(as_text=True))
    assert "仍有爭議，全部列為主辦" in history
    with pytest.raises(DomainError) as refused:
        confirmation.set_roles(proposal.id, "staff:1", {"CIVIL": "lead", "EDU": "lead"})
    assert refused.value.code == "one_lead"


# --- the console list -------------------------------------------------------------------------------

def test_r9_2_5_agency_staff_see_and_answer_only_their_own(app, agency_client, ops_client):
    ours = seconding_proposal(title="民政局負責的提案內容", agency="CIVIL")
    theirs = seconding_proposal(title="教育局負責的提案內容", agency="EDU")
    confirmation.request_confirmation(ours.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    confirmation.request_confirmation(theirs.id, "staff:1", [("EDU", "lead")], taipei(2024, 1, 2, 9),
                                      base_url="http://localhost")
    page = html.unescape(agency_client.get("/console/confirmations").get_data(as_text=True))
    assert "民政局負責的提案內容" in page and "教育局負責的提案內容" not in page
    ops_page = html.unescape(ops_client.get("/console/confirmations").get_data(as_text=True))
    assert "民政局負責的提案內容" in ops_page and "教育局負責的提案內容" in ops_page
    assert ops_page.count('data-overdue="1"') == 1  # EDU's request of 2024 was never answered

    mine = AgencyAssignment.get(AgencyAssignment.proposal == ours.id)
    other = AgencyAssignment.get(AgencyAssignment.proposal == theirs.id)
    token = csrf_token_from(page)
    forbidden = agency_client.post(f"/console/confirmations/{other.id}/answer",
                                   data={"csrf_token": token, f"answer{other.id}-decision": "confirm"})
    assert forbidden.status_code == 403
    response = agency_client.post(f"/console/confirmations/{mine.id}/answer",
                                  data={"csrf_token": token, f"answer{mine.id}-decision": "confirm"})
    assert response.status_code == 302
    assert AgencyAssignment.get_by_id(mine.id).status == "confirmed"
    assert AgencyAssignment.get_by_id(other.id).status == "pending"
    event = AuditEvent.get(AuditEvent.action == "agency_answered")
    assert event.actor.startswith("staff:")


def test_r9_2_5_console_login_is_required(app, client):
    assert client.get("/console/confirmations").status_code == 302
    assert console_login  # the fixture module is the way in (see tests/fixtures_console.py)


def test_r9_2_5_an_answer_without_the_form_token_changes_nothing(app, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    client = app.test_client()
    path = emailed_link(smtp, CIVIL_MAIL)
    client.get(path)
    response = client.post(path, data={"decision": "confirm"})
    assert response.status_code == 400 and "表單已失效" in html.unescape(response.get_data(as_text=True))
    assert AgencyAssignment.get(AgencyAssignment.proposal == proposal.id).status == "pending"
