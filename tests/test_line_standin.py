"""The LINE Messaging API stand-in, driven by the real line-bot-sdk, and the webhook helper."""
from __future__ import annotations

import json
import threading
import uuid

import pytest
from flask import Flask, request
from linebot.v3 import SignatureValidator, WebhookParser
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    MessageAction,
    MessagingApi,
    MessagingApiBlob,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.webhooks import (
    FollowEvent,
    ImageMessageContent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
)

from devtools.line_standin import (
    BOT_USER_ID,
    PLACEHOLDER_PNG,
    create_standin_app,
    make_body,
    make_event,
    new_user_id,
    new_webhook_event_id,
    redelivered,
    sign,
)

SECRET = "test-channel-secret"


@pytest.fixture
def api(line):
    """(MessagingApi, MessagingApiBlob) of the real SDK, pointed at the stand-in."""
    with ApiClient(Configuration(host=line.url, access_token="test-token")) as client:
        yield MessagingApi(client), MessagingApiBlob(client)


def _error_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


# -- replies ---------------------------------------------------------------------------------


def test_sdk_reply_reaches_the_user_once(line, api):
    messaging, _ = api
    uid = line.user()
    line.standin.register_reply_token("a" * 32, uid)
    quick = QuickReply(items=[QuickReplyItem(action=MessageAction(label="註冊", text="註冊"))])
    resp = messaging.reply_message(
        ReplyMessageRequest(reply_token="a" * 32, messages=[TextMessage(text="歡迎！", quick_reply=quick), TextMessage(text="第二則")])
    )
    assert len(resp.sent_messages) == 2
    assert resp.sent_messages[0].id.isdigit() and resp.sent_messages[0].quote_token
    assert line.texts(uid) == ["歡迎！", "第二則"]
    assert line.messages(uid)[0]["quickReply"]["items"][0]["action"] == {"type": "message", "label": "註冊", "text": "註冊"}
    assert line.last(uid) == {"type": "text", "text": "第二則"}
    assert [d["kind"] for d in line.deliveries(uid)] == ["reply", "reply"]

    # A reply token is single use.
    with pytest.raises(ApiException) as exc:
        messaging.reply_message(ReplyMessageRequest(reply_token="a" * 32, messages=[TextMessage(text="again")]))
    assert exc.value.status == 400
    assert _error_body(exc.value) == {"message": "Invalid reply token"}
    assert line.texts(uid) == ["歡迎！", "第二則"]


