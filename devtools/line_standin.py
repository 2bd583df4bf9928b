"""A stand-in for the LINE Messaging API, for tests and for the /dev/line simulator.

The real line-bot-sdk (``linebot.v3``) talks to it when ``Configuration(host=...)`` points here
(the app's ``LINE_API_ENDPOINT``).  It answers the paths, shapes and errors LINE documents for
what this project uses (reply, push, multicast, broadcast, profiles, rich menus and their images,
message content, the loading animation), validates messages the way LINE does, and records
every call.  Control endpoints under ``/__standin/`` let tests and the simulator register reply
tokens, read what each user received, inject failures and reset.

This module also holds the webhook side shared by the test helper (tests/fixtures_line.py) and
the simulator (webapp/dev_line.py): building LINE webhook bodies and signing them.

Run alone:  python -m devtools.line_standin --port 8091
then start the app with LINE_API_ENDPOINT=http://127.0.0.1:8091
"""
from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Self

from flask import Flask, Response, g, request
from werkzeug.serving import WSGIRequestHandler, make_server

# --------------------------------------------------------------------------------------------
# Identifiers
# --------------------------------------------------------------------------------------------

#: The bot's own user id, sent as ``destination`` in every webhook body (33 chars like LINE's).
BOT_USER_ID = "U" + hashlib.sha256(b"taichung-policy-participation-bot").hexdigest()[:32]
BOT_BASIC_ID = "@taichung-policy"
BOT_DISPLAY_NAME = "臺中市政府公務人員政策參與平臺"
DEFAULT_DISPLAY_NAME = "模擬使用者"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_USER_ID_RE = re.compile(r"^U[0-9a-f]{32}$")
_TARGET_RE = re.compile(r"^[UCR][0-9a-f]{32}$")
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# A 1x1 transparent PNG: the content of any image nobody uploaded.
PLACEHOLDER_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def new_user_id() -> str:
    """A LINE-shaped user id: ``U`` + 32 lowercase hex digits."""
    return "U" + uuid.uuid4().hex


def new_group_id() -> str:
    return "C" + uuid.uuid4().hex


