"""Several leads (R9.2.5(3), R9.4.3): each lead publishes its own assessment; the proposal is responded only
when every lead has; a missing lead is overdue on the public page, in open data and in reminders."""
from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import urlsplit

import pytest

from models import agency_confirmation as confirmation
from models import db, settings
from models.base import DomainError, utcnow
from models.response_links import LinkActor, response_link
from models.response_publishing import publish_response
from models.responses import AgencyResponse
from models.staff import create_staff
from tests.factories import reload
from tests.helpers import load_agencies, logged_in, page_text, register, sweep, taipei
from tests.test_agency_respond import csrf_token as link_csrf_token
from tests.test_responses import PLAN, REASONS, established, mails, post_form

EDU_REASONS = "本局評估各校現有人力與空間不足，短期內難以全面推動，暫不採納，將持續蒐集意見。"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def co_led(proposer=None, *, notified=None):
    """An established proposal that CIVIL (民政局) and EDU (教育局) both lead, the dispute unresolved."""
    notified = notified or utcnow() - dt.timedelta(days=1)  # the response clock runs
    proposal = established(proposer, agency="CIVIL", title="跨局處推動員工子女課後照顧", notified=notified)
    confirmation.request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead"), ("EDU", "co")],
                                      taipei(2026, 1, 2, 9), base_url="http://localhost")
    confirmation.mark_disputed(proposal.id, "staff:1")
    assert confirmation.agencies_of(proposal.id) == {"lead": ["CIVIL", "EDU"], "co": []}
    return proposal


def link_publish(client, proposal_id: int, agency: str, address: str, **fields):
    """Publish through the agency's signed response link, as its clerk would."""
    path = urlsplit(response_link(proposal_id, agency, address)).path
    data = {"publish-csrf_token": link_csrf_token(client, path), **{f"publish-{k}": v for k, v in fields.items()}}
    return client.post(f"{path}/publish", data=data)


def test_r9_4_3_each_lead_publishes_its_own_and_the_proposal_is_responded_when_all_have(
        app, client, line, smtp, agency_client):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = co_led(proposer)

    assert post_form(agency_client, proposal.id, "publish", "respond",
                     {"decision": "adopt", "reasons": REASONS, "plan": PLAN}).status_code == 302
    assert reload(proposal).state == "established"  # EDU has not answered: CIVIL cannot close it alone
    told = mails(smtp, "wang@taichung.gov.tw", "權責機關已回應")
    assert len(told) == 1 and "臺中市政府民政局" in smtp.body(told[0]) and "尚待臺中市政府教育局回應" in smtp.body(told[0])
    public = page_text(client, f"/proposals/{proposal.id}")
    assert public.count('data-testid="lead-response"') == 2 and "同意參採" in public and "研議中" in public

    # a second decision from the same lead is refused, in the console and through its link
    again = post_form(agency_client, proposal.id, "publish", "respond", {"decision": "reject", "reasons": REASONS})
    assert again.status_code == 400
    assert "同一主辦機關不能再次回應" in html.unescape(again.get_data(as_text=True))
    with pytest.raises(DomainError) as refused:
        publish_response(proposal.id, LinkActor("CIVIL", "civil@taichung.gov.tw"), "reject", REASONS)
    assert refused.value.code == "already_responded"
    assert AgencyResponse.select().count() == 1

    response = link_publish(app.test_client(), proposal.id, "EDU", "edu@taichung.gov.tw",
                            decision="reject", reasons=EDU_REASONS)
    assert response.status_code == 302
    done = reload(proposal)
    assert done.state == "responded" and done.response_decision == "partial"  # the leads differ
    assert {(r.agency_code, r.decision) for r in AgencyResponse.select()} == {("CIVIL", "adopt"), ("EDU", "reject")}
    assert len(mails(smtp, "wang@taichung.gov.tw", "權責機關已回應")) == 2
    assert any(EDU_REASONS in text for text in line.texts(uid))

    public = page_text(client, f"/proposals/{proposal.id}")
    columns = re.findall(r'data-testid="lead-response" data-agency="(\w+)"', public)
    assert columns == ["CIVIL", "EDU"]  # side by side, each with its decision and reasons
    civil, edu = public.split('data-testid="lead-response"')[1:3]
    assert "同意參採" in civil and REASONS in civil and PLAN in civil
    assert "不予採納" in edu and EDU_REASONS in edu
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert [(r["agency"], r["decision"], r["overdue"]) for r in record["lead_responses"]] == [
        ("臺中市政府民政局", "adopt", False), ("臺中市政府教育局", "reject", False)]


