"""GET/POST /drafts/<token>: a phone-friendly form on the official's draft, opened from the LINE chat.

The token (bot.proposal_cards.draft_token) is signed with SECRET_KEY, salt 'draft-form', and valid
for 24 hours; it names the official and the proposal. Every save goes through the same domain
`set_field` the chat uses, in one transaction: one refused field saves nothing.
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature, SignatureExpired
from wtforms import SelectField, StringField, TextAreaField

from bot.proposal_cards import read_draft_token
from models.base import DomainError, db
from models.officials import Official, require_verified
from models.proposals import EDITABLE_STATES, FIELD_LIMITS, SCOPES, Proposal, set_field

from .form import Form

bp = Blueprint("drafts", __name__)

FORM_FIELDS = ("scope", "title", "content", "benefits", "evidence")
PAGE = {
    "forged": ("連結無效", "這個連結無效或已被修改，沒有變更任何資料。請回到 LINE 對話重新取得「用網頁填寫」連結。"),
    "expired": ("連結已過期", "這個連結已超過 24 小時，沒有變更任何資料。請回到 LINE 對話重新取得「用網頁填寫」連結。"),
    "not_yours": ("無法開啟", "這份草稿不屬於這個連結的使用者，或已不存在。"),
    "not_editable": ("無法修改", "這份提案目前為「{state}」，已不能修改。請回到 LINE 查看「我的提案」。"),
    "csrf": ("表單已過期", "表單驗證失敗（可能停留太久），沒有變更任何資料。請重新開啟連結再儲存。"),
    "saved": ("已儲存", "草稿已儲存。請回到 LINE 對話輸入「預覽提案」確認內容並送出。"),
}


class DraftForm(Form):
    scope = SelectField("範圍（第六點）", choices=[("", "請選擇")] + list(SCOPES.items()), validate_choice=False)
    title = StringField(FIELD_LIMITS["title"][0])
    content = TextAreaField(FIELD_LIMITS["content"][0])
    benefits = TextAreaField(FIELD_LIMITS["benefits"][0])
    evidence = TextAreaField(FIELD_LIMITS["evidence"][0])


def _page(kind: str, status: int, **values):
    title, message = PAGE[kind]
    return render_template("draft_done.html", title=title, message=message.format(**values), ok=status == 200), status


class Refused(Exception):
    """The link cannot open the draft; carries the page to answer with."""

    def __init__(self, response):
        super().__init__("refused")
        self.response = response


def _load(token: str) -> tuple[Official, Proposal]:
    """The official and the draft the token names; raises Refused with a zh-TW page otherwise."""
    try:
        official_id, proposal_id = read_draft_token(current_app.config["SECRET_KEY"], token)
    except SignatureExpired:
        raise Refused(_page("expired", 400)) from None
    except BadSignature:
        raise Refused(_page("forged", 403)) from None
    official = Official.get_or_none(Official.id == official_id)
    proposal = Proposal.get_or_none(Proposal.id == proposal_id)
    if official is None or proposal is None or proposal.proposer_id != official.id:
        raise Refused(_page("not_yours", 403))
    try:
        require_verified(official)
    except DomainError as error:
        raise Refused((render_template("draft_done.html", title="無法開啟", message=error.message, ok=False), 403)) from None
    if proposal.state not in EDITABLE_STATES:
        raise Refused(_page("not_editable", 409, state=proposal.state_label))
    return official, proposal


@bp.route("/drafts/<token>", methods=["GET", "POST"])
def draft_form(token: str):
    try:
        official, proposal = _load(token)
    except Refused as refused:
        return refused.response
    form = DraftForm()
    if request.method == "GET":
        for name in FORM_FIELDS:
            getattr(form, name).data = getattr(proposal, name) or ""
        return _form_page(form, proposal, {})
    if not form.validate_on_submit():
        return _page("csrf", 400)
    errors = _save(official, proposal, form)
    if errors:
        return _form_page(form, proposal, errors, 422)
    return _page("saved", 200)


def _save(official: Official, proposal: Proposal, form: DraftForm) -> dict[str, str]:
    """Every changed field through set_field, all or nothing; returns {field: zh-TW error}."""
    errors: dict[str, str] = {}
    with db.atomic() as transaction:
        for name in FORM_FIELDS:
            value = (getattr(form, name).data or "").replace("\r\n", "\n")
            if value.strip() == (getattr(proposal, name) or "").strip():
                continue
            if name == "scope" and not value:
                errors[name] = "請選擇範圍。"
                continue
            try:
                set_field(official, proposal.id, name, value)
            except DomainError as error:
                errors[name] = error.message
        if errors:
            transaction.rollback()
    return errors


def _form_page(form: DraftForm, proposal: Proposal, errors: dict[str, str], status: int = 200):
    limits = {name: FIELD_LIMITS[name] for name in FORM_FIELDS if name in FIELD_LIMITS}
    return render_template("draft_form.html", form=form, proposal=proposal, errors=errors, limits=limits), status


@bp.errorhandler(CSRFError)
def _csrf_failed(error):
    return _page("csrf", 400)


@bp.after_request
def _private_page(response):
    # The token is in the URL: never cache the page or leak it in a Referer header.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; "
                                                   "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    return response
