"""The one way a console form runs a domain action: validate, act, flash the outcome or the refusal.

The domain function owns its transaction and checks the version the staff member saw, so the
view only chooses where to go next: `on_invalid` (the form did not validate), `on_refused` (the
domain said no, with a zh-TW reason) or `done` (the success message has been flashed).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import flash

from models.base import DomainError

from ..form import Form

BAD_FORM = "表單內容有誤，請檢查後再送出。"


def form_errors(form: Form) -> str:
    """Each field's errors, under its label (never the CSRF token's), or the general message."""
    return "；".join(f"{getattr(form, name).label.text}：{'、'.join(errors)}" for name, errors in form.errors.items()
                    if name != "csrf_token") or BAD_FORM


def act(form: Form, action: Callable[[], str], *, on_invalid: Callable[[], object],
        on_refused: Callable[[], object], done: Callable[[], object], explain_errors: bool = False):
    if not form.validate_on_submit():
        flash(form_errors(form) if explain_errors else BAD_FORM, "error")
        return on_invalid()
    try:
        message = action()
    except DomainError as error:
        flash(error.message, "error")
        return on_refused()
    flash(message, "success")
    return done()


def act_on_detail(form: Form, action: Callable[[], str], *, render: Callable[..., object], form_name: str,
                  back: Callable[[], object], explain_errors: bool = False):
    """`act` for a detail page: an invalid form renders the page again (400) with what was typed;
    a refusal and a success both go `back` to it."""
    return act(form, action, on_invalid=lambda: render(status=400, **{form_name: form}), on_refused=back,
               done=back, explain_errors=explain_errors)
