"""Issue 14's "the bot explains the list", in the browser: an official writes a proposal in their own
words in the LINE simulator, sees the similar proposal already in seconding with its state, its seconds
and why it matched, and seconds it from the card instead of submitting a duplicate (R9.1.4)."""
from __future__ import annotations

import os

from playwright.sync_api import expect

from models.proposals import Proposal
from models.seconds import Second
from tests.factories import seconding_proposal, verified_official
from tests.helpers import load_agencies
from tests.test_proposing import BENEFITS, EVIDENCE
from tests.test_simulator import bot_bubbles
from tests.test_simulator_registration import _register_in_browser, _say, _tap

SHOTS = "/tmp/similar-shots"


def test_r9_1_4_simulator_shows_why_a_proposal_is_similar_and_seconds_it_from_the_card(live_server, page, smtp):
    load_agencies()
    existing = seconding_proposal(verified_official(), title="提高超勤津貼上限")
    Proposal.update(second_count=37, content="現行超勤津貼每月時數上限偏低，無法反映業務繁重單位的實際加班，建議提高上限。"
                    ).where(Proposal.id == existing.id).execute()
    os.makedirs(SHOTS, exist_ok=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    _register_in_browser(page, live_server.url, "林美華", "lin@taichung.gov.tw")
    _say(page, smtp.code_for("lin@taichung.gov.tw"), "認證完成")

    _say(page, "提案", "範圍")
    _tap(page, "機關內部管理", "主題")
    _say(page, "加班費每月上限太低應調整", "內容或建議事項")
    _say(page, "每個月加班費最多只能報20小時，業務量大的單位常常做白工，應該調整。", "利益與影響")
    _say(page, BENEFITS, "佐證資料")
    _say(page, EVIDENCE, "權責機關")
    _say(page, "人事處", "找到以下機關")
    _tap(page, "人事處", "個人提案")
    _tap(page, "個人提案", "提案預覽")
    page.get_by_role("button", name="送出提案").last.click()

    card = bot_bubbles(page).filter(has_text="提高超勤津貼上限").last
    expect(card).to_be_visible()
    expect(card).to_contain_text("附議中")
    expect(card).to_contain_text("附議：37 / 200")
    expect(card).to_contain_text("相似之處：加班費")
    card.scroll_into_view_if_needed()
    page.screenshot(path=f"{SHOTS}/1-similar-card.png")
    assert Proposal.get(Proposal.title == "加班費每月上限太低應調整").state == "draft"  # nothing submitted

    card.get_by_role("button", name="改為附議").click()
    full = bot_bubbles(page).filter(has_text="37 / 200 份附議").last
    expect(full).to_be_visible()
    expect(bot_bubbles(page).filter(has_text="您自己的提案「加班費每月上限太低應調整」還沒有送出，已保留為草稿")).to_be_visible()
    page.screenshot(path=f"{SHOTS}/1b-own-draft-kept.png")
    full.get_by_role("button", name="附議", exact=True).click()
    confirm = bot_bubbles(page).filter(has_text="確認附議").last
    expect(confirm).to_contain_text("提高超勤津貼上限")
    page.screenshot(path=f"{SHOTS}/2-seconding-it.png")
    confirm.get_by_role("button", name="附議並通知我結果").click()
    expect(bot_bubbles(page).filter(has_text="附議認證碼已寄到")).to_be_visible()
    _say(page, smtp.code_for("lin@taichung.gov.tw"), "附議完成")
    page.screenshot(path=f"{SHOTS}/3-seconded.png")
    assert Proposal.get_by_id(existing.id).second_count == 38
    assert Second.select().where(Second.proposal == existing.id).count() == 1
    assert Proposal.get(Proposal.title == "加班費每月上限太低應調整").state == "draft"  # the duplicate never went out
    page.get_by_test_id("quick-reply").filter(has_text="我的提案").first.click()
    expect(bot_bubbles(page).filter(has_text="加班費每月上限太低應調整").last).to_contain_text("草稿")
