"""bot.line_api against the stand-in: replies and pushes go out as the Messaging API's JSON through
the SDK's client, and its errors come back as the SDK's ApiException."""
from __future__ import annotations

import uuid

import pytest
from linebot.v3.messaging import ApiException

from bot.line_api import push_messages, reply_messages


def _config(line) -> dict:
    return {"LINE_API_ENDPOINT": line.url, "LINE_CHANNEL_ACCESS_TOKEN": "test-token"}


def test_reply_sends_the_messages_as_built_and_a_used_token_raises(line):
    uid = line.user()
    token = uuid.uuid4().hex
    line.standin.register_reply_token(token, uid)
    quick = {"items": [{"type": "action", "action": {"type": "postback", "label": "附議", "data": "a=sec.ask&p=1",
                                                     "displayText": "附議第 1 號"}}]}
    reply_messages(_config(line), token, [{"type": "text", "text": "第一則", "quickReply": quick}, {"type": "text", "text": "第二則"}])
    assert line.texts(uid) == ["第一則", "第二則"]
    assert line.messages(uid)[0]["quickReply"] == quick
    call = line.calls("/v2/bot/message/reply")[-1]
    assert call["status"] == 200 and call["body"]["replyToken"] == token
    with pytest.raises(ApiException) as used:  # single use: the caller falls back to a push
        reply_messages(_config(line), token, [{"type": "text", "text": "again"}])
    assert used.value.status == 400
    assert line.texts(uid) == ["第一則", "第二則"]


def test_at_most_five_messages_go_in_one_reply(line):
    uid = line.user()
    token = uuid.uuid4().hex
    line.standin.register_reply_token(token, uid)
    reply_messages(_config(line), token, [{"type": "text", "text": str(n)} for n in range(7)])
    assert line.texts(uid) == ["0", "1", "2", "3", "4"]


def test_push_with_a_retry_key_is_delivered_once(line):
    uid = line.user()
    key = str(uuid.uuid4())
    for _ in range(2):  # the second call is the API's 409 "already accepted", taken as success
        push_messages(_config(line), uid, [{"type": "text", "text": "結果通知"}], retry_key=key)
    assert line.texts(uid) == ["結果通知"]
    assert [c["status"] for c in line.calls("/v2/bot/message/push")] == [200, 409]
    assert {c["retryKey"] for c in line.calls("/v2/bot/message/push")} == {key}


def test_an_invalid_message_is_refused_by_the_api_and_nothing_is_delivered(line):
    uid = line.user()
    with pytest.raises(ApiException) as refused:
        push_messages(_config(line), uid, [{"type": "text", "text": ""}])
    assert refused.value.status == 400
    assert line.texts(uid) == []
    line.fail(1, 500)
    with pytest.raises(ApiException) as failed:  # the outbox retries it later
        push_messages(_config(line), uid, [{"type": "text", "text": "稍後"}])
    assert failed.value.status == 500
