"""Check a LINE webhook event's field types before the conversation reads any of them.

LINE sends well-formed events, but the webhook stores whatever a signed body carried, and one
event whose `postback.data` is a number or whose `source` is a string must fail on its own, with
a reason an operator can read, instead of raising deep inside a flow.
"""
from __future__ import annotations

# field -> the type it must have when present (None is allowed for optional fields)
_TOP = {"type": str, "source": dict, "replyToken": str, "message": dict, "postback": dict,
        "timestamp": (int, float), "mode": str, "webhookEventId": str}
_SOURCE = {"type": str, "userId": str, "groupId": str, "roomId": str}
_MESSAGE = {"type": str, "id": str, "text": str}
_POSTBACK = {"data": str, "params": dict}


class MalformedEvent(ValueError):
    """The event's shape is not LINE's; the message names the first wrong field."""


def _check(obj: dict, spec: dict, prefix: str) -> None:
    for field, kind in spec.items():
        value = obj.get(field)
        if value is not None and not isinstance(value, kind):
            raise MalformedEvent(f"{prefix}{field} is {type(value).__name__}")


def check_event(event: object) -> None:
    """Raise MalformedEvent when a field the conversation reads has the wrong type."""
    if not isinstance(event, dict):
        raise MalformedEvent(f"event is {type(event).__name__}")
    _check(event, _TOP, "")
    if not isinstance(event.get("type"), str):
        raise MalformedEvent("type is missing")
    for field, spec in (("source", _SOURCE), ("message", _MESSAGE), ("postback", _POSTBACK)):
        if isinstance(event.get(field), dict):
            _check(event[field], spec, f"{field}.")
    if isinstance(event.get("postback"), dict) and isinstance(event["postback"].get("params"), dict):
        for key, value in event["postback"]["params"].items():
            if not isinstance(value, str):
                raise MalformedEvent(f"postback.params.{key} is {type(value).__name__}")


def user_id_of(event: dict) -> str:
    """The sender's LINE user id, or "" when the event has none (a group without consent, LINE's checks)."""
    source = event.get("source")
    return source.get("userId") or "" if isinstance(source, dict) else ""
