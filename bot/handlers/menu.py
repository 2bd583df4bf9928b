"""Welcome, the main menu and the official's own profile (R3, R4: only the official sees their data)."""
from __future__ import annotations

from models import texts as model_texts
from models.base import DomainError
from models.officials import STATUS_BLOCKED, Official, require_verified
from models.registration import request_email_verification

from .. import messages as m
from .. import texts
from ..conversation import clear_state, set_state
from . import ACTIONS, action, text_step

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
    from models import settings

    return [m.text(texts.HELP.format(threshold=settings.SECONDING_THRESHOLD), quick=menu_quick(official))]


@action("menu", "選單", "menu", "功能")
@action("menu.show")
def show(ctx, official: Official, state, params):
    if state.flow and state.flow != "registration":
        clear_state(state)
    if official.status == STATUS_BLOCKED:
        return [m.text(model_texts.BLOCKED, quick=menu_quick(official))]
    if not official.is_verified:
        from models.registration import REQUIRED_FIELDS, missing_fields

        done = len(REQUIRED_FIELDS) - len(missing_fields(official))
        if done:  # part-way through: carry on, do not start over
            return [m.text(texts.REGISTRATION_IN_PROGRESS.format(done=done, total=len(REQUIRED_FIELDS)),
                           quick=[m.quick_postback(texts.CONTINUE_REGISTRATION, "reg.start")])]
        return [m.text(texts.NEED_REGISTRATION + "\n" + texts.WELCOME, quick=menu_quick(official))]
    prefix = texts.UNKNOWN_INPUT + "\n" if params.get("hint") else ""
    return [m.text(prefix + texts.MENU_TITLE, quick=menu_quick(official))]


PROFILE_EDITABLE = ("nickname", "display_choice", "phone", "email", "address", "agency_code")


@action("profile.show", "我的資料")
def profile(ctx, official: Official, state, params):
    require_verified(official)
    from .registration import profile_values

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
    from .registration import ask

    messages = ask(field, official)
    if field in ("nickname", "display_choice"):  # R3.0: the shown name changes on past posts too
        messages.insert(0, m.text(texts.PROFILE_NAME_CHANGE_NOTE))
    return messages


def after_profile_edit(ctx, official: Official, state, field: str):
    if field == "email":
        row = request_email_verification(official, ctx.reply_domain, ctx.now)
        clear_state(state)
        from models.base import format_taipei
        from models.verification import CODE_TTL

        return [m.text(texts.REG_CODE_SENT.format(email=row.email, minutes=int(CODE_TTL.total_seconds() // 60),
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
    from .registration import answer_field

    try:
        reply = answer_field(ctx, official, state, field, text)
    except DomainError as error:
        return [m.text(error.message, quick=[m.quick_message("取消")])]
    if reply is not None:
        return reply
    return after_profile_edit(ctx, official, state, field)
