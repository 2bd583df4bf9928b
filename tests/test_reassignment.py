"""Changing the agency (R9.1.3) after confirmation requests were sent: the old request is withdrawn (and the
old agency told), the new agency is asked, the public page, notices and response rights follow, and the
proposer is told."""
from __future__ import annotations

import datetime as dt
import html
from urllib.parse import urlsplit

import pytest

from models.agency_confirmation import AgencyAssignment, responsible_roles
from models.base import DomainError, utcnow
from models.events import AuditEvent
from models.response_links import open_link, response_link
from tests.factories import reload, seconding_proposal, submitted_proposal
from tests.helpers import flashes, load_agencies, page_text, register
from tests.test_agency_confirmation import CIVIL_MAIL, EDU_MAIL, emailed_link, request_in_console
from tests.test_responses import established
from tests.test_review import act, detail


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_r9_1_3_change_after_the_request_withdraws_it_asks_the_new_agency_and_tells_everyone(
        app, client, line, smtp, ops_client):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = seconding_proposal(proposer, title="校園午餐在地食材採購", agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    old_link = emailed_link(smtp, CIVIL_MAIL)
    old = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)

    response = act(ops_client, proposal.id, "agency", {"agency_code": "EDU", "reason": "午餐採購屬教育局業務"})
    assert response.status_code == 302
    assert "已改為臺中市政府教育局" in flashes(ops_client)
    assert reload(proposal).agency_code == "EDU"
    withdrawn = AgencyAssignment.get_by_id(old.id)
    assert withdrawn.status == "withdrawn" and withdrawn.withdrawn_at
    new = AgencyAssignment.get((AgencyAssignment.proposal == proposal.id) & (AgencyAssignment.agency_code == "EDU"))
    assert (new.status, new.role) == ("pending", "lead")
    assert responsible_roles(reload(proposal)) == {"lead": ["EDU"], "co": []}

    told_old = smtp.last_to(CIVIL_MAIL)
    assert "確認請求已撤回" in str(told_old["Subject"]) and "午餐採購屬教育局業務" in smtp.body(told_old)
    assert "校園午餐在地食材採購" in str(smtp.last_to(EDU_MAIL)["Subject"])  # the new agency is asked
    assert emailed_link(smtp, EDU_MAIL)
    gone = app.test_client().get(old_link)
    assert gone.status_code == 410 and "確認請求已撤回" in html.unescape(gone.get_data(as_text=True))

    told = [m for m in smtp.to("wang@taichung.gov.tw") if "權責機關已變更" in str(m["Subject"])]
    assert len(told) == 1 and "臺中市政府民政局改為臺中市政府教育局" in smtp.body(told[0])
    chat = line.texts(uid)[-1]
    assert "臺中市政府民政局改為臺中市政府教育局" in chat and "午餐採購屬教育局業務" in chat and "第九點" not in chat

    public = page_text(client, f"/proposals/{proposal.id}")
    assert "主辦：臺中市政府教育局" in public and "臺中市政府民政局" not in public
    history = html.unescape(detail(ops_client, proposal.id))
    assert "撤回機關確認請求" in history
    assert AuditEvent.select().where(AuditEvent.action == "agency_changed").count() == 1


def test_r9_1_3_after_establishment_the_old_response_link_stops_and_the_new_agency_may_respond(
        app, client, smtp, ops_client):
    proposal = established(agency="CIVIL", title="公有停車場夜間開放", notified=utcnow() - dt.timedelta(days=2))
    request_in_console(ops_client, proposal.id, "CIVIL")
    old_respond = urlsplit(response_link(proposal.id, "CIVIL", CIVIL_MAIL)).path
    assert client.get(old_respond).status_code == 200

    assert act(ops_client, proposal.id, "agency", {"agency_code": "EDU", "reason": "屬教育局主管場館"}).status_code == 302
    refused = client.get(old_respond)
    text = html.unescape(refused.get_data(as_text=True))
    assert refused.status_code == 410 and "貴機關已不是本提案的權責機關" in text and "臺中市政府教育局" in text
    with pytest.raises(DomainError) as stopped:  # the same rule behind the form, whatever is posted
        open_link(old_respond.rsplit("/", 1)[1], utcnow())
    assert stopped.value.code == "reassigned"
    request = smtp.body(smtp.last_to(EDU_MAIL))
    assert "本提案已成案" in request and "/agency/respond/" in request  # the new agency may respond at once
    new_respond = urlsplit(request.split("/agency/respond/")[1].split()[0]).path
    assert client.get(f"/agency/respond/{new_respond}").status_code == 200


def test_r9_1_3_bad_changes_change_nothing(app, ops_client, smtp):
    proposal = seconding_proposal(agency="CIVIL")
    request_in_console(ops_client, proposal.id, "CIVIL")
    smtp.clear()
    act(ops_client, proposal.id, "agency", {"agency_code": "EDU", "reason": ""})
    assert "變更理由" in flashes(ops_client)
    act(ops_client, proposal.id, "agency", {"agency_code": "CIVIL", "reason": "再確認一次"})
    assert "權責機關已是臺中市政府民政局" in flashes(ops_client)
    assert reload(proposal).agency_code == "CIVIL" and smtp.messages == []
    assert [a.status for a in AgencyAssignment.select()] == ["pending"]


def test_r9_1_3_before_any_request_only_the_choice_changes_and_the_proposer_is_told(app, client, line, smtp,
                                                                                   ops_client):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = submitted_proposal(proposer, agency="RDEC")
    assert act(ops_client, proposal.id, "agency", {"agency_code": "EDU"}).status_code == 302
    assert reload(proposal).agency_code == "EDU" and not AgencyAssignment.select().exists()
    assert "改為臺中市政府教育局" in line.texts(uid)[-1]
