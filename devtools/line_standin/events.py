"""Webhook events as LINE sends them: LINE-shaped identifiers, event objects, bodies and their signature.

Shared by the test helper (tests/fixtures_line.py) and the simulator (webapp/dev_line.py); the
stand-in itself hands out the same kinds of ids.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

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
