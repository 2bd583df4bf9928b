"""The agency's answer by the signed link in the confirmation email (R9.2.5(2)).

It confirms, confirms naming one of its own subordinate agencies as the handling unit (the list
offers only those), or raises a doubt, which opens a joint discussion with the operations team.

`GET /agency/answer/<token>` shows the proposal and three buttons and never changes anything (mail
scanners open links); `POST` (CSRF) applies the answer. A forged link answers 400, an expired or
replaced one 410, an answer after the first (or after the clock decided) 409; nothing changes.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_wtf.csrf import CSRFError
from wtforms import HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from models import agency_confirmation as domain
from models.agencies import subordinates_of
from models.base import DomainError, format_taipei

from .form import Form
from .security_headers import token_page_headers

bp = Blueprint("agency_links", __name__)

STATUS_FOR_ERROR = {"bad_token": 400, "expired_token": 410, "already_answered": 409}


bp.after_request(token_page_headers)  # the URL carries the signed token


class LinkAnswerForm(Form):
    decision = HiddenField(validators=[DataRequired("請選擇回覆。")])
    handling_unit_code = SelectField("承辦的所屬機關", validators=[Optional()], validate_choice=False)
    handling_unit_name = StringField("承辦單位名稱", validators=[Optional(), Length(max=domain.UNIT_MAX)],
                                     render_kw={"maxlength": domain.UNIT_MAX})
    note = TextAreaField("說明", validators=[Optional(), Length(max=domain.NOTE_MAX)],
                         render_kw={"rows": 3, "maxlength": domain.NOTE_MAX})


def _form(assignment: domain.AgencyAssignment, **formdata) -> LinkAnswerForm:
    form = LinkAnswerForm(**formdata)
    form.handling_unit_code.choices = [("", "（請選擇，或於下欄寫明）")] + [
        (a.code, a.name) for a in subordinates_of(assignment.agency_code)]  # its own subordinates only
    return form


@bp.errorhandler(CSRFError)
def _csrf_error(error):
    message = "表單已失效（可能停留太久），請重新開啟郵件中的連結後再送出。"
    return render_template("agency_answer.html", error=message, assignment=None, proposal=None), 400


def _refused(error: DomainError, assignment: domain.AgencyAssignment | None = None):
    status = STATUS_FOR_ERROR.get(error.code, 400)
    return render_template("agency_answer.html", error=error.message, assignment=assignment,
                           proposal=assignment.proposal if assignment else None), status


def _page(assignment: domain.AgencyAssignment, form: LinkAnswerForm, *, error: str | None = None,
          done: bool = False, status: int = 200):
    return render_template(
        "agency_answer.html", assignment=assignment, proposal=assignment.proposal, form=form, error=error, done=done,
        decisions={k: v for k, v in domain.DECISION_LABELS.items() if k in domain.DECISIONS},
        chosen=domain.DECISION_ALIASES.get(request.args.get("decision", ""), request.args.get("decision", "")),
        answered_at=format_taipei(assignment.answered_at), open=assignment.status == domain.PENDING,
    ), status


@bp.get("/agency/answer/<token>")
def answer_page(token: str):
    """The proposal, the agency's role and due day, and the three answers (nothing changes here)."""
    try:
        assignment = domain.assignment_for_token(token)
    except DomainError as error:
        return _refused(error)
    return _page(assignment, _form(assignment, formdata=None))


@bp.post("/agency/answer/<token>")
def answer(token: str):
    """Apply the agency's answer once; a second answer is refused with what was answered first."""
    try:
        assignment = domain.assignment_for_token(token)
    except DomainError as error:
        return _refused(error)
    form = _form(assignment)
    if not form.validate_on_submit():
        return _page(assignment, form, error="表單已失效或內容有誤，請重新整理頁面後再送出。", status=400)
    agency = assignment.agency_code
    try:
        assignment = domain.answer(assignment.id, f"agency:{agency}:link", form.decision.data, form.note.data or "",
                                   form.handling_unit_code.data or None,
                                   handling_unit_name=form.handling_unit_name.data or "")
    except DomainError as error:
        if error.code == "already_answered":
            return _refused(error, domain.AgencyAssignment.get_by_id(assignment.id))
        return _page(assignment, form, error=error.message, status=400)
    return _page(assignment, form, done=True)
