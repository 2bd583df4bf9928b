"""The proposer's consent by the signed link in the email (R11), for officials who answer by email.

`GET /recognition/consent/<token>` shows the consent text (what agreeing means) and the two answers,
and never changes anything (mail scanners open links); `POST` (CSRF) records the answer, as the
LINE quick replies do. A forged link answers 400 and changes nothing.
"""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_wtf.csrf import CSRFError
from wtforms import HiddenField
from wtforms.validators import AnyOf, DataRequired

from models import recognition
from models.base import DomainError
from models.proposals import Proposal

from .form import Form
from .security_headers import token_page_headers

bp = Blueprint("recognition_consent", __name__)


bp.after_request(token_page_headers)  # the URL carries the signed token


class ConsentForm(Form):
    answer = HiddenField(validators=[DataRequired("請選擇回覆。"), AnyOf([recognition.YES, recognition.NO], "請選擇回覆。")])


@bp.errorhandler(CSRFError)
def _csrf_error(error):
    return render_template("recognition_consent.html", error="表單已失效（可能停留太久），請重新開啟郵件中的連結後再送出。"), 400


def _page(row, form, *, error: str | None = None, done: str | None = None, status: int = 200):
    proposal = Proposal.get_by_id(row.proposal_id)
    text = recognition.CONSENT_TEXT.format(workplace=recognition.workplace_of(row.official))
    return render_template("recognition_consent.html", row=row, proposal=proposal, consent_text=text, form=form,
                           error=error, done=done, labels=recognition.CONSENT_LABELS), status


@bp.get("/recognition/consent/<token>")
def consent_page(token: str):
    try:
        row = recognition.open_consent_link(token)
    except DomainError as error:
        return render_template("recognition_consent.html", error=error.message), 400
    return _page(row, ConsentForm(formdata=None))


@bp.post("/recognition/consent/<token>")
def consent(token: str):
    try:
        row = recognition.open_consent_link(token)
    except DomainError as error:
        return render_template("recognition_consent.html", error=error.message), 400
    form = ConsentForm()
    if not form.validate_on_submit():
        return _page(row, form, error="請選擇「同意推薦」或「不同意」。", status=400)
    try:
        row = recognition.answer_consent(row.official, row.proposal_id, form.answer.data == recognition.YES, via="mail")
    except DomainError as error:
        return _page(row, form, error=error.message, status=400)
    return _page(row, form, done=recognition.answer_text(row))
