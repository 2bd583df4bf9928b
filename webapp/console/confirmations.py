"""Confirming the responsible agency in the console (R9.2.5).

The operations team sends the request from a proposal's review page (seconding or later), records
lead and co-organisers, marks a dispute (all become leads) and settles declines and redirects with
the agency. `/console/confirmations` lists the assignments: every agency's for the team, only its
own for agency staff, who can answer there as well as by the emailed link (confirming, possibly with
one of its own subordinates as the handling unit, or raising a doubt). A doubt is discussed there by
both sides (notes) until the team records the outcome (R9.2.5(4)).
"""
from __future__ import annotations

import peewee
from flask import abort, current_app, flash, redirect, render_template, url_for
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from models import agency_confirmation as domain
from models import agency_discussion as discussion
from models.agencies import active_agencies, subordinates_of
from models.base import DomainError
from models.calendar import today_taipei
from models.proposals import Proposal

from ..form import Form
from .actions import act, form_errors
from .auth import agency_scope, current_staff, ops_required, staff_required
from .blueprint import bp

REQUIRED = "此欄位必填。"

MSG = {
    "requested": "已寄出機關確認請求：{names}（請於 {due} 前回覆）。",
    "roles_set": "已更新主辦／協辦機關。",
    "disputed": "已將所有機關列為主辦（第九點（二）5（3））。",
    "answered": "已回覆：{decision}。",
    "settled": "已記錄協調結果，並通知該機關。",
    "noted": "已新增研商意見。",
    "bad_form": "表單內容有誤，請檢查後再送出。",
    "lead_required": "請選擇主辦機關。",
}


class RequestForm(Form):
    lead = SelectField("主辦機關", validators=[Optional()])
    # Checkboxes (no Ctrl-click), filtered by the search box above them (static/console_filter.js).
    co = SelectMultipleField("協辦機關（可複選）", validators=[Optional()], widget=ListWidget(prefix_label=False),
                             option_widget=CheckboxInput(), render_kw={"class": "checklist", "data-filterable": "1"})
    submit = SubmitField("寄送機關確認請求")


class RolesForm(Form):
    lead = SelectField("協調後的主辦機關（其餘為協辦）", validators=[DataRequired(REQUIRED)])
    submit = SubmitField("設定主辦／協辦")


class DisputeForm(Form):
    submit = SubmitField("仍有爭議：全部列為主辦")


ANSWER_CHOICES = [(key, label) for key, label in domain.DECISION_LABELS.items() if key in domain.DECISIONS]


class AnswerForm(Form):
    decision = RadioField("回覆", choices=ANSWER_CHOICES, validators=[DataRequired(REQUIRED)])
    # Only the agency's own subordinates are offered; anything else is refused by the domain in zh-TW.
    handling_unit_code = SelectField("承辦的所屬（附屬）機關", validators=[Optional()], validate_choice=False)
    handling_unit_name = StringField("或寫明承辦單位名稱（不在清單上時）", validators=[Optional(), Length(max=domain.UNIT_MAX)],
                                     render_kw={"maxlength": domain.UNIT_MAX})
    note = TextAreaField("說明（有疑義時必填理由）",
                         validators=[Optional(), Length(max=domain.NOTE_MAX)],
                         render_kw={"rows": 3, "maxlength": domain.NOTE_MAX})
    submit = SubmitField("送出回覆")


class NoteForm(Form):
    text = TextAreaField("研商意見", validators=[DataRequired(REQUIRED), Length(min=2, max=domain.NOTE_MAX)],
                         render_kw={"rows": 2, "maxlength": domain.NOTE_MAX})
    submit = SubmitField("新增研商意見")


class SettleForm(Form):
    outcome = RadioField("協調結果", choices=list(domain.SETTLE_OUTCOMES.items()), validators=[DataRequired(REQUIRED)])
    note = TextAreaField("協調說明", validators=[DataRequired(REQUIRED), Length(min=2, max=domain.NOTE_MAX)],
                         render_kw={"rows": 2, "maxlength": domain.NOTE_MAX})
    submit = SubmitField("記錄協調結果")


