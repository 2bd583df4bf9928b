"""Registration (R3.0–R3.2): one question at a time, a summary to correct, then the emailed code."""
from __future__ import annotations

from models import settings
from models import texts as model_texts
from models.agencies import get_agency
from models.base import DomainError, format_taipei
from models.codes import confirm_typed_code
from models.officials import DISPLAY_NICKNAME, DISPLAY_REAL, STATUS_BLOCKED, Official, blocked_message
from models.registration import missing_fields, request_email_verification, update_profile
from models.terms import has_accepted
from models.texts import without_clauses
from models.verification import PENDING, PURPOSE_REGISTER, latest_code
from models.workplace import search_workplace

from .. import messages as m
from .. import texts
from ..conversation import ConversationState, set_state
from ..registry import FIELD_SAVED, action, reprompt, text_step
from .codes import after_code, code_quick, reminder
from .terms import gate

FLOW = "registration"
ORDER = ["real_name", "nickname", "display_choice", "phone", "email", "address", "agency_code", "unit"]
PROMPTS = {
    "real_name": texts.REG_ASK_NAME, "nickname": texts.REG_ASK_NICKNAME, "display_choice": texts.REG_ASK_DISPLAY,
    "phone": texts.REG_ASK_PHONE, "email": texts.REG_ASK_EMAIL, "address": texts.REG_ASK_ADDRESS,
    "agency_code": texts.REG_ASK_AGENCY, "unit": texts.REG_ASK_UNIT,
}


def _cancel_quick() -> list[dict]:
    return [m.quick_message("取消")]


def ask(field: str, official: Official, state: ConversationState | None = None) -> list[dict]:
    if field == "display_choice":
        return [m.text(texts.REG_ASK_DISPLAY, quick=[
            m.quick_postback(texts.REG_DISPLAY_REAL, "reg.display", v=DISPLAY_REAL),
            m.quick_postback(texts.REG_DISPLAY_NICK, "reg.display", v=DISPLAY_NICKNAME)])]
    if field == "unit":  # the unit typed in the agency search (豐原國中), offered as the answer
        suggested = (state.values.get("unit_hint") if state is not None else None) or ""
        body = texts.REG_ASK_UNIT.format(agency=agency_label(official.agency_code))
        quick = _cancel_quick()
        if suggested:
            body += texts.REG_UNIT_SUGGESTED.format(unit=suggested)
            quick = [m.quick_message(suggested[:20], suggested)] + quick
        return [m.text(body, quick=quick)]
    return [m.text(PROMPTS[field], quick=_cancel_quick())]


def agency_label(code: str | None) -> str:
    if not code:
        return "（未填）"
    agency = get_agency(code)
    return agency.name if agency else code


def profile_values(official: Official) -> dict:
    return {
        "real_name": official.real_name or "（未填）", "nickname": official.nickname or "（未填）",
        "display": {DISPLAY_REAL: "真實姓名", DISPLAY_NICKNAME: "暱稱"}.get(official.display_choice, "（未選）"),
        "phone": official.phone or "（未填）", "email": official.email or "（未填）",
        "address": official.address or "（未填）", "agency": agency_label(official.agency_code),
        "unit": official.unit or "（未填）",
    }


def summary(official: Official) -> list[dict]:
    quick = [m.quick_postback(texts.REG_CONFIRM, "reg.confirm")]
    quick += [m.quick_postback(f"修改{texts.FIELD_LABELS[f]}", "reg.edit", f=f) for f in ORDER]
    return [m.text(texts.REG_SUMMARY.format(**profile_values(official)), quick=quick)]


def next_step(ctx, official: Official, state: ConversationState) -> list[dict]:
    """Ask the next unanswered question, or show the summary once every field is filled."""
    if state.values.get("editing"):
        set_state(state, FLOW, "summary", editing=None)
        return summary(official)
    missing = missing_fields(official)
    if not missing:
        set_state(state, FLOW, "summary")
        return summary(official)
    field = missing[0]
    set_state(state, FLOW, field)
    return ask(field, official, state)


