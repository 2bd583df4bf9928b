"""Inbound email: a reply to `verify+TOKEN@REPLY_DOMAIN` confirms that code (R3.2, R9.3.4).

The domain receives a parsed message (`InboundMessage`; raw MIME is read by webapp/mailparse.py).
One Message-ID is processed once; auto-replies and bounces are ignored; the From must be the
address the code was sent to, or nothing changes.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, field

import peewee

from . import ratelimit, services
from .base import DomainError, db, utcnow
from .codes import confirm_by_reply
from .events import InboundMail
from .notify import MAIL_FOOTER
from .outbox import queue_line, unit_of_work
from .verification import VerificationCode, count_wrong_reply

log = logging.getLogger(__name__)
REPLY_ANSWER_SUBJECT = "【臺中市政府公務人員政策參與平臺】您的回覆郵件已處理"
MAX_INBOUND_BYTES = 10 * 1024 * 1024

TOKEN_RE = re.compile(r"^verify\+([A-Za-z0-9_-]{8,64})$", re.IGNORECASE)
CODE_RE = re.compile(r"(?<![0-9A-Za-z])(?<![0-9][.,])([0-9]{6})(?![0-9A-Za-z])")


@dataclass
class InboundMessage:
    """One email as the domain needs it (read from raw MIME by webapp/mailparse.py)."""

    message_id: str
    from_address: str
    recipients: list[str] = field(default_factory=list)
    reply_tokens: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""  # the new text of the reply, the quoted original cut off
    is_auto_reply: bool = False
    # The receiving mail server said the From failed DMARC (Authentication-Results): not trusted.
    sender_unauthenticated: bool = False
    references: list[str] = field(default_factory=list)  # In-Reply-To, then References


def find_code(text: str) -> str | None:
    """The first standalone 6-digit code in the text (full-width digits too), or None."""
    if not text:
        return None
    match = CODE_RE.search(unicodedata.normalize("NFKC", text))
    return match.group(1) if match else None

# Outcomes worth telling the official about in the chat (they may be waiting for the confirmation).
_NOTIFY_OFFICIAL = {"wrong_sender", "expired", "not_pending", "superseded", "wrong_code", "locked", "no_code", "unauthenticated",
                    "rate_limited"}


def receive_message(message: InboundMessage, now: dt.datetime | None = None, *,
                    reply_domain: str | None = None) -> str:
    """Process one parsed email; returns an outcome word (confirmed, duplicate, auto_reply, ...)."""
    now = now or utcnow()
    if reply_domain is None:
        reply_domain = services.current().reply_domain
    if InboundMail.select().where(InboundMail.message_id == message.message_id[:255]).exists():
        return "duplicate"
    try:
        with unit_of_work():
            record = InboundMail.create(message_id=message.message_id[:255], from_address=None,
                                        outcome="received", received_at=now)
            outcome = _apply(message, reply_domain, now)
            InboundMail.update(outcome=outcome).where(InboundMail.id == record.id).execute()
    except peewee.IntegrityError:
        return "duplicate"
    log.info("inbound mail processed: %s", outcome)
    return outcome


def reply_tokens_for(message, reply_domain: str) -> list[str]:
    """Tokens of `verify+TOKEN@REPLY_DOMAIN` recipients only (another domain's plus-address is not ours)."""
    domain = (reply_domain or "").lower()
    tokens = []
    for address in message.recipients:
        local, _, host = address.rpartition("@")
        match = TOKEN_RE.match(local)
        if match and (not domain or host == domain):
            tokens.append(match.group(1).lower())
    return tokens


def _apply(message, reply_domain: str, now: dt.datetime) -> str:
    """Confirm the code of a `verify+TOKEN@` reply (the rules are verification.accept_reply's)."""
    if message.is_auto_reply:
        return "auto_reply"
    tokens = reply_tokens_for(message, reply_domain)
    if not tokens:
        return "no_token"
    token = tokens[0]
    code_row = VerificationCode.get_or_none(VerificationCode.token == token)
    try:
        with db.atomic():
            if code_row is not None:  # the chat's per-official limit on wrong codes holds for replies too
                ratelimit.check_code_attempt(code_row.official_id)
            row, text = confirm_by_reply(token, message.from_address, find_code(message.text or ""), now,
                                         sender_authenticated=not message.sender_unauthenticated)
    except DomainError as error:
        outcome, answer = error.code, error.message
        if outcome == "wrong_code" and code_row is not None:  # counted outside the rolled-back savepoint
            outcome, answer = count_wrong_reply(token, now)
            ratelimit.count_wrong_code(code_row.official_id)
        if code_row is not None and outcome in _NOTIFY_OFFICIAL:
            queue_line(code_row.official.line_user_id, [{"type": "text", "text": "📧 " + answer}], now=now,
                       mail=_mail_form(code_row, answer))
        return outcome
    queue_line(row.official.line_user_id, [{"type": "text", "text": "📧 已收到您的回覆郵件。\n" + text}], now=now,
               mail=_mail_form(row, "已收到您的回覆郵件。\n" + text))
    return "confirmed"


def _mail_form(row: VerificationCode, answer: str) -> dict:
    """The answer to a reply, by email, for when LINE refuses the push (quota)."""
    return {"to": row.email, "subject": REPLY_ANSWER_SUBJECT, "body": answer + MAIL_FOOTER}


