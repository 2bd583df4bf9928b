"""Builders for LINE message objects as plain dicts (JSON-serialisable, so the outbox can hold them)."""
from __future__ import annotations

import unicodedata
from urllib.parse import urlencode

from models.base import MAX_ID

MAX_TEXT = 5000
MAX_QUICK = 13


def postback_data(action: str, **params) -> str:
    return urlencode({"a": action, **{k: v for k, v in params.items() if v is not None}})


def quick_postback(label: str, action: str, display: str | None = None, **params) -> dict:
    return {"type": "action", "action": {"type": "postback", "label": label[:20], "data": postback_data(action, **params),
                                          "displayText": (display or label)[:300]}}


def quick_message(label: str, text: str | None = None) -> dict:
    return {"type": "action", "action": {"type": "message", "label": label[:20], "text": (text or label)[:300]}}


def quick_uri(label: str, uri: str) -> dict:
    return {"type": "action", "action": {"type": "uri", "label": label[:20], "uri": uri}}


def text(body: str, quick: list[dict] | None = None) -> dict:
    if len(body) > MAX_TEXT:
        body = body[: MAX_TEXT - 1] + "…"
    message: dict = {"type": "text", "text": body}
    if quick:
        message["quickReply"] = {"items": quick[:MAX_QUICK]}
    return message


def postback_action(label: str, action: str, display: str | None = None, **params) -> dict:
    return {"type": "postback", "label": label[:20], "data": postback_data(action, **params),
            "displayText": (display or label)[:300]}


def uri_action(label: str, uri: str) -> dict:
    return {"type": "uri", "label": label[:20], "uri": uri}


def flex(alt_text: str, contents: dict, quick: list[dict] | None = None) -> dict:
    message: dict = {"type": "flex", "altText": alt_text[:400], "contents": contents}
    if quick:
        message["quickReply"] = {"items": quick[:MAX_QUICK]}
    return message


def flex_text(value: str, **style) -> dict:
    return {"type": "text", "text": value if value else " ", "wrap": True, **style}


def button(action: dict, style: str = "primary", **extra) -> dict:
    return {"type": "button", "action": action, "style": style, "height": "sm", **extra}


def bubble(title: str, lines: list[dict], buttons: list[dict] | None = None, header_color: str = "#06C755") -> dict:
    result: dict = {
        "type": "bubble",
        "header": {"type": "box", "layout": "vertical", "backgroundColor": header_color, "paddingAll": "12px",
                   "contents": [flex_text(title, weight="bold", color="#FFFFFF", size="md")]},
        "body": {"type": "box", "layout": "vertical", "spacing": "sm", "contents": lines or [flex_text(" ")]},
    }
    if buttons:
        result["footer"] = {"type": "box", "layout": "vertical", "spacing": "sm", "contents": buttons}
    return result


def progress_bar(count: int, target: int) -> dict:
    ratio = max(0, min(100, int(count * 100 / target))) if target else 0
    return {"type": "box", "layout": "vertical", "margin": "sm", "height": "8px", "backgroundColor": "#E0E0E0",
            "cornerRadius": "4px", "contents": [
                {"type": "box", "layout": "vertical", "width": f"{max(ratio, 1)}%", "height": "8px",
                 "backgroundColor": "#06C755", "cornerRadius": "4px", "contents": [{"type": "filler"}]}]}


def carousel(bubbles: list[dict]) -> dict:
    return {"type": "carousel", "contents": bubbles[:12]}


def clip(value: str, limit: int) -> tuple[str, bool]:
    """At most `limit` characters (and whether it was cut), never splitting a character from its
    combining marks or variation selector."""
    value = value or ""
    if len(value) <= limit:
        return value, False
    cut = max(1, limit - 1)
    while cut > 0 and (unicodedata.combining(value[cut]) or unicodedata.category(value[cut]) in ("Mn", "Me")
                       or 0xFE00 <= ord(value[cut]) <= 0xFE0F):
        cut -= 1
    return value[:cut].rstrip() + "…", True


def parse_int(value, default: int = 0) -> int:
    """A non-negative integer from postback data; a negative one is 0. Anything else, and a number past
    the largest id a row can have (`a=sec.ask&p=2147483648` would be a database error, not "no such
    proposal"), is `default`."""
    try:
        number = max(0, int(value))
    except (TypeError, ValueError):
        return default
    return number if number <= MAX_ID else default
