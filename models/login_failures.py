"""Failed console logins in the database (the login limit's fallback while Redis is unavailable), and
the lockouts in force, which the operations team can lift.

Counted per (client address, account) and per address, like the Redis limiter, so even then no
stranger can lock a member out from elsewhere. Accounts are stored as hashes (no personal data);
rows older than a day are deleted as new ones arrive.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import peewee

from .base import BaseModel, DomainError, utcnow
from .events import AuditEvent, record
from .outbox import transaction
from .staff import Staff, _require_ops, clean_reason

KEEP = dt.timedelta(days=1)
MAX_LOCK = dt.timedelta(days=1)  # the longest lockout the limiter sets (webapp.console.auth.LoginLimiter.MAX_LOCK)


class LoginFailure(BaseModel):
    ip_address = peewee.CharField(max_length=64, index=True)
    account_hash = peewee.CharField(max_length=64)
    at = peewee.DateTimeField(default=utcnow, index=True)


def _hash(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


def record_failure(email: str, ip: str, now: dt.datetime) -> None:
    LoginFailure.delete().where(LoginFailure.at < now - KEEP).execute()
    LoginFailure.create(ip_address=ip[:64], account_hash=_hash(email), at=now)


def over_limit(email: str, ip: str, *, per_pair: int, per_ip: int, window: dt.timedelta, now: dt.datetime) -> bool:
    """Whether this address has `per_pair` failures for this account, or `per_ip` in all, within `window`."""
    recent = LoginFailure.select().where((LoginFailure.ip_address == ip[:64]) & (LoginFailure.at > now - window))
    if recent.count() >= per_ip:
        return True
    return recent.where(LoginFailure.account_hash == _hash(email)).count() >= per_pair


# --- lockouts the operations team can see and lift (issue 10 item 7) -----------------------------

LOCKED, UNLOCKED = "staff_login_locked", "staff_login_unlocked"

MSG = {
    "not_found": "找不到這筆登入暫停紀錄。",
    "not_active": "這筆登入暫停已經結束或已解除，不需要再解除。",
}


@dataclass(frozen=True)
class Lockout:
    """One login lockout still in force: from which address, for which account (None: every account)."""

    event_id: int
    ip_address: str
    scope: str
    staff_id: int | None
    until: dt.datetime
    key: str | None
    strike: int


def _lockout(event: AuditEvent) -> Lockout:
    detail = json.loads(event.detail or "{}")
    until = dt.datetime.fromisoformat(detail["until"])
    return Lockout(event_id=event.id, ip_address=event.actor.removeprefix("ip:"), scope=detail.get("scope", ""),
                   staff_id=event.subject_id, until=until, key=detail.get("key"), strike=int(detail.get("strike", 1)))


def active_lockouts(now: dt.datetime) -> list[Lockout]:
    """Lockouts that have not run out and that no one has lifted, newest first."""
    lifted = {int(json.loads(e.detail or "{}").get("lockout", 0))
              for e in AuditEvent.select(AuditEvent.detail).where(
                  (AuditEvent.action == UNLOCKED) & (AuditEvent.created_at > now - MAX_LOCK))}
    recent = (AuditEvent.select().where((AuditEvent.action == LOCKED) & (AuditEvent.created_at > now - MAX_LOCK))
              .order_by(AuditEvent.id.desc()))
    return [lock for lock in map(_lockout, recent) if lock.until > now and lock.event_id not in lifted]


@transaction
def lift_lockout(actor: Staff, event_id: int, reason: str, now: dt.datetime) -> Lockout:
    """The operations team lifts a lockout early (a member locked out at the office, say), with a
    reason. The unlock is an audit event naming the lockout; the database's own failures from that
    address (the fallback while Redis is down) are forgotten too. The caller clears the limiter's
    lock in Redis with the returned `Lockout.key`."""
    _require_ops(actor)
    reason = clean_reason(reason)
    event = AuditEvent.get_or_none((AuditEvent.id == event_id) & (AuditEvent.action == LOCKED))
    if event is None:
        raise DomainError(MSG["not_found"], "not_found")
    lock = _lockout(event)
    if all(other.event_id != lock.event_id for other in active_lockouts(now)):
        raise DomainError(MSG["not_active"], "not_active")
    LoginFailure.delete().where(LoginFailure.ip_address == lock.ip_address).execute()
    record(actor.actor, UNLOCKED, "staff", lock.staff_id, reason=reason,
           detail={"lockout": lock.event_id, "scope": lock.scope, "ip": lock.ip_address}, now=now)
    return lock
