"""The purposes of emailed codes, and what confirming each one does.

A code is issued by the flow that needs it (`models.verification.issue_code`); whether it was typed
in the chat or written in a reply to its email, it is confirmed here, by this table.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from . import texts
from .base import format_taipei, utcnow
from .officials import Official
from .registration import complete_registration_code, pending_registration_what
from .seconds import confirm_second, pending_second_what
from .verification import (
    PURPOSE_REGISTER,
    PURPOSE_SECOND,
    CodeOutcome,
    VerificationCode,
    accept_reply,
    match_typed_code,
    pending_codes,
)

# purpose -> (rule, the function that applies a confirmed code and returns the zh-TW answer)
CONFIRMERS: dict[str, tuple[str, Callable[[VerificationCode, dt.datetime], str]]] = {
    PURPOSE_REGISTER: ("R3.2", complete_registration_code),  # the official's email is verified
    PURPOSE_SECOND: ("R9.3.4", confirm_second),  # the second counts
}
# purpose -> what a pending code is for, in zh-TW (the chat reminds the official of it)
PENDING_WHAT: dict[str, Callable[[VerificationCode], str]] = {
    PURPOSE_REGISTER: pending_registration_what,
    PURPOSE_SECOND: pending_second_what,
}


def pending_reminder(official: Official, now: dt.datetime | None = None) -> tuple[VerificationCode, str] | None:
    """The newest live code of this official and the zh-TW reminder of how to finish it, or None."""
    now = now or utcnow()
    pending = pending_codes(official, now)
    if not pending:
        return None
    row = pending[0]
    return row, texts.CODE_REMINDER.format(what=PENDING_WHAT[row.purpose](row), email=row.email,
                                           expires=format_taipei(row.expires_at, "%H:%M"))


def _apply(row: VerificationCode, now: dt.datetime) -> str:
    _rule, confirm = CONFIRMERS[row.purpose]
    return confirm(row, now)


def confirm_typed_code(official: Official, typed: str, now: dt.datetime | None = None,
                       candidates: list[VerificationCode] | None = None) -> CodeOutcome:
    """Six digits typed in the chat: confirm the matching pending code and apply its purpose, or count a wrong try."""
    now = now or utcnow()
    outcome = match_typed_code(official, typed, now, candidates)
    if outcome.confirmed and outcome.code is not None:
        outcome.message = _apply(outcome.code, now)
    return outcome


def confirm_by_reply(token: str, from_address: str, typed_code: str | None, now: dt.datetime | None = None, *,
                     sender_authenticated: bool = True) -> tuple[VerificationCode, str]:
    """A reply to a code's email (the rules are `verification.accept_reply`'s), then its purpose applied."""
    now = now or utcnow()
    row = accept_reply(token, from_address, typed_code, now, sender_authenticated=sender_authenticated)
    return row, _apply(row, now)
