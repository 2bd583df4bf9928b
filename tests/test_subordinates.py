"""Subordinate agencies and the fallback (R9.2.5(2), (1)): a first-level agency whose subordinate owns the
business stays responsible and names its own subordinate as the handling unit; a released agency is
never responsible by fallback; a passed proposal no agency was asked about is listed and reminded."""
from __future__ import annotations

import html

import pytest

from models import agency_discussion as discussion
from models import settings
from models.agencies import import_agencies
from models.agency_confirmation import AgencyAssignment, request_confirmation, responsible_roles
from models.seconds import responsible_agency_codes
from models.worklist import due_counts
from tests.factories import reload, seconding_proposal
from tests.fixtures_console import csrf_token_from
from tests.helpers import load_agencies, page_text, sweep, taipei
from tests.test_agency_confirmation import CIVIL_MAIL, answer_by_link, emailed_link, request_in_console

HOUSEHOLD_MAIL = "zhong-hh@taichung.gov.tw"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()
    result = import_agencies([
        {"code": "CIVIL-HH-ZHONG", "name": "臺中市中區戶政事務所", "short_name": "中區戶政", "kind": "first_level",
         "contact_email": HOUSEHOLD_MAIL, "parent_code": "CIVIL"},
        {"code": "EDU-SCHOOL-1", "name": "臺中市立豐原國民中學", "short_name": "豐原國中", "kind": "first_level",
         "contact_email": "fyjh@taichung.gov.tw", "parent_code": "EDU"},
    ])
    assert not result.errors, result.errors


