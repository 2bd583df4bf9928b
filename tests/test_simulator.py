"""The LINE simulator at /dev/line, in Chromium.

``test_r3_0_simulator_*`` run against the real app (the ``app`` fixture from tests/fixtures_app.py
and the bot's contract: a follow is answered with a text containing 歡迎 and a quick reply to
register).  The other tests run the same page against a small scripted bot, to cover rendering
(Flex, templates, quick replies, rich menus, escaping) whatever the real bot sends today.
"""
from __future__ import annotations

import base64
import json
import re

import pytest
from flask import Flask, request
from linebot.v3 import WebhookParser
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob, ReplyMessageRequest
from linebot.v3.webhooks import FollowEvent, MessageEvent, PostbackEvent, TextMessageContent, UnfollowEvent
from playwright.sync_api import Page, expect

from devtools.line_standin import PLACEHOLDER_PNG, new_user_id
from tests.fixtures_browser import LiveServer
from webapp.dev_line import dev_line_bp

SECRET = "simulator-test-secret"
PIXEL = "data:image/png;base64," + base64.b64encode(PLACEHOLDER_PNG).decode()


def _real_app_available() -> bool:
    try:
        import tests.fixtures_app as fixtures_app
        import webapp
    except Exception:
        return False
    return hasattr(webapp, "create_app") and hasattr(fixtures_app, "app")


needs_real_app = pytest.mark.skipif(
    not _real_app_available(), reason="the app factory (webapp.create_app) and the app fixture are not there yet"
)


# --------------------------------------------------------------------------------------------
# A scripted bot (the real SDK against the stand-in) for rendering tests
# --------------------------------------------------------------------------------------------

GREETING = {
    "type": "text",
    "text": "歡迎加入臺中市政府公務人員政策參與平臺！\n請先完成註冊：https://example.invalid/register",
    "quickReply": {
        "items": [
            {"type": "action", "action": {"type": "message", "label": "註冊", "text": "我要註冊"}},
            {"type": "action", "action": {"type": "postback", "label": "說明", "data": "action=help", "displayText": "看說明"}},
            {"type": "action", "action": {"type": "uri", "label": "網站", "uri": "https://example.invalid/"}},
        ]
    },
}

FLEX = {
    "type": "flex",
    "altText": "提案：增設公務人員托育中心",
    "contents": {
        "type": "bubble",
        "header": {
            "type": "box",
            "layout": "vertical",
            "backgroundColor": "#0d8186",
            "contents": [{"type": "text", "text": "附議中", "color": "#ffffff", "weight": "bold", "size": "sm"}],
        },
        "hero": {"type": "image", "url": PIXEL, "size": "full", "aspectRatio": "20:13", "aspectMode": "cover"},
        "body": {
            "type": "box",
            "layout": "vertical",
            "spacing": "md",
            "contents": [
                {"type": "text", "text": "增設公務人員托育中心", "weight": "bold", "size": "xl", "wrap": True},
                {
                    "type": "box",
                    "layout": "baseline",
                    "contents": [
                        {"type": "text", "text": "附議", "size": "sm", "color": "#999999", "flex": 1},
                        {"type": "text", "text": "120 / 200", "size": "sm", "flex": 4, "align": "end"},
                    ],
                },
                {
                    "type": "box",
                    "layout": "vertical",
                    "backgroundColor": "#e0e0e0",
                    "height": "8px",
                    "cornerRadius": "4px",
                    "contents": [
                        {"type": "box", "layout": "vertical", "backgroundColor": "#06c755", "width": "60%", "height": "8px", "contents": [{"type": "filler"}]}
                    ],
                },
                {"type": "separator", "margin": "lg"},
                {"type": "text", "text": "第一行\n第二行", "wrap": True, "size": "sm"},
            ],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [
                {"type": "button", "style": "primary", "action": {"type": "postback", "label": "附議", "data": "second=1", "displayText": "我要附議"}},
                {"type": "button", "style": "secondary", "action": {"type": "message", "label": "看說明", "text": "說明"}},
                {"type": "button", "style": "link", "action": {"type": "uri", "label": "網頁", "uri": "https://example.invalid/p/1"}},
            ],
        },
    },
}

