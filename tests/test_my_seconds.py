"""我的附議 (issue 12 item 2): an official's seconds, newest first, how each proposal stands, and the
opt-in to hear the outcome; driven through the signed webhook, answers read from the LINE stand-in."""
from __future__ import annotations

import datetime as dt
import re

import pytest

from bot.richmenu import MAIN
from models.base import utcnow
from models.events import AuditEvent
from models.proposals import ESTABLISHED, LAPSED, REMOVED, RESPONDED, Proposal
from models.seconds import Second
from tests.factories import seconding_proposal, verified_official
from tests.helpers import flex_texts, load_agencies, quick_replies, tap


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()



def bubbles(message: dict) -> list[dict]:
    assert message["type"] == "flex", message
    return message["contents"]["contents"]


def bubble_text(bubble: dict) -> str:
    return "\n".join(flex_texts(bubble))


def seconded(official, *, title: str, state: str = "seconding", count: int = 3, notify: bool = False,
             ago: int = 0, **changes) -> Proposal:
    """A proposal the official seconded `ago` hours ago, moved to `state` with `count` seconds."""
    proposal = seconding_proposal(title=title)
    Second.create(proposal=proposal.id, official=official.id, notify_result=notify, via="chat",
                  created_at=utcnow() - dt.timedelta(hours=ago))
    Proposal.update(state=state, second_count=count, **changes).where(Proposal.id == proposal.id).execute()
    return Proposal.get_by_id(proposal.id)


