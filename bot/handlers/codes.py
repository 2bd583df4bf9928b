"""The answer to a typed code: what the official sees after six digits (R3.2 registration, R9.3.4 seconding)."""
from __future__ import annotations

from .. import messages as m
from .. import texts
from ..conversation import clear_state
from .menu import menu_quick


def after_code(official, state, outcome) -> list[dict]:
    """The answer to a typed code: on success, the main menu (the official may now use it)."""
    if not outcome.confirmed:  # never a dead end: a way to a new code, or back to the menu
        if state.flow == "registration":
            quick = [m.quick_postback(texts.REG_RESEND, "reg.resend"),
                     m.quick_postback(texts.REG_CHANGE_EMAIL, "reg.edit", f="email")]
        else:
            quick = [m.quick_postback("附議列表", "sec.browse"), m.quick_postback("選單", "menu")]
        return [m.text(outcome.message, quick=quick)]
    if state.flow == "registration":
        clear_state(state)
    official = type(official).get_by_id(official.id)
    quick = menu_quick(official)
    if outcome.code is not None and outcome.code.purpose == "second":  # the natural next step
        quick = [m.quick_postback("回到附議列表", "sec.browse")] + [q for q in quick if q["action"].get("data") != "a=sec.browse"]
    return [m.text(outcome.message, quick=quick)]
