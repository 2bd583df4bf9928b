"""Two-factor sign-in in the console (issue 11 item 3): the code step after the password, enrolment
with a QR code drawn here as SVG (no outside service), and the rule that ops must enrol first."""
from __future__ import annotations

import qrcode
import qrcode.image.svg
from flask import flash, redirect, render_template, request, session, url_for
from markupsafe import Markup

from models.base import DomainError, utcnow
from models.staff import Staff
from models.two_factor import (
    disable_own,
    enrol,
    new_secret,
    provisioning_uri,
    recovery_codes_left,
    regenerate_recovery_codes,
    verify,
)

from .actions import BAD_FORM
from .auth import MSG as AUTH_MSG
from .auth import PENDING_KEY, current_session_id, current_staff, sign_in, staff_required
from .blueprint import bp
from .forms import BothFactorsForm, CodeForm

PENDING_SECONDS = 300  # the code must follow the password within 5 minutes
SETUP_KEY = "console_totp_setup"  # the secret being enrolled, until the first code proves it
# What an ops member who has not enrolled may still open: enrolment itself, and the way out.
BEFORE_ENROLMENT = {"console.two_factor", "console.logout", "console.login", "console.login_code"}

MSG = {
    "expired": "登入步驟已逾時，請重新輸入電子郵件與密碼。",
    "enrol_first": "營運小組可查看個人資料，請先完成兩步驟驗證設定才能使用工作臺。",
    "enrolled": "兩步驟驗證已啟用。請把備用碼存放在安全的地方，這是唯一一次顯示。",
    "regenerated": "已產生新的備用碼，舊的備用碼已失效。請妥善保存，這是唯一一次顯示。",
    "disabled": "已停用兩步驟驗證；您的其他登入工作階段已結束。之後可隨時再次啟用。",
}


@bp.before_request
def _ops_enrol_first():
    staff = current_staff()
    if staff is not None and staff.needs_two_factor_enrolment and request.endpoint not in BEFORE_ENROLMENT:
        flash(MSG["enrol_first"], "warning")
        return redirect(url_for("console.two_factor"))
    return None


def _qr_svg(uri: str) -> Markup:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return Markup(image.to_string(encoding="unicode"))  # noqa: S704 - drawn here from our own URI


@bp.route("/login/code", methods=["GET", "POST"])
def login_code():
    """The second step: a code from the authenticator app, or a recovery code."""
    pending = session.get(PENDING_KEY) or {}
    staff = Staff.get_or_none(Staff.id == pending.get("staff", 0))
    if staff is None or not staff.active or utcnow().timestamp() - pending.get("at", 0) > PENDING_SECONDS:
        session.pop(PENDING_KEY, None)
        flash(MSG["expired"], "warning")
        return redirect(url_for("console.login"))
    form = CodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            verify(staff, form.code.data, utcnow())
        except DomainError as refusal:
            error, status = refusal.message, 429 if refusal.code == "paused" else 401
        else:
            target = pending.get("next") or url_for("console.home")
            sign_in(staff)
            flash(AUTH_MSG["welcome"].format(name=staff.name), "success")
            return redirect(target)
    elif request.method == "POST":
        error, status = BAD_FORM, 400
    form.code.data = ""
    return render_template("console/login_code.html", form=form, error=error, title="兩步驟驗證"), status


@bp.route("/two-factor", methods=["GET", "POST"])
@staff_required
def two_factor():
    """Enrol: scan the QR code, type the first code, keep the recovery codes."""
    staff = current_staff()
    if staff.two_factor_enabled:
        return _enrolled_page(staff)
    secret = session.get(SETUP_KEY) or new_secret()
    session[SETUP_KEY] = secret
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            codes = enrol(staff, secret, form.code.data, utcnow())
        except DomainError as refusal:
            form.code.errors.append(refusal.message)
            status = 400
        else:
            session.pop(SETUP_KEY, None)
            flash(MSG["enrolled"], "success")
            return render_template("console/two_factor.html", enrolled=True, codes=codes,
                                   left=len(codes), title="兩步驟驗證")
    elif request.method == "POST":
        status = 400
    uri = provisioning_uri(staff.email, secret)
    form.code.data = ""
    return render_template("console/two_factor.html", enrolled=False, form=form, qr=_qr_svg(uri), secret=secret,
                           required=staff.is_ops, title="設定兩步驟驗證"), status


def _enrolled_page(staff: Staff, status: int = 200, codes: list[str] | None = None, **forms):
    return render_template(
        "console/two_factor.html", enrolled=True, left=recovery_codes_left(Staff.get_by_id(staff.id)), codes=codes,
        recovery_form=forms.get("recovery_form") or BothFactorsForm(prefix="recovery", formdata=None),
        disable_form=forms.get("disable_form") or BothFactorsForm(prefix="disable", formdata=None),
        can_disable=not staff.is_ops, title="兩步驟驗證"), status


def _both_factors(prefix: str, action):
    """Run a change to one's own two-factor sign-in after the password and a code; the page again on refusal."""
    staff = current_staff()
    form = BothFactorsForm(prefix=prefix)
    if not staff.two_factor_enabled:
        return redirect(url_for("console.two_factor"))
    if not form.validate_on_submit():
        flash(BAD_FORM, "error")
        return _enrolled_page(staff, 400, **{f"{prefix}_form": form})
    try:
        return action(staff, form)
    except DomainError as refusal:
        form.password.data = form.code.data = ""
        flash(refusal.message, "error")
        return _enrolled_page(staff, 429 if refusal.code == "paused" else 400, **{f"{prefix}_form": form})


@bp.post("/two-factor/recovery-codes")
@staff_required
def two_factor_recovery_codes():
    """New recovery codes (the old ones stop working), after the password and a code."""
    def action(staff, form):
        codes = regenerate_recovery_codes(staff, form.password.data, form.code.data, utcnow())
        flash(MSG["regenerated"], "success")
        return _enrolled_page(staff, codes=codes)

    return _both_factors("recovery", action)


@bp.post("/two-factor/disable")
@staff_required
def two_factor_disable():
    """Agency staff turn two-factor sign-in off, after the password and a code (ops cannot)."""
    def action(staff, form):
        disable_own(staff, form.password.data, form.code.data, utcnow(), keep_session=current_session_id())
        flash(MSG["disabled"], "success")
        return redirect(url_for("console.home"))

    return _both_factors("disable", action)
