"""Issue 10 item 12: LINE's monthly message quota on the operations status page (read from the
Messaging API), and a push refused with 429 sent by email instead, marked on its outbox row."""
from __future__ import annotations

import html
import secrets

import pytest
from playwright.sync_api import expect

from models.base import utcnow
from models.notify import notify_official
from models.officials import Official
from models.outbox import Outbox, queue_line, unit_of_work
from tests.fixtures_console import browser_login
from tests.fixtures_mail import post_inbound, reply_to_email
from tests.helpers import load_agencies, register


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _page(ops_client) -> str:
    response = ops_client.get("/console/operations")
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def _official(email: str = "chen@taichung.gov.tw") -> Official:
    return Official.create(line_user_id="U" + secrets.token_hex(16), status="verified", real_name="陳大文",
                           nickname="大文", display_choice="nickname", phone="0912-345-678", email=email,
                           verified_email=email, address="臺中市西屯區臺灣大道三段99號", agency_code="RDEC",
                           verified_at=utcnow(), following=True)


def test_the_status_page_shows_the_line_quota_and_its_use(ops_client, line):
    line.set_quota(1000, used=250)
    page = _page(ops_client)
    assert "本月已用 250 / 1000 則推播（25%），剩餘 750 則" in page
    line.set_quota(None, used=7)
    assert "本月已用 7 則推播・方案不限則數" in _page(ops_client)
    line.set_quota(10, used=10)
    assert "額度已用完" in _page(ops_client)
    calls = [c["path"] for c in line.calls()]
    assert "/v2/bot/message/quota" in calls and "/v2/bot/message/quota/consumption" in calls


def test_the_status_page_shows_when_line_cannot_tell_the_quota(ops_client, line):
    line.fail(count=2, status=503)
    assert "無法向 LINE 查詢額度" in _page(ops_client)


def test_r3_2_a_reply_answer_refused_for_the_quota_goes_by_email(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    line.set_quota(5, used=5)  # the month's pushes are used up
    pushes_before = len([d for d in line.deliveries(uid) if d["kind"] == "push"])
    mail = smtp.last_to("wang@taichung.gov.tw")
    assert post_inbound(client, reply_to_email(mail, "wang@taichung.gov.tw", "確認")).json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified
    assert len([d for d in line.deliveries(uid) if d["kind"] == "push"]) == pushes_before  # LINE refused it
    answer = smtp.last_to("wang@taichung.gov.tw")
    assert "回覆郵件已處理" in str(answer["Subject"]) and "電子郵件認證完成" in smtp.body(answer)
    row = Outbox.select().where(Outbox.channel == "line").order_by(Outbox.id.desc()).first()
    assert (row.status, row.sent_via, row.last_error) == ("sent", "mail", "LINE 429")


def test_a_notice_with_its_own_email_is_marked_sent_by_email_without_a_second_email(client, line, smtp):
    official = _official()
    line.set_quota(0)
    with unit_of_work():
        notify_official(official, subject="提案已成案", body="您附議的提案已成案。", key="test-notice")
    line_row = Outbox.get(Outbox.dedupe_key == "test-notice:line")
    assert (line_row.status, line_row.sent_via) == ("sent", "mail")
    assert [str(m["Subject"]) for m in smtp.to("chen@taichung.gov.tw")] == ["提案已成案"]  # once, not twice
    assert line.messages(official.line_user_id) == []


def test_a_chat_only_push_refused_with_429_or_any_push_failing_otherwise_is_retried(client, line, smtp):
    official = _official()
    line.set_quota(0)
    with unit_of_work():
        queue_line(official.line_user_id, [{"type": "text", "text": "只在聊天室的訊息"}])
    row = Outbox.get()
    assert (row.status, row.sent_via, row.attempts) == ("pending", None, 1)  # no email form: retried later
    line.set_quota(None)
    line.fail(count=1, status=500)
    with unit_of_work():
        notify_official(official, subject="主旨", body="內容", key="other", mail=False)
    row = Outbox.get(Outbox.dedupe_key == "other:line")
    assert (row.status, row.sent_via) == ("pending", None)  # a 500 is not the quota: no email
    assert smtp.to("chen@taichung.gov.tw") == []


def test_the_status_page_in_a_browser_shows_the_quota(page, live_server, ops_staff, line):
    line.set_quota(200, used=50)
    browser_login(page, live_server, ops_staff.email, ops_staff.password, next="/console/operations")
    page.goto(f"{live_server.url}/console/operations")
    expect(page.get_by_role("heading", name="LINE 訊息額度（本月）")).to_be_visible()
    expect(page.get_by_test_id("line-quota")).to_contain_text("本月已用 50 / 200 則推播（25%），剩餘 150 則")
    expect(page.get_by_test_id("line-quota")).to_contain_text("改以電子郵件送達 0 則")
