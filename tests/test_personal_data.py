"""Personal data (R4, 個人資料保護法): officials see and correct their data and close their account;
bouncing addresses are replaced; the retention periods are enforced by the sweep."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models import settings
from models.account_closing import close_account
from models.base import db, utcnow
from models.events import AuditEvent, LineEvent
from models.officials import Official
from models.outbox import Outbox, queue_mail, unit_of_work
from models.verification import CONFIRMED, PURPOSE_REGISTER, SUPERSEDED, VerificationCode
from tests.factories import seconding_proposal, verified_official
from tests.fixtures_console import console_post
from tests.helpers import load_agencies, page_text, quick_replies, register, sweep, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _labels(message: dict) -> list[str]:
    return [q["label"] for q in quick_replies(message)]


def test_r4_my_data_shows_the_officials_own_data_with_ways_to_correct_and_close(client, line, smtp):
    uid, _ = register(client, line, smtp, unit="資訊室")
    line.text(client, uid, "我的資料")
    shown = line.last(uid)
    for expected in ("王小明", "西屯小幫手", "0912-345-678", "wang@taichung.gov.tw", "臺灣大道三段99號",
                     "研究發展考核委員會", "資訊室"):
        assert expected in shown["text"]
    labels = _labels(shown)
    assert {"修改電話", "修改地址", "修改所屬單位", "使用條款", "關閉帳號"} <= set(labels) and len(labels) <= 13


def test_r4_closing_the_account_asks_first_then_erases_contact_data_and_keeps_posts(client, line, smtp):
    uid, official = register(client, line, smtp)
    proposal = seconding_proposal(Official.get_by_id(official.id))
    line.text(client, uid, "我的資料")
    tap(client, line, uid, "關閉帳號")
    ask = line.last(uid)
    assert "確定要關閉帳號嗎" in ask["text"] and "以「西屯小幫手」顯示" in ask["text"]
    assert _labels(ask) == ["確認關閉帳號", "取消"]
    assert Official.get_by_id(official.id).status == "verified"  # nothing happens before the confirmation

    tap(client, line, uid, "確認關閉帳號")
    assert "您的帳號已關閉" in line.texts(uid)[-1]
    closed = Official.get_by_id(official.id)
    assert closed.status == "closed" and closed.closed_at is not None
    assert (closed.real_name, closed.phone, closed.email, closed.verified_email, closed.address) == (None,) * 5
    assert closed.line_user_id == f"closed:{official.id}" and not closed.following
    assert closed.display_name == "西屯小幫手"
    assert VerificationCode.get(VerificationCode.official == official.id).email == ""
    assert AuditEvent.get(AuditEvent.action == "account_closed").subject_id == official.id
    mail = smtp.last_to("wang@taichung.gov.tw")
    assert mail["Subject"] == "【政策參與平臺】您的帳號已關閉" and "西屯小幫手" in smtp.body(mail)
    assert Outbox.select().where((Outbox.channel == "richmenu") & (Outbox.recipient == uid)).count() == 2

    # The post stays, under the shown name; nothing of the person is on it.
    page = page_text(client, f"/proposals/{proposal.id}")
    assert "西屯小幫手" in page and "王小明" not in page

    # The same LINE user is a stranger now: they may register anew, with the same address.
    line.text(client, uid, "選單")
    again = Official.get(Official.line_user_id == uid)
    assert again.id != official.id and again.status == "registering"
    register(client, line, smtp, uid)
    assert Official.get(Official.line_user_id == uid).verified_email == "wang@taichung.gov.tw"


def test_r4_r3_0_a_real_name_shown_publicly_stays_the_shown_name_after_closing(client, line, smtp):
    official = verified_official(real_name="林公開", display_choice="real")
    uid = line.user(official.line_user_id)
    line.postback(client, uid, "a=profile.close")
    tap(client, line, uid, "確認關閉帳號")
    closed = Official.get_by_id(official.id)
    assert closed.real_name is None and closed.display_name == "林公開"


def test_r4_a_stale_or_forged_close_button_changes_nothing(client, line):
    official = verified_official()
    uid = line.user(official.line_user_id)
    line.postback(client, uid, "a=profile.close_confirm&t=deadbeef")
    assert "這個按鈕已過期" in line.texts(uid)[-1]
    line.postback(client, uid, "a=profile.close")
    line.text(client, uid, "選單")  # walked away: the question is gone
    line.postback(client, uid, "a=profile.close_confirm&t=" + "0" * 8)
    assert Official.get_by_id(official.id).status == "verified"


def _mail_to(address: str) -> Outbox:
    with unit_of_work():
        return queue_mail(address, "【政策參與平臺】測試通知", "內容")


def test_r3_2_r4_repeated_bounces_ask_the_official_in_line_to_verify_a_new_address(client, line, smtp):
    uid, official = register(client, line, smtp)
    smtp.refuse("wang@taichung.gov.tw")
    for n in range(1, settings.BOUNCES_BEFORE_ASKING + 1):
        row = _mail_to("wang@taichung.gov.tw")
        assert Outbox.get_by_id(row.id).status == "failed"  # a permanent refusal is not retried
        assert Official.get_by_id(official.id).email_bounces == n
    ask = line.last(uid)
    assert "連續 3 次被退回" in ask["text"] and _labels(ask) == ["修改電子郵件"]
    _mail_to("wang@taichung.gov.tw")  # asked once, not at every bounce
    assert sum("被退回" in t for t in line.texts(uid)) == 1

    tap(client, line, uid, "修改電子郵件")
    line.text(client, uid, "wang.new@taichung.gov.tw")
    line.text(client, uid, smtp.code_for("wang.new@taichung.gov.tw"))
    fresh = Official.get_by_id(official.id)
    assert fresh.verified_email == "wang.new@taichung.gov.tw"
    assert (fresh.email_bounces, fresh.bounce_asked_at) == (0, None)


def test_r3_2_a_temporary_refusal_is_retried_and_is_no_bounce(client, line, smtp):
    official = verified_official()
    smtp.refuse(official.verified_email, "450 4.2.1 mailbox busy, try later")
    row = _mail_to(official.verified_email)
    assert Outbox.get_by_id(row.id).status == "pending" and Outbox.get_by_id(row.id).attempts == 1
    assert Official.get_by_id(official.id).email_bounces == 0


def test_r4_the_sweep_enforces_the_retention_periods(runner, client):
    now = utcnow()
    days = settings.RETENTION_DAYS

    def ago(n: int) -> dt.datetime:
        return now - dt.timedelta(days=n)

    def event(n: int, received: dt.datetime) -> LineEvent:
        return LineEvent.create(webhook_event_id=f"ev{n}", user_id="U1", event_type="message", status="done",
                                body=json.dumps({"text": "0912-345-678"}), received_at=received)

    recent_event, old_text, old_event = event(1, ago(1)), event(2, ago(days["chat_text"] + 1)), event(
        3, ago(days["line_events"] + 1))
    fresh_notice = Outbox.create(channel="mail", recipient="a@taichung.gov.tw", payload='{"body": "x"}', status="sent",
                                 sent_at=ago(1), created_at=ago(1))
    old_notice = Outbox.create(channel="mail", recipient="b@taichung.gov.tw", payload='{"body": "x"}', status="sent",
                               sent_at=ago(days["notice_recipient"] + 1), created_at=ago(days["notice_recipient"] + 1))
    official = verified_official()
    closed = verified_official(status="closed", closed_at=ago(days["closed_accounts"] + 1), verified_email=None)

    def code(who: Official, status: str, expires: dt.datetime) -> VerificationCode:
        return VerificationCode.create(official=who, purpose=PURPOSE_REGISTER, email="x@taichung.gov.tw",
                                       token=f"t{who.id}{status}", code_hash="h", status=status, expires_at=expires)

    stale_code = code(official, SUPERSEDED, ago(days["unconfirmed_codes"] + 1))
    kept_code = code(official, CONFIRMED, ago(days["unconfirmed_codes"] + 1))
    closed_code = code(closed, CONFIRMED, ago(days["closed_accounts"] + 2))

    report = sweep(runner, now)
    assert report["personal_data_retention"] > 0
    assert LineEvent.get_by_id(recent_event.id).body != "{}"
    assert LineEvent.get_by_id(old_text.id).body == "{}"
    assert LineEvent.get_or_none(LineEvent.id == old_event.id) is None
    assert Outbox.get_by_id(fresh_notice.id).payload != "{}" and Outbox.get_by_id(fresh_notice.id).recipient
    assert Outbox.get_by_id(old_notice.id).payload == "{}" and Outbox.get_by_id(old_notice.id).recipient == ""
    assert VerificationCode.get_or_none(VerificationCode.id == stale_code.id) is None
    assert VerificationCode.get_or_none(VerificationCode.id == kept_code.id) is not None  # an open account's proof
    assert VerificationCode.get_or_none(VerificationCode.id == closed_code.id) is None
    assert sweep(runner, now)["personal_data_retention"] == 0  # idempotent


def test_r4_db_migrate_adds_the_terms_closing_and_bounce_columns_for_existing_officials(runner):
    official = verified_official()
    columns = ("terms_version", "terms_accepted_at", "closed_at", "email_bounces", "email_bounced_at", "bounce_asked_at")
    for column in columns:
        db.execute_sql(f'ALTER TABLE "official" DROP COLUMN "{column}"')
    result = runner.invoke(args=["db", "migrate"])
    assert result.exit_code == 0, result.output
    assert set(columns) <= {c.name for c in db.get_columns("official")}
    migrated = Official.get_by_id(official.id)
    assert migrated.terms_version is None and migrated.email_bounces == 0  # they accept at their next participation


def test_r4_r8_the_console_shows_a_closed_account_and_cannot_block_it(ops_client, line, smtp):
    official = verified_official(nickname="北屯熱心人")
    close_account(official)
    detail = f"/console/officials/{official.id}"
    page = page_text(ops_client, detail)
    assert "已關閉（聯絡資料已刪除）" in page and "本人關閉帳號" in page and "停用此帳號" not in page
    refused = console_post(ops_client, f"{detail}/block", {"block-ground": "R7.3", "block-reason": "測試停用已關閉帳號"},
                           token_from=detail, follow_redirects=True)
    assert "無法改為「停用」" in refused.get_data(as_text=True)
    assert Official.get_by_id(official.id).status == "closed"
