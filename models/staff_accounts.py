"""Staff accounts run from the console (issue 11 items 1-2): invitations, disabling, passwords.

The operations team invites a colleague by email (as ops, or as staff of one agency); the
invitation carries a signed, single-use link valid for `settings.STAFF_INVITATION_TTL`, where the
invitee sets a password. A forgotten password is reset the same way (`STAFF_RESET_TTL`). Every
action is an audit event: who (actor), whom (subject), when, why (reason). Passwords follow
`models.passwords`. Disabling an account or resetting its password ends its sessions.
"""
from __future__ import annotations

import datetime as dt
import secrets

import peewee
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from . import services
from .agencies import Agency
from .base import BaseModel, DomainError, format_taipei, utcnow
from .events import record
from .outbox import queue_mail, transaction
from .passwords import check_password
from .settings import STAFF_INVITATION_TTL, STAFF_RESET_TTL, STAFF_RESETS_PER_HOUR
from .staff import (
    ROLE_AGENCY,
    ROLE_LABELS,
    ROLES,
    Staff,
    _clean_staff_email,
    _require_ops,
    clean_reason,
    create_staff,
    normalize_email,
)
from .staff_sessions import END_DISABLED, END_PASSWORD, END_RESET, end_sessions

INVITE, RESET = "invite", "reset"
PATHS = {INVITE: "/console/invitation/", RESET: "/console/password/reset/"}

MSG = {
    "bad_link": "這個連結無效（可能不完整或遭修改），請確認信中的完整連結。",
    "used_link": "這個連結已經使用過或已被新的連結取代，請使用最新一封信中的連結。",
    "expired_link": "這個連結已於 {until} 過期。{hint}",
    "hint_invite": "請聯絡營運小組（研考會）重新寄送邀請。",
    "hint_reset": "請回登入頁再按一次「忘記密碼」。",
    "not_found": "找不到這個帳號。",
    "self": "不能停用自己的帳號。",
    "already_disabled": "這個帳號已經停用。",
    "not_disabled": "這個帳號目前沒有停用。",
    "not_pending": "這個帳號已設定密碼，不需要再寄送邀請。",
    "disabled": "這個帳號已停用，請先恢復再寄送邀請。",
    "wrong_password": "目前的密碼不正確。",
    "same_password": "新密碼不可與目前的密碼相同。",
}

INVITE_SUBJECT = "臺中市政府公務人員政策參與平臺：工作臺帳號邀請"
INVITE_BODY = """{name} 您好：

{inviter} 邀請您使用「臺中市政府公務人員政策參與平臺」工作臺，身分為{role}。

請於 {until}（臺北時間）前開啟下列連結設定密碼，連結只能使用一次：
{link}

設定後請至 {login} 登入。如果您沒有預期收到這封信，請忽略它，帳號不會被啟用。
"""
RESET_SUBJECT = "臺中市政府公務人員政策參與平臺：重設工作臺密碼"
RESET_BODY = """您好：

有人在工作臺登入頁為這個電子郵件申請重設密碼。請於 {until}（臺北時間）前開啟下列連結設定新密碼，連結只能使用一次：
{link}

如果不是您申請的，請忽略這封信，您的密碼不會改變。
"""


class StaffToken(BaseModel):
    """One emailed link (an invitation or a password reset); used once, then never again."""

    staff = peewee.ForeignKeyField(Staff, backref="tokens", on_delete="CASCADE")
    purpose = peewee.CharField(max_length=16)
    nonce = peewee.CharField(max_length=64)
    created_at = peewee.DateTimeField(default=utcnow, index=True)
    expires_at = peewee.DateTimeField()
    used_at = peewee.DateTimeField(null=True)  # used, or replaced by a newer link of the same purpose


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(services.secret_key(), salt=f"staff-{purpose}")


def _issue(staff: Staff, purpose: str, ttl: dt.timedelta, now: dt.datetime) -> tuple[str, dt.datetime]:
    """A new link for this purpose; older unused links of the same purpose stop working."""
    StaffToken.update(used_at=now).where((StaffToken.staff == staff.id) & (StaffToken.purpose == purpose)
                                         & StaffToken.used_at.is_null()).execute()
    row = StaffToken.create(staff=staff, purpose=purpose, nonce=secrets.token_urlsafe(24), created_at=now,
                            expires_at=now + ttl)
    token = _serializer(purpose).dumps([row.id, row.nonce])
    return f"{services.current().public_base_url}{PATHS[purpose]}{token}", row.expires_at


