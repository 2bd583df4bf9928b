"""Welcome, the main menu and help."""
from __future__ import annotations

from models import settings
from models.officials import STATUS_BLOCKED, Official, blocked_message
from models.registration import REQUIRED_FIELDS, missing_fields

from .. import messages as m
from .. import texts
from ..conversation import clear_state
from ..registry import ACTIONS, action

MENU_ITEMS = [
    ("提出提案", "prop.start"),
    ("附議提案", "sec.browse"),
    ("我的提案", "prop.mine"),
    ("我的附議", "sec.mine"),
    ("政策諮詢", "con.browse"),
    ("我的資料", "profile.show"),
]


def menu_quick(official: Official) -> list[dict]:
    if official.status == STATUS_BLOCKED:
        return [m.quick_postback(texts.HELP_LABEL, "menu.help")]
    if not official.is_verified:
        return [m.quick_postback(texts.START_REGISTRATION, "reg.start")]
    return [m.quick_postback(label, name) for label, name in MENU_ITEMS if name in ACTIONS]


@action("menu.welcome")
def welcome(ctx, official: Official, state, params):
    if official.is_verified:
        return [m.text(texts.WELCOME_BACK, quick=menu_quick(official))]
    return [m.text(texts.WELCOME, quick=[m.quick_postback(texts.START_REGISTRATION, "reg.start")])]


@action("menu.help", "說明", "help", "幫助", "怎麼用")
def help_text(ctx, official: Official, state, params):
    """What the platform is for, in a few lines, then the menu."""
    return [m.text(texts.HELP.format(**settings.periods()), quick=menu_quick(official))]


@action("menu", "選單", "menu", "功能")
@action("menu.show")
def show(ctx, official: Official, state, params):
    if state.flow and state.flow != "registration":
        clear_state(state)
    if official.status == STATUS_BLOCKED:
        return [m.text(blocked_message(), quick=menu_quick(official))]
    if not official.is_verified:
        done = len(REQUIRED_FIELDS) - len(missing_fields(official))
        if done:  # part-way through: carry on, do not start over
            return [m.text(texts.REGISTRATION_IN_PROGRESS.format(done=done, total=len(REQUIRED_FIELDS)),
                           quick=[m.quick_postback(texts.CONTINUE_REGISTRATION, "reg.start")])]
        return [m.text(texts.NEED_REGISTRATION + "\n" + texts.WELCOME, quick=menu_quick(official))]
    prefix = texts.UNKNOWN_INPUT + "\n" if params.get("hint") else ""
    return [m.text(prefix + texts.MENU_TITLE, quick=menu_quick(official))]