def agency_choices(blank: str = "請選擇") -> list[tuple[str, str]]:
    return [("", blank)] + [(a.code, a.name) for a in active_agencies()]


def _request_form(proposal: Proposal, **formdata) -> RequestForm:
    """The request form; `formdata=None` for an empty one, nothing to read the POST."""
    form = RequestForm(prefix="request", **formdata)
    has_lead = any(a.role == domain.LEAD for a in domain.active_assignments(proposal.id))
    form.lead.choices = agency_choices("（維持現有主辦）" if has_lead else "請選擇")
    form.co.choices = agency_choices()[1:]
    if "formdata" in formdata and not domain.assignments_of(proposal.id):  # a fresh form: suggest the chosen agency
        form.lead.data = proposal.agency_code or ""
    return form


def _roles_form(proposal: Proposal, **formdata) -> RolesForm:
    form = RolesForm(prefix="roles", **formdata)
    form.lead.choices = [(a.agency_code, a.agency_name) for a in domain.active_assignments(proposal.id)]
    return form


def request_forms(proposal: Proposal, **given) -> dict:
    """The confirmation forms of the review detail page."""
    return {"request_form": given.get("request_form") or _request_form(proposal, formdata=None),
            "roles_form": given.get("roles_form") or _roles_form(proposal, formdata=None),
            "dispute_form": DisputeForm(prefix="dispute", formdata=None)}


def _proposal_or_404(proposal_id: int) -> Proposal:
    try:
        return Proposal.get_by_id(proposal_id)
    except peewee.DoesNotExist:
        abort(404)


def _assignment_or_404(assignment_id: int) -> domain.AgencyAssignment:
    found = domain.AgencyAssignment.get_or_none(domain.AgencyAssignment.id == assignment_id)
    if found is None:
        abort(404)
    return found


def _back_to(proposal: Proposal):
    return redirect(url_for("console.review_detail", proposal_id=proposal.id) + "#agencies")


# --- operations team ------------------------------------------------------------------------------

@bp.post("/review/<int:proposal_id>/confirmations")
@ops_required
def request_confirmation(proposal_id: int):
    """R9.2.5(1): email each chosen agency a request with signed links."""
    proposal = _proposal_or_404(proposal_id)
    form = _request_form(proposal)

    def action():
        wanted = ([(form.lead.data, domain.LEAD)] if form.lead.data else []) + [
            (code, domain.CO) for code in form.co.data if code != form.lead.data]
        created = domain.request_confirmation(proposal.id, current_staff().actor, wanted,
                                              base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["requested"].format(names="、".join(f"{a.agency_name}（{a.role_label}）" for a in created),
                                       due=f"{created[0].due:%Y-%m-%d}")

    back = lambda: _back_to(proposal)  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)


@bp.post("/review/<int:proposal_id>/roles")
@ops_required
def set_roles(proposal_id: int):
    """R9.2.5(3): the coordinated lead; the other agencies become co-organisers."""
    proposal = _proposal_or_404(proposal_id)
    form = _roles_form(proposal)

    def action():
        roles = {code: domain.LEAD if code == form.lead.data else domain.CO for code, _ in form.lead.choices}
        domain.set_roles(proposal.id, current_staff().actor, roles)
        return MSG["roles_set"]

    back = lambda: _back_to(proposal)  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)


@bp.post("/review/<int:proposal_id>/disputed")
@ops_required
def mark_disputed(proposal_id: int):
    """R9.2.5(3): still disputed → all agencies are leads."""
    proposal = _proposal_or_404(proposal_id)
    if not DisputeForm(prefix="dispute").validate_on_submit():
        abort(400)
    try:
        domain.mark_disputed(proposal.id, current_staff().actor)
    except DomainError as error:
        flash(error.message, "error")
        return _back_to(proposal)
    flash(MSG["disputed"], "success")
    return _back_to(proposal)