TEMPLATES = [
    {
        "type": "template",
        "altText": "確認",
        "template": {
            "type": "confirm",
            "text": "確定送出提案？",
            "actions": [
                {"type": "message", "label": "是", "text": "是"},
                {"type": "postback", "label": "否", "data": "confirm=no", "displayText": "先不要"},
            ],
        },
    },
    {
        "type": "template",
        "altText": "選擇機關",
        "template": {
            "type": "buttons",
            "thumbnailImageUrl": PIXEL,
            "title": "選擇機關",
            "text": "請選擇主辦機關",
            "actions": [{"type": "postback", "label": "人事處", "data": "agency=personnel", "displayText": "人事處"}],
        },
    },
    {
        "type": "template",
        "altText": "提案列表",
        "template": {
            "type": "carousel",
            "columns": [
                {"title": f"提案 {i}", "text": f"說明 {i}", "actions": [{"type": "postback", "label": "查看", "data": f"view={i}"}]}
                for i in range(1, 4)
            ],
        },
    },
    {
        "type": "flex",
        "altText": "輪播",
        "contents": {
            "type": "carousel",
            "contents": [
                {"type": "bubble", "size": "micro", "body": {"type": "box", "layout": "vertical", "contents": [{"type": "text", "text": f"卡片 {i}"}]}}
                for i in range(1, 3)
            ],
        },
    },
]


def scripted_bot(api_url: str) -> Flask:
    app = Flask("scripted_bot")
    app.config.update(LINE_CHANNEL_SECRET=SECRET, LINE_API_ENDPOINT=api_url, LINE_SIMULATOR=True)
    app.register_blueprint(dev_line_bp)
    app.events = []  # type: ignore[attr-defined]

    def reply(api: MessagingApi, token: str, *messages: dict) -> None:
        api.reply_message(ReplyMessageRequest.from_dict({"replyToken": token, "messages": list(messages)}))

    @app.post("/line/webhook")
    def webhook():
        body = request.get_data(as_text=True)
        try:
            events = WebhookParser(SECRET).parse(body, request.headers.get("X-Line-Signature", ""))
        except Exception:
            return "bad signature", 400
        with ApiClient(Configuration(host=api_url, access_token="t")) as client:
            api, blob = MessagingApi(client), MessagingApiBlob(client)
            for event in events:
                app.events.append(event)  # type: ignore[attr-defined]
                if isinstance(event, FollowEvent):
                    name = api.get_profile(event.source.user_id).display_name
                    reply(api, event.reply_token, {**GREETING, "text": f"{name}，" + GREETING["text"]})
                elif isinstance(event, UnfollowEvent):
                    continue
                elif isinstance(event, PostbackEvent):
                    reply(api, event.reply_token, {"type": "text", "text": f"postback {event.postback.data}"})
                elif isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                    text = event.message.text
                    if text == "我要註冊":
                        reply(api, event.reply_token, {"type": "text", "text": "請輸入您的公務電子郵件（@taichung.gov.tw）"})
                    elif text == "卡片":
                        reply(api, event.reply_token, FLEX)
                    elif text == "範本":
                        reply(api, event.reply_token, *TEMPLATES)
                    else:
                        reply(api, event.reply_token, {"type": "text", "text": "你說：" + text})
                elif isinstance(event, MessageEvent) and event.message.type == "image":
                    size = len(bytes(blob.get_message_content(event.message.id)))
                    reply(api, event.reply_token, {"type": "text", "text": f"收到圖片 {size} bytes"})
                elif isinstance(event, MessageEvent):
                    reply(api, event.reply_token, {"type": "text", "text": "收到" + event.message.type})
        return "OK"

    return app