def _token_row(token: str, purpose: str, now: dt.datetime) -> StaffToken:
    try:
        token_id, nonce = _serializer(purpose).loads(token)
        row = StaffToken.get_or_none((StaffToken.id == int(token_id)) & (StaffToken.purpose == purpose))
    except (BadSignature, TypeError, ValueError):
        raise DomainError(MSG["bad_link"], "bad_link") from None
    if row is None or not secrets.compare_digest(str(nonce), row.nonce):
        raise DomainError(MSG["bad_link"], "bad_link")
    if row.used_at is not None:
        raise DomainError(MSG["used_link"], "used_link")
    if now >= row.expires_at:
        hint = MSG["hint_invite" if purpose == INVITE else "hint_reset"]
        raise DomainError(MSG["expired_link"].format(until=format_taipei(row.expires_at), hint=hint), "expired_link")
    if not row.staff.active:
        raise DomainError(MSG["used_link"], "used_link")
    return row


def staff_for_link(token: str, purpose: str, now: dt.datetime) -> Staff:
    """The account a link is for (DomainError with the zh-TW reason when forged, used, replaced or expired)."""
    return _token_row(token, purpose, now).staff


def _get(staff_id: int) -> Staff:
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        raise DomainError(MSG["not_found"], "not_found")
    return staff


def _mail_invitation(staff: Staff, inviter: Staff, now: dt.datetime) -> None:
    link, until = _issue(staff, INVITE, STAFF_INVITATION_TTL, now)
    role = ROLE_LABELS[staff.role] + (f"（{staff.agency_code}）" if staff.agency_code else "")
    body = INVITE_BODY.format(name=staff.name, inviter=inviter.name, role=role, until=format_taipei(until), link=link,
                              login=f"{services.current().public_base_url}/console/login")
    queue_mail(staff.email, INVITE_SUBJECT, body, now=now)


# --- the operations team's actions -------------------------------------------------------------

@transaction
def invite_staff(actor: Staff, email: str, role: str, agency_code: str | None, display_name: str | None,
                 now: dt.datetime) -> Staff:
    """A new account without a usable password, and an invitation email with its link. Ops only."""
    _require_ops(actor)
    email = _clean_staff_email(email)
    # The account exists at once (so it is listed), with a random password no one knows.
    staff = create_staff(email, role, secrets.token_urlsafe(32), agency_code, display_name, actor=actor.actor, now=now)
    Staff.update(invited_at=now, password_set_at=None).where(Staff.id == staff.id).execute()
    staff = Staff.get_by_id(staff.id)
    record(actor.actor, "staff_invited", "staff", staff.id, detail={"role": staff.role, "agency": staff.agency_code},
           now=now)
    _mail_invitation(staff, actor, now)
    return staff


@transaction
def resend_invitation(actor: Staff, staff_id: int, now: dt.datetime) -> Staff:
    """A new invitation link (the old one stops working). Ops only; only while no password is set."""
    _require_ops(actor)
    staff = _get(staff_id)
    if not staff.active:
        raise DomainError(MSG["disabled"], "disabled")
    if not staff.invitation_pending:
        raise DomainError(MSG["not_pending"], "not_pending")
    record(actor.actor, "staff_invitation_resent", "staff", staff.id, now=now)
    _mail_invitation(staff, actor, now)
    return staff


@transaction
def disable_staff(actor: Staff, staff_id: int, reason: str, now: dt.datetime) -> Staff:
    """Stop an account from signing in; every session it has ends at once. Ops only, with a reason."""
    _require_ops(actor)
    reason = clean_reason(reason)
    staff = _get(staff_id)
    if staff.id == actor.id:
        raise DomainError(MSG["self"], "self")
    if not staff.active:
        raise DomainError(MSG["already_disabled"], "already_disabled")
    Staff.update(active=False, disabled_at=now).where(Staff.id == staff.id).execute()
    StaffToken.update(used_at=now).where((StaffToken.staff == staff.id) & StaffToken.used_at.is_null()).execute()
    record(actor.actor, "staff_disabled", "staff", staff.id, reason=reason, now=now)
    end_sessions(staff.id, now, END_DISABLED, actor=actor.actor)
    return Staff.get_by_id(staff.id)


