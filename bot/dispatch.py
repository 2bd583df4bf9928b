"""Route one LINE webhook event to the flow that handles it; return the reply messages.

The flows are the modules of `bot.handlers` (imported here, so every action is registered).
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl

from models import ratelimit
from models.base import DomainError, db, is_postgres
from models.codes import confirm_typed_code
from models.officials import official_for_line_user, set_following
from models.outbox import unit_of_work
from models.verification import pending_codes

from . import handlers, texts  # noqa: F401 - handlers: every flow registers its actions
from . import messages as m
from .context import BotContext
from .conversation import clear_state, load_state
from .handlers import terms
from .handlers.codes import after_code
from .registry import ACTIONS, KEYWORDS, REPROMPTS, TEXT_STEPS

CODE_PATTERN = re.compile(r"^\d{6}$")
MAX_POSTBACK = 300


def normalise(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").strip()


def handle_event(event: dict, ctx: BotContext) -> list[dict]:
    """Everything a single event changes happens in one transaction; a DomainError rolls it back."""
    etype = event.get("type")
    source = event.get("source") or {}
    if source.get("type") != "user":
        return [m.text(texts.ONLY_ONE_TO_ONE)] if etype in ("message", "postback", "join") else []
    if etype == "unfollow":
        with unit_of_work():
            official = official_for_line_user(ctx.user_id, create=False)
            if official:
                set_following(official, False)
        return []
    try:
        with unit_of_work():
            return _route(event, etype, ctx)
    except DomainError as error:
        if error.code == "terms_needed":  # R4: the terms first, then on with what was asked
            return terms.gate(ctx, event)
        if error.code == "not_verified":  # e.g. a main-menu tile on an old menu: the way to register
            return [m.text(error.message, quick=[m.quick_postback(texts.START_REGISTRATION, "reg.start")])]
        return [m.text(error.message, quick=[m.quick_postback("選單", "menu")])]


def _route(event: dict, etype: str, ctx: BotContext) -> list[dict]:
    if is_postgres():  # one user's events are handled one at a time, across workers
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (ctx.user_id,))
    official = official_for_line_user(ctx.user_id)
    state = load_state(ctx.user_id)
    if etype == "follow":
        set_following(official, True)
        return ACTIONS["menu.welcome"](ctx, official, state, {})
    if etype == "postback":
        data = (event.get("postback") or {}).get("data", "")[:MAX_POSTBACK]
        params = dict(parse_qsl(data, keep_blank_values=True))
        fn = ACTIONS.get(params.get("a", ""))
        if fn is None:
            return [m.text(texts.UNKNOWN_INPUT, quick=[m.quick_postback("選單", "menu")])]
        return fn(ctx, official, state, params)
    if etype != "message":
        return []
    message = event.get("message") or {}
    if message.get("type") != "text":
        answer = texts.STICKER_REPLY if message.get("type") == "sticker" else texts.UNSUPPORTED_MESSAGE
        again = REPROMPTS.get(state.flow or "")
        if again is not None:  # in the middle of a flow: the question again, with its buttons
            return [m.text(answer)] + again(ctx, official, state)[:4]
        return [m.text(answer, quick=[m.quick_postback("選單", "menu")])]
    raw = message.get("text") or ""
    word = normalise(raw)
    if word in ("取消", "cancel"):
        clear_state(state)
        return [m.text(texts.CANCELLED, quick=[m.quick_postback("選單", "menu")])]
    if word in KEYWORDS:
        return ACTIONS[KEYWORDS[word]](ctx, official, state, {})
    if CODE_PATTERN.match(word) and pending_codes(official, ctx.now):
        ratelimit.check_code_attempt(official.id)
        outcome = confirm_typed_code(official, word, ctx.now)
        if not outcome.confirmed:
            ratelimit.count_wrong_code(official.id)
        return after_code(official, state, outcome)
    step_handler = TEXT_STEPS.get(state.flow or "")
    if step_handler is not None:
        return step_handler(ctx, official, state, raw)
    if CODE_PATTERN.match(word):
        confirm_typed_code(official, word, ctx.now)  # raises the "no code pending" / "expired" answer
    return ACTIONS["menu.show"](ctx, official, state, {"hint": "1"})