@bp.post("/confirmations/<int:assignment_id>/settle")
@ops_required
def settle(assignment_id: int):
    """R9.2.5(4): a decline or redirect settled by the team and the agency together."""
    assignment = _assignment_or_404(assignment_id)
    form = SettleForm(prefix=f"settle{assignment.id}")

    def action():
        discussion.settle(assignment.id, current_staff().actor, form.outcome.data, form.note.data)
        return MSG["settled"]

    back = lambda: redirect(url_for("console.agency_confirmations"))  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)


# --- everyone: the list; agency staff: answering ------------------------------------------------

def unit_choices(agency_code: str) -> list[tuple[str, str]]:
    """The agency's own subordinates only (R9.2.5(2))."""
    return [("", "（請選擇，或於下欄寫明）")] + [(a.code, a.name) for a in subordinates_of(agency_code)]


def answer_form(assignment: domain.AgencyAssignment, **formdata) -> AnswerForm:
    form = AnswerForm(prefix=f"answer{assignment.id}", **formdata)
    form.handling_unit_code.choices = unit_choices(assignment.agency_code)
    return form


@bp.get("/confirmations")
@staff_required
def agency_confirmations():
    """Assignments with due days and overdue marks: every agency's (ops) or the staff member's own."""
    staff = current_staff()
    scope = agency_scope(staff)
    rows = domain.console_assignments(scope)
    forms, note_forms = {}, {}
    for a in rows:
        if staff.is_ops and a.needs_settling:
            forms[a.id] = SettleForm(prefix=f"settle{a.id}", formdata=None)
        elif not staff.is_ops and a.status == domain.PENDING:
            forms[a.id] = answer_form(a, formdata=None)
        if a.needs_settling:
            note_forms[a.id] = NoteForm(prefix=f"note{a.id}", formdata=None)
    return render_template("console/confirm_list.html", rows=rows, forms=forms, note_forms=note_forms,
                           notes=discussion.notes_of([a.id for a in rows]), today=today_taipei(),
                           is_ops=staff.is_ops, title="機關確認")


@bp.post("/confirmations/<int:assignment_id>/notes")
@staff_required
def discussion_note(assignment_id: int):
    """R9.2.5(4): a note in the joint discussion of a doubt, by the team or the agency that raised it."""
    staff = current_staff()
    assignment = _assignment_or_404(assignment_id)
    if not staff.is_ops and staff.agency_code != assignment.agency_code:
        abort(403)
    form = NoteForm(prefix=f"note{assignment.id}")

    def action():
        discussion.add_note(assignment.id, staff.actor, is_ops=staff.is_ops, agency_code=staff.agency_code,
                            text=form.text.data)
        return MSG["noted"]

    back = lambda: redirect(url_for("console.agency_confirmations") + f"#a{assignment.id}")  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)


@bp.post("/confirmations/<int:assignment_id>/answer")
@staff_required
def answer(assignment_id: int):
    """R9.2.5(2): the agency's answer from the console (its own assignments only)."""
    staff = current_staff()
    assignment = _assignment_or_404(assignment_id)
    if staff.is_ops or staff.agency_code != assignment.agency_code:
        abort(403)
    form = answer_form(assignment)
    if not form.validate_on_submit():
        flash(form_errors(form), "error")
        return redirect(url_for("console.agency_confirmations"))
    try:
        domain.answer(assignment.id, staff.actor, form.decision.data, form.note.data or "",
                      form.handling_unit_code.data or None, handling_unit_name=form.handling_unit_name.data or "")
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("console.agency_confirmations"))
    flash(MSG["answered"].format(decision=domain.DECISION_LABELS[form.decision.data]), "success")
    return redirect(url_for("console.agency_confirmations"))
