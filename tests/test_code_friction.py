"""Emailed codes without friction (R3.2 registration, R9.3.4 seconding): reminders of a pending code,
resend one tap away, older codes and emails after a resend, entries that are not six digits, and
the typed echoes of taps."""
from __future__ import annotations

import datetime as dt

import pytest

from models.officials import Official
from models.proposals import Proposal
from models.seconds import Second, SecondRequest
from models.verification import PURPOSE_REGISTER, PURPOSE_SECOND, SUPERSEDED, VerificationCode
from tests.fixtures_mail import post_inbound, reply_to_email
from tests.helpers import flex_texts, load_agencies, quick_replies, register, tap
from tests.test_seconding import proposal

EMAIL = "lee@taichung.gov.tw"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


@pytest.fixture
def verified(client, line, smtp):
    return register(client, line, smtp, email=EMAIL)


def _age_codes(minutes: int = 2) -> None:
    VerificationCode.update(created_at=VerificationCode.created_at - dt.timedelta(minutes=minutes)).execute()


def _labels(line, uid) -> list[str]:
    return [q["label"] for q in quick_replies(line.last(uid))]


def _wrong_tries(purpose: str) -> int:
    return sum(row.wrong_tries for row in VerificationCode.select().where(VerificationCode.purpose == purpose))


