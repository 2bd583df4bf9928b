"""The agency's lightweight response page (issue 11 item 6): `GET|POST /agency/respond/<token>`.

The signed link from the establishment notice or a reminder opens one proposal for one agency,
with no console account. The agency publishes its response (R9.4.3), asks for the one extension
(R9.4.4) or records a meeting (R9.4.2) under the console's own rules; each action records the
address the link was mailed to. After publishing the page shows the response, read-only.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, url_for
from flask_wtf.csrf import CSRFError
from wtforms import DateField, RadioField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Optional

from models import response_publishing as publishing
from models import responses
from models.agencies import get_agency
from models.base import DomainError, format_taipei, utcnow
from models.notify import public_base_url
from models.response_links import open_link, valid_until

from .form import Form
from .security_headers import token_page_headers

bp = Blueprint("agency_respond", __name__)

STATUS_FOR_ERROR = {"bad_link": 400, "expired_link": 410, "not_open": 410, "reassigned": 410}
REQUIRED = "此欄位必填。"
MSG = {
    "csrf": "表單已失效（可能停留太久），請重新開啟郵件中的連結後再送出。",
    "bad_form": "表單內容有誤，請檢查後再送出。",
}


bp.after_request(token_page_headers)  # the URL carries the signed token


class PublishForm(Form):
    decision = RadioField("回應", choices=list(responses.DECISIONS.items()), validators=[DataRequired(REQUIRED)])
    reasons = TextAreaField("理由", validators=[DataRequired(REQUIRED)], render_kw={"rows": 5})
    plan = TextAreaField("辦理方式與期程（同意或部分參採時必填）", validators=[Optional()], render_kw={"rows": 3})
    submit = SubmitField("公開回應")


class ExtendForm(Form):
    reason = TextAreaField("延長理由（會公開）", validators=[DataRequired(REQUIRED)], render_kw={"rows": 3})
    submit = SubmitField("申請延長一次")


class MeetingForm(Form):
    held_on = DateField("會議日期", validators=[DataRequired(REQUIRED)])
    place = StringField("時間及地點", validators=[DataRequired(REQUIRED)])
    participants = TextAreaField("出席對象", validators=[DataRequired(REQUIRED)], render_kw={"rows": 2})
    submit = SubmitField("登記會議")


def _refused(message: str, status: int):
    return render_template("agency_respond.html", error=message, proposal=None), status


@bp.errorhandler(CSRFError)
def _csrf_error(error):
    return _refused(MSG["csrf"], 400)


def _page(token: str, proposal, actor, *, forms: dict | None = None, error: str | None = None,
          done: str | None = None, status: int = 200):
    forms = forms or {}
    agency = get_agency(actor.agency_code)
    return render_template(
        "agency_respond.html", token=token, proposal=proposal, agency=agency, actor=actor,
        role=responses.role_of(actor, proposal), response=responses.response_of(proposal.id, actor.agency_code),
        extension=responses.extension_of(proposal.id), meetings=responses.meetings_of(proposal.id),
        due=responses.effective_due(proposal), until=format_taipei(valid_until(proposal)),
        publish_form=forms.get("publish") or PublishForm(prefix="publish", formdata=None),
        extend_form=forms.get("extend") or ExtendForm(prefix="extend", formdata=None),
        meeting_form=forms.get("meeting") or MeetingForm(prefix="meeting", formdata=None),
        error=error, done=done,
    ), status


@bp.get("/agency/respond/<token>")
def respond_page(token: str):
    try:
        proposal, actor = open_link(token, utcnow())
    except DomainError as error:
        return _refused(error.message, STATUS_FOR_ERROR.get(error.code, 400))
    return _page(token, proposal, actor, done=None)


@bp.post("/agency/respond/<token>/<action>")
def respond(token: str, action: str):
    now = utcnow()
    try:
        proposal, actor = open_link(token, now)
    except DomainError as error:
        return _refused(error.message, STATUS_FOR_ERROR.get(error.code, 400))
    base = public_base_url()
    forms = {"publish": PublishForm(prefix="publish"), "extend": ExtendForm(prefix="extend"),
             "meeting": MeetingForm(prefix="meeting")}
    form = forms.get(action)
    if form is None:
        return _refused(MSG["bad_form"], 404)
    if not form.validate_on_submit():
        return _page(token, proposal, actor, forms={action: form}, error=MSG["bad_form"], status=400)
    try:
        if action == "publish":
            publishing.publish_response(proposal.id, actor, form.decision.data, form.reasons.data, form.plan.data or "",
                                        now, base_url=base)
        elif action == "extend":
            responses.extend_deadline(proposal.id, actor, form.reason.data, now, base_url=base)
        else:
            held_on = form.held_on.data if isinstance(form.held_on.data, dt.date) else None
            publishing.schedule_meeting(proposal.id, actor, held_on, form.place.data, form.participants.data, now,
                                        base_url=base)
    except DomainError as error:
        return _page(token, proposal, actor, forms={action: form}, error=error.message, status=400)
    return redirect(url_for("agency_respond.respond_page", token=token, done=action))
