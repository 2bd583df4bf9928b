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
from .mailparse import MailRejected, find_code, parse_inbound
from .outbox import queue_line, unit_of_work
from .verification import confirm_by_reply

log = logging.getLogger(__name__)
MAX_INBOUND_BYTES = 10 * 1024 * 1024

# Outcomes worth telling the official about in the chat (they may be waiting for the confirmation).
_NOTIFY_OFFICIAL = {"wrong_sender", "expired", "not_pending", "wrong_code"}


def receive_mail(raw: bytes, now: dt.datetime | None = None) -> str:
    """Process one raw RFC 822 message; returns an outcome word (confirmed, duplicate, auto_reply, ...).

    Raises MailRejected for input that is not a usable email message (the caller refuses it).
    """
    now = now or utcnow()
    message = parse_inbound(raw, max_bytes=MAX_INBOUND_BYTES)
    if InboundMail.select().where(InboundMail.message_id == message.message_id[:255]).exists():
        return "duplicate"
    try:
        with unit_of_work():
            record = InboundMail.create(message_id=message.message_id[:255], from_address=None,
                                        outcome="received", received_at=now)
            outcome = _apply(message, now)
            InboundMail.update(outcome=outcome).where(InboundMail.id == record.id).execute()
    except peewee.IntegrityError:
        return "duplicate"
    log.info("inbound mail processed: %s", outcome)
    return outcome


def _apply(message, now: dt.datetime) -> str:
    if message.is_auto_reply:
        return "auto_reply"
    if not message.reply_tokens:
        return "no_token"
    from .verification import VerificationCode, _hash

    token = message.reply_tokens[0]
    token = token.lower()
    code_row = VerificationCode.get_or_none(VerificationCode.token == token)
    typed = find_code(message.text or "")
    try:
        with db.atomic():
            if code_row is not None and typed and code_row.code_hash != _hash(token, typed) \
                    and code_row.email.lower() == (message.from_address or "").lower():
                raise DomainError("回覆郵件中的認證碼與寄出的不同，未予確認。", "wrong_code")
            row, text = confirm_by_reply(token, message.from_address, now)
    except DomainError as error:
        if code_row is not None and error.code in _NOTIFY_OFFICIAL:
            queue_line(code_row.official.line_user_id, [{"type": "text", "text": "📧 " + error.message}], now=now)
        return error.code
    queue_line(row.official.line_user_id, [{"type": "text", "text": "📧 已收到您的回覆郵件。\n" + text}], now=now)
    return "confirmed"


__all__ = ["receive_mail", "MailRejected"]