@pytest.fixture
def bot(line):
    return scripted_bot(line.url)


@pytest.fixture
def bot_server(bot):
    server = LiveServer(bot)
    yield server
    server.shutdown()


# --------------------------------------------------------------------------------------------
# Page helpers
# --------------------------------------------------------------------------------------------


def create_user(page: Page, name: str) -> str:
    page.get_by_test_id("add-user").click()
    page.get_by_test_id("new-user-name").fill(name)
    page.get_by_test_id("create-user").click()
    expect(page.get_by_test_id("user-tab").filter(has_text=name)).to_have_attribute("aria-selected", "true")
    uid = page.get_by_test_id("current-user-id").inner_text()
    assert re.fullmatch(r"U[0-9a-f]{32}", uid)
    return uid


def bot_bubbles(page: Page):
    return page.get_by_test_id("chat").get_by_test_id("bubble-bot")


def user_bubbles(page: Page):
    return page.get_by_test_id("chat").get_by_test_id("bubble-user")


def send(page: Page, text: str) -> None:
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("send-button").click()


def greeting_flow(page: Page, base_url: str) -> None:
    """Open the simulator, create a user, add the bot as friend, get the greeting, tap a quick
    reply, see the user's bubble and the bot's next message; a second user has its own chat."""
    page.goto(base_url + "/dev/line")
    expect(page.get_by_test_id("chat-input")).to_be_visible()
    first = create_user(page, "測試員甲")
    page.get_by_test_id("follow-button").click()
    greeting = bot_bubbles(page).filter(has_text="歡迎")
    expect(greeting).to_have_count(1)
    quick = page.get_by_test_id("quick-reply")
    expect(quick.first).to_be_visible()

    # Tap the register quick reply (or the first one); what the user "says" depends on its action.
    labels = quick.all_inner_texts()
    index = next((i for i, label in enumerate(labels) if "註冊" in label), 0)
    action = page.evaluate(
        """(i) => { const u = window.devLine.state().users.find(x => x.id === window.devLine.state().active);
                   const last = u.log.filter(e => e.from === 'bot').pop(); return last.message.quickReply.items[i].action; }""",
        index,
    )
    shown = action.get("text") if action["type"] == "message" else action.get("displayText")
    bots_before = bot_bubbles(page).count()
    quick.nth(index).click()
    if shown:
        expect(user_bubbles(page).last).to_have_text(shown)
    expect(bot_bubbles(page)).to_have_count(bots_before + 1, timeout=15_000)
    first_user_bubbles = user_bubbles(page).count()

    # A second simulated user, in its own tab, has its own chat.
    second = create_user(page, "測試員乙")
    assert second != first
    expect(user_bubbles(page)).to_have_count(0)
    page.get_by_test_id("follow-button").click()
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(1)
    expect(bot_bubbles(page)).to_have_count(1)

    page.get_by_test_id("user-tab").filter(has_text="測試員甲").click()
    expect(user_bubbles(page)).to_have_count(first_user_bubbles)
    expect(bot_bubbles(page)).to_have_count(bots_before + 1)


# --------------------------------------------------------------------------------------------
# Against the real app
# --------------------------------------------------------------------------------------------


@needs_real_app
def test_r3_0_simulator_follow_greets_and_quick_reply_continues(live_server, page, line):
    resp = live_server.app.test_client().get("/dev/line")
    assert resp.status_code == 200, "the app fixture must turn LINE_SIMULATOR on for /dev/line"
    greeting_flow(page, live_server.url)
    # What the page showed is what the bot sent through the Messaging API.
    users = page.evaluate("() => window.devLine.state().users.map(u => u.id)")
    assert any("歡迎" in t for t in line.texts(users[0]))
    assert any("歡迎" in t for t in line.texts(users[1]))


