"""Removal at any time (R7.1–R7.7): lapsed and responded proposals too, from the console form.

The public page then shows only the removal and its clause; the proposer and the responsible
agencies are told; the open data keeps the record (dates, counts, ground) without the content.
"""
from __future__ import annotations

import datetime as dt
import html

import pytest

from models.agency_confirmation import PENDING, AgencyAssignment
from models.events import AuditEvent
from models.proposals import LAPSED, Proposal
from models.seconds import Second
from tests.factories import reload, seconding_proposal, verified_official
from tests.helpers import load_agencies, register
from tests.test_responses import PLAN, REASONS, established, flashes, post_form
from tests.test_review import act, detail

SECRET_TITLE = "設置員工子女托育中心"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _responded(agency_client, proposer) -> Proposal:
    proposal = established(proposer, title=SECRET_TITLE)
    assert post_form(agency_client, proposal.id, "publish", "respond",
                     {"decision": "partial", "reasons": REASONS, "plan": PLAN}).status_code == 302
    assert reload(proposal).state == "responded"
    return reload(proposal)


def _lapsed(proposer) -> Proposal:
    proposal = established(proposer, title=SECRET_TITLE)
    Proposal.update(state=LAPSED, established_at=None, notified_at=None, response_due=None, second_count=12,
                    lapsed_at=proposal.seconding_ends_at + dt.timedelta(minutes=1)).where(Proposal.id == proposal.id).execute()
    return reload(proposal)


def _public(client, proposal_id: int) -> str:
    response = client.get(f"/proposals/{proposal_id}")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


@pytest.mark.parametrize("make, ground, clause", [
    ("responded", "R7.4", "第七點第4款（有引起民事、刑事責任之虞或法院審理中之司法案件）"),
    ("responded", "R7.6", "第七點第6款（涉及國家機密）"),
    ("lapsed", "R7.1", "第七點第1款（恐嚇、猥褻、誹謗、詐欺、公然侮辱或其他不法行為）"),
])
def test_r7_removal_after_lapse_or_response(app, client, line, smtp, ops_client, agency_client, make, ground, clause):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = _responded(agency_client, proposer) if make == "responded" else _lapsed(proposer)
    Second.create(proposal=proposal.id, official=verified_official().id, notify_result=False, via="chat")
    assert SECRET_TITLE in _public(client, proposal.id)

    page = html.unescape(detail(ops_client, proposal.id))
    assert "任何階段皆可依第七點移除" in page
    reason = "本案所涉事項現由法院審理中，內容不宜繼續公開。"
    assert act(ops_client, proposal.id, "remove", {"ground": ground, "reason": reason}).status_code == 302
    assert "已通知提案人及權責機關" in flashes(ops_client)

    removed = reload(proposal)
    assert removed.state == "removed" and removed.removal_ground == ground and removed.removal_reason == reason
    assert AuditEvent.get((AuditEvent.action == "removed") & (AuditEvent.subject_id == proposal.id)).reason == f"{ground} {reason}"
    # The public page: only the removal and its clause.
    public = _public(client, proposal.id)
    assert "此提案已移除" in public and clause in public
    for content in (SECRET_TITLE, REASONS, PLAN, proposer.display_name, reason):
        assert content not in public
    assert SECRET_TITLE not in html.unescape(client.get("/").get_data(as_text=True))
    # The proposer and the responsible agency are told, with the clause.
    body = smtp.body(smtp.last_to("wang@taichung.gov.tw"))
    assert "已被移除" in body and clause in body and reason in body
    assert any("已被移除" in t for t in line.texts(uid))
    agency_mail = smtp.last_to("civil@taichung.gov.tw")
    assert "提案已移除" in str(agency_mail["Subject"]) and clause in smtp.body(agency_mail)
    # Open data keeps the record without its content.
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert record["id"] == proposal.id and record["state"] == "removed" and record["removal_ground"] == ground
    assert record["title"] is None and record["proposer"] is None and record["response_decision"] is None
    assert record["seconding_start"] and record["valid_seconds"] == proposal.second_count
    assert record["lead_agencies"] == ["臺中市政府民政局"]
    if make == "responded":
        assert record["responded_at"]
    csv_text = client.get("/open-data/proposals.csv").get_data(as_text=True)
    assert SECRET_TITLE not in csv_text and ground in csv_text


def test_r7_removal_without_clause_or_reason_changes_nothing(app, client, line, smtp, ops_client, agency_client):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = _responded(agency_client, proposer)
    mails = len(smtp.messages)
    for data in ({"ground": "", "reason": "沒有事由"}, {"ground": "R7.1", "reason": ""}, {"ground": "R9.9", "reason": "不存在"}):
        response = act(ops_client, proposal.id, "remove", data)
        assert response.status_code == 400
        assert "請" in html.unescape(response.get_data(as_text=True))
    assert reload(proposal).state == "responded"
    assert len(smtp.messages) == mails
    assert AuditEvent.select().where(AuditEvent.action == "removed").count() == 0


def test_r7_removed_proposal_pending_agency_confirmation_is_not_deemed(app, client, line, smtp, ops_client, runner):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = seconding_proposal(proposer, agency="CIVIL")
    row = AgencyAssignment.create(proposal=proposal.id, agency_code="CIVIL", role="lead", status=PENDING,
                                  due=dt.date(2026, 12, 4))
    assert act(ops_client, proposal.id, "remove", {"ground": "R7.6", "reason": "涉及尚未公開的採購底價。"}).status_code == 302
    assert "提案已移除" in str(smtp.last_to("civil@taichung.gov.tw")["Subject"])
    result = runner.invoke(args=["deadlines", "sweep", "--now", "2026-12-10T09:00:00"])
    assert result.exit_code == 0, result.output
    assert AgencyAssignment.get_by_id(row.id).status == PENDING
    assert not [m for m in smtp.to("civil@taichung.gov.tw") if "視為確認" in str(m["Subject"])]