def new_webhook_event_id(ms: int | None = None) -> str:
    """A ULID (26 Crockford base-32 chars: 48-bit millisecond time + 80 random bits), as LINE sends."""
    ms = int(time.time() * 1000) if ms is None else ms
    value = ((ms & ((1 << 48) - 1)) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_reply_token() -> str:
    return secrets.token_hex(16)


def new_message_id() -> str:
    """An 18-digit numeric string, like LINE message ids."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def new_quote_token() -> str:
    return secrets.token_urlsafe(60)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Webhook bodies (shared by the test helper and the simulator)
# --------------------------------------------------------------------------------------------

EVENT_KINDS = ("follow", "unfollow", "text", "postback", "sticker", "image", "location")


def make_event(
    kind: str,
    user_id: str,
    *,
    text: str | None = None,
    data: str | None = None,
    params: dict | None = None,
    package_id: str = "446",
    sticker_id: str = "1988",
    keywords: list[str] | None = None,
    title: str | None = None,
    address: str | None = None,
    latitude: float = 24.1618,
    longitude: float = 120.6469,
    group_id: str | None = None,
    room_id: str | None = None,
    reply_token: str | None = None,
    message_id: str | None = None,
    is_unblocked: bool = False,
    timestamp_ms: int | None = None,
    redelivery: bool = False,
) -> dict:
    """One webhook event object as LINE sends it.

    ``kind`` is one of EVENT_KINDS; ``text``/``sticker``/``image``/``location`` become ``message``
    events.  Every event but ``unfollow`` carries a fresh ``replyToken`` (or the one given).
    """
    if kind not in EVENT_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; one of {EVENT_KINDS}")
    ts = int(time.time() * 1000) if timestamp_ms is None else int(timestamp_ms)
    if group_id:
        source: dict[str, Any] = {"type": "group", "groupId": group_id, "userId": user_id}
    elif room_id:
        source = {"type": "room", "roomId": room_id, "userId": user_id}
    else:
        source = {"type": "user", "userId": user_id}
    event: dict[str, Any] = {"type": kind}
    if kind == "follow":
        event["follow"] = {"isUnblocked": bool(is_unblocked)}
    elif kind == "postback":
        if data is None:
            raise ValueError("a postback event needs data")
        event["postback"] = {"data": data}
        if params:
            event["postback"]["params"] = params
    elif kind != "unfollow":
        event["type"] = "message"
        message: dict[str, Any] = {"type": kind, "id": message_id or new_message_id()}
        if kind == "text":
            if text is None:
                raise ValueError("a text event needs text")
            message.update(quoteToken=new_quote_token(), text=text)
        elif kind == "sticker":
            message.update(
                quoteToken=new_quote_token(),
                stickerId=str(sticker_id),
                packageId=str(package_id),
                stickerResourceType="STATIC",
                keywords=list(keywords or ["OK"]),
            )
        elif kind == "image":
            message.update(quoteToken=new_quote_token(), contentProvider={"type": "line"})
        elif kind == "location":
            message.update(
                title=title or "臺中市政府",
                address=address or "臺中市西屯區臺灣大道三段99號",
                latitude=latitude,
                longitude=longitude,
            )
        event["message"] = message
    event["webhookEventId"] = new_webhook_event_id(ts)
    event["deliveryContext"] = {"isRedelivery": bool(redelivery)}
    event["timestamp"] = ts
    event["source"] = source
    if kind != "unfollow":
        event["replyToken"] = reply_token or new_reply_token()
    event["mode"] = "active"
    return event


def make_body(events: Iterable[dict], destination: str = BOT_USER_ID) -> bytes:
    """The raw webhook body: compact UTF-8 JSON, as LINE posts it."""
    payload = {"destination": destination, "events": list(events)}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(body: bytes, channel_secret: str) -> str:
    """``X-Line-Signature``: base64 of HMAC-SHA256 of the raw body, keyed with the channel secret."""
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def redelivered(body: bytes | str) -> bytes:
    """The same events again (same webhookEventId and replyToken) with ``isRedelivery: true``."""
    payload = json.loads(body)
    for event in payload.get("events", []):
        event.setdefault("deliveryContext", {})["isRedelivery"] = True
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def reply_targets(body_or_events: bytes | str | dict | list) -> list[tuple[str, str]]:
    """(replyToken, chat id) for every event that has a reply token: where a reply would land
    (the group or room for group/room events, else the user)."""
    if isinstance(body_or_events, (bytes, str)):
        body_or_events = json.loads(body_or_events)
    events = body_or_events.get("events", []) if isinstance(body_or_events, dict) else body_or_events
    out = []
    for event in events:
        token = event.get("replyToken")
        if not token:
            continue
        source = event.get("source") or {}
        target = source.get("groupId") or source.get("roomId") or source.get("userId")
        if target:
            out.append((token, target))
    return out


# --------------------------------------------------------------------------------------------
# A client for the control endpoints (urllib: no extra dependency; never through a proxy)
# --------------------------------------------------------------------------------------------


class StandinError(RuntimeError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class StandinClient:
    """Talks to a running stand-in's ``/__standin/`` control endpoints."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: Any = None, query: dict | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise StandinError(f"{method} {path}: HTTP {exc.code} {exc.read()[:200]!r}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StandinError(f"LINE stand-in at {self.url} is not reachable: {exc}") from exc
        return json.loads(raw) if raw else None

    def get_bytes(self, path: str) -> tuple[bytes, str]:
        """(body, content type) of a GET, for images."""
        try:
            with self._opener.open(self.url + path, timeout=self.timeout) as resp:
                return resp.read(), resp.headers.get("Content-Type", "application/octet-stream")
        except urllib.error.HTTPError as exc:
            raise StandinError(f"GET {path}: HTTP {exc.code}", exc.code) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StandinError(f"LINE stand-in at {self.url} is not reachable: {exc}") from exc

    def register_reply_token(self, reply_token: str, user_id: str) -> None:
        self.request("POST", "/__standin/reply-tokens", {"replyToken": reply_token, "userId": user_id})

    def register_body(self, body: bytes | str | dict | list) -> None:
        """Register every reply token in a webhook body (or list of events)."""
        for token, target in reply_targets(body):
            self.register_reply_token(token, target)

    def set_profile(self, user_id: str, display_name: str, picture_url: str | None = None) -> None:
        body = {"userId": user_id, "displayName": display_name}
        if picture_url:
            body["pictureUrl"] = picture_url
        self.request("POST", "/__standin/profiles", body)

    def put_content(self, message_id: str, content: bytes, content_type: str = "image/jpeg") -> None:
        self.request(
            "POST",
            "/__standin/content",
            {"messageId": message_id, "contentType": content_type, "base64": base64.b64encode(content).decode()},
        )

    def deliveries(self, user: str | None = None, after: int = 0) -> list[dict]:
        return self.request("GET", "/__standin/messages", query={"user": user, "after": after})["messages"]

    def calls(self, path: str | None = None) -> list[dict]:
        return self.request("GET", "/__standin/calls", query={"path": path})["calls"]

    def reset(self) -> None:
        self.request("DELETE", "/__standin/calls")

    def fail(self, count: int = 1, status: int = 500) -> None:
        self.request("POST", "/__standin/fail", {"count": count, "status": status})

    def rich_menu(self, user: str | None = None) -> dict | None:
        return self.request("GET", "/__standin/richmenu", query={"user": user}).get("richMenu")


# --------------------------------------------------------------------------------------------
# Message validation (LINE's documented limits)
# --------------------------------------------------------------------------------------------

MESSAGE_TYPES = ("text", "textV2", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex")
ACTION_TYPES = (
    "message", "postback", "uri", "datetimepicker", "camera", "cameraRoll", "location", "richmenuswitch", "clipboard",
)


class _Errors:
    def __init__(self) -> None:
        self.details: list[dict] = []

    def add(self, prop: str, message: str) -> None:
        self.details.append({"message": message, "property": prop})

    def length(self, prop: str, value: Any, maximum: int, *, required: bool = True, minimum: int = 1) -> None:
        if value is None or value == "":
            if required:
                self.add(prop, "may not be empty")
            return
        if not isinstance(value, str):
            self.add(prop, "must be a string")
        elif not minimum <= len(value) <= maximum:
            self.add(prop, f"Length must be between {minimum} and {maximum}")

    def size(self, prop: str, value: Any, minimum: int, maximum: int) -> bool:
        if not isinstance(value, list):
            self.add(prop, "must be specified" if value is None else "must be an array")
            return False
        if not minimum <= len(value) <= maximum:
            self.add(prop, f"Size must be between {minimum} and {maximum}")
            return False
        return True


def _validate_action(errors: _Errors, prop: str, action: Any, *, label_max: int | None = 20, label_required: bool = False) -> None:
    if not isinstance(action, dict):
        errors.add(prop, "must be specified")
        return
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        errors.add(prop + ".type", f"Must be one of the following values: {list(ACTION_TYPES)}")
        return
    label = action.get("label")
    if label_max is not None and (label is not None or label_required):
        errors.length(prop + ".label", label, label_max, required=label_required)
    if kind == "message":
        errors.length(prop + ".text", action.get("text"), 300)
    elif kind == "postback":
        errors.length(prop + ".data", action.get("data"), 300)
        errors.length(prop + ".displayText", action.get("displayText"), 300, required=False)
        if action.get("displayText") and action.get("text"):
            errors.add(prop, "displayText and text cannot both be specified")
    elif kind == "uri":
        errors.length(prop + ".uri", action.get("uri"), 1000)
    elif kind == "datetimepicker":
        errors.length(prop + ".data", action.get("data"), 300)
        if action.get("mode") not in ("date", "time", "datetime"):
            errors.add(prop + ".mode", "Must be one of the following values: [date, time, datetime]")
    elif kind == "richmenuswitch":
        errors.length(prop + ".data", action.get("data"), 300)
        errors.length(prop + ".richMenuAliasId", action.get("richMenuAliasId"), 32)
    elif kind == "clipboard":
        errors.length(prop + ".clipboardText", action.get("clipboardText"), 1000)


def _validate_template(errors: _Errors, prop: str, template: Any) -> None:
    if not isinstance(template, dict):
        errors.add(prop, "must be specified")
        return
    kind = template.get("type")
    if kind == "buttons":
        errors.length(prop + ".title", template.get("title"), 40, required=False)
        small = bool(template.get("title") or template.get("thumbnailImageUrl"))
        errors.length(prop + ".text", template.get("text"), 60 if small else 160)
        if errors.size(prop + ".actions", template.get("actions"), 1, 4):
            for i, action in enumerate(template["actions"]):
                _validate_action(errors, f"{prop}.actions[{i}]", action, label_required=True)
        if "defaultAction" in template:
            _validate_action(errors, prop + ".defaultAction", template["defaultAction"])
    elif kind == "confirm":
        errors.length(prop + ".text", template.get("text"), 240)
        if errors.size(prop + ".actions", template.get("actions"), 2, 2):
            for i, action in enumerate(template["actions"]):
                _validate_action(errors, f"{prop}.actions[{i}]", action, label_required=True)
    elif kind == "carousel":
        if errors.size(prop + ".columns", template.get("columns"), 1, 10):
            counts = set()
            for i, column in enumerate(template["columns"]):
                cprop = f"{prop}.columns[{i}]"
                if not isinstance(column, dict):
                    errors.add(cprop, "must be an object")
                    continue
                errors.length(cprop + ".title", column.get("title"), 40, required=False)
                small = bool(column.get("title") or column.get("thumbnailImageUrl"))
                errors.length(cprop + ".text", column.get("text"), 60 if small else 120)
                if errors.size(cprop + ".actions", column.get("actions"), 1, 3):
                    counts.add(len(column["actions"]))
                    for j, action in enumerate(column["actions"]):
                        _validate_action(errors, f"{cprop}.actions[{j}]", action, label_required=True)
            if len(counts) > 1:
                errors.add(prop + ".columns", "every column must have the same number of actions")
    elif kind == "image_carousel":
        if errors.size(prop + ".columns", template.get("columns"), 1, 10):
            for i, column in enumerate(template["columns"]):
                errors.length(f"{prop}.columns[{i}].imageUrl", (column or {}).get("imageUrl"), 2000)
                _validate_action(errors, f"{prop}.columns[{i}].action", (column or {}).get("action"), label_max=12)
    else:
        errors.add(prop + ".type", "Must be one of the following values: [buttons, confirm, carousel, image_carousel]")


def _validate_flex_component(errors: _Errors, prop: str, comp: Any, depth: int = 0) -> None:
    if not isinstance(comp, dict) or depth > 50:
        errors.add(prop, "must be an object")
        return
    kind = comp.get("type")
    if kind == "box":
        if comp.get("layout") not in ("horizontal", "vertical", "baseline"):
            errors.add(prop + ".layout", "Must be one of the following values: [horizontal, vertical, baseline]")
        contents = comp.get("contents")
        if not isinstance(contents, list):
            errors.add(prop + ".contents", "must be specified")
        else:
            for i, child in enumerate(contents):
                _validate_flex_component(errors, f"{prop}.contents[{i}]", child, depth + 1)
    elif kind == "text":
        if not comp.get("text") and not comp.get("contents"):
            errors.add(prop + ".text", "may not be empty")
    elif kind in ("image", "icon"):
        errors.length(prop + ".url", comp.get("url"), 2000)
    elif kind == "button":
        _validate_action(errors, prop + ".action", comp.get("action"), label_max=None)
    elif kind == "video":
        errors.length(prop + ".url", comp.get("url"), 2000)
        errors.length(prop + ".previewUrl", comp.get("previewUrl"), 2000)
    elif kind not in ("separator", "filler", "spacer", "span"):
        errors.add(prop + ".type", "Must be one of the following values: [box, button, image, video, icon, text, span, separator, filler]")
        return
    if "action" in comp and kind != "button":
        _validate_action(errors, prop + ".action", comp["action"], label_max=None)


def _validate_bubble(errors: _Errors, prop: str, bubble: Any) -> None:
    if not isinstance(bubble, dict) or bubble.get("type") != "bubble":
        errors.add(prop + ".type", "Must be one of the following values: [bubble]")
        return
    for block in ("header", "hero", "body", "footer"):
        if block in bubble:
            _validate_flex_component(errors, f"{prop}.{block}", bubble[block])
    if "action" in bubble:
        _validate_action(errors, prop + ".action", bubble["action"], label_max=None)


def validate_messages(messages: Any, prop: str = "messages") -> list[dict]:
    """LINE's error details for a messages array ([] when it would be accepted)."""
    errors = _Errors()
    if not errors.size(prop, messages, 1, 5):
        return errors.details
    for i, msg in enumerate(messages):
        mprop = f"{prop}[{i}]"
        if not isinstance(msg, dict):
            errors.add(mprop, "must be an object")
            continue
        kind = msg.get("type")
        if kind not in MESSAGE_TYPES:
            errors.add(mprop + ".type", f"Must be one of the following values: {list(MESSAGE_TYPES)}")
            continue
        if kind in ("text", "textV2"):
            errors.length(mprop + ".text", msg.get("text"), 5000)
        elif kind == "sticker":
            errors.length(mprop + ".packageId", msg.get("packageId"), 100)
            errors.length(mprop + ".stickerId", msg.get("stickerId"), 100)
        elif kind in ("image", "video"):
            errors.length(mprop + ".originalContentUrl", msg.get("originalContentUrl"), 2000)
            errors.length(mprop + ".previewImageUrl", msg.get("previewImageUrl"), 2000)
        elif kind == "audio":
            errors.length(mprop + ".originalContentUrl", msg.get("originalContentUrl"), 2000)
        elif kind == "location":
            errors.length(mprop + ".title", msg.get("title"), 100)
            errors.length(mprop + ".address", msg.get("address"), 100)
        elif kind == "imagemap":
            errors.length(mprop + ".altText", msg.get("altText"), 1500)
            errors.length(mprop + ".baseUrl", msg.get("baseUrl"), 2000)
        elif kind == "template":
            errors.length(mprop + ".altText", msg.get("altText"), 400)
            _validate_template(errors, mprop + ".template", msg.get("template"))
        elif kind == "flex":
            errors.length(mprop + ".altText", msg.get("altText"), 1500)
            contents = msg.get("contents")
            if isinstance(contents, dict) and contents.get("type") == "carousel":
                if errors.size(mprop + ".contents.contents", contents.get("contents"), 1, 12):
                    for j, bubble in enumerate(contents["contents"]):
                        _validate_bubble(errors, f"{mprop}.contents.contents[{j}]", bubble)
            else:
                _validate_bubble(errors, mprop + ".contents", contents)
        if "quickReply" in msg:
            qprop = mprop + ".quickReply.items"
            items = (msg.get("quickReply") or {}).get("items")
            if errors.size(qprop, items, 1, 13):
                for j, item in enumerate(items):
                    if not isinstance(item, dict) or item.get("type") != "action":
                        errors.add(f"{qprop}[{j}].type", "Must be one of the following values: [action]")
                        continue
                    _validate_action(errors, f"{qprop}[{j}].action", item.get("action"), label_required=True)
    return errors.details


def _message_is_quotable(msg: dict) -> bool:
    return msg.get("type") in ("text", "textV2", "sticker", "image", "video")


# --------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------


class StandinState:
    """Everything the stand-in remembers, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.calls: list[dict] = []
            self.deliveries: list[dict] = []
            self.reply_tokens: dict[str, dict] = {}
            self.retry_keys: dict[str, dict] = {}
            self.fail_queue: list[int] = []
            self.profiles: dict[str, dict] = {}
            self.content: dict[str, tuple[str, bytes]] = {}
            self.rich_menus: dict[str, dict] = {}
            self.rich_menu_images: dict[str, tuple[str, bytes]] = {}
            self.rich_menu_aliases: dict[str, str] = {}
            self.default_rich_menu: str | None = None
            self.user_rich_menus: dict[str, str] = {}
            self.known_users: dict[str, None] = {}
            self._next_call = 1
            self._next_delivery = 1

    # -- recording ------------------------------------------------------------------------

    def record_call(self, method: str, path: str, body: Any, retry_key: str | None = None) -> dict:
        with self.lock:
            call = {
                "id": self._next_call,
                "time": _now_iso(),
                "method": method,
                "path": path,
                "body": body,
                "retryKey": retry_key,
                "status": None,
            }
            self._next_call += 1
            self.calls.append(call)
            return call

    def deliver(self, to: str, messages: list[dict], *, kind: str, api: str, call_id: int | None) -> list[dict]:
        sent = []
        with self.lock:
            for msg in messages:
                sent_id = new_message_id()
                self.deliveries.append(
                    {
                        "id": self._next_delivery,
                        "kind": kind,
                        "api": api,
                        "to": to,
                        "time": _now_iso(),
                        "callId": call_id,
                        "sentMessageId": sent_id,
                        "message": copy.deepcopy(msg),
                    }
                )
                self._next_delivery += 1
                entry = {"id": sent_id}
                if _message_is_quotable(msg):
                    entry["quoteToken"] = new_quote_token()
                sent.append(entry)
        return sent

    def messages_for(self, users: set[str] | None, after: int) -> tuple[list[dict], int]:
        with self.lock:
            last = self._next_delivery - 1
            out = [d for d in self.deliveries if d["id"] > after and (users is None or d["to"] in users)]
            return copy.deepcopy(out), last

    def take_failure(self) -> int | None:
        with self.lock:
            return self.fail_queue.pop(0) if self.fail_queue else None

    def rich_menu_for(self, user: str | None) -> str | None:
        with self.lock:
            menu_id = (self.user_rich_menus.get(user) if user else None) or self.default_rich_menu
            return menu_id if menu_id in self.rich_menus else None


# --------------------------------------------------------------------------------------------
# The Flask app
# --------------------------------------------------------------------------------------------


def _json(payload: Any, status: int = 200, headers: dict | None = None) -> Response:
    resp = Response(json.dumps(payload, ensure_ascii=False), status=status, mimetype="application/json")
    resp.headers["x-line-request-id"] = str(uuid.uuid4())
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def _error(status: int, message: str, details: list | None = None, **extra: Any) -> Response:
    payload: dict[str, Any] = {"message": message}
    if details:
        payload["details"] = details
    payload.update(extra)
    return _json(payload, status)


def _validation_error(details: list[dict]) -> Response:
    return _error(400, f"The request body has {len(details)} error(s)", details)


_FAIL_MESSAGES = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def create_standin_app(state: StandinState | None = None) -> Flask:
    """The stand-in as a WSGI app.  ``app.extensions["line_standin"]`` is its StandinState."""
    app = Flask("line_standin")
    st = state or StandinState()
    app.extensions["line_standin"] = st

    # -- every Messaging API call: record, authenticate, injected failures ---------------------

    @app.before_request
    def _api_gate():
        if not request.path.startswith("/v2/"):
            return None
        if request.mimetype == "application/json":
            body: Any = request.get_json(silent=True)
            if body is None and request.get_data():
                g.bad_json = True
        elif request.get_data():
            body = {"_contentType": request.mimetype, "_bytes": len(request.get_data())}
        else:
            body = None
        g.call = st.record_call(request.method, request.path, body, request.headers.get("X-Line-Retry-Key"))
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            return _error(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")
        failure = st.take_failure()
        if failure is not None:
            return _error(failure, _FAIL_MESSAGES.get(failure, "Injected failure"))
        if getattr(g, "bad_json", False):
            return _error(400, "The request body could not be parsed as JSON")
        return None

    @app.after_request
    def _note_status(resp: Response) -> Response:
        call = g.get("call")
        if call is not None:
            with st.lock:
                call["status"] = resp.status_code
        return resp

    def body() -> dict:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    # -- sending messages ---------------------------------------------------------------------

    @app.post("/v2/bot/message/reply")
    def reply():
        data = body()
        details = validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        token = data.get("replyToken")
        with st.lock:
            info = st.reply_tokens.get(token) if isinstance(token, str) else None
            if info is None or info["used"]:
                return _error(400, "Invalid reply token")
            info["used"] = True
            sent = st.deliver(info["userId"], data["messages"], kind="reply", api="reply", call_id=g.call["id"])
        return _json({"sentMessages": sent})

    def _retry_key() -> tuple[str | None, Response | None]:
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None, None
        if not _UUID_RE.match(key):
            return None, _error(400, "The value for the 'X-Line-Retry-Key' header is invalid")
        with st.lock:
            seen = st.retry_keys.get(key)
        if seen is not None:
            payload = {"message": "The retry key is already accepted"}
            if seen.get("sentMessages"):
                payload["sentMessages"] = seen["sentMessages"]
            return key, _json(payload, 409, {"x-line-accepted-request-id": seen["requestId"]})
        return key, None

    def _send(api: str, targets: list[str], messages: list[dict], key: str | None) -> Response:
        # Called with st.lock held, so a retry key is checked and stored atomically.
        sent: list[dict] = []
        for to in targets:
            sent = st.deliver(to, messages, kind="push", api=api, call_id=g.call["id"])
        resp = _json({"sentMessages": sent} if api == "push" else {})
        if key is not None:
            st.retry_keys[key] = {"requestId": resp.headers["x-line-request-id"], "sentMessages": sent if api == "push" else None}
        return resp

    @app.post("/v2/bot/message/push")
    def push():
        data = body()
        details = []
        if not isinstance(data.get("to"), str) or not _TARGET_RE.match(data["to"]):
            details.append({"message": "The property, 'to', in the request body is invalid", "property": "to"})
        details += validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("push", [data["to"]], data["messages"], key)

    @app.post("/v2/bot/message/multicast")
    def multicast():
        data = body()
        errors = _Errors()
        to = data.get("to")
        if errors.size("to", to, 1, 500):
            for i, uid in enumerate(to):
                if not isinstance(uid, str) or not _USER_ID_RE.match(uid):
                    errors.add(f"to[{i}]", "invalid user id")
        details = errors.details + validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("multicast", list(dict.fromkeys(to)), data["messages"], key)

    @app.post("/v2/bot/message/broadcast")
    def broadcast():
        data = body()
        details = validate_messages(data.get("messages"))
        if details:
            return _validation_error(details)
        with st.lock:
            key, early = _retry_key()
            if early is not None:
                return early
            return _send("broadcast", [u for u in st.known_users if u.startswith("U")], data["messages"], key)

    @app.post("/v2/bot/message/validate/<kind>")
    def validate(kind: str):
        if kind not in ("reply", "push", "multicast", "narrowcast", "broadcast"):
            return _error(404, "Not found")
        details = validate_messages(body().get("messages"))
        return _validation_error(details) if details else _json({})

    @app.post("/v2/bot/chat/loading/start")
    def loading():
        chat_id = body().get("chatId")
        if not isinstance(chat_id, str) or not _USER_ID_RE.match(chat_id):
            return _validation_error([{"message": "invalid chatId", "property": "chatId"}])
        return _json({}, 202)

    @app.post("/v2/bot/message/markAsRead")
    @app.post("/v2/bot/chat/markAsRead")
    def mark_as_read():
        return _json({})

    # -- users and content --------------------------------------------------------------------

    def _profile(user_id: str) -> dict:
        with st.lock:
            custom = st.profiles.get(user_id, {})
        profile = {"displayName": custom.get("displayName") or DEFAULT_DISPLAY_NAME, "userId": user_id, "language": "zh-TW"}
        if custom.get("pictureUrl"):
            profile["pictureUrl"] = custom["pictureUrl"]
        return profile

    @app.get("/v2/bot/profile/<user_id>")
    def profile(user_id: str):
        if not _USER_ID_RE.match(user_id):
            return _error(404, "Not found")
        return _json(_profile(user_id))

    @app.get("/v2/bot/group/<group_id>/member/<user_id>")
    @app.get("/v2/bot/room/<group_id>/member/<user_id>")
    def member_profile(group_id: str, user_id: str):
        if not _USER_ID_RE.match(user_id):
            return _error(404, "Not found")
        p = _profile(user_id)
        return _json({k: v for k, v in p.items() if k != "language"})

    @app.get("/v2/bot/info")
    def bot_info():
        return _json(
            {
                "userId": BOT_USER_ID,
                "basicId": BOT_BASIC_ID,
                "displayName": BOT_DISPLAY_NAME,
                "chatMode": "bot",
                "markAsReadMode": "auto",
            }
        )

    @app.get("/v2/bot/followers/ids")
    def followers():
        with st.lock:
            users = [u for u in st.known_users if u.startswith("U")]
        return _json({"userIds": users})

    @app.get("/v2/bot/message/<message_id>/content")
    @app.get("/v2/bot/message/<message_id>/content/preview")
    def content(message_id: str):
        with st.lock:
            stored = st.content.get(message_id)
        ctype, data = stored or ("image/png", PLACEHOLDER_PNG)
        return Response(data, mimetype=ctype)

    @app.get("/v2/bot/message/<message_id>/content/transcoding")
    def transcoding(message_id: str):
        return _json({"status": "succeeded"})

    # -- rich menus ---------------------------------------------------------------------------

    def _validate_rich_menu(menu: dict) -> list[dict]:
        errors = _Errors()
        size = menu.get("size")
        if not isinstance(size, dict) or not isinstance(size.get("width"), int) or not isinstance(size.get("height"), int):
            errors.add("size", "must be specified")
        elif not (800 <= size["width"] <= 2500 and size["height"] >= 250 and size["width"] / size["height"] >= 1.45):
            errors.add("size", "invalid rich menu size")
        if not isinstance(menu.get("selected"), bool):
            errors.add("selected", "must be specified")
        errors.length("name", menu.get("name"), 300)
        errors.length("chatBarText", menu.get("chatBarText"), 14)
        if errors.size("areas", menu.get("areas"), 0, 20):
            for i, area in enumerate(menu["areas"]):
                bounds = (area or {}).get("bounds")
                if not isinstance(bounds, dict) or not all(isinstance(bounds.get(k), int) for k in ("x", "y", "width", "height")):
                    errors.add(f"areas[{i}].bounds", "must be specified")
                _validate_action(errors, f"areas[{i}].action", (area or {}).get("action"))
        return errors.details

    @app.post("/v2/bot/richmenu/validate")
    def validate_rich_menu():
        details = _validate_rich_menu(body())
        return _validation_error(details) if details else _json({})

    @app.post("/v2/bot/richmenu")
    def create_rich_menu():
        menu = body()
        details = _validate_rich_menu(menu)
        if details:
            return _validation_error(details)
        menu_id = "richmenu-" + uuid.uuid4().hex
        stored = {"richMenuId": menu_id, **{k: menu[k] for k in ("size", "selected", "name", "chatBarText", "areas")}}
        with st.lock:
            st.rich_menus[menu_id] = stored
        return _json({"richMenuId": menu_id})

    @app.get("/v2/bot/richmenu/list")
    def list_rich_menus():
        with st.lock:
            menus = copy.deepcopy(list(st.rich_menus.values()))
        return _json({"richmenus": menus})

    @app.get("/v2/bot/richmenu/<menu_id>")
    def get_rich_menu(menu_id: str):
        with st.lock:
            menu = copy.deepcopy(st.rich_menus.get(menu_id))
        return _json(menu) if menu else _error(404, "Not found")

    @app.delete("/v2/bot/richmenu/<menu_id>")
    def delete_rich_menu(menu_id: str):
        with st.lock:
            if st.rich_menus.pop(menu_id, None) is None:
                return _error(404, "Not found")
            st.rich_menu_images.pop(menu_id, None)
            if st.default_rich_menu == menu_id:
                st.default_rich_menu = None
            for user in [u for u, m in st.user_rich_menus.items() if m == menu_id]:
                del st.user_rich_menus[user]
            for alias in [a for a, m in st.rich_menu_aliases.items() if m == menu_id]:
                del st.rich_menu_aliases[alias]
        return _json({})

    @app.post("/v2/bot/richmenu/<menu_id>/content")
    def upload_rich_menu_image(menu_id: str):
        if request.mimetype not in ("image/png", "image/jpeg"):
            return _error(415, "Unsupported Media Type")
        data = request.get_data()
        if not data or len(data) > 1024 * 1024:
            return _error(400, "The image size must be 1 MB or less")
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(404, "Not found")
            if menu_id in st.rich_menu_images:
                return _error(400, "An image has already been uploaded to the richmenu")
            st.rich_menu_images[menu_id] = (request.mimetype, data)
        return _json({})

    @app.get("/v2/bot/richmenu/<menu_id>/content")
    def download_rich_menu_image(menu_id: str):
        with st.lock:
            image = st.rich_menu_images.get(menu_id)
        if image is None:
            return _error(404, "Not found")
        return Response(image[1], mimetype=image[0])

    @app.post("/v2/bot/user/all/richmenu/<menu_id>")
    def set_default_rich_menu(menu_id: str):
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if menu_id not in st.rich_menu_images:
                return _error(400, "must upload richmenu image before applying it to user")
            st.default_rich_menu = menu_id
        return _json({})

    @app.get("/v2/bot/user/all/richmenu")
    def get_default_rich_menu():
        with st.lock:
            menu_id = st.default_rich_menu
        return _json({"richMenuId": menu_id}) if menu_id else _error(404, "no default richmenu")

    @app.delete("/v2/bot/user/all/richmenu")
    def cancel_default_rich_menu():
        with st.lock:
            st.default_rich_menu = None
        return _json({})

    @app.post("/v2/bot/user/<user_id>/richmenu/<menu_id>")
    def link_rich_menu(user_id: str, menu_id: str):
        with st.lock:
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if menu_id not in st.rich_menu_images:
                return _error(400, "must upload richmenu image before applying it to user")
            st.user_rich_menus[user_id] = menu_id
        return _json({})

    @app.get("/v2/bot/user/<user_id>/richmenu")
    def get_user_rich_menu(user_id: str):
        with st.lock:
            menu_id = st.user_rich_menus.get(user_id)
        return _json({"richMenuId": menu_id}) if menu_id else _error(404, "the user has no richmenu")

    @app.delete("/v2/bot/user/<user_id>/richmenu")
    def unlink_rich_menu(user_id: str):
        with st.lock:
            st.user_rich_menus.pop(user_id, None)
        return _json({})

    @app.post("/v2/bot/richmenu/bulk/link")
    def bulk_link():
        data = body()
        with st.lock:
            if data.get("richMenuId") not in st.rich_menus:
                return _error(400, "richmenu not found")
            for uid in data.get("userIds") or []:
                st.user_rich_menus[uid] = data["richMenuId"]
        return _json({}, 202)

    @app.post("/v2/bot/richmenu/bulk/unlink")
    def bulk_unlink():
        with st.lock:
            for uid in body().get("userIds") or []:
                st.user_rich_menus.pop(uid, None)
        return _json({}, 202)

    @app.post("/v2/bot/richmenu/alias")
    def create_alias():
        data = body()
        alias, menu_id = data.get("richMenuAliasId"), data.get("richMenuId")
        with st.lock:
            if not isinstance(alias, str) or not re.match(r"^[a-z0-9_-]{1,32}$", alias):
                return _validation_error([{"message": "invalid alias id", "property": "richMenuAliasId"}])
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            if alias in st.rich_menu_aliases:
                return _error(400, "conflict richmenu alias id")
            st.rich_menu_aliases[alias] = menu_id
        return _json({})

    @app.get("/v2/bot/richmenu/alias/list")
    def list_aliases():
        with st.lock:
            aliases = [{"richMenuAliasId": a, "richMenuId": m} for a, m in st.rich_menu_aliases.items()]
        return _json({"aliases": aliases})

    @app.get("/v2/bot/richmenu/alias/<alias>")
    def get_alias(alias: str):
        with st.lock:
            menu_id = st.rich_menu_aliases.get(alias)
        return _json({"richMenuAliasId": alias, "richMenuId": menu_id}) if menu_id else _error(404, "Not found")

    @app.post("/v2/bot/richmenu/alias/<alias>")
    def update_alias(alias: str):
        menu_id = body().get("richMenuId")
        with st.lock:
            if alias not in st.rich_menu_aliases:
                return _error(404, "Not found")
            if menu_id not in st.rich_menus:
                return _error(400, "richmenu not found")
            st.rich_menu_aliases[alias] = menu_id
        return _json({})

    @app.delete("/v2/bot/richmenu/alias/<alias>")
    def delete_alias(alias: str):
        with st.lock:
            if st.rich_menu_aliases.pop(alias, None) is None:
                return _error(404, "Not found")
        return _json({})

    @app.route("/v2/<path:rest>", methods=["GET", "POST", "PUT", "DELETE"])
    def unknown(rest: str):
        return _error(404, "Not found")

    # -- control endpoints --------------------------------------------------------------------

    @app.get("/__standin/")
    def index():
        with st.lock:
            return _json(
                {
                    "standin": "LINE Messaging API",
                    "calls": len(st.calls),
                    "messages": len(st.deliveries),
                    "replyTokens": len(st.reply_tokens),
                    "richMenus": len(st.rich_menus),
                    "pendingFailures": len(st.fail_queue),
                }
            )

    @app.post("/__standin/reply-tokens")
    def register_reply_token():
        data = body()
        token, user = data.get("replyToken"), data.get("userId")
        if not isinstance(token, str) or not token or not isinstance(user, str) or not _TARGET_RE.match(user):
            return _error(400, "replyToken and userId (U/C/R + 32 hex) are required")
        with st.lock:
            # Registering a known token again (a redelivered event) keeps it used if it was.
            entry = st.reply_tokens.setdefault(token, {"used": False, "registered": _now_iso()})
            entry["userId"] = user
            st.known_users[user] = None
        return _json({}, 201)

    @app.post("/__standin/profiles")
    def set_profile():
        data = body()
        user = data.get("userId")
        if not isinstance(user, str) or not _USER_ID_RE.match(user):
            return _error(400, "userId (U + 32 hex) is required")
        with st.lock:
            st.profiles[user] = {k: data[k] for k in ("displayName", "pictureUrl") if isinstance(data.get(k), str)}
            st.known_users[user] = None
        return _json({}, 201)

    @app.post("/__standin/content")
    def put_content():
        data = body()
        try:
            raw = base64.b64decode(data.get("base64") or "", validate=True)
        except ValueError:
            return _error(400, "base64 is not valid")
        if not isinstance(data.get("messageId"), str):
            return _error(400, "messageId is required")
        with st.lock:
            st.content[data["messageId"]] = (str(data.get("contentType") or "application/octet-stream"), raw)
        return _json({}, 201)

    @app.get("/__standin/messages")
    def messages():
        user = request.args.get("user") or None
        users = {u for u in user.split(",") if u} if user else None
        try:
            after = int(request.args.get("after") or 0)
        except ValueError:
            return _error(400, "after must be an integer")
        out, last = st.messages_for(users, after)
        return _json({"messages": out, "lastId": last})

    @app.get("/__standin/calls")
    def calls():
        path = request.args.get("path")
        with st.lock:
            out = copy.deepcopy([c for c in st.calls if not path or c["path"] == path])
        return _json({"calls": out})

    @app.delete("/__standin/calls")
    def reset():
        st.reset()
        return _json({})

    @app.post("/__standin/fail")
    def fail():
        data = body()
        try:
            count = int(data.get("count", 1))
            status = int(data.get("status", 500))
        except (TypeError, ValueError):
            return _error(400, "count and status must be integers")
        if count < 0 or not 400 <= status <= 599:
            return _error(400, "count >= 0 and 400 <= status <= 599")
        with st.lock:
            st.fail_queue = [status] * count
        return _json({"pending": count})

    @app.get("/__standin/richmenu")
    def current_rich_menu():
        user = request.args.get("user") or None
        with st.lock:
            menu_id = st.rich_menu_for(user)
            menu = copy.deepcopy(st.rich_menus.get(menu_id)) if menu_id else None
            if menu is not None:
                menu["hasImage"] = menu_id in st.rich_menu_images
                menu["aliases"] = {a: m for a, m in st.rich_menu_aliases.items()}
        return _json({"richMenu": menu})

    @app.post("/__standin/richmenu/switch")
    def switch_rich_menu():
        """What a richmenuswitch action does on the phone: link the alias's menu to the user."""
        data = body()
        with st.lock:
            menu_id = st.rich_menu_aliases.get(data.get("richMenuAliasId"))
            if not menu_id or not isinstance(data.get("userId"), str):
                return _error(404, "Not found")
            st.user_rich_menus[data["userId"]] = menu_id
        return _json({"richMenuId": menu_id})

    @app.get("/__standin/richmenu/<menu_id>/image")
    def rich_menu_image(menu_id: str):
        with st.lock:
            image = st.rich_menu_images.get(menu_id)
        if image is None:
            return _error(404, "Not found")
        return Response(image[1], mimetype=image[0])

    return app


# --------------------------------------------------------------------------------------------
# Serving
# --------------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class StandinServer:
    """A stand-in served by werkzeug in a daemon thread (quiet: calls are in ``/__standin/calls``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: StandinState | None = None) -> None:
        self.state = state or StandinState()
        self.app = create_standin_app(self.state)
        self._server = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.host = host
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self.client = StandinClient(self.url)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"line-standin:{self.port}", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> StandinServer:
    return StandinServer(host, port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="LINE Messaging API stand-in (for development and tests)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, create_standin_app(), threaded=True)
    print(f"LINE stand-in on http://{args.host}:{server.server_port}  (set LINE_API_ENDPOINT to this)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
