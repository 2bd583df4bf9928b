"""What the stand-in remembers: calls, deliveries, reply tokens, profiles, rich menus, injected failures."""
from __future__ import annotations

import copy
import threading
from typing import Any

from .events import _now_iso, new_message_id, new_quote_token


def _message_is_quotable(msg: dict) -> bool:
    return msg.get("type") in ("text", "textV2", "sticker", "image", "video")


DEFAULT_QUOTA: int | None = None  # unlimited unless a test or a demo sets one (POST /__standin/quota)

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
            # The channel's monthly quota of push messages (None: no limit, LINE's type "none"),
            # and the pushes counted against it (one per recipient of a push, multicast or broadcast).
            self.quota: int | None = DEFAULT_QUOTA
            self.quota_used = 0
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
