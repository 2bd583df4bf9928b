"""Seconding (R9.3): browse, second with an emailed code, threshold and window, next-day notice, lapse."""
from __future__ import annotations

import datetime as dt
import json
import secrets
import threading

import pytest

from models import settings
from models.base import end_of_day_utc, taipei_date, utcnow
from models.events import AuditEvent
from models.officials import Official
from models.outbox import Outbox
from models.proposals import (
    ESTABLISHED,
    LAPSED,
    SECONDING,
    Proposal,
    pass_review,
    remove,
    return_for_revision,
    withdraw,
)
from models.seconds import Second, window_open
from models.verification import CONFIRMED, PURPOSE_SECOND, VerificationCode, _hash
from tests.fixtures_mail import post_inbound, reply_to_email
from tests.helpers import flex_texts, iso_taipei, load_agencies, register, sweep, taipei, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def official(n: int | str, **extra) -> Official:
    """A verified official created directly (the registration flow is tested elsewhere)."""
    email = f"official{n}@taichung.gov.tw"
    return Official.create(line_user_id="U" + secrets.token_hex(16), status="verified", real_name=f"同仁{n}",
                           nickname=f"同仁{n}", display_choice="nickname", phone="0912-345-678", email=email,
                           verified_email=email, address="臺中市西屯區臺灣大道三段99號", agency_code="RDEC",
                           verified_at=utcnow(), terms_version=settings.TERMS_VERSION, **extra)


def proposal(proposer: Official | None = None, *, title: str = "公務人員彈性上班時間再放寬",
             content: str = "建議將彈性上班時間放寬為上午七點至十點，兼顧育兒與通勤需求。", agency: str = "PERSONNEL",
             passed: dt.datetime | None = None, state: str = SECONDING) -> Proposal:
    """A proposal that passed review at `passed` (default: now), through the real pass_review."""
    proposer = proposer or official(f"p{secrets.token_hex(3)}")
    row = Proposal.create(proposer=proposer, state="submitted", scope="rights", title=title, content=content,
                          benefits="提升同仁工作與生活平衡，減少遲到。", evidence="", agency_code=agency,
                          submitted_at=utcnow(), first_submitted_at=utcnow())
    if state == SECONDING:
        pass_review(row.id, "staff:1", now=passed or utcnow(), base_url="http://localhost")
    return Proposal.get_by_id(row.id)


def last_carousel(line, uid) -> list[dict]:
    flex = [msg for msg in line.messages(uid) if msg.get("type") == "flex"][-1]
    assert flex["contents"]["type"] == "carousel"
    return flex["contents"]["contents"]


def second_by_chat(client, line, smtp, uid: str, prop: Proposal, email: str, *, notify: bool = False):
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify={1 if notify else 0}")
    line.text(client, uid, smtp.code_for(email))


@pytest.fixture
def verified(client, line, smtp):
    """A LINE user registered through the real flow: (uid, Official)."""
    return register(client, line, smtp, email="lee@taichung.gov.tw")


# --- R9.3.1 browse ----------------------------------------------------------------------------

def test_r9_3_1_browse_carousel_with_progress(client, line, smtp, verified):
    uid, me = verified
    quiet = proposal(title="會議資料全面電子化")
    busy = proposal(title="臺中市政府停車位分配透明化")
    Proposal.update(second_count=150).where(Proposal.id == busy.id).execute()
    line.text(client, uid, "附議")
    bubbles = last_carousel(line, uid)
    assert [b["header"]["contents"][0]["text"] for b in bubbles] == ["臺中市政府停車位分配透明化", "會議資料全面電子化"]
    texts = flex_texts(bubbles[0])
    assert "150 / 200 份附議" in texts
    assert any("人事處" in t for t in texts)
    assert any(t.startswith("剩 30 天") or t.startswith("剩 31 天") or t.startswith("剩 28 天") or t.startswith("剩 29 天")
               for t in texts)
    bar = json.dumps(bubbles[0]["body"])
    assert '"width": "75%"' in bar
    # ordering: closest to the threshold; the quick reply offers it
    tap(client, line, uid, "最接近門檻")
    assert bubbles[0]["header"] == last_carousel(line, uid)[0]["header"]
    tap(client, line, uid, "最新")
    assert last_carousel(line, uid)[0]["header"]["contents"][0]["text"] == "臺中市政府停車位分配透明化"
    assert quiet.id != busy.id


