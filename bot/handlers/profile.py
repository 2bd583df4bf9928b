"""我的資料: the official's own profile (R3, R4: only the official sees their data)."""
from __future__ import annotations

import secrets

from models import settings
from models.account_closing import close_account
from models.base import DomainError, format_taipei
from models.officials import Official, require_verified
from models.registration import request_email_verification
from models.texts import without_clauses

from .. import messages as m
from .. import texts
from ..conversation import clear_state, set_state
from ..registry import action, field_saved, text_step
from .menu import show
from .registration import answer_field, ask, profile_values

PROFILE_EDITABLE = ("nickname", "display_choice", "phone", "email", "address", "agency_code", "unit")


@action("profile.show", "我的資料")
def profile(ctx, official: Official, state, params):
    require_verified(official)
    values = profile_values(official)
    values["email"] = official.verified_email
    lines = texts.PROFILE_SUMMARY.format(**values)
    if official.email and official.email != official.verified_email:
        lines += "\n" + texts.PROFILE_EMAIL_PENDING.format(email=official.verified_email)
    quick = [m.quick_postback(f"修改{texts.FIELD_LABELS[f]}", "profile.edit", f=f) for f in PROFILE_EDITABLE]
    quick += [m.quick_postback("使用條款", "terms.show"), m.quick_postback("關閉帳號", "profile.close")]
    return [m.text(lines, quick=quick + [m.quick_postback("選單", "menu")])]


@action("profile.close")
def profile_close(ctx, official: Official, state, params):
    """R4: closing the account is asked once more, saying what is erased and what stays."""
    require_verified(official)
    token = secrets.token_hex(4)
    set_state(state, "profile", "close", t=token)
    return [m.text(texts.PROFILE_CLOSE_ASK.format(name=official.display_name), quick=[
        m.quick_postback(texts.PROFILE_CLOSE_CONFIRM, "profile.close_confirm", t=token),
        m.quick_postback("取消", "profile.show", "不要關閉")])]


@action("profile.close_confirm")
def profile_close_confirm(ctx, official: Official, state, params):
    require_verified(official)
    if state.flow != "profile" or state.step != "close" or not params.get("t") or params["t"] != state.values.get("t"):
        return [m.text(texts.PROFILE_CLOSE_STALE, quick=[m.quick_postback("我的資料", "profile.show")])]
    shown = close_account(official, ctx.now)
    state.delete_instance()  # the conversation held the LINE user id too
    return [m.text(texts.PROFILE_CLOSED.format(name=shown),
                   quick=[m.quick_postback(texts.START_REGISTRATION, "reg.start")])]


@action("profile.edit")
def profile_edit(ctx, official: Official, state, params):
    require_verified(official)
    field = params.get("f")
    if field not in PROFILE_EDITABLE:
        return profile(ctx, official, state, params)
    set_state(state, "profile", field)
    messages = ask(field, official, state)
    if field in ("nickname", "display_choice"):  # R3.0: the shown name changes on past posts too
        messages.insert(0, m.text(texts.PROFILE_NAME_CHANGE_NOTE))
    return messages


@field_saved("profile")
def after_profile_edit(ctx, official: Official, state, field: str):
    if field == "email":
        row = request_email_verification(official, ctx.reply_domain, ctx.now)
        clear_state(state)
        return [m.text(texts.REG_CODE_SENT.format(email=row.email, minutes=settings.code_minutes(),
                                                  expires=format_taipei(row.expires_at, "%H:%M"))
                       + "\n" + texts.PROFILE_EMAIL_PENDING.format(email=official.verified_email))]
    if field == "agency_code":  # a new agency: the unit within it next (the one typed in the search offered)
        set_state(state, "profile", "unit")
        return [m.text(texts.PROFILE_UPDATED)] + ask("unit", official, state)
    clear_state(state)
    return [m.text(texts.PROFILE_UPDATED)] + profile(ctx, official, state, {})


@text_step("profile")
def on_profile_text(ctx, official: Official, state, text):
    require_verified(official)
    field = state.step
    if field not in PROFILE_EDITABLE:
        clear_state(state)
        return show(ctx, official, state, {})
    try:
        reply = answer_field(ctx, official, state, field, text)
    except DomainError as error:
        return [m.text(without_clauses(error.message), quick=[m.quick_message("取消")])]
    if reply is not None:
        return reply
    return after_profile_edit(ctx, official, state, field)
