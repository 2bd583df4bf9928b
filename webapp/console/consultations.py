"""Policy consultations in the console (R5.2, R10): agency staff for their own agency, ops for any.

Create a draft, edit it, open it (at most 2 months, R10.1.4), close it early with a published
reason, see the opinions under display names only (never personal data, R3.0/R4), hide an abusive
one on an R7 ground with a reason, publish the summary (R10.2) or extend its last day once. Each
action is a POST with a CSRF token and the version the staff member saw; the domain decides.
"""
from __future__ import annotations

import json

import peewee
from flask import abort, flash, redirect, render_template, request, url_for
from wtforms import DateField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from models import consultation_discussion as discussion
from models import consultation_review, settings
from models import consultation_summaries as summaries
from models import consultations as domain
from models.agencies import active_agencies, get_agency
from models.base import DomainError, utcnow
from models.calendar import today_taipei
from models.consultations import Consultation
from models.events import AuditEvent
from models.opinions import hide_opinion, opinions_of
from models.proposals import REMOVAL_GROUNDS, SCOPES
from models.staff import MAX_REASON, MIN_REASON, Staff, can_access_agency

from ..form import Form
from .actions import act_on_detail, form_errors
from .auth import agency_scope, current_staff, ops_required, staff_required
from .blueprint import bp
from .forms import (
    ConsultationPassForm,
    ConsultationReturnForm,
    ConsultationSubmitForm,
    DiscussionMeetingForm,
    DiscussionMessageForm,
    DiscussionSummaryForm,
    VersionedForm,
)
from .history import actor_names

REQUIRED = "此欄位必填。"

MSG = {
    "created": "已建立草稿「{title}」。確認內容後請按「送交營運小組審核」；審核通過後即可開放徵詢。",
    "edited": "已儲存草稿。",
    "opened": "已開放徵詢，至 {closes_on} 23:59 止。",
    "closed": "已提前結束徵詢；綜整回應期限為 {due}。",
    "summary": "已公布綜整回應；選擇接收通知的參與者會收到通知。",
    "extended": "綜整回應期限已延長至 {until}，延長理由已公開。",
    "hidden": "已隱藏這則意見（{ground}），並通知提出者。",
    "bad_form": "表單內容有誤，請檢查後再送出。",
}
ACTION_LABELS = {
    "consultation_created": "建立草稿", "consultation_edited": "修改草稿", "consultation_opened": "開放徵詢",
    "consultation_submitted": "送交審核", "consultation_review_passed": "審核通過", "consultation_returned": "退回修改",
    "consultation_review_overdue_reminded": "審核逾期提醒",
    "consultation_closed": "徵詢期滿結束", "consultation_closed_early": "提前結束徵詢", "opinion_given": "提出意見",
    "opinion_edited": "修改意見", "opinion_hidden": "隱藏意見", "summary_published": "公布綜整回應",
    "summary_extended": "延長綜整回應期限", "summary_overdue_reminded": "逾期提醒",
    "discussion_message_sent": "傳送訊息給意見提供者", "discussion_meeting_scheduled": "安排溝通討論會議",
    "discussion_meeting_summarised": "溝通討論會議紀錄摘要",
}


# --- forms --------------------------------------------------------------------------------------

class ConsultationForm(VersionedForm):
    agency_code = SelectField("機關", validators=[DataRequired(REQUIRED)])
    title = StringField("諮詢主題", validators=[DataRequired(REQUIRED), Length(max=domain.FIELD_LIMITS["title"][1])],
                        render_kw={"maxlength": domain.FIELD_LIMITS["title"][1]})
    background = TextAreaField("背景說明", validators=[DataRequired(REQUIRED),
                                                    Length(max=domain.FIELD_LIMITS["background"][1])],
                               render_kw={"rows": 8, "maxlength": domain.FIELD_LIMITS["background"][1]})
    questions = TextAreaField("徵詢問題", validators=[DataRequired(REQUIRED),
                                                   Length(max=domain.FIELD_LIMITS["questions"][1])],
                              render_kw={"rows": 4, "maxlength": domain.FIELD_LIMITS["questions"][1]})
    scope = RadioField("範圍（第六點）", choices=list(SCOPES.items()), validators=[DataRequired(REQUIRED)])
    basis = RadioField("諮詢依據（第十點（一））",
                       choices=[(k, f"{domain.BASIS_CLAUSES[k]}：{v}") for k, v in domain.BASES.items()],
                       validators=[DataRequired(REQUIRED)])
    stage = RadioField("政策階段（第五點（二））", choices=list(domain.STAGES.items()), validators=[DataRequired(REQUIRED)])
    closes_on = DateField(settings.fill("徵詢最後一天（自開放日起最長 {consultation}，第十點（一）4）"), validators=[DataRequired("請選擇日期。")])
    submit = SubmitField("儲存草稿")


