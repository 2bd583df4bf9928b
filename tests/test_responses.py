"""Agency responses (R9.4): merge (R9.4.1), meetings (R9.4.2), the published response (R9.4.3) and its
clock with one extension and reminders (R9.4.4); driven from the console, the CLI and the public pages."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models import settings
from models.agency_confirmation import AgencyAssignment
from models.base import DomainError, taipei_date, utcnow
from models.calendar import due_date, extension_due, next_working_day_on_or_after, today_taipei
from models.events import AuditEvent
from models.outbox import Outbox
from models.proposals import ESTABLISHED, Proposal
from models.response_publishing import merge, publish_response, record_meeting_summary
from models.responses import AgencyResponse, Extension, Meeting, extend_deadline
from models.seconds import Second
from models.staff import create_staff
from tests.factories import reload, seconding_proposal, verified_official
from tests.fixtures_console import browser_login, csrf_token_from
from tests.helpers import flashes, load_agencies, logged_in, page_text, register, sweep, taipei

REASONS = "本府已於 116 年度預算編列相關經費，並會同人事處研議實施方式，評估可行。"
PLAN = "自 116 年 7 月起於民政局試辦半年，試辦結束後檢討推廣至各機關。"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def established(official=None, *, agency: str = "CIVIL", title: str = "推動公文線上簽核全面無紙化",
                notified: dt.datetime | None = None) -> Proposal:
    """A proposal established and notified (as models.seconds leaves it): response_due counts from the notice."""
    proposal = seconding_proposal(official, agency=agency, title=title)
    notified = notified or taipei(2026, 1, 5, 9)
    Proposal.update(state=ESTABLISHED, second_count=200, established_at=notified - dt.timedelta(days=1),
                    notice_due=taipei_date(notified), notified_at=notified,
                    response_due=due_date("R9.4.4", taipei_date(notified))).where(Proposal.id == proposal.id).execute()
    return reload(proposal)


def post_form(client, proposal_id: int, action: str, prefix: str, data: dict):
    """POST one form of the response page as a person would: the token comes from the page they saw."""
    page = client.get(f"/console/responses/{proposal_id}").get_data(as_text=True)
    payload = {"csrf_token": csrf_token_from(page), **{f"{prefix}-{k}": v for k, v in data.items()}}
    return client.post(f"/console/responses/{proposal_id}/{action}", data=payload)


def mails(smtp, address: str, subject_part: str) -> list:
    return [m for m in smtp.to(address) if subject_part in str(m["Subject"])]


# --- R9.4.3 the published response ------------------------------------------------------------------

def test_r9_4_3_publish_with_decision_and_reasons_public_page_open_data_and_proposer_told(
        app, client, line, smtp, agency_client, agency_staff):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = established(proposer, title="設置員工子女托育中心")
    keen, quiet = verified_official(), verified_official()
    Second.create(proposal=proposal.id, official=keen.id, notify_result=True, via="chat")
    Second.create(proposal=proposal.id, official=quiet.id, notify_result=False, via="chat")

    page = page_text(agency_client, f"/console/responses/{proposal.id}")
    assert "設置員工子女托育中心" in page and "主辦機關" in page and "2026-03-05" in page
    response = post_form(agency_client, proposal.id, "publish", "respond",
                         {"decision": "partial", "reasons": REASONS, "plan": PLAN})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    assert "已公開提案第" in flashes(agency_client)

    answered = reload(proposal)
    assert answered.state == "responded" and answered.response_decision == "partial"
    assert answered.responded_at is not None
    row = AgencyResponse.get(AgencyResponse.proposal == proposal.id)
    assert (row.decision, row.reasons, row.plan, row.agency_code) == ("partial", REASONS, PLAN, "CIVIL")
    assert row.responded_by == f"staff:{agency_staff.id}"
    assert AuditEvent.get((AuditEvent.action == "response_published") & (AuditEvent.subject_id == proposal.id)).reason == REASONS

    public = page_text(client, f"/proposals/{proposal.id}")
    section = public.split('data-testid="response"')[1]
    assert "機關回應" in public and "部分參採" in section and REASONS in section and PLAN in section
    assert "臺中市政府民政局" in section
    record = client.get("/open-data/proposals.json").json["proposals"][0]
    assert record["state"] == "responded" and record["response_decision"] == "partial"
    assert record["responded_at"].startswith(str(taipei_date(answered.responded_at)))
    assert record["response_due"] == "2026-03-05" and record["response_extended_due"] is None

    mail = mails(smtp, "wang@taichung.gov.tw", "權責機關已回應")
    assert len(mail) == 1
    body = smtp.body(mail[0])
    assert "部分參採" in body and REASONS in body and PLAN in body and f"/proposals/{proposal.id}" in body
    assert any("部分參採" in text and REASONS in text for text in line.texts(uid))
    assert len(mails(smtp, keen.verified_email, "您附議的提案已有機關回應")) == 1
    assert smtp.to(quiet.verified_email) == []


def test_r9_4_3_answering_twice_is_refused(app, agency_client, ops_staff):
    proposal = established()
    assert post_form(agency_client, proposal.id, "publish", "respond",
                     {"decision": "reject", "reasons": REASONS}).status_code == 302
    page = agency_client.get(f"/console/responses/{proposal.id}").get_data(as_text=True)
    assert 'data-testid="respond-form"' not in page  # no form once answered
    token = csrf_token_from(page)
    again = agency_client.post(f"/console/responses/{proposal.id}/publish",
                               data={"csrf_token": token, "respond-decision": "adopt", "respond-reasons": REASONS,
                                     "respond-plan": PLAN})
    assert again.status_code == 400 and "不能再次回應" in html.unescape(again.get_data(as_text=True))
    with pytest.raises(DomainError) as refused:
        publish_response(proposal.id, ops_staff, "adopt", REASONS, PLAN)
    assert refused.value.code == "already_responded"
    assert AgencyResponse.select().count() == 1 and reload(proposal).response_decision == "reject"


@pytest.mark.parametrize("decision, reasons, plan, message", [
    ("", REASONS, "", "此欄位必填"),
    ("adopt", "", PLAN, "此欄位必填"),
    ("reject", "不可行。", "", "至少需要 20 個字"),
    ("adopt", REASONS, "", "請寫明具體的辦理方式"),
    ("maybe", REASONS, PLAN, "這個選項已不在清單中"),
])
def test_r9_4_3_decision_reasons_and_plan_are_required(app, agency_client, decision, reasons, plan, message):
    proposal = established()
    response = post_form(agency_client, proposal.id, "publish", "respond",
                         {"decision": decision, "reasons": reasons, "plan": plan})
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))
    assert reload(proposal).state == "established" and AgencyResponse.select().count() == 0


def test_r9_4_3_only_a_lead_agency_or_ops_responds(app, ops_client, agency_client):
    proposal = established(agency="RDEC")
    for code, role in (("RDEC", "lead"), ("CIVIL", "co")):
        AgencyAssignment.create(proposal=proposal.id, agency_code=code, role=role, status="confirmed",
                                due=dt.date(2026, 1, 1))
    listing = page_text(agency_client, "/console/responses")
    assert proposal.title in listing and "協辦" in listing
    page = page_text(agency_client, f"/console/responses/{proposal.id}")
    assert "協辦機關" in page and 'data-testid="respond-form"' not in page
    refused = post_form(agency_client, proposal.id, "publish", "respond", {"decision": "reject", "reasons": REASONS})
    assert refused.status_code == 400 and "只有主辦機關" in html.unescape(refused.get_data(as_text=True))

    create_staff("edu.wu@taichung.gov.tw", "agency", "edu-password-12345", agency_code="EDU")
    other = logged_in(app, "edu.wu@taichung.gov.tw", "edu-password-12345")
    assert proposal.title not in page_text(other, "/console/responses")
    assert other.get(f"/console/responses/{proposal.id}").status_code == 404

    assert post_form(ops_client, proposal.id, "publish", "respond",
                     {"decision": "reject", "reasons": REASONS}).status_code == 302
    assert AgencyResponse.get(AgencyResponse.proposal == proposal.id).agency_code == "RDEC"


def test_r9_4_3_not_before_the_establishment_notice(app, ops_staff):
    proposal = established()
    Proposal.update(notified_at=None, response_due=None).where(Proposal.id == proposal.id).execute()
    with pytest.raises(DomainError) as refused:
        publish_response(proposal.id, ops_staff, "reject", REASONS)
    assert refused.value.code == "not_notified"


# --- R9.4.4 the clock -------------------------------------------------------------------------------

@pytest.mark.parametrize("notice, due", [
    ("2026-01-05", "2026-03-05"),  # plain: two months later, a Thursday
    ("2025-12-31", "2026-03-02"),  # month end: 02-28 is a Saturday (and Peace Memorial Day) → Monday
    ("2025-12-16", "2026-02-23"),  # 02-16 is Lunar New Year's Eve: after the whole holiday
    ("2023-12-29", "2024-02-29"),  # leap day
    ("2026-08-10", "2026-10-12"),  # 10-10 National Day on a Saturday → Monday
])
def test_r9_4_4_response_due_two_months_after_the_notice_on_a_working_day(runner, notice, due):
    result = runner.invoke(args=["calendar", "due", "R9.4.4", notice])
    assert result.exit_code == 0 and result.output.strip() == due
    assert due_date("R9.4.4", dt.date.fromisoformat(notice)) == dt.date.fromisoformat(due)


def test_r9_4_4_a_closure_on_the_last_day_moves_open_clocks(app, runner, ops_staff):
    today = today_taipei()
    notified = dt.datetime.combine(today, dt.time(1, 0))  # 09:00 in Taipei
    open_one = established(notified=notified)
    extended = established(notified=notified, title="另一個延長過的提案內容")
    extend_deadline(extended.id, ops_staff, "需會同多個機關研議，延長一次。")
    old_due, old_extended = open_one.response_due, reload(extended).response_extended_due
    assert runner.invoke(args=["calendar", "close", old_due.isoformat(), "--reason", "颱風停止上班"]).exit_code == 0
    assert runner.invoke(args=["calendar", "close", old_extended.isoformat(), "--reason", "颱風停止上班"]).exit_code == 0
    moved = reload(open_one).response_due
    assert moved == next_working_day_on_or_after(old_due + dt.timedelta(days=1))
    again = reload(extended)
    assert again.response_due == moved
    assert again.response_extended_due == extension_due("R9.4.4", moved) > old_extended
    assert Extension.get(Extension.proposal == extended.id).new_due == again.response_extended_due


def test_r9_4_4_extend_once_before_expiry_by_at_most_a_month_reason_published(
        app, client, line, smtp, agency_client):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    notified = dt.datetime.combine(today_taipei() - dt.timedelta(days=10), dt.time(1, 0))
    proposal = established(proposer, notified=notified)
    reason = "本案涉及人事、主計及法制單位，需召開跨機關會議研商，爰延長一次。"
    response = post_form(agency_client, proposal.id, "extend", "extend", {"reason": reason})
    assert response.status_code == 302
    extended = reload(proposal)
    assert extended.response_due == proposal.response_due
    assert extended.response_extended_due == extension_due("R9.4.4", proposal.response_due)
    assert extended.response_extended_due <= next_working_day_on_or_after(
        proposal.response_due + dt.timedelta(days=31))
    public = page_text(client, f"/proposals/{proposal.id}")
    assert reason in public and f"延長至 {extended.response_extended_due}" in public
    assert client.get("/open-data/proposals.json").json["proposals"][0]["response_extended_due"] == \
        extended.response_extended_due.isoformat()
    assert reason in smtp.body(mails(smtp, "wang@taichung.gov.tw", "回應期限延長")[0])
    assert any(reason in text for text in line.texts(uid))
    listing = agency_client.get("/console/responses").get_data(as_text=True)
    assert re.search(rf'data-proposal="{proposal.id}"[^>]*data-extended="1"', listing)

    again = post_form(agency_client, proposal.id, "extend", "extend", {"reason": "再延長一次看看可不可以。"})
    assert again.status_code == 400 and "只能延長一次" in html.unescape(again.get_data(as_text=True))
    assert Extension.select().count() == 1


def test_r9_4_4_no_extension_after_the_last_day(app, ops_staff):
    proposal = established(notified=taipei(2026, 1, 5, 9))  # last day 2026-03-05
    with pytest.raises(DomainError) as refused:
        extend_deadline(proposal.id, ops_staff, "太晚才想到要延長期限。", now=taipei(2026, 3, 6, 0, 0, 1))
    assert refused.value.code == "expired"
    extension = extend_deadline(proposal.id, ops_staff, "最後一天的深夜延長期限。", now=taipei(2026, 3, 5, 23, 59))
    # 04-05 is a Sunday and Tomb Sweeping Day, 04-06 its observed day: the agency's last day is 04-07.
    assert (extension.original_due, extension.new_due) == (dt.date(2026, 3, 5), dt.date(2026, 4, 7))
    with pytest.raises(DomainError) as twice:
        extend_deadline(proposal.id, ops_staff, "第二次延長理由說明。", now=taipei(2026, 3, 5, 23, 59))
    assert twice.value.code == "already_extended"


def test_r9_4_4_reminder_sweep_seven_days_before_and_once_when_overdue(app, runner, smtp, ops_staff):
    proposal = established(notified=taipei(2026, 1, 5, 9))  # last day Thursday 2026-03-05, CIVIL leads
    done = established(notified=taipei(2026, 1, 5, 9), title="已經回應的提案不再提醒")
    publish_response(done.id, ops_staff, "reject", REASONS, now=taipei(2026, 2, 1, 9))
    smtp.clear()

    assert sweep(runner, "2026-02-25T09:00")["response_reminders"] == 0  # 8 days before
    assert sweep(runner, "2026-02-26T09:00")["response_reminders"] == 1
    soon = mails(smtp, "civil@taichung.gov.tw", "回應期限將屆")
    assert len(soon) == 1 and proposal.title in smtp.body(soon[0]) and "2026-03-05" in smtp.body(soon[0])
    assert sweep(runner, "2026-02-27T09:00")["response_reminders"] == 0
    assert sweep(runner, "2026-03-05T23:59")["response_reminders"] == 0  # the last day is not over

    assert sweep(runner, "2026-03-06T00:01")["response_reminders"] == 1
    assert sweep(runner, "2026-03-06T00:02")["response_reminders"] == 0
    assert sweep(runner, "2026-03-20T09:00")["response_reminders"] == 0
    assert len(mails(smtp, "civil@taichung.gov.tw", "已逾期")) == 1
    overdue_ops = mails(smtp, settings.OPS_NOTIFY_EMAIL, "已逾期")
    assert len(overdue_ops) == 1 and "臺中市政府民政局" in smtp.body(overdue_ops[0])
    assert not [m for m in smtp.messages if done.title in smtp.body(m)]
    assert Outbox.select().where(Outbox.dedupe_key.contains(f"proposal:{proposal.id}:response-")).count() == 3


def test_r9_4_4_console_lists_due_days_extended_and_overdue(app, ops_client, agency_client, ops_staff):
    today = today_taipei()
    late = established(notified=taipei(2024, 1, 5, 9), title="早已逾期的民政提案")
    fresh = established(notified=dt.datetime.combine(today, dt.time(1, 0)), title="剛成案的民政提案")
    other = established(agency="EDU", notified=dt.datetime.combine(today, dt.time(1, 0)), title="教育局主辦的提案")
    extend_deadline(fresh.id, ops_staff, "需要跨局處研商，延長一次。")
    mine = agency_client.get("/console/responses").get_data(as_text=True)
    assert late.title in mine and fresh.title in mine and other.title not in mine
    assert re.search(rf'data-proposal="{late.id}"[^>]*data-overdue="1"', mine)
    assert re.search(rf'data-proposal="{fresh.id}"[^>]*data-extended="1"', mine)
    assert not re.search(rf'data-proposal="{fresh.id}"[^>]*data-overdue', mine)
    assert mine.index(late.title) < mine.index(fresh.title)  # by last day
    assert other.title in ops_client.get("/console/responses").get_data(as_text=True)
    assert "回應已逾期" in page_text(agency_client, f"/console/responses/{late.id}")


# --- R9.4.1 merging -----------------------------------------------------------------------------------

def test_r9_4_1_merged_proposal_is_answered_with_the_main_one_and_each_proposer_told(
        app, client, line, smtp, agency_client, ops_staff):
    uid_main, first = register(client, line, smtp, email="wang@taichung.gov.tw")
    uid_member, second = register(client, line, smtp, email="lee@taichung.gov.tw", nickname="南屯小幫手")
    main = established(first, title="公文線上簽核全面無紙化")
    member = established(second, title="公文電子化減少紙張")
    elsewhere = established(agency="EDU", title="教育局主辦的類似提案")

    response = post_form(agency_client, member.id, "merge", "merge",
                         {"into": str(main.id), "reason": "兩案皆建議公文全面線上簽核，內容相同。"})
    assert response.status_code == 302
    told = mails(smtp, "lee@taichung.gov.tw", "併案")
    assert len(told) == 1 and main.title in smtp.body(told[0])
    assert any("併案" in text for text in line.texts(uid_member))
    merged_page = page_text(client, f"/proposals/{member.id}")
    assert f'href="/proposals/{main.id}">第 {main.id} 號提案</a>併案研議' in merged_page

    refused = post_form(agency_client, member.id, "publish", "respond", {"decision": "reject", "reasons": REASONS})
    assert "請在主案辦理" in html.unescape(refused.get_data(as_text=True))
    third = established(title="第三個民政局主辦的提案")
    for proposal_id, into, code in ((elsewhere.id, main.id, "merge_agency"), (main.id, main.id, "merge_self"),
                                    (third.id, member.id, "merge_chain"), (main.id, third.id, "merge_has_members"),
                                    (member.id, third.id, "merge_already")):
        with pytest.raises(DomainError) as refused:
            merge(proposal_id, into, ops_staff, "兩案內容相似。")
        assert refused.value.code == code

    assert post_form(agency_client, main.id, "publish", "respond",
                     {"decision": "adopt", "reasons": REASONS, "plan": PLAN}).status_code == 302
    for proposal in (main, member):
        answered = reload(proposal)
        assert answered.state == "responded" and answered.response_decision == "adopt"
    assert AgencyResponse.get(AgencyResponse.proposal == member.id).main_proposal_id == main.id
    assert reload(elsewhere).state == "established"
    for address, uid in (("wang@taichung.gov.tw", uid_main), ("lee@taichung.gov.tw", uid_member)):
        assert len(mails(smtp, address, "權責機關已回應")) == 1
        assert any("同意參採" in text for text in line.texts(uid))
    member_page = page_text(client, f"/proposals/{member.id}")
    assert "同意參採" in member_page and REASONS in member_page and f"第 {main.id} 號提案</a>併案回應" in member_page


# --- R9.4.2 meetings ------------------------------------------------------------------------------------

def test_r9_4_2_meeting_invites_the_proposer_and_its_summary_is_published(app, client, line, smtp, agency_client,
                                                                          agency_staff):
    uid, proposer = register(client, line, smtp, email="wang@taichung.gov.tw")
    proposal = established(proposer, notified=dt.datetime.combine(today_taipei(), dt.time(1, 0)))
    yesterday = today_taipei() - dt.timedelta(days=1)
    past = post_form(agency_client, proposal.id, "meetings", "meeting",
                     {"held_on": yesterday.isoformat(), "place": "14:00 市政大樓惠中樓501會議室", "participants": "提案人、民政局"})
    assert past.status_code == 400 and "會議日期不能早於今天" in html.unescape(past.get_data(as_text=True))

    day = today_taipei()
    place = "14:00 市政大樓惠中樓501會議室"
    response = post_form(agency_client, proposal.id, "meetings", "meeting",
                         {"held_on": day.isoformat(), "place": place, "participants": "提案人、民政局、人事處林科長"})
    assert response.status_code == 302
    invitation = mails(smtp, "wang@taichung.gov.tw", "會議邀請")
    assert len(invitation) == 1
    body = smtp.body(invitation[0])
    assert day.isoformat() in body and place in body and "臺中市政府民政局" in body
    assert any("會議" in text and place in text for text in line.texts(uid))

    meeting = Meeting.get(Meeting.proposal == proposal.id)
    with pytest.raises(DomainError) as early:
        record_meeting_summary(meeting.id, agency_staff, "會議結論：試辦半年。", now=taipei(2020, 1, 1, 9))
    assert early.value.code == "summary_early"
    summary = "與會機關同意先行試辦半年，再評估推廣。"
    page = agency_client.get(f"/console/responses/{proposal.id}").get_data(as_text=True)
    saved = agency_client.post(f"/console/responses/{proposal.id}/meetings/{meeting.id}/summary",
                               data={"csrf_token": csrf_token_from(page), f"summary{meeting.id}-summary": summary})
    assert saved.status_code == 302
    public = page_text(client, f"/proposals/{proposal.id}")
    assert summary in public and day.isoformat() in public.split('data-testid="meetings"')[1]
    assert place not in public and "林科長" not in public


# --- the console in a browser ---------------------------------------------------------------------------

def test_r9_4_3_agency_staff_publish_a_response_in_the_browser(app, page, live_server, agency_staff):
    from playwright.sync_api import expect

    proposal = established(title="推動彈性上班時間")
    browser_login(page, live_server, agency_staff.email, agency_staff.password)
    page.goto(f"{live_server.url}/console/responses")
    page.get_by_role("link", name="推動彈性上班時間").click()
    page.get_by_label("同意參採", exact=True).check()
    page.fill("textarea[name=respond-reasons]", REASONS)
    page.fill("textarea[name=respond-plan]", PLAN)
    with page.expect_navigation():
        page.get_by_role("button", name="公開回應並通知提案人").click()
    expect(page.locator(".flash--success")).to_contain_text("已公開提案")
    expect(page.get_by_test_id("response")).to_contain_text("同意參採")
    page.goto(f"{live_server.url}/proposals/{proposal.id}")
    expect(page.get_by_test_id("decision")).to_have_text("同意參採")
    expect(page.get_by_test_id("reasons")).to_contain_text("編列相關經費")
    assert reload(proposal).state == "responded"
    assert utcnow() - reload(proposal).responded_at < dt.timedelta(minutes=5)
