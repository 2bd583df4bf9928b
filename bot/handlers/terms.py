"""The terms of use and privacy notice in the chat (R4): shown at registration and, for officials who
registered before, at their next proposal, second or opinion; accepted once, then the official continues.

The gate keeps what the official was doing: the accept button carries the postback (or the keyword's
action) that met the gate, and runs it once the acceptance is recorded.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from models import settings
from models.base import DomainError
from models.officials import Official
from models.outbox import unit_of_work
from models.terms import accept_terms, chat_summary, has_accepted

from .. import messages as m
from ..registry import ACTIONS, KEYWORDS, REPROMPTS, action

ACCEPT = "同意並繼續"
TEXT = {
    "accepted": "已記錄您同意使用條款（{version} 版），謝謝。",
    "already": "您已同意目前的使用條款（{version} 版）。",
    "declined": "未同意使用條款前，無法註冊、提案、附議或提供意見。您隨時可以輸入「使用條款」再次閱讀。",
}
MAX_POSTBACK = 300


def _continuation(event: dict) -> str | None:
    """The postback data to run after acceptance: the event's own postback, or a keyword's action."""
    if event.get("type") == "postback":
        return (event.get("postback") or {}).get("data") or None
    text = ((event.get("message") or {}).get("text") or "").strip()
    name = KEYWORDS.get(text)
    return m.postback_data(name) if name else None


def gate(ctx, event: dict | None = None, *, next_data: str | None = None) -> list[dict]:
    """The terms, with an accept button that continues with `next_data` (or what `event` asked for)."""
    if next_data is None and event is not None:
        next_data = _continuation(event)
    accept = m.postback_data("terms.accept", v=settings.TERMS_VERSION, next=next_data)
    if len(accept) > MAX_POSTBACK or "terms.accept" in (next_data or ""):
        accept = m.postback_data("terms.accept", v=settings.TERMS_VERSION)
    quick = [{"type": "action", "action": {"type": "postback", "label": ACCEPT, "data": accept, "displayText": ACCEPT}},
             m.quick_uri("完整條款", f"{ctx.base_url.rstrip('/')}/terms"),
             m.quick_postback("不同意", "terms.decline")]
    return [m.text(chat_summary(ctx.base_url), quick=quick)]


@action("terms.show", "使用條款", "個資告知", "隱私權")
def show(ctx, official: Official, state, params):
    """The terms again, whenever asked; an official who accepted them is told so."""
    if has_accepted(official):
        return [m.text(TEXT["already"].format(version=official.terms_version)),
                m.text(chat_summary(ctx.base_url), quick=[m.quick_postback("選單", "menu")])]
    return gate(ctx, next_data="")


@action("terms.decline")
def decline(ctx, official: Official, state, params):
    return [m.text(TEXT["declined"], quick=[m.quick_postback("使用條款", "terms.show"), m.quick_postback("選單", "menu")])]


@action("terms.accept")
def accept(ctx, official: Official, state, params):
    """Record the acceptance with the version shown, then continue with what the official was doing."""
    accept_terms(official, params.get("v", ""), ctx.now)
    replies = [m.text(TEXT["accepted"].format(version=settings.TERMS_VERSION))]
    wanted = dict(parse_qsl(params.get("next") or "", keep_blank_values=True))
    follow = ACTIONS.get(wanted.get("a", ""))
    if follow is None or follow is accept:
        again = REPROMPTS.get(state.flow or "")
        follow_up = again(ctx, official, state) if again else ACTIONS["menu.show"](ctx, official, state, {})
        return (replies + follow_up)[:5]
    try:
        with unit_of_work():  # a refusal of the next step keeps the acceptance
            replies += follow(ctx, official, state, wanted)
    except DomainError as error:
        replies.append(m.text(error.message, quick=[m.quick_postback("選單", "menu")]))
    return replies[:5]