@needs_real_app
def test_r3_0_simulator_page_survives_reload(live_server, page, line):
    page.goto(live_server.url + "/dev/line")
    create_user(page, "重新整理")
    page.get_by_test_id("follow-button").click()
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(1)
    page.reload()
    expect(page.get_by_test_id("user-tab").filter(has_text="重新整理")).to_be_visible()
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(1)


# --------------------------------------------------------------------------------------------
# Against the scripted bot
# --------------------------------------------------------------------------------------------


def test_simulator_greeting_flow_with_scripted_bot(bot_server, page, line):
    greeting_flow(page, bot_server.url)
    users = page.evaluate("() => window.devLine.state().users")
    assert [u["name"] for u in users] == ["測試員甲", "測試員乙"]
    # The page registered the names as LINE profiles; the bot greeted each by name.
    assert line.texts(users[0]["id"])[0].startswith("測試員甲，歡迎")
    assert line.texts(users[1]["id"])[0].startswith("測試員乙，歡迎")
    assert line.texts(users[0]["id"])[1] == "請輸入您的公務電子郵件（@taichung.gov.tw）"


def test_simulator_text_links_newlines_and_escaping(bot_server, page, bot):
    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    page.get_by_test_id("follow-button").click()
    greeting = bot_bubbles(page).filter(has_text="歡迎")
    expect(greeting).to_have_count(1)
    link = greeting.locator("a")
    expect(link).to_have_attribute("href", "https://example.invalid/register")
    expect(link).to_have_attribute("target", "_blank")
    assert "\n" in greeting.inner_text()

    hostile = '<img src=x onerror="window.pwned=1"><b>粗體</b>'
    send(page, hostile)
    expect(user_bubbles(page).last).to_have_text(hostile)
    echo = bot_bubbles(page).filter(has_text="你說：")
    expect(echo).to_have_text("你說：" + hostile)
    assert echo.locator("img, b").count() == 0
    assert page.evaluate("() => window.pwned") is None

    # Enter sends, Shift+Enter is a newline.
    box = page.get_by_test_id("chat-input")
    box.fill("第一行")
    box.press("Shift+Enter")
    box.type("第二行")
    box.press("Enter")
    expect(bot_bubbles(page).filter(has_text="第二行")).to_have_text("你說：第一行\n第二行")
    texts = [e.message.text for e in bot.events if isinstance(e, MessageEvent) and isinstance(e.message, TextMessageContent)]
    assert texts == [hostile, "第一行\n第二行"]


def test_simulator_quick_reply_postback_and_uri(bot_server, page, bot):
    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    page.get_by_test_id("follow-button").click()
    expect(page.get_by_test_id("quick-reply")).to_have_count(3)
    page.get_by_test_id("quick-reply").filter(has_text="說明").click()
    expect(user_bubbles(page).last).to_have_text("看說明")
    expect(bot_bubbles(page).last).to_have_text("postback action=help")
    # The quick replies went away with the next message.
    expect(page.get_by_test_id("quick-reply")).to_have_count(0)
    postbacks = [e for e in bot.events if isinstance(e, PostbackEvent)]
    assert postbacks[0].postback.data == "action=help"
    assert isinstance(bot.events[0], FollowEvent) and bot.events[0].follow.is_unblocked is False


def test_simulator_quick_reply_uri_opens_a_new_tab(bot_server, page):
    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    page.get_by_test_id("follow-button").click()
    with page.context.expect_page() as new_tab:
        page.get_by_test_id("quick-reply").filter(has_text="網站").click()
    assert new_tab.value.url == "https://example.invalid/"


