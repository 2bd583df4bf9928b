"""Route one LINE webhook event to the flow that handles it; return the reply messages.

The flows are the modules of `bot.handlers` (imported here, so every action is registered).
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import parse_qsl

from models import ratelimit, seconds
from models.base import DomainError, db, is_postgres
from models.codes import confirm_typed_code
from models.officials import official_for_line_user, set_following
from models.outbox import unit_of_work
from models.texts import without_clauses
from models.verification import latest_code, locked_pending_codes

from . import handlers, texts  # noqa: F401 - handlers: every flow registers its actions
from . import messages as m
from .context import BotContext
from .conversation import clear_state, load_official_and_state
from .handlers import terms
from .handlers.codes import after_code, code_quick, format_error, reminder
from .registry import ACTIONS, KEYWORDS, REPROMPTS, TEXT_STEPS

CODE_PATTERN = re.compile(r"^\d{6}$")
# what someone may type for a code: digits, perhaps grouped ("123 456", "123-456")
CODE_LIKE = re.compile(r"^\d[\d\s-]{2,14}\d$")
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
            return [m.text(without_clauses(error.message), quick=[m.quick_postback(texts.START_REGISTRATION, "reg.start")])]
        return [m.text(without_clauses(error.message), quick=[m.quick_postback("選單", "menu")])]


def _route(event: dict, etype: str, ctx: BotContext) -> list[dict]:
    if is_postgres():  # one user's events are handled one at a time, across workers
        db.execute_sql("SELECT pg_advisory_xact_lock(hashtext(%s))", (ctx.user_id,))
    official, state = load_official_and_state(ctx.user_id)
    if etype == "follow":
        set_following(official, True)
        return ACTIONS["menu.welcome"](ctx, official, state, {})
    if etype == "postback":
        data = (event.get("postback") or {}).get("data", "")[:MAX_POSTBACK]
        params = dict(parse_qsl(data, keep_blank_values=True))
        fn = ACTIONS.get(params.get("a", ""))
        if fn is None:
            return [m.text(texts.UNKNOWN_INPUT, quick=[m.quick_postback("選單", "menu")])]
        return _run(ctx, official, state, params["a"], params)
    if etype != "message":
        return []
    message = event.get("message") or {}
    if message.get("type") != "text":
        answer = texts.STICKER_REPLY if message.get("type") == "sticker" else texts.UNSUPPORTED_MESSAGE
        again = REPROMPTS.get(state.flow or "")
        if again is not None:  # in the middle of a flow: the question again, with its buttons
            return [m.text(answer)] + again(ctx, official, state)[:4]
        return reminder(ctx, official, answer) or [m.text(answer, quick=[m.quick_postback("選單", "menu")])]
    raw = message.get("text") or ""
    word = normalise(raw)
    if word in ("取消", "cancel"):
        said = texts.CANCELLED.get(state.flow, texts.CANCELLED[None])
        if state.flow == "registration":
            quick = [m.quick_postback(texts.CONTINUE_REGISTRATION, "reg.start")]
        else:
            quick = [m.quick_postback("選單", "menu")]
        clear_state(state)
        return [m.text(said + texts.CANCELLED_TAIL, quick=quick)]
    if word in KEYWORDS:
        return _run(ctx, official, state, KEYWORDS[word], {})
    # Free: no flow is waiting for this text (a flow's own answers, a phone number say, stay its own).
    free = state.flow not in TEXT_STEPS or (state.flow, state.step) == ("registration", "code")
    digits = re.sub(r"[\s-]", "", word) if CODE_LIKE.match(word) else None
    # The pending codes read once, locked: whether one is live, and (six digits) which one was typed.
    codes = locked_pending_codes(official) if digits and (CODE_PATTERN.match(word) or free) else []
    if any(row.expires_at > ctx.now for row in codes):
        if not CODE_PATTERN.match(digits):  # five digits, say: a slip, not one of the five tries
            return format_error(ctx, official, digits)
        return _typed_code(ctx, official, state, digits, codes)
    echo = echoed_tap(word, free)
    if echo is not None:  # the text LINE shows for a tap, typed by hand
        return ACTIONS[echo[0]](ctx, official, state, echo[1])
    step_handler = TEXT_STEPS.get(state.flow or "")
    if step_handler is not None:
        return step_handler(ctx, official, state, raw)
    if CODE_PATTERN.match(word):
        confirm_typed_code(official, word, ctx.now)  # raises the "no code pending" / "expired" answer
    return reminder(ctx, official, texts.UNCLEAR_WHILE_CODE) or ACTIONS["menu.show"](ctx, official, state, {"hint": "1"})


# The menu's ways elsewhere, and the flow each belongs to (None: none that waits for text).
ELSEWHERE = {"prop.start": "proposing", "prop.mine": None, "sec.browse": "seconding", "sec.mine": None,
             "con.browse": "consulting", "profile.show": "profile"}


def _pause_for_elsewhere(state, action: str) -> str | None:
    """An official in the middle of a flow that waits for text (a proposal's title, say) who taps a menu
    entry of something else: that flow is paused, as 「取消」 pauses it, so that what they type next
    belongs to what they now see (a word typed in the seconding list became the draft's title). The
    draft and the registration data stay; the pause is said (returned) where the flow keeps anything."""
    if action not in ELSEWHERE or state.flow not in TEXT_STEPS or state.flow in (ELSEWHERE[action], "registration"):
        return None
    flow = state.flow
    clear_state(state)
    return texts.CANCELLED[flow] if flow == "proposing" else None


def _run(ctx: BotContext, official, state, name: str, params: dict) -> list[dict]:
    """A tap or a keyword: its action, after pausing a flow it leads away from (said first, if it is)."""
    paused = _pause_for_elsewhere(state, name)
    replies = ACTIONS[name](ctx, official, state, params)
    return [m.text(paused)] + replies if paused and len(replies) < 5 else replies


def _typed_code(ctx: BotContext, official, state, digits: str, codes: list) -> list[dict]:
    ratelimit.check_code_attempt(official.id)
    try:
        outcome = confirm_typed_code(official, digits, ctx.now, codes)
    except DomainError as error:  # expired: told so, with the button that sends a new code
        return [m.text(error.message, quick=code_quick(latest_code(official, ctx.now)))]
    if outcome.counted:
        ratelimit.count_wrong_code(official.id)
    return after_code(official, state, outcome)


# The display text of a tap ("附議第 3 號") typed by hand: the same action.
ECHOES = [  # (what is typed, after NFKC: （） become ()), the action, its id parameter, other parameters
    (re.compile(r"^附議\s*第\s*(\d{1,9})\s*號$"), "sec.ask", "p", {}),
    (re.compile(r"^查看\s*第\s*(\d{1,9})\s*號$"), "sec.view", "p", {}),
    (re.compile(r"^查看\s*諮詢\s*第\s*(\d{1,9})\s*號$"), "con.view", "c", {}),
    (re.compile(r"^通知我結果\s*\(\s*第\s*(\d{1,9})\s*號\s*\)$"), "sec.notify", "p", {"on": "1"}),
    (re.compile(r"^關閉結果通知\s*\(\s*第\s*(\d{1,9})\s*號\s*\)$"), "sec.notify", "p", {"on": "0"}),
    (re.compile(r"^附議\s*第\s*(\d{1,9})\s*號\s*並通知我結果$"), "sec.confirm", "p", {"notify": "1"}),
    (re.compile(r"^先不要\s*\(\s*第\s*(\d{1,9})\s*號\s*\)$"), "sec.view", "p", {}),
    # "下一頁" cards echo the page they open (1-based, as the card says it); the action counts from 0
    (re.compile(r"^附議列表\s*第\s*(\d{1,4})\s*頁$"), "sec.browse", "page", {}),
    (re.compile(r"^我的附議\s*第\s*(\d{1,4})\s*頁$"), "sec.mine", "page", {}),
    (re.compile(r"^政策諮詢\s*第\s*(\d{1,4})\s*頁$"), "con.browse", "page", {}),
]
PLAIN_ECHOES = {"查看全文": ("sec.browse", {}), "回到附議列表": ("sec.browse", {}), "附議列表": ("sec.browse", {}),
                "搜尋提案": ("sec.search", {}), "改為附議這個提案": ("sec.browse", {}), "清除搜尋": ("sec.browse", {}),
                **{f"依{label}排序": ("sec.browse", {"order": key}) for key, label in seconds.ORDERS.items()}}


def echoed_tap(word: str, free: bool) -> tuple[str, dict] | None:
    """(action, params) for a typed echo of a tap, or None; a plain label only where no flow waits for text."""
    for pattern, name, key, extra in ECHOES:
        found = pattern.match(word)
        if found and name in ACTIONS:
            value = found.group(1) if key != "page" else str(max(0, int(found.group(1)) - 1))
            return name, {key: value, **extra}
    found = PLAIN_ECHOES.get(word) if free else None
    return found if found and found[0] in ACTIONS else None
