"""Passwords without a shell (issue 11 item 2): set one from an invitation, reset a forgotten one,
change one's own. Links are signed, single-use and short-lived (`models.staff_accounts`)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from models.base import DomainError, utcnow
from models.staff_accounts import (
    INVITE,
    RESET,
    accept_invitation,
    change_password,
    request_password_reset,
    reset_password,
    staff_for_link,
)

from .actions import act
from .auth import current_session_id, current_staff, staff_required
from .blueprint import bp
from .forms import ChangePasswordForm, ForgotPasswordForm, NewPasswordForm

MSG = {
    "invited_done": "密碼已設定，請登入。",
    "reset_done": "密碼已重設，所有已登入的裝置都已登出，請以新密碼登入。",
    "changed": "密碼已變更；您在其他裝置的登入已結束。",
    "forgot_sent": "如果這個電子郵件有工作臺帳號，重設連結已寄出，1 小時內有效。沒收到請檢查垃圾郵件，或洽營運小組（研考會）。",
}
LINK_STATUS = {"bad_link": 400, "used_link": 410, "expired_link": 410}
TITLES = {INVITE: "設定工作臺密碼", RESET: "重設工作臺密碼"}


def _link_page(token: str, purpose: str, done, message: str):
    try:
        staff = staff_for_link(token, purpose, utcnow())
    except DomainError as error:
        return render_template("console/base.html", error_message=error.message, title="連結無法使用"), \
            LINK_STATUS.get(error.code, 400)
    form = NewPasswordForm()
    page = lambda status=200: (render_template("console/set_password.html", form=form, email=staff.email,  # noqa: E731
                                               purpose=purpose, title=TITLES[purpose]), status)
    if request.method == "GET":
        return page()

    def action() -> str:
        done(token, form.password.data, utcnow())
        return message

    def refused():
        form.password.data = form.confirm.data = ""
        return page(400)

    return act(form, action, on_invalid=lambda: page(400), on_refused=refused,
               done=lambda: redirect(url_for("console.login")), explain_errors=True)


@bp.route("/invitation/<token>", methods=["GET", "POST"])
def invitation(token: str):
    """The invitee sets the first password."""
    return _link_page(token, INVITE, accept_invitation, MSG["invited_done"])


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    return _link_page(token, RESET, reset_password, MSG["reset_done"])


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password():
    """The same answer whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        request_password_reset(form.email.data, utcnow())
        flash(MSG["forgot_sent"], "info")
        return redirect(url_for("console.login"))
    status = 400 if request.method == "POST" else 200
    return render_template("console/forgot_password.html", form=form, title="忘記密碼"), status


@bp.route("/password", methods=["GET", "POST"])
@staff_required
def own_password():
    form = ChangePasswordForm()
    page = lambda status=200: (render_template("console/change_password.html", form=form, title="變更密碼"),  # noqa: E731
                               status)
    if request.method == "GET":
        return page()

    def action() -> str:
        change_password(current_staff(), form.current.data, form.password.data, utcnow(),
                        keep_session=current_session_id())
        return MSG["changed"]

    return act(form, action, on_invalid=lambda: page(400), on_refused=lambda: page(400),
               done=lambda: redirect(url_for("console.home")), explain_errors=True)