@transaction
def enable_staff(actor: Staff, staff_id: int, reason: str, now: dt.datetime) -> Staff:
    """Let a disabled account sign in again. Ops only, with a reason."""
    _require_ops(actor)
    reason = clean_reason(reason)
    staff = _get(staff_id)
    if staff.active:
        raise DomainError(MSG["not_disabled"], "not_disabled")
    Staff.update(active=True, disabled_at=None, failed_logins=0).where(Staff.id == staff.id).execute()
    record(actor.actor, "staff_enabled", "staff", staff.id, reason=reason, now=now)
    return Staff.get_by_id(staff.id)


def list_staff(agency_code: str | None = None) -> list[tuple[str, list[Staff]]]:
    """Accounts grouped by agency (the operations team first), each group by email."""
    query = Staff.select().order_by(Staff.email)
    if agency_code:
        query = query.where(Staff.agency_code == agency_code)
    names = {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}
    groups: dict[str, list[Staff]] = {}
    for staff in query:
        key = ROLE_LABELS[staff.role] if staff.role != ROLE_AGENCY else names.get(staff.agency_code, staff.agency_code)
        groups.setdefault(key, []).append(staff)
    first = ROLE_LABELS[ROLES[0]]
    return sorted(groups.items(), key=lambda item: (item[0] != first, item[0]))


# --- passwords ---------------------------------------------------------------------------------

def _set_password(staff: Staff, password: str, now: dt.datetime) -> None:
    password = check_password(password, staff.email)
    Staff.update(password_hash=generate_password_hash(password), password_set_at=now, failed_logins=0,
                 last_failed_login_at=None).where(Staff.id == staff.id).execute()


@transaction
def accept_invitation(token: str, password: str, now: dt.datetime) -> Staff:
    """The invitee sets the first password through the invitation link (used once)."""
    row = _token_row(token, INVITE, now)
    _set_password(row.staff, password, now)
    StaffToken.update(used_at=now).where(StaffToken.id == row.id).execute()
    record(row.staff.actor, "staff_invitation_accepted", "staff", row.staff_id, now=now)
    return Staff.get_by_id(row.staff_id)


@transaction
def request_password_reset(email: str, now: dt.datetime) -> None:
    """Mail a reset link if an active account with a password has this email. Says nothing either way."""
    staff = Staff.get_or_none(Staff.email == normalize_email(email))
    if staff is None or not staff.active or staff.invitation_pending:
        return
    recent = StaffToken.select().where((StaffToken.staff == staff.id) & (StaffToken.purpose == RESET)
                                       & (StaffToken.created_at > now - dt.timedelta(hours=1))).count()
    if recent >= STAFF_RESETS_PER_HOUR:
        record("system:console", "staff_reset_throttled", "staff", staff.id, now=now)
        return
    link, until = _issue(staff, RESET, STAFF_RESET_TTL, now)
    queue_mail(staff.email, RESET_SUBJECT, RESET_BODY.format(until=format_taipei(until), link=link), now=now)
    record("system:console", "staff_reset_requested", "staff", staff.id, now=now)


@transaction
def reset_password(token: str, password: str, now: dt.datetime) -> Staff:
    """A new password through a reset link (used once); every session of the account ends."""
    row = _token_row(token, RESET, now)
    _set_password(row.staff, password, now)
    StaffToken.update(used_at=now).where(StaffToken.id == row.id).execute()
    record(row.staff.actor, "staff_password_reset", "staff", row.staff_id, now=now)
    end_sessions(row.staff_id, now, END_RESET)
    return Staff.get_by_id(row.staff_id)


@transaction
def change_password(staff: Staff, current: str, new: str, now: dt.datetime, *, keep_session: str | None) -> Staff:
    """The member's own new password; their other sessions end, this one (`keep_session`) goes on."""
    fresh = _get(staff.id)
    if not check_password_hash(fresh.password_hash, current or ""):
        raise DomainError(MSG["wrong_password"], "wrong_password")
    if current == new:
        raise DomainError(MSG["same_password"], "same_password")
    _set_password(fresh, new, now)
    record(staff.actor, "staff_password_changed", "staff", staff.id, now=now)
    end_sessions(staff.id, now, END_PASSWORD, keep=keep_session)
    return Staff.get_by_id(staff.id)
