"""Whole journeys, edge to edge, as the issues' "done when" describe them."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models.agency_confirmation import AgencyAssignment
from models.proposals import Proposal
from tests.factories import seconding_proposal, verified_official
from tests.helpers import load_agencies, register, tap
from tests.test_agency_confirmation import answer_by_link, emailed_link, request_in_console
from tests.test_proposing import compose
from tests.test_review import act

TAIPEI = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_r9_2_proposal_journey_submit_similar_return_revise_pass_confirm(app, client, line, smtp, ops_client, runner):
    """Issue 4: submit → similar shown → returned → revised → passed → agency confirmed; another deemed."""
    older = seconding_proposal(verified_official(nickname="前輩"), title="簡化差勤請假線上簽核流程", agency="PERSONNEL")
    uid, official = register(client, line, smtp)

    compose(client, line, uid, title="簡化差勤請假的線上簽核流程")
    tap(client, line, uid, "送出提案")
    assert "簡化差勤請假線上簽核流程" in json.dumps(line.last(uid), ensure_ascii=False)  # R9.1.4
    tap(client, line, uid, "仍要送出")
    proposal = Proposal.get(Proposal.proposer == official.id)
    assert proposal.state == "submitted"

    act(ops_client, proposal.id, "return", {"reasons": "請補充目前請假流程的實際耗時數據。"})
    assert "需要修改" in line.texts(uid)[-1]
    assert "需要修改" in str(smtp.last_to("wang@taichung.gov.tw")["Subject"])
    tap(client, line, uid, "修改提案")
    tap(client, line, uid, "修改內容")
    line.text(client, uid, "目前差勤系統請假需要三層紙本簽核，平均耗時 2.3 天；建議改為線上簽核並授權主管決行。")
    tap(client, line, uid, "送出提案")
    if Proposal.get_by_id(proposal.id).state != "submitted":
        tap(client, line, uid, "仍要送出")
    assert Proposal.get_by_id(proposal.id).state == "submitted"

    act(ops_client, proposal.id, "pass")
    passed = Proposal.get_by_id(proposal.id)
    assert passed.state == "seconding"
    assert "通過檢核" in line.texts(uid)[-1] and "通過檢核" in str(smtp.last_to("wang@taichung.gov.tw")["Subject"])
    assert client.get(f"/proposals/{proposal.id}").status_code == 200

    request_in_console(ops_client, proposal.id, "PERSONNEL")
    contact = AgencyAssignment.get(AgencyAssignment.proposal == proposal.id)
    from models.agencies import get_agency

    address = get_agency("PERSONNEL").contact_email
    answer_by_link(app.test_client(), emailed_link(smtp, address), "confirm")
    assert AgencyAssignment.get_by_id(contact.id).status == "confirmed"

    # Another proposal whose agency never answers is deemed confirmed after 5 working days.
    other = seconding_proposal(title="區公所夜間服務時段試辦", agency="CIVIL")
    request_in_console(ops_client, other.id, "CIVIL")
    pending = AgencyAssignment.get(AgencyAssignment.proposal == other.id)
    late = dt.datetime.combine(pending.due + dt.timedelta(days=1), dt.time(9, 0), tzinfo=TAIPEI)
    result = runner.invoke(args=["deadlines", "sweep", "--now", late.isoformat()])
    assert result.exit_code == 0, result.output
    assert AgencyAssignment.get_by_id(pending.id).status == "deemed"
    assert older.state == "seconding"


def test_r9_3_seconding_journey_chat_and_email_then_progress(client, line, smtp):
    """Issue 5: two officials second, one by chat code, one by email reply; progress moves."""
    from tests.fixtures_mail import post_inbound, reply_to_email

    proposal = seconding_proposal(title="公務人員彈性上班時間再放寬")
    uid1, _ = register(client, line, smtp, email="a.chen@taichung.gov.tw", name="陳一", nickname="一號")
    uid2, _ = register(client, line, smtp, email="b.lin@taichung.gov.tw", name="林二", nickname="二號")

    line.postback(client, uid1, f"a=sec.confirm&p={proposal.id}&notify=0")
    line.text(client, uid1, smtp.code_for("a.chen@taichung.gov.tw"))
    assert Proposal.get_by_id(proposal.id).second_count == 1

    line.postback(client, uid2, f"a=sec.confirm&p={proposal.id}&notify=1")
    mail = smtp.last_to("b.lin@taichung.gov.tw")
    assert post_inbound(client, reply_to_email(mail, "b.lin@taichung.gov.tw", "同意")).json["outcome"] == "confirmed"
    assert Proposal.get_by_id(proposal.id).second_count == 2

    assert "2 / 200 份有效附議" in client.get(f"/proposals/{proposal.id}").get_data(as_text=True)
    line.postback(client, uid1, "a=sec.browse")
    assert "2 / 200" in json.dumps(line.last(uid1), ensure_ascii=False)
