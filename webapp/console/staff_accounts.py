"""Staff accounts in the console (operations team only, issue 11 item 1): list, invite, disable,
re-enable, resend an invitation, and lift a login lockout early (issue 10 item 7). The domain
(`models.staff_accounts`, `models.login_failures`) records every action."""
from __future__ import annotations

from flask import abort, redirect, render_template, url_for

from models.agencies import Agency
from models.base import utcnow
from models.events import AuditEvent
from models.login_failures import active_lockouts, lift_lockout
from models.staff import ROLE_OPS, Staff
from models.staff_accounts import disable_staff, enable_staff, invite_staff, list_staff, resend_invitation
from models.two_factor import reset_by_ops

from ..form import Form
from .actions import act
from .auth import LoginLimiter, current_staff, ops_required
from .blueprint import bp
from .forms import InviteForm, StaffReasonForm

ACTION_LABELS = {
    "staff_created": "建立帳號", "staff_invited": "寄送邀請", "staff_invitation_resent": "重新寄送邀請",
    "staff_invitation_accepted": "完成邀請（設定密碼）", "staff_disabled": "停用", "staff_enabled": "恢復",
    "staff_password_changed": "變更密碼", "staff_password_reset": "重設密碼", "staff_reset_requested": "申請重設密碼",
    "staff_reset_throttled": "重設申請過多（未寄出）", "staff_sessions_ended": "結束登入階段",
    "staff_login_locked": "登入暫停", "staff_login_unlocked": "解除登入暫停", "staff_2fa_enrolled": "啟用兩步驟驗證", "staff_2fa_reset": "重設兩步驟驗證",
}

MSG = {
    "invited": "已寄出邀請給 {email}，連結 72 小時內有效。",
    "resent": "已重新寄出邀請給 {email}，先前的連結已失效。",
    "disabled": "已停用 {email}，該帳號的登入階段已全部結束。",
    "enabled": "已恢復 {email}，對方可以再次登入。",
    "two_factor_reset": "已重設 {email} 的兩步驟驗證，對方下次登入時須重新設定。",
    "lifted": "已解除來自 {ip} 的登入暫停。",
}


def _invite_form(formdata=True) -> InviteForm:
    form = InviteForm(prefix="invite") if formdata else InviteForm(prefix="invite", formdata=None)
    agencies = Agency.select(Agency.code, Agency.name).where(Agency.active == True).order_by(Agency.code)  # noqa: E712
    form.agency_code.choices = [("", "（營運小組不需選擇）")] + [(a.code, f"{a.name}（{a.code}）") for a in agencies]
    return form


def _page(invite_form: InviteForm | None = None, status: int = 200):
    history = (AuditEvent.select().where((AuditEvent.subject_type == "staff") & AuditEvent.action.startswith("staff_")
                                         & ~AuditEvent.action.in_(["staff_login"]))
               .order_by(AuditEvent.id.desc()).limit(30))
    return render_template("console/staff_accounts.html", groups=list_staff(), invite_form=invite_form or _invite_form(False),
                           staff_form=StaffReasonForm(prefix="staff", formdata=None), history=list(history),
                           lockouts=active_lockouts(utcnow()),
                           me=current_staff(), names={s.actor: s.email for s in Staff.select(Staff.id, Staff.email)},
                           action_labels=ACTION_LABELS, title="工作臺帳號"), status


@bp.get("/staff")
@ops_required
def staff_accounts():
    return _page()


@bp.post("/staff/invite")
@ops_required
def invite():
    form = _invite_form()

    def action() -> str:
        code = form.agency_code.data if form.role.data != ROLE_OPS else None
        staff = invite_staff(current_staff(), form.email.data, form.role.data, code, form.display_name.data, utcnow())
        return MSG["invited"].format(email=staff.email)

    back = lambda: redirect(url_for("console.staff_accounts"))  # noqa: E731
    return act(form, action, on_invalid=lambda: _page(form, 400), on_refused=lambda: _page(form, 400), done=back,
               explain_errors=True)


def _target(staff_id: int) -> Staff:
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        abort(404)
    return staff


def _with_reason(staff_id: int, change, message: str):
    target = _target(staff_id)
    form = StaffReasonForm(prefix="staff")

    def action() -> str:
        change(current_staff(), target.id, form.reason.data, utcnow())
        return message.format(email=target.email)

    back = lambda: redirect(url_for("console.staff_accounts"))  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)


@bp.post("/staff/<int:staff_id>/disable")
@ops_required
def disable(staff_id: int):
    return _with_reason(staff_id, disable_staff, MSG["disabled"])


@bp.post("/staff/<int:staff_id>/enable")
@ops_required
def enable(staff_id: int):
    return _with_reason(staff_id, enable_staff, MSG["enabled"])


@bp.post("/staff/<int:staff_id>/resend")
@ops_required
def resend(staff_id: int):
    target = _target(staff_id)
    form = Form()  # only the CSRF token: resending needs no reason, the invitation is the why

    def action() -> str:
        resend_invitation(current_staff(), target.id, utcnow())
        return MSG["resent"].format(email=target.email)

    back = lambda: redirect(url_for("console.staff_accounts"))  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back)


@bp.post("/staff/<int:staff_id>/reset-2fa")
@ops_required
def reset_two_factor(staff_id: int):
    """A lost device: another ops member resets the two-factor sign-in (recorded, sessions end)."""
    return _with_reason(staff_id, reset_by_ops, MSG["two_factor_reset"])


@bp.post("/staff/lockouts/<int:event_id>/lift")
@ops_required
def lift_login_lockout(event_id: int):
    """Lift a login lockout before it runs out (a colleague locked out at the office), with a reason."""
    form = StaffReasonForm(prefix="staff")

    def action() -> str:
        lock = lift_lockout(current_staff(), event_id, form.reason.data, utcnow())
        LoginLimiter().lift(lock.key)
        return MSG["lifted"].format(ip=lock.ip_address)

    back = lambda: redirect(url_for("console.staff_accounts"))  # noqa: E731
    return act(form, action, on_invalid=back, on_refused=back, done=back, explain_errors=True)