def test_r9_2_5_subordinate_is_a_confirmation_with_a_handling_unit_by_link(app, client, ops_client, smtp):
    proposal = seconding_proposal(title="戶政事務所延長夜間服務", agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    mail = smtp.body(smtp.last_to(CIVIL_MAIL))
    assert "decision=subordinate" in mail and "仍為權責機關" in mail and "decision=redirect" not in mail
    path = emailed_link(smtp, CIVIL_MAIL, "subordinate")
    clerk = app.test_client()
    page = html.unescape(clerk.get(path + "?decision=subordinate").get_data(as_text=True))
    assert "臺中市中區戶政事務所" in page and "豐原國民中學" not in page  # only CIVIL's own subordinates

    # a subordinate of another agency: a clear zh-TW refusal, nothing changes
    refused = answer_by_link(clerk, path, "subordinate", handling_unit_code="EDU-SCHOOL-1")
    assert refused.status_code == 400
    assert "不是臺中市政府民政局的所屬（附屬）機關" in html.unescape(refused.get_data(as_text=True))
    assert AgencyAssignment.get(AgencyAssignment.proposal == proposal.id).status == "pending"
    assert smtp.to("fyjh@taichung.gov.tw") == []

    done = answer_by_link(clerk, path, "subordinate", handling_unit_code="CIVIL-HH-ZHONG")
    assert done.status_code == 200 and "承辦：臺中市中區戶政事務所" in html.unescape(done.get_data(as_text=True))
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert (assignment.status, assignment.handling_unit_code) == ("confirmed", "CIVIL-HH-ZHONG")
    assert not assignment.needs_settling  # not a way out: no discussion, CIVIL holds the proposal
    assert responsible_roles(reload(proposal)) == {"lead": ["CIVIL"], "co": []}
    told = smtp.last_to(HOUSEHOLD_MAIL)
    assert "承辦通知" in str(told["Subject"]) and "協調督導" in smtp.body(told)
    assert "主辦：臺中市政府民政局" in page_text(client, f"/proposals/{proposal.id}")
    listing = page_text(ops_client, "/console/confirmations")
    assert "承辦：臺中市中區戶政事務所（本機關督導）" in listing


def test_r9_2_5_an_older_redirect_link_names_a_unit_as_written_and_still_confirms(app, ops_client, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    path = emailed_link(smtp, CIVIL_MAIL, "confirm")
    clerk = app.test_client()
    missing = answer_by_link(clerk, path, "redirect")
    assert missing.status_code == 400 and "請選擇承辦的所屬機關" in html.unescape(missing.get_data(as_text=True))
    assert answer_by_link(clerk, path, "redirect", handling_unit_name="民政局戶籍行政科").status_code == 200
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    assert (assignment.status, assignment.handling_unit) == ("confirmed", "民政局戶籍行政科")


def test_r9_2_5_console_answer_refuses_a_subordinate_that_is_not_the_agencys_own(app, agency_client):
    proposal = seconding_proposal(agency="CIVIL")
    request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    page = page_text(agency_client, "/console/confirmations")
    assert "臺中市中區戶政事務所" in page and "豐原國民中學" not in page
    token = csrf_token_from(agency_client.get("/console/confirmations").get_data(as_text=True))
    prefix = f"answer{assignment.id}"
    response = agency_client.post(f"/console/confirmations/{assignment.id}/answer",
                                  data={"csrf_token": token, f"{prefix}-decision": "subordinate",
                                        f"{prefix}-handling_unit_code": "EDU-SCHOOL-1"})
    assert response.status_code == 302
    assert "不是臺中市政府民政局的所屬（附屬）機關" in page_text(agency_client, "/console/")
    assert AgencyAssignment.get_by_id(assignment.id).status == "pending"
    agency_client.post(f"/console/confirmations/{assignment.id}/answer",
                       data={"csrf_token": token, f"{prefix}-decision": "subordinate",
                             f"{prefix}-handling_unit_code": "CIVIL-HH-ZHONG"})
    assert AgencyAssignment.get_by_id(assignment.id).handling_unit_code == "CIVIL-HH-ZHONG"


def test_r9_2_5_a_released_agency_is_never_responsible_by_fallback(app, client, ops_client, agency_client, smtp):
    proposal = seconding_proposal(title="由民政局轉出的提案", agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    answer_by_link(app.test_client(), emailed_link(smtp, CIVIL_MAIL, "decline"), "decline", note="屬人事業務")
    assignment = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    discussion.settle(assignment.id, "staff:1", "release", "協調後不由民政局辦理，另請人事處")

    proposal = reload(proposal)
    assert proposal.agency_code == "CIVIL"  # the proposer's choice stays on record, but holds nothing
    assert responsible_roles(proposal) == {"lead": [], "co": []} and responsible_agency_codes(proposal) == []
    public = page_text(client, f"/proposals/{proposal.id}")
    assert "營運小組協調權責機關中" in public and "臺中市政府民政局" not in public
    assert "營運小組協調中" in page_text(client, "/")
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert record["lead_agencies"] == []
    assert {d.key: d.count for d in due_counts(None, taipei(2026, 12, 1).date())}["not_asked"] == 1
    assert "由民政局轉出的提案" in page_text(ops_client, "/console/review")

    request_in_console(ops_client, proposal.id, "PERSONNEL")
    assert responsible_roles(reload(proposal))["lead"] == ["PERSONNEL"]
    assert {d.key: d.count for d in due_counts(None, taipei(2026, 12, 1).date())}["not_asked"] == 0


def test_r9_2_5_not_yet_asked_proposals_are_reminded_each_working_day(app, runner, smtp):
    proposal = seconding_proposal(title="通過檢核但尚未請機關確認")
    smtp.clear()
    assert sweep(runner, "2026-12-04T09:00")["unasked_confirmation_reminders"] == 1  # Friday
    reminder = smtp.last_to(settings.OPS_NOTIFY_EMAIL)
    assert "尚未請機關確認" in str(reminder["Subject"]) and "通過檢核但尚未請機關確認" in smtp.body(reminder)
    assert sweep(runner, "2026-12-04T15:00")["unasked_confirmation_reminders"] == 0  # once a day
    assert sweep(runner, "2026-12-05T09:00")["unasked_confirmation_reminders"] == 0  # Saturday
    assert sweep(runner, "2026-12-07T09:00")["unasked_confirmation_reminders"] == 1  # Monday again
    request_confirmation(proposal.id, "staff:1", [("RDEC", "lead")], base_url="http://localhost")
    assert sweep(runner, "2026-12-08T09:00")["unasked_confirmation_reminders"] == 0
