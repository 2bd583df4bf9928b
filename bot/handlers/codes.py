"""Emailed codes in the chat, whatever their purpose (R3.2 registration, R9.3.4 seconding):
the answer to a typed code, the reminder of a pending one, and its resend button."""
from __future__ import annotations

from collections.abc import Callable

from models import texts as model_texts
from models.codes import pending_reminder
from models.seconds import second_request_notify
from models.verification import PURPOSE_REGISTER, PURPOSE_SECOND, VerificationCode, latest_code

from .. import messages as m
from .. import texts
from ..conversation import clear_state
from ..registry import ACTIONS, action
from .menu import menu_quick

# purpose -> the quick reply that sends that code again (one tap, also during the cooldown)
RESEND: dict[str, Callable[[VerificationCode], dict]] = {
    PURPOSE_REGISTER: lambda row: m.quick_postback(texts.RESEND_CODE, "reg.resend"),
    PURPOSE_SECOND: lambda row: m.quick_postback(texts.RESEND_CODE, "sec.confirm", texts.RESEND_CODE,
                                                 p=row.subject_id, notify=int(second_request_notify(row))),
}
# purpose -> the other ways on after a refused code
WAYS_ON: dict[str, list[dict]] = {
    PURPOSE_REGISTER: [m.quick_postback(texts.REG_CHANGE_EMAIL, "reg.edit", f="email")],
    PURPOSE_SECOND: [m.quick_postback(texts.SECONDING_LIST, "sec.browse"), m.quick_postback("選單", "menu")],
}


def code_quick(row: VerificationCode | None) -> list[dict]:
    """The resend button of this code first, then the way back."""
    if row is None:
        return [m.quick_postback("選單", "menu")]
    return [RESEND[row.purpose](row)] + WAYS_ON[row.purpose]


def reminder(ctx, official, prefix: str = "") -> list[dict] | None:
    """While a code is pending: what it is for and how to finish, with its resend button (else None)."""
    found = pending_reminder(official, ctx.now)
    if found is None:
        return None
    row, body = found
    return [m.text((prefix + "\n" if prefix else "") + body, quick=code_quick(row))]


def format_error(ctx, official, digits: str) -> list[dict]:
    """Digits that are not six: a typing slip, not a wrong try."""
    return reminder(ctx, official, model_texts.CODE_FORMAT.format(digits=len(digits))) or []


def after_code(official, state, outcome) -> list[dict]:
    """The answer to a typed code: on success, the main menu (the official may now use it)."""
    if not outcome.confirmed:  # never a dead end: a way to a new code, or back to the menu
        row = outcome.code if outcome.code is not None else latest_code(official)
        return [m.text(outcome.message, quick=code_quick(row))]
    if state.flow == "registration":
        clear_state(state)
    seconded = outcome.code is not None and outcome.code.purpose == PURPOSE_SECOND
    if not seconded:  # a registration code changed the official (verified): the menu is theirs now
        official = type(official).get_by_id(official.id)
    quick = menu_quick(official)
    if seconded:  # the natural next step
        quick = [m.quick_postback("回到附議列表", "sec.browse")] + [q for q in quick if q["action"].get("data") != "a=sec.browse"]
    return [m.text(outcome.message, quick=quick)]


@action("code.resend", texts.RESEND_CODE)
def resend(ctx, official, state, params):
    """「重新寄送認證碼」typed (the echo of the button): the newest code of any purpose, again."""
    row = latest_code(official, ctx.now)
    if row is None or row.purpose == PURPOSE_REGISTER:
        return ACTIONS["reg.resend"](ctx, official, state, {})
    return ACTIONS["sec.confirm"](ctx, official, state, {"p": str(row.subject_id),
                                                        "notify": str(int(second_request_notify(row)))})
