"""The conversation's registry: each flow module (bot/handlers/) registers its postback actions,
free-text steps and keywords here when `bot.handlers` imports it."""
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


# flow name -> handler(ctx, official, state, field) after a registration field was saved in that flow
FIELD_SAVED: dict[str, Callable] = {}


def field_saved(flow: str):
    def register(fn: Callable) -> Callable:
        FIELD_SAVED[flow] = fn
        return fn
    return register