class OpenForm(VersionedForm):
    closes_on = DateField("徵詢最後一天", validators=[DataRequired("請選擇日期。")])
    submit = SubmitField("開放徵詢")


class CloseForm(VersionedForm):
    reason = TextAreaField("提前結束理由（將公開）", validators=[DataRequired(REQUIRED), Length(min=4, max=domain.REASON_MAX)],
                           render_kw={"rows": 2, "maxlength": domain.REASON_MAX})
    submit = SubmitField("提前結束徵詢")


class SummaryForm(VersionedForm):
    summary = TextAreaField("綜整回應（將公開）", validators=[DataRequired(REQUIRED), Length(min=10, max=domain.SUMMARY_MAX)],
                            render_kw={"rows": 10, "maxlength": domain.SUMMARY_MAX})
    submit = SubmitField("公布綜整回應")


class ExtendForm(VersionedForm):
    reason = TextAreaField("延長理由（將公開）", validators=[DataRequired(REQUIRED), Length(min=4, max=domain.REASON_MAX)],
                           render_kw={"rows": 2, "maxlength": domain.REASON_MAX})
    submit = SubmitField(settings.fill("延長綜整回應期限（限一次，{summary_extension}）"))


class HideForm(Form):
    ground = SelectField("隱藏事由（第七點）", choices=[("", "請選擇")] + [(k, f"{k} {v}") for k, v in REMOVAL_GROUNDS.items()],
                         validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("說明", validators=[DataRequired(REQUIRED), Length(min=MIN_REASON, max=MAX_REASON)],
                           render_kw={"rows": 2, "maxlength": MAX_REASON})
    submit = SubmitField("隱藏這則意見")


def _agency_choices(staff: Staff) -> list[tuple[str, str]]:
    if staff.is_ops:
        return [("", "請選擇")] + [(a.code, a.name) for a in active_agencies()]
    agency = get_agency(staff.agency_code or "")
    return [(agency.code, agency.name)] if agency else []


def _consultation_form(staff: Staff, consultation: Consultation | None = None, **formdata) -> ConsultationForm:
    form = ConsultationForm(prefix="c", obj=consultation, **formdata)
    form.agency_code.choices = _agency_choices(staff)
    if consultation is not None and "formdata" in formdata:
        form.version.data = str(consultation.version)
    return form


def _fields(form: ConsultationForm) -> dict:
    return {name: getattr(form, name).data for name in
            ("agency_code", "title", "background", "questions", "scope", "basis", "stage")}


# --- reading ------------------------------------------------------------------------------------

def _own_or_abort(consultation_id: int) -> Consultation:
    """The consultation, if the staff member may act for its agency (404 unknown, 403 another agency's)."""
    try:
        consultation = Consultation.get_by_id(consultation_id)
    except peewee.DoesNotExist:
        abort(404)
    if not can_access_agency(current_staff(), consultation.agency_code):
        abort(403)
    return consultation



def _detail_text(event: AuditEvent) -> str:
    """Dates of the event's detail (never an opinion's earlier text: the history is for the clock)."""
    try:
        detail = json.loads(event.detail) if event.detail else {}
    except ValueError:
        return ""
    parts = []
    for key, label in (("closes_on", "至"), ("summary_due", "綜整回應期限"), ("from", "原期限"), ("to", "延長至"),
                       ("due", "期限"), ("opinions", "意見數"), ("opinion", "意見編號"), ("held_on", "會議日期"),
                       ("recipients", "收件人數")):
        if detail.get(key) is not None:
            parts.append(f"{label} {detail[key]}")
    return "；".join(parts)


def history(consultation: Consultation) -> list[dict]:
    events = list(AuditEvent.select().where((AuditEvent.subject_type == "consultation")
                                            & (AuditEvent.subject_id == consultation.id))
                  .order_by(AuditEvent.created_at, AuditEvent.id))
    names = actor_names(events)
    return [{"at": e.created_at, "actor": names.get(e.actor, e.actor), "action": ACTION_LABELS.get(e.action, e.action),
             "reason": e.reason, "detail": _detail_text(e)} for e in events]


def render_detail(consultation: Consultation, status: int = 200, **given):
    """The detail page, with the forms the consultation's state allows (or those given back with errors)."""
    consultation = Consultation.get_by_id(consultation.id)
    forms = {}
    for name, cls in (("open_form", OpenForm), ("close_form", CloseForm), ("summary_form", SummaryForm),
                      ("extend_form", ExtendForm), ("submit_form", ConsultationSubmitForm),
                      ("pass_form", ConsultationPassForm), ("return_form", ConsultationReturnForm)):
        form = given.get(name) or cls(prefix=name.removesuffix("_form"), formdata=None)
        if name not in given:
            form.version.data = str(consultation.version)
        forms[name] = form
    if "open_form" not in given:
        forms["open_form"].closes_on.data = consultation.closes_on
    opinions = opinions_of(consultation)
    # R8: moderation is the operations team's, not the consulting agency's own.
    hide_forms = ({o.id: HideForm(prefix=f"hide{o.id}", formdata=None) for o in opinions if not o.is_hidden}
                  if current_staff().is_ops else {})
    today = today_taipei()
    now = utcnow()
    meetings = discussion.meetings_of(consultation)
    page = render_template(
        "console/consultation_detail.html", c=consultation, opinions=opinions, hide_forms=hide_forms,
        count=sum(1 for o in opinions if not o.is_hidden), history=history(consultation), today=today,
        latest_closes_on=domain.latest_closes_on(today), window_open=domain.window_open(consultation, now),
        overdue=domain.is_summary_overdue(consultation, today),
        review_overdue=consultation_review.is_review_overdue(consultation, today), is_ops=current_staff().is_ops,
        can_extend=(consultation.state == domain.CLOSED and consultation.summary_extended_due is None
                    and consultation.summary_due is not None and today <= consultation.summary_due),
        grounds=REMOVAL_GROUNDS, title=consultation.title,
        can_discuss=consultation.state in discussion.DISCUSSION_STATES,
        discussion_messages=[discussion.describe_message(m) + "：" + m.body
                             for m in discussion.messages_of(consultation)],
        discussion_meetings=meetings, **_discussion_forms(opinions, meetings, given), **forms)
    return page, status


def _discussion_forms(opinions: list, meetings: list, given: dict) -> dict:
    """R10.2 forms: a message (to everyone, or one visible opinion's author by its number), a meeting,
    a summary for each meeting (the one given back with errors kept)."""
    message_form = given.get("message_form") or DiscussionMessageForm(prefix="message", formdata=None)
    message_form.recipient.choices = [("all", "全體意見提供者")] + [
        (str(o.id), f"意見第 {o.id} 號（{o.official.display_name}）") for o in opinions if not o.is_hidden]
    summary_forms = {m.id: DiscussionSummaryForm(prefix=f"dsummary{m.id}", formdata=None, summary=m.summary)
                     for m in meetings}
    if given.get("dsummary_form") is not None:
        summary_forms[given["dsummary_meeting_id"]] = given["dsummary_form"]
    return {"message_form": message_form,
            "meeting_form": given.get("meeting_form") or DiscussionMeetingForm(prefix="meeting", formdata=None),
            "dsummary_forms": summary_forms}


# --- views --------------------------------------------------------------------------------------

@bp.get("/consultations")
@staff_required
def consultations():
    """Every consultation of the staff member's agency (ops: all), drafts and open ones first."""
    staff = current_staff()
    rows = domain.console_list(agency_scope(staff))
    return render_template("console/consultations.html", rows=rows, counts=domain.opinion_counts([c.id for c in rows]),
                           today=today_taipei(), is_overdue=domain.is_summary_overdue, title="政策諮詢")


@bp.route("/consultations/new", methods=["GET", "POST"])
@staff_required
def consultation_new():
    """A draft for the staff member's agency (ops choose the agency)."""
    staff = current_staff()
    if request.method == "GET":
        form = _consultation_form(staff, formdata=None)
        if not staff.is_ops:
            form.agency_code.data = staff.agency_code
        return _render_form(form, None)
    form = _consultation_form(staff)
    if not form.validate_on_submit():
        flash(form_errors(form), "error")
        return _render_form(form, None, 400)
    try:
        consultation = domain.create_consultation(staff, _fields(form), form.closes_on.data)
    except DomainError as error:
        flash(error.message, "error")
        return _render_form(form, None, 400)
    flash(MSG["created"].format(title=consultation.title), "success")
    return redirect(url_for("console.consultation_detail", consultation_id=consultation.id))


def _render_form(form: ConsultationForm, consultation: Consultation | None, status: int = 200):
    today = today_taipei()
    return render_template("console/consultation_form.html", form=form, c=consultation,
                           latest_closes_on=domain.latest_closes_on(today), today=today,
                           title="編輯政策諮詢草稿" if consultation else "新增政策諮詢"), status


@bp.route("/consultations/<int:consultation_id>/edit", methods=["GET", "POST"])
@staff_required
def consultation_edit(consultation_id: int):
    consultation = _own_or_abort(consultation_id)
    staff = current_staff()
    if consultation.state != domain.DRAFT:
        flash("只有草稿可以修改。", "error")
        return redirect(url_for("console.consultation_detail", consultation_id=consultation.id))
    if request.method == "GET":
        return _render_form(_consultation_form(staff, consultation, formdata=None), consultation)
    form = _consultation_form(staff, consultation)
    if not form.validate_on_submit():
        flash(form_errors(form), "error")
        return _render_form(form, consultation, 400)
    try:
        domain.update_draft(staff, consultation.id, _fields(form), form.closes_on.data,
                            expected_version=form.expected_version)
    except DomainError as error:
        flash(error.message, "error")
        return _render_form(form, consultation, 400)
    flash(MSG["edited"], "success")
    return redirect(url_for("console.consultation_detail", consultation_id=consultation.id))


@bp.get("/consultations/<int:consultation_id>")
@staff_required
def consultation_detail(consultation_id: int):
    return render_detail(_own_or_abort(consultation_id))


def _act(consultation: Consultation, form: Form, form_name: str, action):
    """Run one consultation action (webapp/console/actions.py); back to the detail page either way."""
    return act_on_detail(form, lambda: action(form), render=lambda **given: render_detail(consultation, **given),
                         form_name=form_name, explain_errors=True,
                         back=lambda: redirect(url_for("console.consultation_detail", consultation_id=consultation.id)))


@bp.post("/consultations/<int:consultation_id>/open")
@staff_required
def consultation_open(consultation_id: int):
    """R10.1.4: open now, until the end of the chosen last day (at most 2 months later)."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        opened = domain.open_consultation(current_staff(), consultation.id, form.closes_on.data,
                                          expected_version=form.expected_version)
        return MSG["opened"].format(closes_on=f"{opened.closes_on:%Y-%m-%d}")

    return _act(consultation, OpenForm(prefix="open"), "open_form", action)


@bp.post("/consultations/<int:consultation_id>/close")
@staff_required
def consultation_close(consultation_id: int):
    """Close before the last day, with a published reason; R10.2 counts from today."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        closed = domain.close_early(current_staff(), consultation.id, form.reason.data,
                                    expected_version=form.expected_version)
        return MSG["closed"].format(due=f"{closed.summary_due:%Y-%m-%d}")

    return _act(consultation, CloseForm(prefix="close"), "close_form", action)


