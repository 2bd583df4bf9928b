"""LINE fixtures: a running Messaging API stand-in and a helper that plays the LINE platform.

``line_standin`` (session): a devtools.line_standin.server.StandinServer; point the app's
``LINE_API_ENDPOINT`` at ``line_standin.url``.

``line`` (function): the stand-in emptied, wrapped in a LineChannel that builds real webhook
bodies, signs them with ``client.application.config["LINE_CHANNEL_SECRET"]`` and posts them to
``/line/webhook`` with a Flask test client, then reads what each user received::

    uid = line.user()
    resp = line.follow(client, uid)           # the Flask response; resp.line_body is the raw body
    assert "歡迎" in line.texts(uid)[0]
    line.redeliver(client, resp)               # same events again, isRedelivery: true
"""
from __future__ import annotations

import json
from typing import Any

import pytest

from devtools.line_standin import (
    StandinClient,
    make_body,
    make_event,
    new_group_id,
    new_user_id,
    redelivered,
    reply_targets,
    serve_in_thread,
    sign,
)

WEBHOOK_PATH = "/line/webhook"


class LineChannel:
    """The LINE platform, as seen by the app under test (see the module docstring)."""

    def __init__(self, standin: Any, webhook_path: str = WEBHOOK_PATH) -> None:
        self.url = standin if isinstance(standin, str) else standin.url
        self.standin = StandinClient(self.url)
        self.webhook_path = webhook_path
        self.last_body: bytes | None = None

    # -- simulated users ----------------------------------------------------------------------

    def user(self, user_id: str | None = None, display_name: str | None = None) -> str:
        """A simulated LINE user id (``U`` + 32 hex); its profile name, if given, is what
        ``GET /v2/bot/profile/{userId}`` answers."""
        uid = user_id or new_user_id()
        if display_name:
            self.standin.set_profile(uid, display_name)
        return uid

    def group(self) -> str:
        return new_group_id()

    # -- sending webhooks ---------------------------------------------------------------------

    def send(self, client: Any, *events: dict, signature: str | bool | None = None, headers: dict | None = None) -> Any:
        """Post these events in one webhook body (reply tokens registered, body signed)."""
        return self.raw(client, make_body(events), signature=signature, headers=headers)

    def raw(self, client: Any, body: bytes | str | dict, signature: str | bool | None = None, headers: dict | None = None) -> Any:
        """Post a body as is.  ``signature``: None = the correct one, False = no header,
        a string = that header value.  Reply tokens found in the body are registered."""
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            targets = reply_targets(body)
        except (ValueError, AttributeError, TypeError, RecursionError):
            targets = []
        for token, target in targets:
            self.standin.register_reply_token(token, target)
        sent_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
        if signature is None:
            sent_headers["X-Line-Signature"] = sign(body, client.application.config["LINE_CHANNEL_SECRET"])
        elif signature is not False:
            sent_headers["X-Line-Signature"] = signature
        sent_headers.update(headers or {})
        resp = client.post(self.webhook_path, data=body, headers=sent_headers)
        self.last_body = body
        resp.line_body = body
        try:
            resp.line_events = json.loads(body).get("events", [])
        except (ValueError, AttributeError, RecursionError):
            resp.line_events = []
        return resp

    def redeliver(self, client: Any, previous: Any) -> Any:
        """The events of an earlier body (bytes, or the response a helper returned) again,
        as LINE redelivers them: same webhookEventId and replyToken, ``isRedelivery: true``."""
        body = getattr(previous, "line_body", previous)
        return self.raw(client, redelivered(body))

    def follow(self, client: Any, uid: str, *, unblocked: bool = False) -> Any:
        return self.send(client, make_event("follow", uid, is_unblocked=unblocked))

    def unfollow(self, client: Any, uid: str) -> Any:
        return self.send(client, make_event("unfollow", uid))

    def text(self, client: Any, uid: str, text: str) -> Any:
        return self.send(client, make_event("text", uid, text=text))

    def postback(self, client: Any, uid: str, data: str, params: dict | None = None) -> Any:
        return self.send(client, make_event("postback", uid, data=data, params=params))

    def sticker(self, client: Any, uid: str, package_id: str = "446", sticker_id: str = "1988") -> Any:
        return self.send(client, make_event("sticker", uid, package_id=package_id, sticker_id=sticker_id))

    def image(self, client: Any, uid: str, content: bytes | None = None, content_type: str = "image/jpeg") -> Any:
        """An image message; ``content`` (if given) is what the bot downloads for it."""
        event = make_event("image", uid)
        if content is not None:
            self.standin.put_content(event["message"]["id"], content, content_type)
        return self.send(client, event)

    def location(self, client: Any, uid: str, **kwargs: Any) -> Any:
        return self.send(client, make_event("location", uid, **kwargs))

    def group_text(self, client: Any, uid: str, text: str, group_id: str | None = None) -> Any:
        """A text in a group chat (source type group); replies land on the group id."""
        return self.send(client, make_event("text", uid, text=text, group_id=group_id or new_group_id()))

    # -- reading what the bot sent --------------------------------------------------------------

    def deliveries(self, uid: str | None = None, after: int = 0) -> list[dict]:
        """Delivery records: {id, kind: reply|push, api, to, time, callId, message}."""
        return self.standin.deliveries(uid, after)

    def messages(self, uid: str) -> list[dict]:
        """Every message object delivered to uid (replies and pushes), in order."""
        return [d["message"] for d in self.standin.deliveries(uid)]

    def texts(self, uid: str) -> list[str]:
        """The text of each text message, and the altText of flex/template/imagemap messages."""
        out = []
        for msg in self.messages(uid):
            if msg.get("type") in ("text", "textV2"):
                out.append(msg.get("text", ""))
            elif msg.get("type") in ("flex", "template", "imagemap"):
                out.append(msg.get("altText", ""))
        return out

    def last(self, uid: str) -> dict | None:
        msgs = self.messages(uid)
        return msgs[-1] if msgs else None

    def calls(self, path: str | None = None) -> list[dict]:
        """Every Messaging API call: {id, time, method, path, body, retryKey, status}."""
        return self.standin.calls(path)

    def fail(self, count: int = 1, status: int = 500) -> None:
        """The next ``count`` Messaging API calls answer ``status``."""
        self.standin.fail(count, status)

    def set_quota(self, value: int | None, used: int = 0) -> None:
        """The channel's monthly push quota (None: unlimited); pushes past it answer 429."""
        self.standin.set_quota(value, used)

    def reset(self) -> None:
        self.standin.reset()

    def rich_menu(self, uid: str | None = None) -> dict | None:
        """The rich menu this user sees (linked to them, else the default), or None."""
        return self.standin.rich_menu(uid)


@pytest.fixture(scope="session")
def line_standin():
    server = serve_in_thread()
    yield server
    server.shutdown()


@pytest.fixture
def line(line_standin):
    line_standin.client.reset()
    return LineChannel(line_standin)
