"""Issue 12 in the browser: a new official sees the labelled guest menu in the simulator, registers
from its tile, is moved to the main menu, seconds a colleague's proposal from the 附議提案 tile and
finds it under the 我的附議 tile."""
from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from bot.richmenu import GUEST, MAIN
from tests.factories import seconding_proposal, verified_official
from tests.helpers import load_agencies
from tests.test_simulator import bot_bubbles, create_user
from tests.test_simulator_registration import _say, _tap


def _menu_shown(page: Page, chat_bar: str, areas: int) -> None:
    """The menu with this chat bar text is loaded with its image; open it if a quick reply folded it."""
    expect(page.get_by_test_id("rich-menu-toggle")).to_contain_text(chat_bar)
    expect(page.get_by_test_id("rich-menu-area")).to_have_count(areas)
    if not page.get_by_test_id("rich-menu").is_visible():
        page.get_by_test_id("rich-menu-toggle").click()
    image = page.get_by_test_id("rich-menu-image")
    expect(image).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth === 2500", arg=image.element_handle())


def _tap_tile(page: Page, label: str) -> None:
    page.get_by_test_id("rich-menu-area").filter(has_text=label).click()


def _card_button(page: Page, label: str) -> None:
    page.get_by_test_id("card-button").filter(has_text=re.compile(f"^{re.escape(label)}$")).last.click()


def test_simulator_guest_menu_then_main_menu_register_second_and_my_seconds(live_server, page, smtp):
    load_agencies()
    proposal = seconding_proposal(verified_official(), title="公務人員彈性上班時間再放寬")
    result = live_server.app.test_cli_runner().invoke(args=["line", "richmenu"])
    assert result.exit_code == 0, result.output

    page.goto(live_server.url + "/dev/line")
    create_user(page, "王小明")
    page.get_by_test_id("follow-button").click()
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(1)
    _menu_shown(page, GUEST.chat_bar, len(GUEST.tiles))
    _tap_tile(page, "平臺說明")
    expect(bot_bubbles(page).filter(has_text="使用說明").last).to_be_visible()

    _menu_shown(page, GUEST.chat_bar, len(GUEST.tiles))
    _tap_tile(page, "開始註冊")
    expect(bot_bubbles(page).filter(has_text="使用條款與個人資料告知").last).to_be_visible()
    _tap(page, "同意並繼續", "真實姓名")
    _say(page, "王小明", "暱稱")
    _say(page, "西屯小幫手", "顯示")
    _tap(page, "以暱稱顯示", "電話")
    _say(page, "0912-345-678", "公務電子郵件")
    _say(page, "wang@taichung.gov.tw", "聯絡地址")
    _say(page, "臺中市西屯區臺灣大道三段99號", "所屬機關")
    _say(page, "研考會", "找到以下機關")
    _tap(page, "研考會", "服務的單位")
    _say(page, "綜合規劃組", "請確認您的註冊資料")
    _tap(page, "確認送出", "認證碼已寄到")
    _say(page, smtp.code_for("wang@taichung.gov.tw"), "認證完成")

    _menu_shown(page, MAIN.chat_bar, len(MAIN.tiles))
    _tap_tile(page, "我的附議")
    expect(bot_bubbles(page).filter(has_text="您還沒有附議任何提案").last).to_be_visible()

    _menu_shown(page, MAIN.chat_bar, len(MAIN.tiles))
    _tap_tile(page, "附議提案")
    expect(bot_bubbles(page).filter(has_text="以下是目前附議中的提案").last).to_be_visible()
    _card_button(page, "查看全文")
    expect(bot_bubbles(page).filter(has_text="內容或建議事項").last).to_be_visible()
    _card_button(page, "附議")
    expect(bot_bubbles(page).filter(has_text="確認附議").last).to_be_visible()
    _card_button(page, "附議並通知我結果")
    expect(bot_bubbles(page).filter(has_text="附議認證碼已寄到").last).to_be_visible()
    _say(page, smtp.code_for("wang@taichung.gov.tw"), "附議完成")

    _menu_shown(page, MAIN.chat_bar, len(MAIN.tiles))
    _tap_tile(page, "我的附議")
    card = bot_bubbles(page).filter(has_text=proposal.title).last
    expect(card).to_contain_text("1 / 200 份附議")
    expect(card).to_contain_text("結果通知：開啟")
