"""Agencies in the console (operations team only, issue 11 item 4): the list with contact
addresses and whether they were confirmed, one agency's edit form, and a test email whose signed
link confirms the address (that link needs no console account)."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from wtforms import BooleanField, EmailField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from models.agencies import KIND_LABELS, Agency, get_agency
from models.agency_admin import agencies_for_console, confirm_contact, last_test_emails, send_test_email, update_agency
from models.base import DomainError, utcnow
from models.events import AuditEvent
from models.staff import MAX_REASON, MIN_REASON

from ..form import Form
from .actions import act
from .auth import current_staff, ops_required
from .blueprint import bp
from .forms import REASON_LENGTH, REQUIRED

MSG = {
    "saved": "已更新「{name}」，之後的通知會寄到新的設定。",
    "test_sent": "測試信已排入寄送，寄送結果顯示在下方；對方點選信中的連結後，信箱即標示為已確認。",
    "confirmed": "感謝確認：「{name}」的聯絡信箱 {email} 已確認有人收信。",
}
OUTBOX_LABELS = {"pending": "寄送中（或等待重試）", "sent": "已寄出", "failed": "寄送失敗"}


class AgencyForm(Form):
    name = StringField("名稱", validators=[DataRequired(REQUIRED), Length(max=100)])
    short_name = StringField("簡稱", validators=[DataRequired(REQUIRED), Length(max=40)])
    kind = SelectField("類別", choices=list(KIND_LABELS.items()))
    parent_code = SelectField("上級機關", choices=[], validate_choice=False)
    contact_email = EmailField("聯絡信箱（確認請求、成案通知與提醒寄到這裡）", validators=[Optional(), Length(max=254)])
    extra_contact_emails = TextAreaField("其他聯絡信箱（每行一個；每則通知也會寄到這些信箱）",
                                         validators=[Optional(), Length(max=3000)], render_kw={"rows": 3})
    active = BooleanField("啟用")
    reason = TextAreaField("變更事由", validators=[DataRequired(REQUIRED), Length(min=MIN_REASON, max=MAX_REASON,
                                                                              message=REASON_LENGTH)],
                           render_kw={"rows": 2})
    submit = SubmitField("儲存")


def _agency_or_404(code: str) -> Agency:
    agency = get_agency(code)
    if agency is None:
        abort(404)
    return agency


def _form(agency: Agency, formdata=True) -> AgencyForm:
    form = AgencyForm(prefix="agency") if formdata else AgencyForm(prefix="agency", formdata=None, obj=agency)
    form.parent_code.choices = [("", "（無）")] + [(a.code, f"{a.name}（{a.code}）") for a in
                                                 Agency.select().where(Agency.code != agency.code).order_by(Agency.code)]
    if not formdata:
        form.parent_code.data = agency.parent_code or ""
    return form


def _detail(agency: Agency, form: AgencyForm | None = None, status: int = 200):
    history = (AuditEvent.select().where((AuditEvent.subject_type == "agency") & (AuditEvent.subject_id == agency.id))
               .order_by(AuditEvent.id.desc()).limit(20))
    children = [a for a in Agency.select().where(Agency.parent_code == agency.code).order_by(Agency.code)]
    return render_template("console/agency.html", agency=agency, form=form or _form(agency, False),
                           test_form=Form(), last_tests=last_test_emails(agency), outbox_labels=OUTBOX_LABELS,
                           children=children, history=list(history), title=agency.name), status


@bp.get("/agencies")
@ops_required
def agencies():
    rows = agencies_for_console()
    return render_template("console/agencies.html", rows=rows, title="機關與聯絡信箱",
                           unconfirmed=sum(1 for a, _ in rows if a.active and not a.contact_confirmed))


@bp.get("/agencies/<code>")
@ops_required
def agency(code: str):
    return _detail(_agency_or_404(code))


@bp.post("/agencies/<code>")
@ops_required
def agency_save(code: str):
    target = _agency_or_404(code)
    form = _form(target)

    def action() -> str:
        fields = {"name": form.name.data, "short_name": form.short_name.data, "kind": form.kind.data,
                  "parent_code": form.parent_code.data, "contact_email": form.contact_email.data,
                  "extra_contact_emails": form.extra_contact_emails.data or "", "active": "1" if form.active.data else "0"}
        saved = update_agency(current_staff(), target.code, fields, form.reason.data, utcnow())
        return MSG["saved"].format(name=saved.name)

    return act(form, action, on_invalid=lambda: _detail(target, form, 400), on_refused=lambda: _detail(target, form, 400),
               done=lambda: redirect(url_for("console.agency", code=target.code)), explain_errors=True)


@bp.post("/agencies/<code>/test-email")
@ops_required
def agency_test_email(code: str):
    target = _agency_or_404(code)
    back = lambda: redirect(url_for("console.agency", code=target.code))  # noqa: E731

    def action() -> str:
        send_test_email(current_staff(), target.code, utcnow())
        return MSG["test_sent"]

    return act(Form(), action, on_invalid=back, on_refused=back, done=back)


@bp.get("/agencies/confirm/<token>")
def agency_contact_confirm(token: str):
    """The link in a test email: no console account needed; confirms the address it was sent to."""
    try:
        confirmed = confirm_contact(token, utcnow())
    except DomainError as error:
        status = 410 if error.code in ("expired_link", "changed") else 400
        return render_template("console/base.html", error_message=error.message, title="無法確認"), status
    message = MSG["confirmed"].format(name=confirmed.name, email=confirmed.confirmed_address)
    return render_template("console/agency_confirmed.html", message=message, title="信箱已確認",
                           request_path=request.path)