def test_r9_3_1_browse_pages_and_search(client, line, smtp, verified):
    uid, me = verified
    for i in range(10):
        proposal(title=f"第{i}號測試提案內容")
    proposal(title="台中捷運通勤補助")
    line.text(client, uid, "附議提案")
    first = last_carousel(line, uid)
    assert len(first) == 10 and first[-1]["header"]["contents"][0]["text"] == "還有更多提案"
    tap(client, line, uid, "下一頁")
    assert len(last_carousel(line, uid)) == 2
    tap(client, line, uid, "搜尋提案")
    line.text(client, uid, "臺中捷運")
    found = last_carousel(line, uid)
    assert [b["header"]["contents"][0]["text"] for b in found] == ["台中捷運通勤補助"]
    tap(client, line, uid, "搜尋提案")
    line.text(client, uid, "沒有這種提案")
    assert "找不到符合「沒有這種提案」" in line.texts(uid)[-1]


def test_r9_3_1_detail_has_full_text_link_and_second_button(client, line, smtp, verified):
    uid, me = verified
    long_text = "同仁反映" + "很長的內容。" * 1000  # 6004 characters
    prop = proposal(content=long_text[:6000])
    line.postback(client, uid, f"a=sec.view&p={prop.id}")
    detail = line.last(uid)
    assert detail["type"] == "flex" and detail["contents"]["type"] == "bubble"
    assert len(json.dumps(detail["contents"], ensure_ascii=False).encode()) < 30_000
    texts = flex_texts(detail["contents"])
    assert any(t.startswith("同仁反映很長的內容") and t.endswith("…") for t in texts)
    assert any("完整內容請點" in t for t in texts)
    raw = json.dumps(detail, ensure_ascii=False)
    assert f"http://localhost/proposals/{prop.id}" in raw
    assert f"a=sec.ask&p={prop.id}" in raw