@bp.post("/consultations/<int:consultation_id>/summary")
@staff_required
def consultation_summary(consultation_id: int):
    """R10.2: publish the summary response."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        summaries.publish_summary(current_staff(), consultation.id, form.summary.data,
                               expected_version=form.expected_version)
        return MSG["summary"]

    return _act(consultation, SummaryForm(prefix="summary"), "summary_form", action)


@bp.post("/consultations/<int:consultation_id>/extend")
@staff_required
def consultation_extend(consultation_id: int):
    """R10.2: extend the summary's last day once, before it ends, with a published reason."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        extended = summaries.extend_summary(current_staff(), consultation.id, form.reason.data,
                                         expected_version=form.expected_version)
        return MSG["extended"].format(until=f"{extended.summary_extended_due:%Y-%m-%d}")

    return _act(consultation, ExtendForm(prefix="extend"), "extend_form", action)


@bp.post("/consultations/<int:consultation_id>/opinions/<int:opinion_id>/hide")
@ops_required
def consultation_hide_opinion(consultation_id: int, opinion_id: int):
    """Hide an abusive opinion on an R7 ground with a reason (recorded; the author is told)."""
    consultation = _own_or_abort(consultation_id)
    opinion = domain.Opinion.get_or_none((domain.Opinion.id == opinion_id)
                                         & (domain.Opinion.consultation == consultation.id))
    if opinion is None:
        abort(404)
    form = HideForm(prefix=f"hide{opinion.id}")
    if not form.validate_on_submit():
        flash(form_errors(form), "error")
        return redirect(url_for("console.consultation_detail", consultation_id=consultation.id) + "#opinions")
    try:
        hide_opinion(current_staff(), opinion.id, form.ground.data, form.reason.data)
        flash(MSG["hidden"].format(ground=form.ground.data), "success")
    except DomainError as error:
        flash(error.message, "error")
    return redirect(url_for("console.consultation_detail", consultation_id=consultation.id) + "#opinions")

