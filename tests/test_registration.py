"""Registration and email verification from LINE (R3.0–R3.2) and personal data (R4)."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from models.officials import Official
from models.verification import VerificationCode
from tests.fixtures_mail import post_inbound, reply_to_email
from tests.helpers import load_agencies, quick_replies, register, start_registration, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_r3_0_follow_greets_and_offers_registration(client, line):
    uid = line.user()
    assert line.follow(client, uid).status_code == 200
    greeting = line.last(uid)
    assert "歡迎" in greeting["text"]
    assert [a["label"] for a in quick_replies(greeting)] == ["開始註冊"]


def test_r3_1_registration_asks_each_field_and_summarises(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    summary = [t for t in line.texts(uid) if "請確認您的註冊資料" in t][-1]
    for expected in ("王小明", "西屯小幫手", "0912-345-678", "wang@taichung.gov.tw", "臺灣大道三段99號",
                     "研究發展考核委員會"):
        assert expected in summary
    assert official.status == "registering"
    assert official.display_name == "西屯小幫手"
    mail = smtp.last_to("wang@taichung.gov.tw")
    assert str(mail["Reply-To"]).startswith("verify+") and str(mail["Reply-To"]).endswith("@reply.platform.test")
    assert "30 分鐘" in smtp.body(mail)


def test_r3_2_code_typed_in_chat_verifies(client, line, smtp):
    uid, official = register(client, line, smtp)
    assert official.is_verified and official.verified_email == "wang@taichung.gov.tw"
    assert "認證完成" in line.texts(uid)[-1]


def test_r3_2_reply_email_verifies_and_chat_is_told(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    response = post_inbound(client, reply_to_email(mail, "Wang <WANG@taichung.gov.tw>", "確認"))
    assert response.json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified
    assert "認證完成" in line.texts(uid)[-1]
    # the same message again is processed once
    again = post_inbound(client, reply_to_email(mail, "wang@taichung.gov.tw", "確認"))
    assert again.json["outcome"] in ("already", "duplicate")


@pytest.mark.parametrize("charset", ["big5", "gb18030"])
def test_r3_2_reply_in_other_charsets_and_html(client, line, smtp, charset):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    code = smtp.code_for("wang@taichung.gov.tw")
    raw = reply_to_email(mail, "wang@taichung.gov.tw", f"認證碼 {code} 確認", html=True, charset=charset)
    assert post_inbound(client, raw).json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified


def test_r3_2_reply_from_another_address_changes_nothing(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    response = post_inbound(client, reply_to_email(mail, "attacker@taichung.gov.tw", "確認"))
    assert response.json["outcome"] == "wrong_sender"
    assert not Official.get_by_id(official.id).is_verified


def test_r3_2_reply_without_token_or_auto_reply_is_ignored(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    raw = reply_to_email(mail, "wang@taichung.gov.tw", "我不在辦公室", headers={"Auto-Submitted": "auto-replied"})
    assert post_inbound(client, raw).json["outcome"] == "auto_reply"
    del mail["Reply-To"]
    mail["Reply-To"] = "noreply@reply.platform.test"
    assert post_inbound(client, reply_to_email(mail, "wang@taichung.gov.tw", "ok")).json["outcome"] == "no_token"
    assert not Official.get_by_id(official.id).is_verified


def test_r3_2_inbound_signature_required(client, line, smtp):
    raw = b"From: a@taichung.gov.tw\r\nTo: verify+abcdefgh@reply.platform.test\r\nSubject: x\r\n\r\nhi\r\n"
    assert client.post("/email/inbound", data=raw, headers={"Content-Type": "message/rfc822"}).status_code == 401
    bad = client.post("/email/inbound", data=raw, headers={"Content-Type": "message/rfc822",
                                                           "X-Inbound-Signature": "sha256=00"})
    assert bad.status_code == 401
    from models.events import InboundMail

    assert InboundMail.select().count() == 0


def test_r3_2_malformed_inbound_is_refused(client, line, smtp):
    response = post_inbound(client, b"\x00\x01\x02 not an email")
    assert response.status_code in (400, 413)


def test_r3_2_non_government_email_refused(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, "王小明")
    line.text(client, uid, "小明")
    tap(client, line, uid, "以真實姓名顯示")
    line.text(client, uid, "04-2228-9111#123")
    line.text(client, uid, "wang@gmail.com")
    assert "僅限政府機關電子郵件" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).email is None


@pytest.mark.parametrize("bad_name, expected", [
    ("王\u200b小明", "不可見字元"),
    ("\u202e明小王", "不可見字元"),
    ("王" * 31, "最多 30 個字"),
    ("<script>", "不可包含"),
])
def test_r3_1_bad_names_refused(client, line, smtp, bad_name, expected):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, bad_name)
    assert expected in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).real_name is None


def test_r3_1_emoji_names_are_fine_and_bad_phone_refused(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, "王小明")
    line.text(client, uid, "小明😀")
    tap(client, line, uid, "以暱稱顯示")
    line.text(client, uid, "12345")
    assert "電話格式不正確" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).nickname == "小明😀"


def test_r3_2_email_verified_by_someone_else_is_refused(client, line, smtp):
    register(client, line, smtp)
    uid2 = line.user()
    line.follow(client, uid2)
    start_registration(client, line, uid2)
    line.text(client, uid2, "李大華")
    line.text(client, uid2, "大華")
    tap(client, line, uid2, "以暱稱顯示")
    line.text(client, uid2, "0912-000-111")
    line.text(client, uid2, "WANG@taichung.gov.tw")
    assert "另一個 LINE 帳號" in line.texts(uid2)[-1]
    other = Official.get(Official.line_user_id == uid2)
    assert other.email is None and not other.is_verified
    assert Official.get(Official.verified_email == "wang@taichung.gov.tw").line_user_id != uid2


def test_r3_2_five_wrong_codes_lock_the_code(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    code = smtp.code_for("wang@taichung.gov.tw")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        line.text(client, uid, wrong)
    assert "錯誤次數過多" in line.texts(uid)[-1]
    line.text(client, uid, code)
    assert not Official.get_by_id(official.id).is_verified


def test_r3_2_expired_code_refused_and_resend_after_cooldown(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    code = smtp.code_for("wang@taichung.gov.tw")
    VerificationCode.update(expires_at=VerificationCode.created_at - dt.timedelta(seconds=1)).execute()
    line.text(client, uid, code)
    assert "已過期" in line.texts(uid)[-1]
    VerificationCode.update(created_at=VerificationCode.created_at - dt.timedelta(minutes=5)).execute()
    tap(client, line, uid, "重新寄送認證碼")
    new_code = smtp.code_for("wang@taichung.gov.tw")
    line.text(client, uid, new_code)
    assert Official.get_by_id(official.id).is_verified


def test_r3_2_resend_cooldown(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    tap(client, line, uid, "重新寄送認證碼")
    assert re.search(r"\d+ 秒後可以再按「重新寄送認證碼」", line.texts(uid)[-1])
    tap(client, line, uid, "重新寄送認證碼")  # still one tap away through the cooldown
    assert "秒後" in line.texts(uid)[-1]
    assert len(smtp.to("wang@taichung.gov.tw")) == 1


def test_r3_2_changing_email_needs_verification_again(client, line, smtp):
    uid, official = register(client, line, smtp)
    tap(client, line, uid, "我的資料")
    tap(client, line, uid, "修改電子郵件")
    line.text(client, uid, "new.wang@taichung.gov.tw")
    official = Official.get_by_id(official.id)
    assert official.verified_email == "wang@taichung.gov.tw"  # the old one stays until the new is verified
    line.text(client, uid, smtp.code_for("new.wang@taichung.gov.tw"))
    assert Official.get_by_id(official.id).verified_email == "new.wang@taichung.gov.tw"


def test_r3_2_unverified_official_cannot_reach_later_flows(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    line.postback(client, uid, "a=profile.show")
    assert "請先完成身分認證" in line.texts(uid)[-1]


def test_r4_personal_data_not_in_logs(client, line, smtp, caplog):
    caplog.set_level("DEBUG")
    register(client, line, smtp)
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))
    assert "WHERE" not in ours  # SQL (with its parameters) is never logged unless LOG_SQL=1
    for secret in ("0912-345-678", "wang@taichung.gov.tw", "臺灣大道三段99號"):
        assert secret not in ours


def test_r3_2_reply_without_the_code_does_not_verify(client, line, smtp):
    """A victim answering "this was not me" must not confirm someone else's registration."""
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    raw = reply_to_email(mail, "wang@taichung.gov.tw", "這不是我申請的，請不要再寄信給我。", with_code=False)
    assert post_inbound(client, raw).json["outcome"] == "no_code"
    assert not Official.get_by_id(official.id).is_verified
    assert "沒有認證碼" in line.texts(uid)[-1]


