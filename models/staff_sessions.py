"""Console sessions that end (issue 10 item 2): one row per sign-in, looked up on every request.

The browser's cookie carries only a random session id; the row says whether it still counts.
Logging out ends that row, so a copied cookie is refused afterwards; a password change ends the
member's other sessions; disabling an account ends all of them; a session not used for
`settings.STAFF_SESSION_IDLE` has ended too. Only a hash of the id is stored.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import peewee

from .base import BaseModel, db, utcnow
from .events import record
from .settings import STAFF_SESSION_IDLE
from .staff import Staff

TOUCH_EVERY = dt.timedelta(minutes=1)  # last_seen_at is written at most this often (one UPDATE per minute)

END_LOGOUT, END_PASSWORD, END_DISABLED, END_RESET, END_IDLE = "logout", "password_changed", "disabled", "password_reset", "idle"


class StaffSession(BaseModel):
    staff = peewee.ForeignKeyField(Staff, backref="sessions", on_delete="CASCADE")
    id_hash = peewee.CharField(max_length=64, unique=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_seen_at = peewee.DateTimeField(default=utcnow)
    ended_at = peewee.DateTimeField(null=True, index=True)
    end_reason = peewee.CharField(max_length=32, null=True)
    ip_address = peewee.CharField(max_length=64, null=True)


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(staff: Staff, now: dt.datetime, ip_address: str | None = None) -> str:
    """A new session for this sign-in; returns the id to keep in the cookie (never stored in clear)."""
    session_id = secrets.token_urlsafe(32)
    StaffSession.create(staff=staff, id_hash=_hash(session_id), created_at=now, last_seen_at=now,
                        ip_address=(ip_address or None) and ip_address[:64])
    return session_id


def session_staff(session_id: str | None, now: dt.datetime) -> Staff | None:
    """The active account of a session that has not ended, or None; keeps an idle clock per session."""
    if not session_id:
        return None
    row = (StaffSession.select(StaffSession, Staff).join(Staff)
           .where((StaffSession.id_hash == _hash(session_id)) & StaffSession.ended_at.is_null()).first())
    if row is None or not row.staff.active:
        return None
    if now - row.last_seen_at >= STAFF_SESSION_IDLE:
        StaffSession.update(ended_at=now, end_reason=END_IDLE).where(StaffSession.id == row.id).execute()
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        StaffSession.update(last_seen_at=now).where(StaffSession.id == row.id).execute()
    return row.staff


def end_session(session_id: str | None, now: dt.datetime, reason: str = END_LOGOUT) -> None:
    if session_id:
        StaffSession.update(ended_at=now, end_reason=reason).where(
            (StaffSession.id_hash == _hash(session_id)) & StaffSession.ended_at.is_null()).execute()


def end_sessions(staff_id: int, now: dt.datetime, reason: str, *, keep: str | None = None, actor: str | None = None) -> int:
    """End every open session of the account (except `keep`, the caller's own); recorded when any ended."""
    condition = (StaffSession.staff == staff_id) & StaffSession.ended_at.is_null()
    if keep:
        condition &= StaffSession.id_hash != _hash(keep)
    with db.atomic():
        ended = StaffSession.update(ended_at=now, end_reason=reason).where(condition).execute()
        if ended:
            record(actor or f"staff:{staff_id}", "staff_sessions_ended", "staff", staff_id,
                   detail={"reason": reason, "count": ended}, now=now)
    return ended


def open_sessions(staff_id: int) -> int:
    return StaffSession.select().where((StaffSession.staff == staff_id) & StaffSession.ended_at.is_null()).count()
