"""One module per flow. Each registers its postback actions and its free-text step handler here."""
from __future__ import annotations

from collections.abc import Callable

# postback action name -> handler(ctx, official, state, params) -> list of messages
ACTIONS: dict[str, Callable] = {}
# flow name -> handler(ctx, official, state, text) -> list of messages
TEXT_STEPS: dict[str, Callable] = {}
# chat keywords (exact, after normalising) -> postback action name
KEYWORDS: dict[str, str] = {}
# flow name -> reprompt(ctx, official, state) -> the current question again (after a sticker, say)
REPROMPTS: dict[str, Callable] = {}


def action(name: str, *keywords: str):
    def register(fn: Callable) -> Callable:
        ACTIONS[name] = fn
        for word in keywords:
            KEYWORDS[word] = name
        return fn
    return register


def text_step(flow: str):
    def register(fn: Callable) -> Callable:
        TEXT_STEPS[flow] = fn
        return fn
    return register


def reprompt(flow: str):
    def register(fn: Callable) -> Callable:
        REPROMPTS[flow] = fn
        return fn
    return register


def load_all() -> None:
    """Import every flow module so it registers itself."""
    from . import menu, registration  # noqa: F401
    for optional in ("proposing", "my_proposals", "seconding", "my_seconds", "consulting", "recognition"):
        try:
            __import__(f"bot.handlers.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bot.handlers.{optional}":
                raise