def test_r3_2_reply_failing_dmarc_or_to_another_domain_does_not_verify(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    forged = reply_to_email(mail, "wang@taichung.gov.tw", "確認",
                            headers={"Authentication-Results": "mx.taichung.gov.tw; dmarc=fail header.from=taichung.gov.tw"})
    assert post_inbound(client, forged).json["outcome"] == "unauthenticated"
    elsewhere = reply_to_email(mail, "wang@taichung.gov.tw", "確認")
    elsewhere = elsewhere.replace(b"@reply.platform.test", b"@evil.example")
    assert post_inbound(client, elsewhere).json["outcome"] == "no_token"
    assert not Official.get_by_id(official.id).is_verified


def _mailgun_form(app, raw: bytes, token: str = "tok-1234567890") -> dict:
    import hashlib
    import hmac
    import time

    timestamp = str(int(time.time()))
    signature = hmac.new(app.config["MAILGUN_SIGNING_KEY"].encode(), (timestamp + token).encode(),
                         hashlib.sha256).hexdigest()
    return {"body-mime": raw.decode("utf-8"), "timestamp": timestamp, "token": token, "signature": signature}


def test_r3_2_mailgun_form_verifies_and_a_replayed_signature_is_refused(app, client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    mail = smtp.last_to("wang@taichung.gov.tw")
    form = _mailgun_form(app, reply_to_email(mail, "wang@taichung.gov.tw", "確認"))
    assert client.post("/email/inbound", data=form).json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified
    replay = dict(form, **{"body-mime": reply_to_email(mail, "wang@taichung.gov.tw", "另一封").decode()})
    assert client.post("/email/inbound", data=replay).status_code == 401
    forged = dict(form, token="another-token-123", signature="00" * 32)
    assert client.post("/email/inbound", data=forged).status_code == 401


def test_r3_2_code_requests_are_capped_per_account_and_per_address(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    for _ in range(4):
        VerificationCode.update(created_at=VerificationCode.created_at - dt.timedelta(minutes=2)).execute()
        tap(client, line, uid, "重新寄送認證碼")
    assert len(smtp.to("wang@taichung.gov.tw")) == 5
    VerificationCode.update(created_at=VerificationCode.created_at - dt.timedelta(minutes=2)).execute()
    tap(client, line, uid, "重新寄送認證碼")
    assert "一小時內已寄送多次認證碼" in line.texts(uid)[-1]
    assert len(smtp.to("wang@taichung.gov.tw")) == 5


def test_r3_0_changing_the_shown_name_warns_it_applies_to_past_posts(client, line, smtp):
    uid, official = register(client, line, smtp)
    tap(client, line, uid, "我的資料")
    tap(client, line, uid, "修改顯示方式")
    assert any("過去以暱稱發表的內容也會顯示真實姓名" in t for t in line.texts(uid)[-2:])


@pytest.mark.parametrize("typed, shown", [
    ("0912345678", "0912-345-678"),
    ("+886 912 345 678", "0912-345-678"),
    ("04-2228-9111#123", "04-2228-9111#123"),
    ("(04)22289111 轉 123", "04-2228-9111#123"),
    ("02-2345-6789", "02-2345-6789"),
    ("049-2345678", "049-234-5678"),
])
def test_r3_1_phone_numbers_are_kept_in_the_form_people_write(typed, shown):
    from models.officials import clean_phone

    assert clean_phone(typed) == shown


def test_r3_1_menu_or_cancel_mid_registration_keeps_the_answers(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, "王小明")
    line.text(client, uid, "取消")
    assert "保留" in line.texts(uid)[-1]
    line.text(client, uid, "選單")
    assert "已填寫 1/8 項" in line.texts(uid)[-1]
    tap(client, line, uid, "繼續註冊")
    assert "暱稱" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).real_name == "王小明"


def test_r3_0_help_explains_the_platform_in_chat(client, line, smtp):
    uid, _ = register(client, line, smtp)
    line.text(client, uid, "說明")
    text = line.texts(uid)[-1]
    assert "使用說明" in text and "200 份有效附議" in text and "無法撤回" in text


def test_r3_1_a_broad_agency_search_says_more_exist_and_can_be_cancelled(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    for answer in ("王小明", "小明"):
        line.text(client, uid, answer)
    tap(client, line, uid, "以暱稱顯示")
    for answer in ("0912345678", "wang@taichung.gov.tw", "臺中市西屯區臺灣大道三段99號", "區公所"):
        line.text(client, uid, answer)
    last = line.last(uid)
    labels = [q["action"]["label"] for q in last["quickReply"]["items"]]
    assert "還有其他符合的機關" in last["text"] and labels[-1] == "取消" and len(labels) == 12