def test_r9_4_3_the_team_names_the_lead_it_publishes_for(app, ops_client, ops_staff):
    proposal = co_led()
    refused = post_form(ops_client, proposal.id, "publish", "respond", {"decision": "reject", "reasons": REASONS})
    assert refused.status_code == 400 and "請選擇代哪一個主辦機關" in html.unescape(refused.get_data(as_text=True))
    stranger = post_form(ops_client, proposal.id, "publish", "respond",
                         {"lead": "RDEC", "decision": "reject", "reasons": REASONS})
    assert stranger.status_code == 400 and "不是本提案尚未回應的主辦機關" in html.unescape(stranger.get_data(as_text=True))
    assert AgencyResponse.select().count() == 0
    assert post_form(ops_client, proposal.id, "publish", "respond",
                     {"lead": "EDU", "decision": "reject", "reasons": REASONS}).status_code == 302
    assert AgencyResponse.get().agency_code == "EDU" and reload(proposal).state == "established"
    # only CIVIL is left: the team's form no longer needs the choice
    assert post_form(ops_client, proposal.id, "publish", "respond",
                     {"decision": "reject", "reasons": REASONS}).status_code == 302
    assert reload(proposal).state == "responded" and reload(proposal).response_decision == "reject"


def test_r9_4_3_a_missing_lead_is_overdue_on_the_public_page_in_open_data_and_reminders(app, client, runner, smtp):
    proposal = co_led(notified=taipei(2026, 1, 5, 9))  # last day 2026-03-05
    create_staff("civil.wu@taichung.gov.tw", "agency", "civil-password-12345", agency_code="CIVIL")
    civil = logged_in(app, "civil.wu@taichung.gov.tw", "civil-password-12345")
    assert post_form(civil, proposal.id, "publish", "respond", {"decision": "reject", "reasons": REASONS}).status_code == 302
    smtp.clear()

    assert sweep(runner, "2026-03-06T00:01")["response_reminders"] == 1
    assert mails(smtp, "civil@taichung.gov.tw", "已逾期") == []  # CIVIL answered: not reminded
    assert len(mails(smtp, "edu@taichung.gov.tw", "已逾期")) == 1
    ops = mails(smtp, settings.OPS_NOTIFY_EMAIL, "已逾期")
    assert len(ops) == 1 and "臺中市政府教育局" in smtp.body(ops[0]) and "臺中市政府民政局" not in smtp.body(ops[0])

    public = page_text(client, f"/proposals/{proposal.id}")
    edu = public.split('data-agency="EDU"')[1]
    assert "逾期未回應" in edu and 'data-testid="lead-overdue"' in edu
    assert "逾期未回應" not in public.split('data-agency="CIVIL"')[1].split('data-agency="EDU"')[0]
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert [(r["decision"], r["overdue"]) for r in record["lead_responses"]] == [("reject", False), (None, True)]
    csv_text = client.get("/open-data/proposals.csv").get_data(as_text=True)
    assert "臺中市政府民政局:reject;臺中市政府教育局:overdue" in csv_text
    assert reload(proposal).state == "established"


def test_r9_4_3_db_migrate_lets_a_second_lead_respond_on_an_older_database(app, runner):
    """An older database had one response per proposal (a unique index); `db migrate` relaxes it."""
    db.execute_sql('DROP INDEX "agency_response_proposal_id"')
    db.execute_sql('CREATE UNIQUE INDEX "agency_response_proposal_id" ON "agency_response" (proposal_id)')
    assert runner.invoke(args=["db", "migrate"]).exit_code == 0
    indexes = {i.name: i for i in db.get_indexes("agency_response")}
    assert not indexes["agency_response_proposal_id"].unique
    assert indexes["agency_response_proposal_id_agency_code"].unique
    proposal = co_led()
    for code in ("CIVIL", "EDU"):
        publish_response(proposal.id, LinkActor(code, f"{code.lower()}@taichung.gov.tw"), "reject", REASONS)
    assert reload(proposal).state == "responded" and AgencyResponse.select().count() == 2


def test_r9_4_4_every_agency_holding_it_is_told_when_the_response_deadline_is_corrected(app, runner, smtp):
    proposal = co_led()
    smtp.clear()
    old_due = proposal.response_due
    assert runner.invoke(args=["calendar", "close", old_due.isoformat(), "--reason", "颱風停止上班"]).exit_code == 0
    moved = reload(proposal).response_due
    assert moved > old_due
    for address in ("civil@taichung.gov.tw", "edu@taichung.gov.tw"):
        told = mails(smtp, address, "回應期限更正")
        assert len(told) == 1 and f"{moved:%Y-%m-%d}" in smtp.body(told[0])
    assert sweep(runner, utcnow())["recompute_open_clocks"] >= 1  # the sweep recomputes again: no second mail
    assert len(mails(smtp, "edu@taichung.gov.tw", "回應期限更正")) == 1