def test_connections_stay_open_between_calls_as_lines_do(line):
    """LINE keeps a client's connection open, and the SDK's pool reuses it: the stand-in must too,
    or every reply would pay a TCP handshake that the real API does not charge."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(line.url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    uid = line.user()
    try:
        for n in range(3):
            line.standin.register_reply_token(f"k{n}" + "a" * 30, uid)
            conn.request("POST", "/v2/bot/message/reply", headers={"Authorization": "Bearer test-token",
                                                                   "Content-Type": "application/json"},
                         body=json.dumps({"replyToken": f"k{n}" + "a" * 30, "messages": [{"type": "text", "text": f"第{n}則"}]}))
            resp = conn.getresponse()
            assert (resp.status, resp.getheader("Connection")) == (200, None)
            assert json.loads(resp.read())["sentMessages"]
            if n == 0:
                first_socket = conn.sock
            assert conn.sock is first_socket  # the same connection carried every call
        # A Content-Length that is not a number: refused, and the connection closed.
        conn.putrequest("POST", "/v2/bot/message/push")
        conn.putheader("Content-Length", "abc")
        conn.endheaders()
        resp = conn.getresponse()
        assert (resp.status, resp.getheader("Connection")) == (400, "close")
    finally:
        conn.close()
    assert line.texts(uid) == ["第0則", "第1則", "第2則"]


def test_unknown_reply_token_is_rejected(line, api):
    messaging, _ = api
    with pytest.raises(ApiException) as exc:
        messaging.reply_message(ReplyMessageRequest(reply_token="never-registered", messages=[TextMessage(text="hi")]))
    assert exc.value.status == 400
    assert _error_body(exc.value)["message"] == "Invalid reply token"
    assert line.calls()[-1]["status"] == 400


def test_invalid_messages_do_not_use_up_the_reply_token(line, line_standin):
    uid = line.user()
    line.standin.register_reply_token("t1", uid)
    client = create_standin_app(line_standin.state).test_client()  # same state, in-process
    bad = client.post(
        "/v2/bot/message/reply",
        json={"replyToken": "t1", "messages": [{"type": "text", "text": "x" * 5001}]},
        headers={"Authorization": "Bearer t"},
    )
    assert bad.status_code == 400
    assert bad.json["details"] == [{"message": "Length must be between 1 and 5000", "property": "messages[0].text"}]
    ok = client.post(
        "/v2/bot/message/reply",
        json={"replyToken": "t1", "messages": [{"type": "text", "text": "x" * 5000}]},
        headers={"Authorization": "Bearer t"},
    )
    assert ok.status_code == 200
    assert len(line.texts(uid)[0]) == 5000


# -- pushes, retry keys, failure injection ---------------------------------------------------


def test_push_with_retry_key_is_delivered_once(line, api):
    messaging, _ = api
    uid = line.user()
    key = str(uuid.uuid4())
    first = messaging.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text="提醒")]), x_line_retry_key=key)
    with pytest.raises(ApiException) as exc:
        messaging.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text="提醒")]), x_line_retry_key=key)
    assert exc.value.status == 409
    body = _error_body(exc.value)
    assert body["message"] == "The retry key is already accepted"
    assert body["sentMessages"][0]["id"] == first.sent_messages[0].id
    assert exc.value.headers["x-line-accepted-request-id"]
    assert line.texts(uid) == ["提醒"]
    assert [c["retryKey"] for c in line.calls("/v2/bot/message/push")] == [key, key]
    assert line.deliveries(uid)[0]["kind"] == "push"


def test_malformed_retry_key_is_rejected(line, api):
    messaging, _ = api
    with pytest.raises(ApiException) as exc:
        messaging.push_message(PushMessageRequest(to=line.user(), messages=[TextMessage(text="x")]), x_line_retry_key="not-a-uuid")
    assert exc.value.status == 400


def test_injected_failures_then_retry_with_the_same_key(line, api):
    messaging, _ = api
    uid = line.user()
    key = str(uuid.uuid4())
    line.fail(count=2, status=500)
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            messaging.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text="重試")]), x_line_retry_key=key)
        assert exc.value.status == 500
    assert line.messages(uid) == []
    # A failed request does not consume the retry key: the third try delivers.
    messaging.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text="重試")]), x_line_retry_key=key)
    assert line.texts(uid) == ["重試"]
    assert [c["status"] for c in line.calls()] == [500, 500, 200]


def test_injected_rate_limit(line, api):
    messaging, _ = api
    line.fail(count=1, status=429)
    with pytest.raises(ApiException) as exc:
        messaging.push_message(PushMessageRequest(to=line.user(), messages=[TextMessage(text="x")]))
    assert exc.value.status == 429
    messaging.push_message(PushMessageRequest(to=line.user(), messages=[TextMessage(text="x")]))


def test_push_to_a_malformed_user_id_is_rejected(line, api):
    messaging, _ = api
    with pytest.raises(ApiException) as exc:
        messaging.push_message(PushMessageRequest(to="Unot-a-user", messages=[TextMessage(text="x")]))
    assert exc.value.status == 400
    assert _error_body(exc.value)["details"][0]["property"] == "to"


def test_multicast_delivers_to_each_user(line, api):
    messaging, _ = api
    a, b = line.user(), line.user()
    messaging.multicast(MulticastRequest(to=[a, b], messages=[TextMessage(text="公告")]))
    assert line.texts(a) == ["公告"] and line.texts(b) == ["公告"]
    assert line.deliveries(a)[0]["api"] == "multicast"


def test_concurrent_pushes_are_all_recorded(line, line_standin):
    uid = line.user()
    errors = []

    def worker():
        try:
            with ApiClient(Configuration(host=line.url, access_token="t")) as c:
                api = MessagingApi(c)
                for i in range(10):
                    api.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text=str(i))]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    deliveries = line.deliveries(uid)
    assert len(deliveries) == 60
    assert sorted(d["id"] for d in deliveries) == list(range(1, 61))
    assert len({c["id"] for c in line.calls()}) == 60


# -- validation like LINE --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("messages", "prop", "message"),
    [
        ([{"type": "text", "text": "x"}] * 6, "messages", "Size must be between 1 and 5"),
        ([], "messages", "Size must be between 1 and 5"),
        ([{"type": "text", "text": "x" * 5001}], "messages[0].text", "Length must be between 1 and 5000"),
        ([{"type": "text", "text": ""}], "messages[0].text", "may not be empty"),
        ([{"type": "nope"}], "messages[0].type", None),
        (
            [{"type": "text", "text": "x", "quickReply": {"items": [{"type": "action", "action": {"type": "message", "label": str(i), "text": "x"}} for i in range(14)]}}],
            "messages[0].quickReply.items",
            "Size must be between 1 and 13",
        ),
        (
            [{"type": "text", "text": "x", "quickReply": {"items": [{"type": "action", "action": {"type": "message", "label": "超" * 21, "text": "x"}}]}}],
            "messages[0].quickReply.items[0].action.label",
            "Length must be between 1 and 20",
        ),
        (
            [{"type": "template", "altText": "a", "template": {"type": "buttons", "text": "t", "actions": [{"type": "postback", "label": "l", "data": "d" * 301}]}}],
            "messages[0].template.actions[0].data",
            "Length must be between 1 and 300",
        ),
        ([{"type": "flex", "contents": {"type": "bubble"}}], "messages[0].altText", "may not be empty"),
    ],
)
def test_push_validation(line, messages, prop, message):
    client = create_standin_app().test_client()
    resp = client.post(
        "/v2/bot/message/push", json={"to": new_user_id(), "messages": messages}, headers={"Authorization": "Bearer t"}
    )
    assert resp.status_code == 400
    assert resp.json["message"].startswith("The request body has")
    details = resp.json["details"]
    assert any(d["property"] == prop and (message is None or d["message"] == message) for d in details), details


def test_quick_reply_with_13_items_is_fine(line, api):
    messaging, _ = api
    uid = line.user()
    items = [QuickReplyItem(action=PostbackAction(label=f"選項{i}", data=f"i={i}", display_text=f"選項{i}")) for i in range(13)]
    messaging.push_message(PushMessageRequest(to=uid, messages=[TextMessage(text="選一個", quick_reply=QuickReply(items=items))]))
    assert len(line.last(uid)["quickReply"]["items"]) == 13


def test_authorization_is_required(line):
    client = create_standin_app().test_client()
    resp = client.post("/v2/bot/message/push", json={"to": new_user_id(), "messages": [{"type": "text", "text": "x"}]})
    assert resp.status_code == 401
    resp = client.get("/v2/bot/profile/" + new_user_id(), headers={"Authorization": "Bearer "})
    assert resp.status_code == 401


# -- profiles, rich menus, content -----------------------------------------------------------


def test_profile(line, api):
    messaging, _ = api
    uid = line.user()
    profile = messaging.get_profile(uid)
    assert profile.user_id == uid and profile.display_name == "模擬使用者"
    named = line.user(display_name="王小明")
    assert messaging.get_profile(named).display_name == "王小明"
    with pytest.raises(ApiException) as exc:
        messaging.get_profile("Uxyz")
    assert exc.value.status == 404


def test_rich_menu_lifecycle(line, api):
    messaging, blob = api
    request_ = RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=True,
        name="主選單",
        chat_bar_text="選單",
        areas=[
            RichMenuArea(bounds=RichMenuBounds(x=0, y=0, width=1250, height=843), action=PostbackAction(label="我的提案", data="menu=mine")),
            RichMenuArea(bounds=RichMenuBounds(x=1250, y=0, width=1250, height=843), action=MessageAction(label="說明", text="說明")),
        ],
    )
    menu_id = messaging.create_rich_menu(request_).rich_menu_id
    assert menu_id.startswith("richmenu-")
    # No image yet: cannot become the default.
    with pytest.raises(ApiException):
        messaging.set_default_rich_menu(menu_id)
    blob.set_rich_menu_image(menu_id, body=bytearray(PLACEHOLDER_PNG), _headers={"Content-Type": "image/png"})
    messaging.set_default_rich_menu(menu_id)
    assert messaging.get_default_rich_menu_id().rich_menu_id == menu_id
    menus = messaging.get_rich_menu_list().richmenus
    assert [m.rich_menu_id for m in menus] == [menu_id]
    assert menus[0].areas[0].action.data == "menu=mine"
    assert bytes(blob.get_rich_menu_image(menu_id)) == PLACEHOLDER_PNG
    seen = line.rich_menu(line.user())
    assert seen["richMenuId"] == menu_id and seen["hasImage"] is True

    messaging.delete_rich_menu(menu_id)
    assert messaging.get_rich_menu_list().richmenus == []
    assert line.rich_menu() is None
    with pytest.raises(ApiException) as exc:
        messaging.get_default_rich_menu_id()
    assert exc.value.status == 404


def test_message_content_and_loading_animation(line, api):
    messaging, blob = api
    uid = line.user()
    line.standin.put_content("12345", b"JPEGDATA", "image/jpeg")
    assert bytes(blob.get_message_content("12345")) == b"JPEGDATA"
    assert bytes(blob.get_message_content("99999")) == PLACEHOLDER_PNG
    messaging.show_loading_animation(ShowLoadingAnimationRequest(chat_id=uid, loading_seconds=5))


def test_messages_after_and_reset(line, api):
    messaging, _ = api
    a, b = line.user(), line.user()
    for text in ("1", "2", "3"):
        messaging.push_message(PushMessageRequest(to=a, messages=[TextMessage(text=text)]))
    messaging.push_message(PushMessageRequest(to=b, messages=[TextMessage(text="b")]))
    all_a = line.deliveries(a)
    assert [d["message"]["text"] for d in line.deliveries(a, after=all_a[0]["id"])] == ["2", "3"]
    payload = line.standin.request("GET", "/__standin/messages", query={"after": 0})
    assert payload["lastId"] == 4 and len(payload["messages"]) == 4
    line.reset()
    assert line.calls() == [] and line.messages(a) == []


# -- webhook bodies --------------------------------------------------------------------------


def test_webhook_bodies_parse_with_the_sdk_and_verify():
    uid = new_user_id()
    group = "C" + uuid.uuid4().hex
    events = [
        make_event("follow", uid),
        make_event("text", uid, text="你好 👋"),
        make_event("postback", uid, data="action=register", params={"date": "2026-01-01"}),
        make_event("sticker", uid, package_id="446", sticker_id="1989"),
        make_event("image", uid),
        make_event("unfollow", uid),
        make_event("text", uid, text="群組", group_id=group),
    ]
    body = make_body(events)
    signature = sign(body, SECRET)
    assert SignatureValidator(SECRET).validate(body.decode("utf-8"), signature)
    parsed = WebhookParser(SECRET).parse(body.decode("utf-8"), signature)
    assert [type(e) for e in parsed] == [FollowEvent, MessageEvent, PostbackEvent, MessageEvent, MessageEvent, UnfollowEvent, MessageEvent]
    assert isinstance(parsed[1].message, TextMessageContent) and parsed[1].message.text == "你好 👋"
    assert parsed[2].postback.data == "action=register" and parsed[2].postback.params == {"date": "2026-01-01"}
    assert isinstance(parsed[3].message, StickerMessageContent)
    assert isinstance(parsed[4].message, ImageMessageContent)
    assert parsed[6].source.group_id == group
    raw = json.loads(body)
    assert raw["destination"] == BOT_USER_ID and len(raw["destination"]) == 33
    for event in raw["events"]:
        assert len(event["webhookEventId"]) == 26 and event["mode"] == "active"
        assert event["deliveryContext"] == {"isRedelivery": False}
        assert isinstance(event["timestamp"], int) and event["timestamp"] > 1_600_000_000_000
        assert ("replyToken" in event) == (event["type"] != "unfollow")
    assert "你好" in body.decode("utf-8")  # raw UTF-8 like LINE, not \\u escapes

    again = json.loads(redelivered(body))
    assert [e["webhookEventId"] for e in again["events"]] == [e["webhookEventId"] for e in raw["events"]]
    assert all(e["deliveryContext"]["isRedelivery"] for e in again["events"])


def test_webhook_event_ids_sort_by_time():
    assert new_webhook_event_id(1_700_000_000_000) < new_webhook_event_id(1_700_000_000_001)
    assert all(c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ" for c in new_webhook_event_id())


# -- the LineChannel helper against a small bot ------------------------------------------------


def _echo_bot(api_url: str) -> Flask:
    """A minimal bot: verifies the signature, replies to each event with the real SDK."""
    app = Flask("echo_bot")
    app.config["LINE_CHANNEL_SECRET"] = SECRET
    seen: set[str] = set()

    @app.post("/line/webhook")
    def webhook():
        body = request.get_data(as_text=True)
        try:
            events = WebhookParser(SECRET).parse(body, request.headers.get("X-Line-Signature", ""))
        except Exception:
            return "bad signature", 400
        with ApiClient(Configuration(host=api_url, access_token="t")) as client:
            api = MessagingApi(client)
            for event in events:
                if event.webhook_event_id in seen:
                    continue
                seen.add(event.webhook_event_id)
                if isinstance(event, FollowEvent):
                    text = "歡迎加入！"
                elif isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
                    text = "你說：" + event.message.text
                elif isinstance(event, PostbackEvent):
                    text = "postback " + event.postback.data
                elif isinstance(event, MessageEvent):
                    text = "收到" + event.message.type
                else:
                    continue
                api.reply_message(ReplyMessageRequest(reply_token=event.reply_token, messages=[TextMessage(text=text)]))
        return "OK"

    return app


def test_line_channel_plays_the_platform(line):
    client = _echo_bot(line.url).test_client()
    uid = line.user()
    assert line.follow(client, uid).status_code == 200
    line.text(client, uid, "哈囉")
    line.postback(client, uid, "action=register")
    line.sticker(client, uid)
    line.image(client, uid, content=b"\xff\xd8jpeg")
    assert line.texts(uid) == ["歡迎加入！", "你說：哈囉", "postback action=register", "收到sticker", "收到image"]

    group_resp = line.group_text(client, uid, "大家好")
    group_id = group_resp.line_events[0]["source"]["groupId"]
    assert line.texts(group_id) == ["你說：大家好"]
    assert line.unfollow(client, uid).status_code == 200


def test_line_channel_signatures_and_redelivery(line):
    client = _echo_bot(line.url).test_client()
    uid = line.user()
    body = make_body([make_event("text", uid, text="hi")])
    assert line.raw(client, body, signature="AAAA").status_code == 400
    assert line.raw(client, body, signature=False).status_code == 400
    assert line.texts(uid) == []
    first = line.raw(client, body)
    assert first.status_code == 200 and line.texts(uid) == ["你說：hi"]
    again = line.redeliver(client, first)
    assert again.status_code == 200
    assert again.line_events[0]["deliveryContext"]["isRedelivery"] is True
    assert line.texts(uid) == ["你說：hi"]
