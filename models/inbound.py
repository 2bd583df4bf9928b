"""Inbound email: a reply to `verify+TOKEN@REPLY_DOMAIN` confirms that code (R3.2, R9.3.4).

One Message-ID is processed once; auto-replies and bounces are ignored; the From must be the
address the code was sent to, or nothing changes.
"""
from __future__ import annotations

import datetime as dt
import logging

import peewee

from .base import DomainError, db, utcnow
from .events import InboundMail
from .mailparse import TOKEN_RE, MailRejected, find_code, parse_inbound
from .outbox import queue_line, unit_of_work
from .verification import confirm_by_reply

log = logging.getLogger(__name__)
MAX_INBOUND_BYTES = 10 * 1024 * 1024

# Outcomes worth telling the official about in the chat (they may be waiting for the confirmation).
_NOTIFY_OFFICIAL = {"wrong_sender", "expired", "not_pending", "wrong_code", "no_code", "unauthenticated"}


def receive_mail(raw: bytes, now: dt.datetime | None = None, *, reply_domain: str | None = None) -> str:
    """Process one raw RFC 822 message; returns an outcome word (confirmed, duplicate, auto_reply, ...).

    Raises MailRejected for input that is not a usable email message (the caller refuses it).
    """
    now = now or utcnow()
    if reply_domain is None:
        from flask import current_app, has_app_context

        reply_domain = current_app.config["REPLY_DOMAIN"] if has_app_context() else ""
    message = parse_inbound(raw, max_bytes=MAX_INBOUND_BYTES)
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
    """Confirm the code of a `verify+TOKEN@` reply (the rules are verification.confirm_by_reply's)."""
    if message.is_auto_reply:
        return "auto_reply"
    tokens = reply_tokens_for(message, reply_domain)
    if not tokens:
        return "no_token"
    from .verification import VerificationCode

    token = tokens[0]
    try:
        with db.atomic():
            row, text = confirm_by_reply(token, message.from_address, find_code(message.text or ""), now,
                                         sender_authenticated=not message.sender_unauthenticated)
    except DomainError as error:
        code_row = VerificationCode.get_or_none(VerificationCode.token == token)
        if code_row is not None and error.code in _NOTIFY_OFFICIAL:
            queue_line(code_row.official.line_user_id, [{"type": "text", "text": "📧 " + error.message}], now=now)
        return error.code
    queue_line(row.official.line_user_id, [{"type": "text", "text": "📧 已收到您的回覆郵件。\n" + text}], now=now)
    return "confirmed"


__all__ = ["receive_mail", "MailRejected"]
