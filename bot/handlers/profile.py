"""我的資料: the official's own profile (R3, R4: only the official sees their data)."""
from __future__ import annotations

from models import settings
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

PROFILE_EDITABLE = ("nickname", "display_choice", "phone", "email", "address", "agency_code")


@action("profile.show", "我的資料")
def profile(ctx, official: Official, state, params):
    require_verified(official)
    values = profile_values(official)
    values["email"] = official.verified_email
    lines = texts.PROFILE_SUMMARY.format(**values)
    if official.email and official.email != official.verified_email:
        lines += "\n" + texts.PROFILE_EMAIL_PENDING.format(email=official.verified_email)
    quick = [m.quick_postback(f"修改{texts.FIELD_LABELS[f]}", "profile.edit", f=f) for f in PROFILE_EDITABLE]
    return [m.text(lines, quick=quick + [m.quick_postback("選單", "menu")])]


@action("profile.edit")
def profile_edit(ctx, official: Official, state, params):
    require_verified(official)
    field = params.get("f")
    if field not in PROFILE_EDITABLE:
        return profile(ctx, official, state, params)
    set_state(state, "profile", field)
    messages = ask(field, official)
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
