"""Officials in the console (operations team only): the list, one official, personal data (R4), blocking (R8).

The list and the detail page never carry phone, email or address. They are shown only in the
answer to a POST that gives a reason, and each such view is recorded (who, whose, when, why).
A block cites a ground of 第七點 and a reason; the official's history lists blocks and unblocks.
"""
from __future__ import annotations

import json
import math

import peewee
from flask import abort, flash, redirect, render_template, request, url_for
from peewee import fn

from models.agencies import Agency
from models.base import DomainError
from models.events import AuditEvent
from models.official_blocks import block_official, current_block, unblock_official
from models.officials import (
    DISPLAY_REAL,
    STATUS_BLOCKED,
    STATUS_CLOSED,
    STATUS_REGISTERING,
    STATUS_VERIFIED,
    Official,
)
from models.proposals import removal_ground_label
from models.staff import PERSONAL_FIELD_LABELS, personal_data_log, view_personal_data

from .auth import client_ip, current_staff, ops_required
from .blueprint import bp
from .forms import BlockForm, RevealPersonalDataForm, UnblockForm
from .history import actor_names

PER_PAGE = 25
MAX_QUERY = 50

STATUS_LABELS = {STATUS_REGISTERING: "註冊中", STATUS_VERIFIED: "已認證", STATUS_BLOCKED: "已停用",
                 STATUS_CLOSED: "已關閉（聯絡資料已刪除）"}

# The official's history (the detail page); staff views of personal data have their own table.
ACTION_LABELS = {
    "verification_requested": "寄送認證碼",
    "email_verified": "電子郵件認證完成",
    "profile_updated": "本人更正資料",
    "terms_accepted": "同意使用條款與個人資料告知",
    "email_bounced": "通知信被退回",
    "email_change_asked": "請本人認證新的電子郵件",
    "account_closed": "本人關閉帳號",
    "official_blocked": "停用帳號",
    "official_unblocked": "恢復帳號",
}

MSG = {
    "blocked": "已停用「{name}」的帳號，事由已記錄，並已通知本人停用事由與異議方式。",
    "unblocked": "已恢復「{name}」的帳號，事由已記錄，並已通知本人。",
    "recorded": "查閱紀錄已建立。請勿轉存或外流個人資料。",
}


def _display_name_matches(text: str):
    """Officials whose *shown* name contains the text: a nickname user's real name is never searched (R3.0)."""
    shows_real = (fn.COALESCE(Official.display_choice, "") == DISPLAY_REAL) & Official.real_name.is_null(False)
    return (shows_real & Official.real_name.contains(text)) | (~shows_real & Official.nickname.contains(text))


