"""Wording (issue 12 item 4): no clause numbers in chat prompts, the regulation's words in the console,
emails greet officials by real name, one label per action, 已附議 in the similar-proposals carousel,
and cancel texts that say what was really kept."""
from __future__ import annotations

import json
import pathlib
import re

import pytest

from models.texts import without_clauses
from tests.helpers import load_agencies, logged_in, page_text, register, start_registration, tap
from tests.test_proposing import buttons, compose, flex_json
from tests.test_seconding import proposal as seconding_proposal

CLAUSE = re.compile(r"第[一二三四五六七八九十]+點")
ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def test_no_clause_numbers_in_the_chat_code():
    found = [f"{path.relative_to(ROOT)}:{n}" for path in (ROOT / "bot").rglob("*.py")
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if CLAUSE.search(line) and not line.lstrip().startswith("#")]
    assert found == []


@pytest.mark.parametrize("cited, said", [
    ("請從三個範圍中選擇一個（第六點）。", "請從三個範圍中選擇一個。"),
    ("撤回後無法復原（第九點（二）4）。", "撤回後無法復原。"),
    ("機關應於 2026-03-01 前回應（第九點（四）4）。\n提案頁面", "機關應於 2026-03-01 前回應。\n提案頁面"),
    ("依作業規範第十一點，提案經同意參採者", "提案經同意參採者"),
    ("營運小組依作業規範第七點移除。", "營運小組移除。"),
    ("提案第 3 號已送出", "提案第 3 號已送出"),  # a proposal number is not a clause
])
def test_chat_text_drops_clause_numbers(cited, said):
    assert without_clauses(cited) == said


def test_r9_3_4_seconding_prompt_and_notices_in_chat_carry_no_clause(client, line, smtp, runner):
    _, other = register(client, line, smtp, email="lee@taichung.gov.tw", nickname="大華")
    prop = seconding_proposal(other, title="簡化差勤請假線上簽核流程")
    uid, official = register(client, line, smtp)
    line.postback(client, uid, f"a=sec.ask&p={prop.id}")
    assert "無法撤回" in json.dumps(line.last(uid), ensure_ascii=False)
    line.text(client, uid, "提案")
    for text in [json.dumps(message, ensure_ascii=False) for message in line.messages(uid)]:
        assert not CLAUSE.search(text), text


def test_r3_2_emails_greet_the_official_by_real_name(client, line, smtp):
    register(client, line, smtp, name="王小明", nickname="西屯小幫手", verify=False)
    body = smtp.body(smtp.last_to("wang@taichung.gov.tw"))
    assert body.startswith("王小明 您好") and "西屯小幫手" not in body


def test_r3_1_cancelling_registration_says_the_answers_are_kept_and_no_draft(client, line, smtp):
    uid = line.user()
    line.follow(client, uid)
    start_registration(client, line, uid)
    line.text(client, uid, "王小明")
    line.text(client, uid, "取消")
    said = line.texts(uid)[-1]
    assert "註冊資料都保留著" in said and "草稿" not in said
    tap(client, line, uid, "繼續註冊")
    assert "暱稱" in line.texts(uid)[-1]


def test_r9_1_2_cancelling_a_proposal_says_the_draft_is_kept(client, line, smtp):
    uid, official = register(client, line, smtp)
    line.text(client, uid, "提案")
    tap(client, line, uid, "機關內部管理")
    line.text(client, uid, "差勤請假線上化")
    line.text(client, uid, "取消")
    assert "提案草稿已自動儲存" in line.texts(uid)[-1]
    line.text(client, uid, "取消")
    assert "目前沒有進行中的操作" in line.texts(uid)[-1]


def test_r9_1_4_the_similar_carousel_shows_already_seconded_instead_of_second(client, line, smtp):
    _, other = register(client, line, smtp, email="lee@taichung.gov.tw", nickname="大華")
    seconded = seconding_proposal(other, title="簡化差勤請假線上簽核流程")
    uid, official = register(client, line, smtp)
    line.postback(client, uid, f"a=sec.confirm&p={seconded.id}&notify=0")
    line.text(client, uid, smtp.code_for("wang@taichung.gov.tw"))
    assert "附議完成" in line.texts(uid)[-1]
    compose(client, line, uid, title="簡化差勤請假的線上簽核流程")
    tap(client, line, uid, "送出提案")
    carousel = line.last(uid)
    assert carousel["contents"]["type"] == "carousel"
    assert "✅ 已附議" in flex_json(carousel)
    labels = [a["label"] for a in buttons(carousel)]
    assert "改為附議" not in labels and "在網頁閱讀全文" in labels


def test_the_console_uses_the_regulations_words(app, ops_staff):
    ops = logged_in(app, ops_staff.email, ops_staff.password)
    review = page_text(ops, "/console/review").split('<main id="main"')[1]  # the page, not the shared menu
    assert "提案檢核" in review and "審核" not in review
    consultations = page_text(ops, "/console/consultations").split('<main id="main"')[1]
    assert "審核" in consultations and "檢核" not in consultations