@action("reg.start", "註冊", "開始註冊", "認證")
def start(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    if official.status == STATUS_BLOCKED:  # the guest menu's 開始註冊 cannot lift a block
        return [m.text(blocked_message(), quick=[m.quick_postback(texts.HELP_LABEL, "menu.help")])]
    if official.is_verified:
        return [m.text(texts.REG_ALREADY_VERIFIED.format(email=official.verified_email),
                       quick=[m.quick_postback("我的資料", "profile.show"), m.quick_postback("選單", "menu")])]
    if (state.flow == FLOW and state.step == "code") or _code_pending(ctx, official):
        set_state(state, FLOW, "code")
        return _waiting(ctx, official)
    if not has_accepted(official):  # R4: the terms and the privacy notice before any personal data
        return gate(ctx, next_data=m.postback_data("reg.start"))
    set_state(state, FLOW, None)
    return next_step(ctx, official, state)


@action("reg.display")
def choose_display(ctx, official, state, params):
    if state.flow not in (FLOW, "profile"):
        return start(ctx, official, state, {})
    update_profile(official, "display_choice", params.get("v", ""), ctx.allowed_domains)
    if state.flow == "profile":
        return FIELD_SAVED["profile"](ctx, official, state, "display_choice")
    return next_step(ctx, official, state)


@action("reg.agency")
def choose_agency(ctx, official, state, params):
    if state.flow not in (FLOW, "profile"):
        return start(ctx, official, state, {})
    update_profile(official, "agency_code", params.get("code", ""), ctx.allowed_domains)
    if state.flow == "profile":
        return FIELD_SAVED["profile"](ctx, official, state, "agency_code")
    return next_step(ctx, official, state)


@action("reg.edit")
def edit_field(ctx, official, state, params):
    field = params.get("f")
    if field not in ORDER or official.is_verified:
        return start(ctx, official, state, {})
    set_state(state, FLOW, field, editing=True)
    return ask(field, official, state)


@action("reg.confirm")
def confirm(ctx, official, state, params):
    if official.is_verified:
        return start(ctx, official, state, {})
    if missing_fields(official):
        return next_step(ctx, official, state)
    if not has_accepted(official):  # registered part-way before the terms existed
        return gate(ctx, next_data=m.postback_data("reg.confirm"))
    return send_code(ctx, official, state)


def _code_quick(official: Official) -> list[dict]:
    return code_quick(latest_code(official))


def _waiting(ctx, official: Official) -> list[dict]:
    """Waiting for the code: the reminder of it, or (expired, locked) the way to a new one."""
    return reminder(ctx, official) or [m.text(model_texts.CODE_NOT_PENDING, quick=_code_quick(official))]


def _code_pending(ctx, official: Official) -> bool:
    row = latest_code(official, ctx.now)
    return bool(row and row.purpose == PURPOSE_REGISTER and row.status == PENDING and row.expires_at > ctx.now)


def send_code(ctx, official, state) -> list[dict]:
    try:
        row = request_email_verification(official, ctx.reply_domain, ctx.now)
    except DomainError as error:
        if error.code != "cooldown":
            raise
        set_state(state, FLOW, "code")
        return [m.text(error.message, quick=_code_quick(official))]  # the button stays one tap away
    set_state(state, FLOW, "code")
    return [m.text(texts.REG_CODE_SENT.format(email=row.email, minutes=settings.code_minutes(),
                                              expires=format_taipei(row.expires_at, "%H:%M")), quick=_code_quick(official))]


@action("reg.resend")
def resend(ctx, official, state, params):
    if official.is_verified and official.email == official.verified_email:
        return start(ctx, official, state, {})
    return send_code(ctx, official, state)


def answer_field(ctx, official, state, field: str, text: str) -> list[dict]:
    """Validate a typed answer for `field`; agency answers are searched, not stored directly."""
    if field == "display_choice":
        return ask(field, official)
    if field == "agency_code":
        found = search_workplace(text, limit=12)
        if not found.agencies:
            return [m.text(found.hint, quick=_cancel_quick())]
        set_state(state, state.flow, state.step, unit_hint=found.unit)
        more = len(found.agencies) > 11
        body = (found.hint + "\n" if found.hint else "") + texts.REG_AGENCY_CHOOSE + (texts.REG_AGENCY_MORE if more else "")
        return [m.text(body, quick=[
            m.quick_postback(a.short_name or a.name, "reg.agency", display=a.name, code=a.code)
            for a in found.agencies[:11]] + _cancel_quick())]
    update_profile(official, field, text, ctx.allowed_domains)
    return None


@text_step(FLOW)
def on_text(ctx, official, state, text):
    step = state.step
    if step == "code":  # six digits with a live code were taken by bot.dispatch already
        if text.strip().isdigit() and len(text.strip()) == 6:
            return after_code(official, state, confirm_typed_code(official, text.strip(), ctx.now))
        return _waiting(ctx, official)
    if step == "summary" or step not in ORDER:
        return summary(official)
    try:
        reply = answer_field(ctx, official, state, step, text)
    except DomainError as error:
        return [m.text(without_clauses(error.message), quick=_cancel_quick())]
    return reply if reply is not None else next_step(ctx, official, state)


@reprompt(FLOW)
def ask_again(ctx, official, state) -> list[dict]:
    """The question the official was answering, again (a sticker or a photo does not answer it)."""
    if state.step == "code":
        return _waiting(ctx, official)
    if state.step in ORDER:
        return ask(state.step, official, state)
    return summary(official)