def test_simulator_renders_flex_with_progress_bar_and_buttons(bot_server, page, bot):
    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    send(page, "卡片")
    card = bot_bubbles(page).and_(page.locator('[data-type="flex"]'))
    expect(card).to_have_count(1)
    expect(card).to_contain_text("增設公務人員托育中心")
    expect(card).to_contain_text("120 / 200")
    expect(card.locator(".fx-text").filter(has_text="第一行")).to_have_text("第一行\n第二行")
    header_bg = card.locator(".fx-block-header .fx-box").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_bg == "rgb(13, 129, 134)"
    title_weight = card.locator(".fx-text").filter(has_text="增設").evaluate("e => getComputedStyle(e).fontWeight")
    assert title_weight == "700"
    ratio = page.evaluate(
        """() => { const bar = [...document.querySelectorAll('.fx-box')].find(b => b.style.width === '60%');
                   return bar.getBoundingClientRect().width / bar.parentElement.getBoundingClientRect().width; }"""
    )
    assert ratio == pytest.approx(0.6, abs=0.02)
    buttons = card.get_by_test_id("card-button")
    expect(buttons).to_have_text(["附議", "看說明", "網頁"])
    assert "fx-btn-primary" in buttons.nth(0).get_attribute("class")
    assert buttons.nth(0).evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(6, 199, 85)"
    assert "fx-btn-secondary" in buttons.nth(1).get_attribute("class")

    buttons.nth(0).click()
    expect(user_bubbles(page).last).to_have_text("我要附議")
    expect(bot_bubbles(page).last).to_have_text("postback second=1")
    buttons.nth(1).click()
    expect(user_bubbles(page).last).to_have_text("說明")
    expect(bot_bubbles(page).last).to_have_text("你說：說明")


def test_simulator_renders_templates_and_carousels(bot_server, page, bot):
    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    send(page, "範本")
    expect(bot_bubbles(page)).to_have_count(4)
    confirm = bot_bubbles(page).nth(0)
    expect(confirm).to_contain_text("確定送出提案？")
    expect(confirm.get_by_test_id("card-button")).to_have_text(["是", "否"])
    buttons = bot_bubbles(page).nth(1)
    expect(buttons).to_contain_text("選擇機關")
    expect(buttons.locator("img")).to_have_count(1)
    carousel = bot_bubbles(page).nth(2)
    expect(carousel.locator(".tpl-card")).to_have_count(3)
    expect(carousel.get_by_test_id("card-button")).to_have_count(3)
    flex_carousel = bot_bubbles(page).nth(3)
    expect(flex_carousel.locator(".fx-bubble")).to_have_count(2)

    confirm.get_by_test_id("card-button").filter(has_text="否").click()
    expect(user_bubbles(page).last).to_have_text("先不要")
    expect(bot_bubbles(page).last).to_have_text("postback confirm=no")
    carousel.get_by_test_id("card-button").nth(2).click()
    expect(bot_bubbles(page).last).to_have_text("postback view=3")
    # A postback without displayText shows no bubble for the user.
    assert user_bubbles(page).all_inner_texts() == ["範本", "先不要"]


def test_simulator_sticker_image_and_block(bot_server, page, bot, line):
    page.goto(bot_server.url + "/dev/line")
    uid = create_user(page, "甲")
    page.get_by_test_id("sticker-button").click()
    page.get_by_test_id("sticker-choice").first.click()
    expect(user_bubbles(page)).to_have_count(1)
    expect(bot_bubbles(page).last).to_have_text("收到sticker")

    page.get_by_test_id("image-input").set_input_files(
        files=[{"name": "pixel.png", "mimeType": "image/png", "buffer": PLACEHOLDER_PNG}]
    )
    expect(bot_bubbles(page).last).to_have_text(f"收到圖片 {len(PLACEHOLDER_PNG)} bytes")
    expect(user_bubbles(page).last.locator("img")).to_have_count(1)

    page.get_by_test_id("follow-button").click()
    expect(page.get_by_test_id("block-button")).to_be_visible()
    page.get_by_test_id("block-button").click()
    expect(page.get_by_test_id("system-note").last).to_contain_text("封鎖")
    page.get_by_test_id("follow-button").click()
    expect(page.get_by_test_id("system-note").last).to_contain_text("解除封鎖")
    expect(bot_bubbles(page).filter(has_text="歡迎")).to_have_count(2)
    kinds = [type(e).__name__ for e in bot.events]
    assert kinds == ["MessageEvent", "MessageEvent", "FollowEvent", "UnfollowEvent", "FollowEvent"]
    assert bot.events[-1].follow.is_unblocked is True
    assert all(e.source.user_id == uid for e in bot.events)


