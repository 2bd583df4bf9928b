"""Evidence is part of the proposal format (R9.1.2): a source, a figure, a link, or a stated reason
why none exists, never empty. Driven through the chat and the web form."""
from __future__ import annotations

import html

import pytest

from models.proposals import DRAFT, Proposal
from tests.helpers import load_agencies, register, tap
from tests.test_proposing import BENEFITS, CONTENT, EVIDENCE, compose, csrf_of, draft_of, form_link, labels, last_text


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _up_to_evidence(client, line, uid):
    line.text(client, uid, "提案")
    tap(client, line, uid, "機關內部管理")
    line.text(client, uid, "差勤請假線上化")
    line.text(client, uid, CONTENT)
    line.text(client, uid, BENEFITS)
    assert "佐證資料" in last_text(line, uid)


@pytest.mark.parametrize("answer", ["無", "略過", "沒有", "none", "-", "無。", "N/A", "繼續"])
def test_r9_1_2_evidence_cannot_be_left_empty_in_the_chat(client, line, smtp, answer):
    uid, official = register(client, line, smtp)
    _up_to_evidence(client, line, uid)
    assert "略過" not in labels(line.last(uid))
    line.text(client, uid, answer)
    reply = last_text(line, uid)
    assert ("不可空白" in reply or "至少需要 4 個字" in reply) and "說明原因" in reply and "請輸入「佐證資料」" in reply
    assert draft_of(official).evidence is None


@pytest.mark.parametrize("answer", [
    "https://www.dgpa.gov.tw/information?uid=83",                 # a link
    "請假單平均簽核 3.2 天（本處 113 年差勤系統紀錄）",            # a figure and its source
    "行政院人事行政總處 112 年公務人員差勤管理報告",               # a source
    EVIDENCE,                                                     # a stated reason why there is none
])
def test_r9_1_2_evidence_source_figure_link_or_reason(client, line, smtp, answer):
    uid, official = register(client, line, smtp)
    _up_to_evidence(client, line, uid)
    line.text(client, uid, answer)
    assert draft_of(official).evidence == answer
    assert "權責機關" in last_text(line, uid)


def test_r9_1_2_web_form_refuses_empty_evidence(client, line, smtp):
    uid, official = register(client, line, smtp)
    compose(client, line, uid)
    url = form_link(line, uid)
    token = csrf_of(client.get(url).get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "scope": "internal", "title": "差勤線上簽核",
                                      "content": CONTENT, "benefits": BENEFITS, "evidence": "  "})
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422 and "不可空白" in page
    assert draft_of(official).evidence == EVIDENCE and draft_of(official).title != "差勤線上簽核"


def test_r9_1_2_draft_saved_without_evidence_is_asked_for_it_before_submitting(client, line, smtp):
    uid, official = register(client, line, smtp)
    compose(client, line, uid)
    # A draft from before evidence was required, when it could be skipped.
    Proposal.update(evidence="").where(Proposal.id == draft_of(official).id).execute()
    tap(client, line, uid, "送出提案")
    assert "佐證資料" in last_text(line, uid)
    assert draft_of(official).state == DRAFT
    line.text(client, uid, "https://example.gov.tw/stat/leave-2024")
    assert draft_of(official).evidence == "https://example.gov.tw/stat/leave-2024"