def _agency_names(codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    return {a.code: a.name for a in Agency.select(Agency.code, Agency.name).where(Agency.code.in_(list(codes)))}


def _page_number() -> int:
    try:
        return max(1, min(int(request.args.get("page", 1)), 100_000))
    except (TypeError, ValueError):
        return 1


@bp.get("/officials")
@ops_required
def officials():
    """Officials by display name, newest first; no personal data."""
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    query = Official.select(Official.id, Official.real_name, Official.nickname, Official.display_choice,
                            Official.status, Official.verified_email, Official.agency_code, Official.unit,
                            Official.created_at)
    if q:
        query = query.where(_display_name_matches(q))
    total = query.count()
    pages = max(1, math.ceil(total / PER_PAGE))
    page = min(_page_number(), pages)
    rows = list(query.order_by(Official.id.desc()).paginate(page, PER_PAGE))
    agencies = _agency_names({o.agency_code for o in rows if o.agency_code})
    return render_template("console/officials.html", officials=rows, agencies=agencies, q=q, page=page,
                           pages=pages, total=total, status_labels=STATUS_LABELS, title="公務人員")


def _official_or_404(official_id: int) -> Official:
    try:
        return Official.get_by_id(official_id)
    except peewee.DoesNotExist:
        abort(404)


FIELD_LABELS = {"real_name": "真實姓名", "nickname": "暱稱", "display_choice": "顯示方式", "phone": "電話",
                "email": "電子郵件", "address": "聯絡地址", "agency_code": "所屬機關", "unit": "服務單位"}


def _detail_text(event: AuditEvent) -> str:
    """The ground of a block, or which field was corrected (never the value: R4)."""
    try:
        detail = json.loads(event.detail) if event.detail else {}
    except ValueError:
        return ""
    if detail.get("ground"):
        return removal_ground_label(detail["ground"])
    if detail.get("field"):
        return FIELD_LABELS.get(detail["field"], detail["field"])
    if detail.get("version"):
        return f"{detail['version']} 版"
    if detail.get("count"):
        return f"第 {detail['count']} 次"
    return ""


def history(official: Official) -> list[dict]:
    """The official's account history, oldest first: registration, blocks and unblocks with grounds and reasons."""
    events = list(AuditEvent.select().where((AuditEvent.subject_type == "official") & (AuditEvent.subject_id == official.id)
                                            & AuditEvent.action.in_(list(ACTION_LABELS)))
                  .order_by(AuditEvent.created_at, AuditEvent.id))
    names = actor_names(events)
    return [{"at": e.created_at, "actor": names.get(e.actor, e.actor), "action": ACTION_LABELS[e.action],
             "reason": e.reason, "detail": _detail_text(e)} for e in events]


def _render_official(official: Official, *, personal: dict | None = None, reveal_form=None, block_form=None,
                     unblock_form=None, status: int = 200):
    agency = Agency.get_or_none(Agency.code == official.agency_code) if official.agency_code else None
    page = render_template(
        "console/official.html", official=official, agency=agency, personal=personal,
        field_labels=PERSONAL_FIELD_LABELS, status_labels=STATUS_LABELS, blocked=official.status == STATUS_BLOCKED,
        closed=official.status == STATUS_CLOSED,
        block=current_block(official), history=history(official),
        reveal_form=reveal_form or RevealPersonalDataForm(prefix="reveal", formdata=None),
        block_form=block_form or BlockForm(prefix="block", formdata=None),
        unblock_form=unblock_form or UnblockForm(prefix="unblock", formdata=None),
        accesses=personal_data_log(official), title=official.display_name,
    )
    return page, status


@bp.get("/officials/<int:official_id>")
@ops_required
def official(official_id: int):
    """One official, personal data hidden behind a reasoned request (R4)."""
    return _render_official(_official_or_404(official_id))


@bp.post("/officials/<int:official_id>/personal-data")
@ops_required
def reveal_personal_data(official_id: int):
    """Show the personal data once, in this response only, and record the view (R4)."""
    target = _official_or_404(official_id)
    form = RevealPersonalDataForm(prefix="reveal")
    if not form.validate_on_submit():
        return _render_official(target, reveal_form=form, status=400)
    try:
        personal = view_personal_data(current_staff(), target, form.reason.data, ip_address=client_ip())
    except DomainError as error:
        if error.code == "forbidden":
            abort(403)
        form.reason.errors.append(error.message)
        return _render_official(target, reveal_form=form, status=400)
    flash(MSG["recorded"], "info")
    return _render_official(target, personal=personal, reveal_form=RevealPersonalDataForm(prefix="reveal", formdata=None))


def _moderate(official_id: int, form, action, done_message: str, form_arg: str):
    target = _official_or_404(official_id)
    if not form.validate_on_submit():
        return _render_official(target, status=400, **{form_arg: form})
    try:
        action(current_staff(), target, form)
    except DomainError as error:
        if error.code == "forbidden":
            abort(403)
        if error.code == "bad_ground":  # an unknown ground: the form again, with the reason kept
            form.ground.errors = [error.message]
            return _render_official(target, status=400, **{form_arg: form})
        flash(error.message, "error")
        return redirect(url_for("console.official", official_id=target.id))
    flash(done_message.format(name=target.display_name), "success")
    return redirect(url_for("console.official", official_id=target.id))


@bp.post("/officials/<int:official_id>/block")
@ops_required
def block(official_id: int):
    """R8: stop an official from participating, on a ground of 第七點 with a reason; the official is told."""
    def action(staff, target, form):
        return block_official(staff, target, form.ground.data, form.reason.data)

    return _moderate(official_id, BlockForm(prefix="block"), action, MSG["blocked"], "block_form")


@bp.post("/officials/<int:official_id>/unblock")
@ops_required
def unblock(official_id: int):
    """Lift a block, with a recorded reason; the official is told."""
    def action(staff, target, form):
        return unblock_official(staff, target, form.reason.data)

    return _moderate(official_id, UnblockForm(prefix="unblock"), action, MSG["unblocked"], "unblock_form")