def test_my_seconds_lists_each_state_newest_first_with_the_opt_in(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    today = utcnow()
    open_ = seconded(me, title="公務人員彈性上班時間再放寬", count=37, notify=True, ago=1)
    established = seconded(me, title="推動公文線上簽核全面無紙化", state=ESTABLISHED, count=200, ago=24,
                           established_at=today - dt.timedelta(days=3), response_due=dt.date(2027, 2, 26))
    responded = seconded(me, title="市府員工停車位線上登記", state=RESPONDED, count=214, notify=True, ago=48,
                         established_at=today - dt.timedelta(days=60), responded_at=dt.datetime(2026, 11, 20, 3),
                         response_decision="partial")
    lapsed = seconded(me, title="各區公所午休時間輪值窗口", state=LAPSED, count=41, ago=72,
                      lapsed_at=today - dt.timedelta(days=5))
    seconded(verified_official(), title="別人的附議", ago=0)  # not mine

    line.text(client, uid, "我的附議")
    intro, carousel = line.messages(uid)[-2:]
    assert intro["text"].startswith("您共附議了 4 件提案，最新的在前")
    cards = bubbles(carousel)
    assert [c["header"]["contents"][0]["text"] for c in cards] == [
        open_.title, established.title, responded.title, lapsed.title]
    first, second, third, fourth = (bubble_text(c) for c in cards)
    assert "37 / 200 份附議" in first and re.search(r"附議中，(剩 \d+ 天|今天 23:59 截止)", first)
    assert "🔔 結果通知：開啟" in first
    assert "🎉 已成案" in second and "共 200 份附議" in second and "權責機關應於 2027-02-26 前回應" in second
    assert "🔕 結果通知：關閉" in second
    assert "機關已回應：部分參採（2026-11-20）" in third and "結果通知" not in third
    assert "未成案" in fourth and "共 41 / 200 份附議" in fourth and "結果通知" not in fourth
    assert all("您於 " in text for text in (first, second, third, fourth))
    assert [a["label"] for a in quick_replies(carousel)] == ["附議提案", "選單"]


def test_the_rich_menu_tile_opens_my_seconds_and_the_opt_in_can_be_turned_on_and_off(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    proposal = seconded(me, title="公務人員彈性上班時間再放寬")
    tile = next(a for a in MAIN.definition()["areas"] if a["action"]["label"] == "我的附議")
    line.postback(client, uid, tile["action"]["data"])
    card = bubbles(line.last(uid))[0]
    assert "🔕 結果通知：關閉" in bubble_text(card)

    tap(client, line, uid, "通知我結果")
    answer = line.last(uid)
    assert answer["text"].startswith(f"🔔 已開啟提案{proposal.number}「{proposal.title}」的結果通知")
    assert Second.get().notify_result is True
    assert AuditEvent.get(AuditEvent.action == "second_notice_on").subject_id == proposal.id

    tap(client, line, uid, "我的附議")
    assert "🔔 結果通知：開啟" in bubble_text(bubbles(line.last(uid))[0])
    tap(client, line, uid, "關閉結果通知")
    assert "已關閉" in line.last(uid)["text"] and "您的附議仍然有效" in line.last(uid)["text"]
    assert Second.get().notify_result is False


def test_the_opt_in_cannot_be_changed_once_decided_or_for_a_proposal_not_seconded(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    lapsed = seconded(me, title="各區公所午休時間輪值窗口", state=LAPSED, count=41)
    other = seconding_proposal(title="別人的提案")
    line.postback(client, uid, f"a=sec.notify&p={lapsed.id}&on=1")
    assert line.last(uid)["text"] == f"提案{lapsed.number}已有結果（未成案），不需要再設定結果通知。"
    line.postback(client, uid, f"a=sec.notify&p={other.id}&on=1")
    assert line.last(uid)["text"] == "您沒有附議這個提案，無法設定結果通知。"
    line.postback(client, uid, "a=sec.notify&p=x&on=1")
    assert line.last(uid)["text"] == "您沒有附議這個提案，無法設定結果通知。"
    assert Second.get().notify_result is False


def test_a_removed_proposal_is_listed_without_a_link_to_its_text(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    seconded(me, title="已移除的提案", state=REMOVED)
    line.text(client, uid, "我的附議")
    card = bubbles(line.last(uid))[0]
    assert "這個提案已被移除" in bubble_text(card)
    assert "查看全文" not in str(card) and "結果通知" not in bubble_text(card)


def test_my_seconds_pages_through_older_seconds(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    for n in range(10):
        seconded(me, title=f"提案標題第{n}件", ago=n)
    line.text(client, uid, "我的附議")
    cards = bubbles(line.last(uid))
    assert len(cards) == 10 and cards[-1]["header"]["contents"][0]["text"] == "還有更早的附議"
    assert line.messages(uid)[-2]["text"].startswith("您共附議了 10 件提案")
    tap(client, line, uid, "下一頁")
    cards = bubbles(line.last(uid))
    assert [c["header"]["contents"][0]["text"] for c in cards] == ["提案標題第9件"]


def test_no_seconds_yet_points_to_the_proposals_in_seconding(client, line):
    me = verified_official()
    uid = line.user(me.line_user_id)
    line.text(client, uid, "我的附議")
    answer = line.last(uid)
    assert answer["text"].startswith("您還沒有附議任何提案") and "200 份附議" in answer["text"]
    assert [a["label"] for a in quick_replies(answer)] == ["附議提案", "選單"]


def test_a_second_made_in_the_chat_shows_up_in_my_seconds(client, line, smtp):
    me = verified_official(email="lee@taichung.gov.tw")
    uid = line.user(me.line_user_id)
    proposal = seconding_proposal(title="公務人員彈性上班時間再放寬")
    line.postback(client, uid, f"a=sec.confirm&p={proposal.id}&notify=1")
    line.text(client, uid, smtp.code_for("lee@taichung.gov.tw"))
    assert "附議完成" in line.last(uid)["text"]
    line.text(client, uid, "我的附議")
    text = bubble_text(bubbles(line.last(uid))[0])
    assert "1 / 200 份附議" in text and "🔔 結果通知：開啟" in text


def test_an_unregistered_user_typing_my_seconds_is_told_to_register(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.text(client, uid, "我的附議")
    answer = line.last(uid)
    assert "請先完成身分認證" in answer["text"]
    assert [a["label"] for a in quick_replies(answer)] == ["開始註冊"]
