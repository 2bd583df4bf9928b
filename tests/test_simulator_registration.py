"""Issue 3's "done when", in the browser: a person registers in the simulator and verifies by the
chat code; another verifies by replying to the email (through the real inbound path)."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from models.officials import Official
from tests.fixtures_mail import post_inbound, reply_to_email
from tests.helpers import load_agencies
from tests.test_simulator import bot_bubbles, create_user


def _expect_new_reply(page: Page, expect_reply: str, seen: int) -> None:
    """Wait for a bubble with the text that was not there before (`seen` such bubbles were): an earlier
    message holding the same word (the terms mention 暱稱 and 電話) must not let the test run ahead."""
    expect(bot_bubbles(page).filter(has_text=expect_reply).nth(seen)).to_be_visible()


def _say(page: Page, text: str, expect_reply: str) -> None:
    seen = bot_bubbles(page).filter(has_text=expect_reply).count()
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("send-button").click()
    _expect_new_reply(page, expect_reply, seen)


def _tap(page: Page, label: str, expect_reply: str) -> None:
    seen = bot_bubbles(page).filter(has_text=expect_reply).count()
    page.get_by_test_id("quick-reply").filter(has_text=label).first.click()
    _expect_new_reply(page, expect_reply, seen)


def _register_in_browser(page: Page, base_url: str, name: str, email: str) -> str:
    page.goto(base_url + "/dev/line")
    uid = create_user(page, name)
    page.get_by_test_id("follow-button").click()
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(1)
    _tap(page, "開始註冊", "使用條款與個人資料告知")
    _tap(page, "同意並繼續", "真實姓名")
    _say(page, name, "暱稱")
    _say(page, name + "的暱稱", "顯示")
    _tap(page, "以暱稱顯示", "電話")
    _say(page, "0912-345-678", "公務電子郵件")
    _say(page, email, "聯絡地址")
    _say(page, "臺中市西屯區臺灣大道三段99號", "所屬機關")
    _say(page, "研考會", "找到以下機關")
    _tap(page, "研考會", "服務的單位")
    _say(page, "綜合規劃組", "請確認您的註冊資料")
    _tap(page, "確認送出", "認證碼已寄到")
    return uid


def test_r3_2_simulator_registration_verified_by_chat_code(live_server, page, smtp):
    load_agencies()
    uid = _register_in_browser(page, live_server.url, "王小明", "wang@taichung.gov.tw")
    _say(page, smtp.code_for("wang@taichung.gov.tw"), "認證完成")
    assert Official.get(Official.line_user_id == uid).is_verified


def test_r3_2_simulator_registration_verified_by_email_reply(live_server, page, smtp):
    load_agencies()
    uid = _register_in_browser(page, live_server.url, "李大華", "lee@taichung.gov.tw")
    mail = smtp.last_to("lee@taichung.gov.tw")
    client = live_server.app.test_client()
    assert post_inbound(client, reply_to_email(mail, "lee@taichung.gov.tw", "確認")).json["outcome"] == "confirmed"
    expect(bot_bubbles(page).filter(has_text="已收到您的回覆郵件")).to_have_count(1)  # pushed to the chat
    assert Official.get(Official.line_user_id == uid).is_verified