def test_r9_3_4_unclear_text_while_a_seconding_code_is_pending_reminds_of_it(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=1")
    line.text(client, uid, "請問這樣就好了嗎")
    said = line.texts(uid)[-1]
    assert "認證碼還沒確認" in said and prop.number in said and prop.title in said and EMAIL in said
    assert "不太懂" not in said
    assert _labels(line, uid)[0] == "重新寄送認證碼"
    line.sticker(client, uid)  # a sticker too
    assert "認證碼還沒確認" in line.texts(uid)[-1]
    # the resend button during the cooldown: how long to wait, and the button again
    tap(client, line, uid, "重新寄送認證碼")
    assert "秒後可以再按「重新寄送認證碼」" in line.texts(uid)[-1]
    assert _labels(line, uid)[0] == "重新寄送認證碼"
    assert len(smtp.to(EMAIL)) == 2  # the registration code and one seconding code
    # after the cooldown the same tap sends a new code, keeping the opt-in
    _age_codes()
    tap(client, line, uid, "重新寄送認證碼")
    assert "認證碼已寄到" in line.texts(uid)[-1] and len(smtp.to(EMAIL)) == 3
    line.text(client, uid, smtp.code_for(EMAIL))
    assert Second.get().notify_result is True


def test_r3_2_unclear_text_while_the_registration_code_is_pending_reminds_of_it(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    line.text(client, uid, "收不到信")
    said = line.texts(uid)[-1]
    assert "認證碼還沒確認" in said and "wang@taichung.gov.tw" in said
    assert _labels(line, uid) == ["重新寄送認證碼", "修改電子郵件"]


def test_r9_3_4_an_older_code_after_a_resend_says_a_newer_one_was_sent(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    old = smtp.code_for(EMAIL)
    _age_codes()
    line.text(client, uid, "重新寄送認證碼")  # the echo of the button, typed
    new = smtp.code_for(EMAIL)
    assert new != old or VerificationCode.select().where(VerificationCode.status == SUPERSEDED).count() == 1
    if new == old:  # one in a million: the same six digits twice
        pytest.skip("the resent code happens to equal the old one")
    line.text(client, uid, old)
    said = line.texts(uid)[-1]
    assert "較早寄出的認證碼" in said and "最新一封郵件" in said and "不正確" not in said
    assert _wrong_tries(PURPOSE_SECOND) == 0  # not a guess: no try used
    assert _labels(line, uid)[0] == "重新寄送認證碼"
    line.text(client, uid, new)
    assert "附議完成" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 1


def test_r9_3_4_a_used_code_typed_again_says_when_it_was_used_and_costs_no_try(client, line, smtp, verified):
    """Unsure whether it went through, the official types the code again: before, 「目前沒有等待確認的認證碼」,
    or, with the next proposal's code pending, a wrong try against that one."""
    uid, me = verified
    first, second = proposal(), proposal(title="公務車派車改為線上申請")
    line.postback(client, uid, f"a=sec.confirm&p={first.id}&notify=0")
    used = smtp.code_for(EMAIL)
    line.text(client, uid, used)
    assert "附議完成" in line.texts(uid)[-1]
    line.text(client, uid, used)
    said = line.texts(uid)[-1]
    assert "確認過了" in said and "不需要再輸入" in said and "沒有等待確認" not in said

    line.postback(client, uid, f"a=sec.confirm&p={second.id}&notify=0")
    pending = smtp.code_for(EMAIL)
    if pending == used:  # one in a million: the same six digits twice
        pytest.skip("the new code happens to equal the used one")
    line.text(client, uid, used)
    said = line.texts(uid)[-1]
    assert "確認過了" in said and "不正確" not in said
    assert _wrong_tries(PURPOSE_SECOND) == 0  # not a guess: no try used
    line.text(client, uid, pending)
    assert "附議完成" in line.texts(uid)[-1]
    assert [p.second_count for p in (Proposal.get_by_id(first.id), Proposal.get_by_id(second.id))] == [1, 1]
    assert Second.select().count() == 2


def test_r3_2_a_reply_to_the_first_email_after_a_resend_is_told_to_use_the_newest(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    first = smtp.last_to("wang@taichung.gov.tw")
    _age_codes()
    tap(client, line, uid, "重新寄送認證碼")
    newest = smtp.last_to("wang@taichung.gov.tw")
    assert newest["Message-ID"] != first["Message-ID"]
    answer = post_inbound(client, reply_to_email(first, "wang@taichung.gov.tw", "確認"))
    assert answer.json["outcome"] == "superseded"
    said = line.texts(uid)[-1]
    assert "較早寄出的認證碼" in said and "最新一封郵件" in said
    assert not Official.get_by_id(official.id).is_verified
    # the newest code written in a reply to the first email is the same proof: it confirms
    code = smtp.code_for("wang@taichung.gov.tw")
    answer = post_inbound(client, reply_to_email(first, "wang@taichung.gov.tw", code, with_code=False))
    assert answer.json["outcome"] == "confirmed"
    assert Official.get_by_id(official.id).is_verified


@pytest.mark.parametrize("typed", ["12345", "1234567", "１２３４５"])
def test_r3_2_an_entry_that_is_not_six_digits_is_a_format_error_not_a_try(client, line, smtp, typed):
    uid, official = register(client, line, smtp, verify=False)
    line.text(client, uid, typed)
    said = line.texts(uid)[-1]
    assert "6 位數字" in said and "不算在錯誤次數內" in said
    assert _wrong_tries(PURPOSE_REGISTER) == 0
    assert _labels(line, uid)[0] == "重新寄送認證碼"
    code = smtp.code_for("wang@taichung.gov.tw")
    line.text(client, uid, f"{code[:3]} {code[3:]}")  # grouped as people copy it
    assert Official.get_by_id(official.id).is_verified


def test_r9_3_4_an_entry_that_is_not_six_digits_costs_no_seconding_try(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    for _ in range(6):
        line.text(client, uid, "12345")
    assert "不算在錯誤次數內" in line.texts(uid)[-1]
    assert _wrong_tries(PURPOSE_SECOND) == 0
    line.text(client, uid, smtp.code_for(EMAIL))
    assert Proposal.get_by_id(prop.id).second_count == 1


def test_r9_3_1_the_echoed_texts_of_taps_are_understood_when_typed(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.text(client, uid, f"查看第 {prop.id} 號")
    detail = line.last(uid)
    assert detail["type"] == "flex" and prop.title in flex_texts(detail["contents"])
    line.text(client, uid, f"附議第{prop.id}號")
    assert "無法撤回" in " ".join(flex_texts(line.last(uid)["contents"]))
    line.text(client, uid, "查看全文")
    assert line.last(uid)["type"] == "flex" and line.last(uid)["contents"]["type"] == "carousel"
    line.text(client, uid, "回到附議列表")
    assert line.last(uid)["contents"]["type"] == "carousel"


def test_r3_2_a_reply_to_an_older_email_after_the_newer_code_confirmed_says_so(client, line, smtp):
    uid, official = register(client, line, smtp, verify=False)
    first = smtp.last_to("wang@taichung.gov.tw")
    _age_codes()
    tap(client, line, uid, "重新寄送認證碼")
    line.text(client, uid, smtp.code_for("wang@taichung.gov.tw"))
    assert Official.get_by_id(official.id).is_verified
    answer = post_inbound(client, reply_to_email(first, "wang@taichung.gov.tw", "確認"))
    assert answer.json["outcome"] == "already"


def test_r9_3_1_typed_sort_and_list_echoes_are_understood(client, line, smtp, verified):
    uid, me = verified
    proposal()
    line.text(client, uid, "依最接近門檻排序")
    assert "最接近門檻" in line.texts(uid)[-2]
    assert line.last(uid)["contents"]["type"] == "carousel"


def test_r9_3_4_typed_echo_of_the_outcome_notice_button_turns_it_off(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=1")
    line.text(client, uid, smtp.code_for(EMAIL))
    assert Second.get().notify_result is True
    line.text(client, uid, f"關閉結果通知（第 {prop.id} 號）")
    assert Second.get().notify_result is False


def _display_texts(message: dict) -> list[str]:
    """Every postback's displayText in a flex message (what the chat shows when it is tapped)."""
    found: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "postback" and "displayText" in node:
                found.append(node["displayText"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(message)
    return found


def test_r9_3_4_typed_echoes_of_the_confirm_card_and_the_next_page_do_what_the_tap_does(client, line, smtp, verified):
    uid, me = verified
    props = [proposal(title=f"第{n}個提案：公務人員彈性上班時間再放寬") for n in range(10)]  # one more than a page
    line.text(client, uid, "附議列表")
    assert "附議列表第 2 頁" in _display_texts(line.last(uid))  # the card's tap echoes the page it opens
    line.text(client, uid, "附議列表第 2 頁")
    page_two = " ".join(flex_texts(line.last(uid)["contents"]))
    assert "第 2 頁" in page_two or props[0].title in page_two or props[-1].title in page_two
    assert line.last(uid)["contents"]["type"] == "carousel"

    target = props[0]
    line.text(client, uid, f"附議第 {target.id} 號")
    echoes = _display_texts(line.last(uid))
    assert f"附議第 {target.id} 號並通知我結果" in echoes and f"先不要（第 {target.id} 號）" in echoes
    line.text(client, uid, f"先不要（第 {target.id} 號）")
    assert target.title in " ".join(flex_texts(line.last(uid)["contents"]))
    assert not smtp.to(me.verified_email) or all("附議" not in str(m["Subject"]) for m in smtp.to(me.verified_email))
    line.text(client, uid, f"附議第 {target.id} 號並通知我結果")  # as the tap: the code goes out, the opt-in kept
    assert smtp.code_for(me.verified_email)
    assert VerificationCode.get(VerificationCode.purpose == PURPOSE_SECOND).status != SUPERSEDED
    assert SecondRequest.get().notify is True