def test_simulator_rich_menu(bot_server, page, line):
    from linebot.v3.messaging import RichMenuRequest

    with ApiClient(Configuration(host=line.url, access_token="t")) as client:
        api, blob = MessagingApi(client), MessagingApiBlob(client)
        menu = RichMenuRequest.from_dict(
            {
                "size": {"width": 2500, "height": 843},
                "selected": True,
                "name": "主選單",
                "chatBarText": "功能選單",
                "areas": [
                    {"bounds": {"x": 0, "y": 0, "width": 1250, "height": 843}, "action": {"type": "postback", "label": "我的提案", "data": "menu=mine", "displayText": "我的提案"}},
                    {"bounds": {"x": 1250, "y": 0, "width": 1250, "height": 843}, "action": {"type": "message", "label": "說明", "text": "說明"}},
                ],
            }
        )
        menu_id = api.create_rich_menu(menu).rich_menu_id
        blob.set_rich_menu_image(menu_id, body=bytearray(PLACEHOLDER_PNG), _headers={"Content-Type": "image/png"})
        api.set_default_rich_menu(menu_id)

    page.goto(bot_server.url + "/dev/line")
    create_user(page, "甲")
    expect(page.get_by_test_id("rich-menu-toggle")).to_contain_text("功能選單")
    areas = page.get_by_test_id("rich-menu-area")
    expect(areas).to_have_count(2)
    areas.first.click()
    expect(user_bubbles(page).last).to_have_text("我的提案")
    expect(bot_bubbles(page).last).to_have_text("postback menu=mine")


# --------------------------------------------------------------------------------------------
# The simulator's JSON API (no browser)
# --------------------------------------------------------------------------------------------


def test_event_api_validates_and_reports_the_webhook_status(bot, line):
    client = bot.test_client()
    assert client.get("/dev/line").status_code == 200
    assert client.post("/dev/line/api/event", json={"userId": "nope", "type": "text", "text": "x"}).status_code == 400
    assert client.post("/dev/line/api/event", json={"userId": new_user_id(), "type": "dance"}).status_code == 400
    assert client.post("/dev/line/api/event", json={"userId": new_user_id(), "type": "text", "text": " "}).status_code == 400
    uid = new_user_id()
    resp = client.post("/dev/line/api/event", json={"userId": uid, "type": "text", "text": "嗨", "displayName": "小明"})
    assert resp.status_code == 200 and resp.json["status"] == 200
    assert len(resp.json["webhookEventId"]) == 26
    payload = client.get(f"/dev/line/api/messages?user={uid}&after=0").json
    assert [m["message"]["text"] for m in payload["messages"]] == ["你說：嗨"]
    assert client.get(f"/dev/line/api/messages?user={uid}&after={payload['lastId']}").json["messages"] == []
    # The webhook's own answer is passed on (here: a wrong channel secret makes it 400).
    bot.config["LINE_CHANNEL_SECRET"] = "another-secret"
    resp = client.post("/dev/line/api/event", json={"userId": uid, "type": "text", "text": "嗨"})
    assert resp.status_code == 200 and resp.json["status"] == 400


def test_event_api_needs_a_standin():
    app = Flask("no_standin")
    app.config.update(LINE_CHANNEL_SECRET=SECRET, LINE_API_ENDPOINT="https://api.line.me")
    app.register_blueprint(dev_line_bp)
    resp = app.test_client().post("/dev/line/api/event", json={"userId": new_user_id(), "type": "follow"})
    assert resp.status_code == 503
    assert "devtools.line_standin" in json.loads(resp.data)["error"]
    app.config["LINE_API_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens there
    assert app.test_client().get("/dev/line/api/messages?user=&after=0").status_code == 503
