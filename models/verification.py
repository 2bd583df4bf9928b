"""Emailed verification codes, shared by registration (R3.2), seconding (R9.3.4) and later flows.

A code is six digits, stored only as a hash, valid for CODE_TTL, with MAX_WRONG_TRIES wrong tries and
a re-send cooldown. Each code has a reply token: replying to the email at `verify+TOKEN@REPLY_DOMAIN`
with the code (or just replying, from the address it was sent to) confirms it too.
What a confirmation does is decided by `models/codes.py`, the table of purposes; this module only
issues, matches and marks codes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import peewee

from . import settings, texts
from .base import BaseModel, DomainError, create_row, format_taipei, row_by, rows_where, utcnow
from .officials import Official
from .outbox import queue_mail, transaction
from .states import Transitions

CODE_TTL = settings.CODE_TTL
RESEND_COOLDOWN = settings.CODE_RESEND_COOLDOWN
MAX_WRONG_TRIES = settings.CODE_MAX_WRONG_TRIES

PURPOSE_REGISTER = "register"
PURPOSE_SECOND = "second"

PENDING = "pending"
CONFIRMED = "confirmed"
SUPERSEDED = "superseded"
LOCKED = "locked"
CODE_STATES = Transitions("認證碼", {
    PENDING: {CONFIRMED, SUPERSEDED, LOCKED},  # typed or replied / a newer code was sent / too many wrong tries
    CONFIRMED: set(), SUPERSEDED: set(), LOCKED: set(),
}, {PENDING: "待確認", CONFIRMED: "已確認", SUPERSEDED: "已由新認證碼取代", LOCKED: "已鎖定"})


class VerificationCode(BaseModel):
    official = peewee.ForeignKeyField(Official, backref="codes", on_delete="CASCADE")
    purpose = peewee.CharField(max_length=16)
    subject_id = peewee.IntegerField(null=True)  # e.g. the proposal a second is for
    email = peewee.CharField(max_length=254)
    token = peewee.CharField(max_length=64, unique=True)
    code_hash = peewee.CharField(max_length=64)
    status = peewee.CharField(max_length=12, default=PENDING, index=True)
    wrong_tries = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    expires_at = peewee.DateTimeField()
    confirmed_at = peewee.DateTimeField(null=True)
    confirmed_via = peewee.CharField(max_length=8, null=True)  # chat | email

    class Meta:
        indexes = ((("official", "status"), False),)


def _hash(token: str, code: str) -> str:
    return hashlib.sha256(f"{token}:{code}".encode()).hexdigest()


# (code row) -> (subject line, lines describing what the code confirms), given by the flow that asks.
Describe = Callable[[VerificationCode], tuple[str, str]]


_LOOK_UP = object()


def issue_code(official: Official, purpose: str, email: str, *, describe: Describe, subject_id: int | None = None,
               reply_domain: str, now: dt.datetime | None = None, previous=_LOOK_UP) -> VerificationCode:
    """Create a code, supersede the previous pending one of the same purpose, and queue its email.
    `previous`: the newest code of this purpose and subject if the caller read it already (or None)."""
    now = now or utcnow()
    if previous is _LOOK_UP:
        previous = (VerificationCode.select()
                    .where((VerificationCode.official == official) & (VerificationCode.purpose == purpose)
                           & (VerificationCode.subject_id == subject_id if subject_id is not None
                              else VerificationCode.subject_id.is_null()))
                    .order_by(VerificationCode.created_at.desc()).first())
    if previous and previous.status == PENDING and cooldown_left(previous, now):
        raise DomainError(texts.CODE_COOLDOWN.format(seconds=cooldown_left(previous, now), email=previous.email),
                          "cooldown")
    CODE_STATES.move_where(  # the official's earlier codes for the same thing (a kept statement: every tap)
        VerificationCode, ((VerificationCode.official, "="), (VerificationCode.purpose, "="),
                           (VerificationCode.subject_id, "=" if subject_id is not None else "is null")),
        (official, purpose) + ((subject_id,) if subject_id is not None else ()), SUPERSEDED)
    code = f"{secrets.randbelow(1_000_000):06d}"
    token = secrets.token_hex(16)  # lower-case: some mail servers lower-case Delivered-To
    row = create_row(
        VerificationCode,
        official=official, purpose=purpose, subject_id=subject_id, email=email, token=token,
        code_hash=_hash(token, code), created_at=now, expires_at=now + CODE_TTL,
    )
    subject, what = describe(row)
    body = texts.CODE_MAIL_BODY.format(
        name=official.greeting_name, what=what, code=code,
        expires=format_taipei(row.expires_at), minutes=settings.code_minutes(),
    )
    queue_mail(email, subject, body, reply_to=f"verify+{token}@{reply_domain}", now=now)
    return row


def pending_codes(official: Official, now: dt.datetime) -> list[VerificationCode]:
    return list(VerificationCode.select().where(
        (VerificationCode.official == official) & (VerificationCode.status == PENDING)
        & (VerificationCode.expires_at > now)).order_by(VerificationCode.created_at.desc()))


def cooldown_left(row: VerificationCode, now: dt.datetime) -> int:
    """Whole seconds until this code may be re-sent (0: it may be now)."""
    left = RESEND_COOLDOWN - (now - row.created_at)
    return int(left.total_seconds()) + 1 if left.total_seconds() > 0 else 0


def latest_code(official: Official, now: dt.datetime | None = None) -> VerificationCode | None:
    """The official's newest code issued within a code's lifetime, whatever its state, or None."""
    now = now or utcnow()
    return (VerificationCode.select()
            .where((VerificationCode.official == official) & (VerificationCode.created_at > now - CODE_TTL))
            .order_by(VerificationCode.created_at.desc(), VerificationCode.id.desc()).first())


@dataclass
class CodeOutcome:
    confirmed: bool
    message: str
    code: VerificationCode | None = None
    counted: bool = False  # a wrong try was counted (an old, superseded code is not one)


def _newer_pending(row: VerificationCode, now: dt.datetime) -> VerificationCode | None:
    """The live code that superseded `row` (same official, purpose and subject), if any."""
    return (VerificationCode.select()
            .where((VerificationCode.official == row.official_id) & (VerificationCode.purpose == row.purpose)
                   & (VerificationCode.subject_id == row.subject_id if row.subject_id is not None
                      else VerificationCode.subject_id.is_null())
                   & (VerificationCode.status == PENDING) & (VerificationCode.expires_at > now)
                   & (VerificationCode.created_at >= row.created_at) & (VerificationCode.id != row.id))
            .order_by(VerificationCode.created_at.desc()).first())


def _newer_confirmed(row: VerificationCode) -> bool:
    """Whether a later code of the same official, purpose and subject was confirmed already."""
    return (VerificationCode.select()
            .where((VerificationCode.official == row.official_id) & (VerificationCode.purpose == row.purpose)
                   & (VerificationCode.subject_id == row.subject_id if row.subject_id is not None
                      else VerificationCode.subject_id.is_null())
                   & (VerificationCode.status == CONFIRMED) & (VerificationCode.created_at >= row.created_at))
            .exists())


def _recent_match(official: Official, typed: str, now: dt.datetime, status: str) -> VerificationCode | None:
    """A recent code of this official in `status` that `typed` is: one a resend replaced (SUPERSEDED),
    or one already used (CONFIRMED), typed again by someone unsure whether it went through."""
    old = (VerificationCode.select()
           .where((VerificationCode.official == official) & (VerificationCode.status == status)
                  & (VerificationCode.created_at > now - CODE_TTL))
           .order_by(VerificationCode.created_at.desc()).limit(20))
    for row in old:
        if hmac.compare_digest(row.code_hash, _hash(row.token, typed)):
            return row
    return None


def superseded_text(newer: VerificationCode) -> str:
    return texts.CODE_SUPERSEDED.format(sent=format_taipei(newer.created_at, "%H:%M"), email=newer.email)


def locked_pending_codes(official: Official) -> list[VerificationCode]:
    """Every pending code of the official, expired ones too, newest first, locked (FOR UPDATE) for
    matching a typed code; the chat reads them once, to see whether a code is live and to match it."""
    return rows_where(VerificationCode, ((VerificationCode.official, "="), (VerificationCode.status, "=")),
                      (official, PENDING), order=((VerificationCode.created_at, "desc"),), for_update=True)


def _refuse_if_used(official: Official, typed: str, now: dt.datetime) -> None:
    """A code confirmed in the last half hour, typed again (the official was not sure it worked, or
    replied to the email too): say it was used, and when, rather than "no code" or a wrong try."""
    used = _recent_match(official, typed, now, CONFIRMED)
    if used is not None:
        raise DomainError(texts.CODE_ALREADY_TYPED.format(at=format_taipei(used.confirmed_at, "%H:%M")), "already")


def match_typed_code(official: Official, typed: str, now: dt.datetime | None = None,
                     candidates: list[VerificationCode] | None = None) -> CodeOutcome:
    """The official typed six digits in the chat: mark the matching pending code confirmed (the
    caller applies its purpose, `models.codes`), or count a wrong try. `candidates`: the
    `locked_pending_codes` the caller read already in this transaction."""
    now = now or utcnow()
    if candidates is None:
        candidates = locked_pending_codes(official)
    if not candidates:
        _refuse_if_used(official, typed, now)
        raise DomainError(texts.CODE_NONE_PENDING, "no_code")
    for row in candidates:
        row.official = official  # read in this transaction already: applying the code needs no second read
        if hmac.compare_digest(row.code_hash, _hash(row.token, typed)):
            if row.expires_at <= now:
                raise DomainError(texts.CODE_EXPIRED, "expired")
            _mark_confirmed(row, "chat", now)
            return CodeOutcome(True, "", row)
    live = [r for r in candidates if r.expires_at > now]
    if not live:
        raise DomainError(texts.CODE_EXPIRED, "expired")
    old = _recent_match(official, typed, now, SUPERSEDED)
    newer = _newer_pending(old, now) if old is not None else None
    if newer is not None:  # the right code of an earlier email: not a guess, so not a wrong try
        return CodeOutcome(False, superseded_text(newer), newer)
    _refuse_if_used(official, typed, now)  # an earlier code, used already: not a guess either
    # A wrong try is recorded, not raised: raising would roll the count back.
    newest = live[0]
    newest.wrong_tries += 1
    if newest.wrong_tries >= MAX_WRONG_TRIES:
        CODE_STATES.check(newest.status, LOCKED)
        newest.status = LOCKED
        newest.save()
        return CodeOutcome(False, texts.CODE_LOCKED, newest, counted=True)
    newest.save()
    return CodeOutcome(False, texts.CODE_WRONG.format(left=MAX_WRONG_TRIES - newest.wrong_tries), newest, counted=True)


def accept_reply(token: str, from_address: str, typed_code: str | None, now: dt.datetime | None = None, *,
                 sender_authenticated: bool = True) -> VerificationCode:
    """An email reply to verify+TOKEN@ confirms only if it comes from the address the code went to,
    passed the receiving server's DMARC check, and its own text carries the code.

    The From header alone proves little (it is easy to forge, and a victim answering "this was
    not me" must not confirm someone else's registration), so the person must write the code.
    """
    now = now or utcnow()
    row = row_by(VerificationCode.token, (token or "").lower(), for_update=True)
    if row is None:
        raise DomainError(texts.CODE_UNKNOWN_TOKEN, "unknown_token")
    if row.email.lower() != (from_address or "").lower():
        raise DomainError(texts.CODE_WRONG_SENDER, "wrong_sender")
    if not sender_authenticated:
        raise DomainError(texts.CODE_REPLY_UNAUTHENTICATED, "unauthenticated")
    if row.status == SUPERSEDED:  # a reply to an earlier email, after a resend
        newer = _newer_pending(row, now)
        if newer is None and _newer_confirmed(row):
            raise DomainError(texts.CODE_NEWER_CONFIRMED, "already")
        if newer is None:
            raise DomainError(texts.CODE_NOT_PENDING, "not_pending")
        if typed_code and hmac.compare_digest(newer.code_hash, _hash(newer.token, typed_code)):
            row = newer  # the newest code, written in a reply to the older email: the same proof
        else:
            raise DomainError(superseded_text(newer), "superseded")
    if not typed_code:
        raise DomainError(texts.CODE_REPLY_WITHOUT_CODE, "no_code")
    if not hmac.compare_digest(row.code_hash, _hash(row.token, typed_code)):
        raise DomainError(texts.CODE_REPLY_WRONG_CODE, "wrong_code")
    if row.status == CONFIRMED:
        raise DomainError(texts.CODE_ALREADY_CONFIRMED, "already")
    if row.status != PENDING:
        raise DomainError(texts.CODE_NOT_PENDING, "not_pending")
    if row.expires_at <= now:
        raise DomainError(texts.CODE_EXPIRED, "expired")
    _mark_confirmed(row, "email", now)
    return row


@transaction
def count_wrong_reply(token: str, now: dt.datetime | None = None) -> tuple[str, str]:
    """A reply from the right sender carried another code: one wrong try, as if typed in the chat
    (the same count, so five wrong codes lock the code whichever way they came). Returns the
    outcome word and the zh-TW answer. Called after the refused reply's savepoint rolled back, so
    the count stays."""
    now = now or utcnow()
    row = row_by(VerificationCode.token, (token or "").lower(), for_update=True)
    if row is None or row.status != PENDING or row.expires_at <= now:
        return "wrong_code", texts.CODE_REPLY_WRONG_CODE
    row.wrong_tries += 1
    if row.wrong_tries >= MAX_WRONG_TRIES:
        CODE_STATES.check(row.status, LOCKED)
        row.status = LOCKED
        row.save()
        return "locked", texts.CODE_REPLY_WRONG_CODE + texts.CODE_LOCKED
    row.save()
    return "wrong_code", texts.CODE_REPLY_WRONG_CODE + texts.CODE_WRONG.format(left=MAX_WRONG_TRIES - row.wrong_tries)


def _mark_confirmed(row: VerificationCode, via: str, now: dt.datetime) -> None:
    updated = CODE_STATES.move_row(VerificationCode, row.id, CONFIRMED, confirmed_at=now, confirmed_via=via)
    if not updated:
        raise DomainError(texts.CODE_ALREADY_CONFIRMED, "already")
    row.status, row.confirmed_at, row.confirmed_via = CONFIRMED, now, via