def test_r9_3_1_only_verified_officials_browse(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    proposal()
    line.text(client, uid, "附議")
    assert "請先完成身分認證" in line.texts(uid)[-1]


# --- R9.3.4 one action, verified by an emailed code -------------------------------------------

def test_r9_3_4_second_counts_only_after_code_typed_in_chat(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.view&p={prop.id}")
    tap(client, line, uid, "附議")
    ask = json.dumps(line.last(uid), ensure_ascii=False)
    assert "無法撤回" in ask
    tap(client, line, uid, "附議並通知我結果")
    assert "認證碼已寄到 lee@taichung.gov.tw" in line.texts(uid)[-1]
    mail = smtp.last_to("lee@taichung.gov.tw")
    assert prop.number in str(mail["Subject"]) and prop.title in smtp.body(mail)
    # pending: nothing counts yet
    assert Proposal.get_by_id(prop.id).second_count == 0 and Second.select().count() == 0
    code = smtp.code_for("lee@taichung.gov.tw")
    line.text(client, uid, "000000" if code != "000000" else "111111")  # a typo: told, with a way on
    assert "不正確" in line.texts(uid)[-1]
    assert [q["action"]["label"] for q in line.last(uid)["quickReply"]["items"]] == ["重新寄送認證碼", "附議列表", "選單"]
    line.text(client, uid, code)
    assert "附議完成" in line.texts(uid)[-1] and "1 / 200" in line.texts(uid)[-1]
    assert line.last(uid)["quickReply"]["items"][0]["action"]["label"] == "回到附議列表"
    second = Second.get()
    assert (second.official_id, second.proposal_id, second.notify_result, second.via) == (me.id, prop.id, True, "chat")
    assert Proposal.get_by_id(prop.id).second_count == 1


def test_r9_3_4_second_by_email_reply_and_late_reply_is_already(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    mail = smtp.last_to("lee@taichung.gov.tw")
    response = post_inbound(client, reply_to_email(mail, "lee@taichung.gov.tw", "附議"))
    assert response.json["outcome"] == "confirmed"
    assert "附議完成" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 1
    assert Second.get().via == "email"
    # the same reply again, or a second reply: nothing more
    again = post_inbound(client, reply_to_email(mail, "lee@taichung.gov.tw", "附議"))
    assert again.json["outcome"] in ("already", "duplicate")
    assert Proposal.get_by_id(prop.id).second_count == 1


def test_r9_3_4_email_reply_after_chat_code_counts_once(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    mail = smtp.last_to("lee@taichung.gov.tw")
    typed = line.text(client, uid, smtp.code_for("lee@taichung.gov.tw"))
    line.redeliver(client, typed)  # LINE redelivers the code message
    assert post_inbound(client, reply_to_email(mail, "lee@taichung.gov.tw", "ok")).json["outcome"] == "already"
    assert Proposal.get_by_id(prop.id).second_count == 1 and Second.select().count() == 1


def test_r9_3_4_repeat_refused(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    second_by_chat(client, line, smtp, uid, prop, "lee@taichung.gov.tw")
    sent = len(smtp.to("lee@taichung.gov.tw"))
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    assert "您已附議過這個提案" in line.texts(uid)[-1]
    line.postback(client, uid, f"a=sec.ask&p={prop.id}")
    assert "您已附議過這個提案" in line.texts(uid)[-1]
    assert len(smtp.to("lee@taichung.gov.tw")) == sent
    assert Proposal.get_by_id(prop.id).second_count == 1


def test_r9_3_4_double_tap_sends_one_code(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=1")
    assert "剛剛已寄到" in line.texts(uid)[-1]
    assert len(smtp.to("lee@taichung.gov.tw")) == 2  # the registration code and one seconding code
    line.text(client, uid, smtp.code_for("lee@taichung.gov.tw"))
    assert Second.get().notify_result is True  # the latest choice counts


def test_r9_3_4_pending_second_expires_without_counting(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    code = smtp.code_for("lee@taichung.gov.tw")
    VerificationCode.update(expires_at=utcnow() - dt.timedelta(seconds=1)).where(
        VerificationCode.purpose == PURPOSE_SECOND).execute()
    line.text(client, uid, code)
    assert "已過期" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 0 and Second.select().count() == 0


def test_r9_3_4_proposer_cannot_second_own_proposal(client, line, smtp, verified):
    uid, me = verified
    prop = proposal(me)
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    assert "無法附議自己的提案" in line.texts(uid)[-1]
    line.postback(client, uid, f"a=sec.view&p={prop.id}")
    assert "這是您的提案" in flex_texts(line.last(uid)["contents"])
    assert VerificationCode.select().where(VerificationCode.purpose == PURPOSE_SECOND).count() == 0


def test_r9_3_4_no_cancel_path():
    import bot.handlers.seconding as handlers
    import models.seconds as seconds

    assert not [name for name in dir(seconds) + dir(handlers)
                if any(word in name.lower() for word in ("cancel", "unsecond", "revoke", "delete", "withdraw"))]


# --- R9.3.2 threshold and window --------------------------------------------------------------

@pytest.mark.parametrize("how", ["returned", "withdrawn", "removed", "lapsed"])
def test_r9_3_2_cannot_second_a_proposal_not_in_seconding(client, line, smtp, verified, how):
    uid, me = verified
    prop = proposal(state="submitted")
    if how == "returned":
        return_for_revision(prop.id, "staff:1", "內容不清楚")
    elif how == "withdrawn":
        withdraw(prop.proposer, prop.id)
    else:
        pass_review(prop.id, "staff:1")
        if how == "removed":
            remove(prop.id, "staff:1", "R7.7", "非屬政策參與範圍")
        else:
            Proposal.update(state=LAPSED, lapsed_at=utcnow()).where(Proposal.id == prop.id).execute()
    before = len(smtp.to("lee@taichung.gov.tw"))
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    answer = line.texts(uid)[-1]
    assert any(word in answer for word in ("找不到", "不在附議期間", "已被移除")), answer
    assert len(smtp.to("lee@taichung.gov.tw")) == before
    assert Second.select().count() == 0


def test_r9_3_2_cannot_second_after_the_window(client, line, smtp, verified):
    uid, me = verified
    prop = proposal(passed=utcnow() - dt.timedelta(days=40))
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    assert "附議期間已於" in line.texts(uid)[-1]
    line.text(client, uid, "附議")
    assert "目前沒有附議中的提案" in line.texts(uid)[-1]


def test_r9_3_2_code_confirmed_after_the_window_does_not_count(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    code = smtp.code_for("lee@taichung.gov.tw")
    Proposal.update(seconding_ends_at=utcnow() - dt.timedelta(seconds=1)).where(Proposal.id == prop.id).execute()
    line.text(client, uid, code)
    assert "未被計入" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 0 and Second.select().count() == 0
    assert VerificationCode.get(VerificationCode.purpose == PURPOSE_SECOND).status == CONFIRMED  # used up
    line.text(client, uid, code)
    assert "確認過了" in line.texts(uid)[-1]  # used up: typed again, told so (not "no code")


def test_r9_3_2_window_for_a_proposal_passing_2026_01_30_ends_2026_02_28(client):
    prop = proposal(passed=taipei("2026-01-30T10:00:00"))
    assert prop.seconding_ends == dt.date(2026, 2, 28)
    assert prop.seconding_ends_at == end_of_day_utc(dt.date(2026, 2, 28))
    assert window_open(prop, taipei("2026-02-28T23:59:59"))
    assert not window_open(prop, taipei("2026-03-01T00:00:00"))


def _pending_second(person: Official, prop: Proposal, now: dt.datetime) -> str:
    code, token = f"{secrets.randbelow(1_000_000):06d}", secrets.token_hex(16)
    VerificationCode.create(official=person, purpose=PURPOSE_SECOND, subject_id=prop.id, email=person.verified_email,
                            token=token, code_hash=_hash(token, code), created_at=now,
                            expires_at=now + dt.timedelta(minutes=30))
    return code


def test_r9_3_2_200th_and_201st_second_at_the_same_instant(app):
    """Real PostgreSQL, separate connections: established exactly once, the count exact."""
    from models import db
    from models.codes import confirm_typed_code
    from models.outbox import unit_of_work

    assert settings.SECONDING_THRESHOLD == 200
    prop = proposal()
    now = utcnow()
    people = [official(i) for i in range(201)]
    codes = [_pending_second(p, prop, now) for p in people]
    db.close()  # each thread opens its own connection (peewee connections are per thread)
    threads_n = 20
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []
    answers: list[str] = []

    def work(offset: int):
        try:
            with app.app_context():
                db.connect(reuse_if_open=True)
                barrier.wait()
                for i in range(offset, len(people), threads_n):
                    with unit_of_work():
                        answers.append(confirm_typed_code(people[i], codes[i], now).message)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            if not db.is_closed():
                db.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    db.connect(reuse_if_open=True)
    assert not errors, errors
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.state == ESTABLISHED and fresh.second_count == 201 == Second.select().count()
    assert fresh.established_at == now and fresh.notice_due == taipei_date(now) + dt.timedelta(days=1)
    assert AuditEvent.select().where((AuditEvent.action == "established")
                                     & (AuditEvent.subject_id == prop.id)).count() == 1
    assert sum("正式成案" in a for a in answers) == 1
    assert sum("已成案，您的附議仍會計入" in a for a in answers) == 1


def test_r9_3_2_established_at_threshold_and_still_accepts_seconds(client, line, smtp, verified, monkeypatch):
    monkeypatch.setattr(settings, "SECONDING_THRESHOLD", 2)
    uid, me = verified
    prop = proposal()
    early = official("early")
    with_notify = _pending_second(early, prop, utcnow())
    from models.codes import confirm_typed_code
    from models.outbox import unit_of_work
    from models.seconds import SecondRequest

    SecondRequest.create(code=VerificationCode.get(VerificationCode.official == early).id, notify=True)
    with unit_of_work():
        assert "1 / 2" in confirm_typed_code(early, with_notify).message
    second_by_chat(client, line, smtp, uid, prop, "lee@taichung.gov.tw")
    assert "正式成案" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).state == ESTABLISHED
    assert "已成案" in str(smtp.last_to(early.verified_email)["Subject"])  # the opted-in seconder is told
    late_uid, late = register(client, line, smtp, email="late@taichung.gov.tw")
    second_by_chat(client, line, smtp, late_uid, prop, "late@taichung.gov.tw")
    assert "3 / 2" in line.texts(late_uid)[-1] and "仍會計入" in line.texts(late_uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 3
    assert AuditEvent.select().where(AuditEvent.action == "established").count() == 1


# --- R9.3.3 next-day notice -------------------------------------------------------------------

def _establish_now(client, line, smtp, uid, prop, monkeypatch) -> Proposal:
    monkeypatch.setattr(settings, "SECONDING_THRESHOLD", 1)
    second_by_chat(client, line, smtp, uid, prop, "lee@taichung.gov.tw")
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.state == ESTABLISHED
    return fresh


def test_r9_3_3_notice_on_the_next_day_once(client, line, smtp, runner, verified, monkeypatch):
    uid, me = verified
    proposer = official("proposer")
    prop = _establish_now(client, line, smtp, uid, proposal(proposer), monkeypatch)
    established_day = taipei_date(prop.established_at)
    # the same day: nothing yet
    assert sweep(runner, prop.established_at)["establishment_notices"] == 0
    assert not smtp.to("personnel@taichung.gov.tw")
    # the next day: the proposer and the agency are told, once
    next_day = taipei(f"{established_day + dt.timedelta(days=1)}T00:05:00")
    assert sweep(runner, next_day)["establishment_notices"] == 1
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.notified_at == next_day
    from models.calendar import due_date

    assert fresh.response_due == due_date("R9.4.4", established_day + dt.timedelta(days=1))
    agency_mail = smtp.last_to("personnel@taichung.gov.tw")
    assert prop.title in str(agency_mail["Subject"]) and f"{fresh.response_due:%Y-%m-%d}" in smtp.body(agency_mail)
    assert "已成案" in str(smtp.last_to(proposer.verified_email)["Subject"])
    assert any("正式成案" in t for t in line.texts(proposer.line_user_id))
    mails, rows = len(smtp.messages), Outbox.select().count()
    assert sweep(runner, next_day + dt.timedelta(hours=1))["establishment_notices"] == 0
    assert (len(smtp.messages), Outbox.select().count()) == (mails, rows)


def test_r9_3_3_notice_goes_to_assigned_agencies_not_declined(client, line, smtp, runner, verified, monkeypatch):
    from models.agency_confirmation import AgencyAssignment

    uid, me = verified
    prop = proposal()
    for code, status in (("PERSONNEL", "confirmed"), ("EDU", "pending"), ("SEC", "declined")):
        AgencyAssignment.create(proposal=prop, agency_code=code, role="lead" if code == "PERSONNEL" else "co",
                                status=status, due=dt.date(2099, 1, 1))
    prop = _establish_now(client, line, smtp, uid, prop, monkeypatch)
    sweep(runner, taipei(f"{taipei_date(prop.established_at) + dt.timedelta(days=1)}T09:00:00"))
    assert smtp.to("personnel@taichung.gov.tw") and smtp.to("edu@taichung.gov.tw")
    assert not smtp.to("sec@taichung.gov.tw")


# --- R9.3.2 lapse -------------------------------------------------------------------------------

def test_r9_3_2_lapses_when_the_window_ends_below_the_threshold(client, line, smtp, runner, verified):
    uid, me = verified
    proposer = official("proposer")
    prop = proposal(proposer)
    second_by_chat(client, line, smtp, uid, prop, "lee@taichung.gov.tw", notify=True)
    last_day = prop.seconding_ends
    assert sweep(runner, taipei(f"{last_day}T23:59:00"))["lapse_seconding"] == 0
    assert Proposal.get_by_id(prop.id).state == SECONDING
    after = taipei(f"{last_day + dt.timedelta(days=1)}T00:01:00")
    assert sweep(runner, after)["lapse_seconding"] == 1
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.state == LAPSED and fresh.lapsed_at == after
    assert "未成案" in str(smtp.last_to(proposer.verified_email)["Subject"])
    assert "未成案" in str(smtp.last_to("lee@taichung.gov.tw")["Subject"])  # opted-in seconder
    assert any("未成案" in t for t in line.texts(uid))
    mails = len(smtp.messages)
    assert sweep(runner, after + dt.timedelta(hours=1))["lapse_seconding"] == 0
    assert len(smtp.messages) == mails


# --- abuse limits and Redis ---------------------------------------------------------------------

def test_r9_3_4_redis_flushed_between_request_and_confirmation(app, client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    app.extensions["redis"].flushdb()
    line.text(client, uid, smtp.code_for("lee@taichung.gov.tw"))
    assert "附議完成" in line.texts(uid)[-1]
    assert Proposal.get_by_id(prop.id).second_count == 1


def _age_codes(minutes: int = 2) -> None:
    VerificationCode.update(created_at=VerificationCode.created_at - dt.timedelta(minutes=minutes)).execute()


def test_r9_3_4_rate_limit_per_official(client, line, smtp, verified):
    uid, me = verified
    props = [proposal(title=f"限制測試提案{i}") for i in range(6)]
    for prop in props[:5]:
        line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
        assert "認證碼已寄到" in line.texts(uid)[-1]
    line.postback(client, uid, f"a=sec.confirm&p={props[5].id}&notify=0")
    assert "太多附議認證碼" in line.texts(uid)[-1]
    assert VerificationCode.select().where(VerificationCode.purpose == PURPOSE_SECOND).count() == 5


def test_r9_3_4_rate_limit_per_proposal_and_wrong_codes(client, line, smtp, verified):
    uid, me = verified
    prop = proposal()
    for _ in range(3):
        line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
        assert "認證碼已寄到" in line.texts(uid)[-1]
        _age_codes()
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    assert "已寄送多次" in line.texts(uid)[-1]
    # wrong codes: five lock a code; ten within the hour stop new codes (counted in the database)
    other = proposal(title="另一個測試提案")
    code = smtp.code_for("lee@taichung.gov.tw")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        line.text(client, uid, wrong)
    assert "錯誤次數過多" in line.texts(uid)[-1]
    VerificationCode.update(wrong_tries=10).where(VerificationCode.purpose == PURPOSE_SECOND).execute()
    line.postback(client, uid, f"a=sec.confirm&p={other.id}&notify=0")
    assert "錯誤次數過多" in line.texts(uid)[-1]
    assert Second.select().count() == 0


def test_r9_3_4_redis_down_allows_and_db_still_decides(client, line, smtp, verified, caplog, monkeypatch):
    from redis import Redis

    import models.ratelimit as ratelimit

    uid, me = verified
    prop = proposal()
    # Only the rate limits lose Redis here (the test runs jobs inline through Redis).
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=0.2, socket_connect_timeout=0.2)
    monkeypatch.setattr(ratelimit, "_redis", lambda: dead)
    monkeypatch.setattr(ratelimit, "_warned_at", 0.0)
    with caplog.at_level("WARNING", logger="models.ratelimit"):
        second_by_chat(client, line, smtp, uid, prop, "lee@taichung.gov.tw")
    assert "附議完成" in line.texts(uid)[-1]
    assert "Redis unavailable" in caplog.text
    line.postback(client, uid, f"a=sec.confirm&p={prop.id}&notify=0")
    assert "您已附議過這個提案" in line.texts(uid)[-1]


def test_r9_3_2_window_ending_at_a_lowered_threshold_establishes_instead_of_lapsing(monkeypatch, runner):
    prop = proposal(title="門檻調整中的提案")
    Proposal.update(second_count=3).where(Proposal.id == prop.id).execute()
    monkeypatch.setattr(settings, "SECONDING_THRESHOLD", 3)
    after = prop.seconding_ends_at + dt.timedelta(hours=1)
    result = runner.invoke(args=["deadlines", "sweep", "--now", iso_taipei(after)])
    assert result.exit_code == 0, result.output
    established = Proposal.get_by_id(prop.id)
    assert established.state == "established" and established.notice_due is not None
    assert established.lapsed_at is None
