"""Failed console logins in the database: the login limit's fallback while Redis is unavailable.

Counted per (client address, account) and per address, like the Redis limiter, so even then no
stranger can lock a member out from elsewhere. Accounts are stored as hashes (no personal data);
rows older than a day are deleted as new ones arrive.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import peewee

from .base import BaseModel, utcnow

KEEP = dt.timedelta(days=1)


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
