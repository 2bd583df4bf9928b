"""Reading one inbound email (a reply to a verification or seconding mail, R3.2, R9.3.4).

Pure: bytes in, a `models.inbound.InboundMessage` out, no database. This is the web side's job
(raw MIME is an input format, like a webhook's JSON); the domain receives the parsed message.
Mail is hostile input: anything that is not a message with a From address raises `MailRejected`;
nothing else escapes.
"""
from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses

from models.inbound import MAX_INBOUND_BYTES, TOKEN_RE, InboundMessage, receive_message

from .mailtext import _body_text, _first_header, _headers, _raw_bytes, decode_header_text, strip_quoted

log = logging.getLogger(__name__)

MAX_BYTES = 10 * 1024 * 1024
MAX_TEXT_CHARS = 100_000
# Caps that keep hostile headers from costing seconds of CPU (decode_header and getaddresses are slow on junk).
MAX_ADDRESS_HEADER_CHARS = 64 * 1024
MAX_ADDRESSES = 2000

RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply", "list"}
DAEMON_LOCAL_PARTS = {"mailer-daemon", "postmaster"}
HEADER_NAME_RE = re.compile(rb"^[!-9;-~]+[ \t]*:")


class MailRejected(Exception):
    """The input is not a message this service can act on; `reason` is a short code for logs."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def _addresses(values: list[str]) -> list[str]:
    """addr-specs in these address headers, original case, syntactically plausible only."""
    found: list[str] = []
    for value in values:
        if len(found) >= MAX_ADDRESSES:
            break
        if len(value) > MAX_ADDRESS_HEADER_CHARS:  # keep whole addresses only
            value = value[:MAX_ADDRESS_HEADER_CHARS].rpartition(",")[0]
        text = re.sub(r"\r?\n[ \t]+", " ", value)
        text = _raw_bytes(text).decode("utf-8", errors="replace")
        try:
            pairs = getaddresses([text])
        except Exception:  # noqa: BLE001 -- an unparseable header simply holds no address
            pairs = []
        for _name, addr in pairs:
            addr = addr.strip()
            local, at, domain = addr.rpartition("@")
            if not at or not local or not domain or len(addr) > 254:
                continue
            if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in addr):
                continue
            found.append(addr)
    return found[:MAX_ADDRESSES]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _message_ids(value: str) -> list[str]:
    text = _raw_bytes(re.sub(r"\s+", " ", value)).decode("utf-8", errors="replace")
    ids = [m.strip() for m in re.findall(r"<([^<>]*)>", text)]
    if not ids:
        ids = text.split()
    return [i for i in (re.sub(r"[\s\x00-\x1f\x7f]", "", i) for i in ids) if i and len(i) <= 500]


# ---------------------------------------------------------------- auto replies and bounces


def _is_auto_reply(msg: Message, from_address: str) -> bool:
    auto = _first_header(msg, "Auto-Submitted")
    if auto is not None and auto.split(";")[0].strip().lower() not in ("no", ""):
        return True
    if _first_header(msg, "X-Autoreply") is not None or _first_header(msg, "X-Autorespond") is not None:
        return True
    precedence = (_first_header(msg, "Precedence") or "").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return True
    if any(v.strip() == "<>" for v in _headers(msg, "Return-Path")):
        return True
    if from_address.partition("@")[0] in DAEMON_LOCAL_PARTS:
        return True
    content_type = (_first_header(msg, "Content-Type") or "").lower()
    return content_type.split(";")[0].strip() == "multipart/report"


# ---------------------------------------------------------------- the body



# ---------------------------------------------------------------- the entry points


def _looks_like_message(raw: bytes) -> bool:
    head = raw.lstrip(b"\r\n")
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"From ") and b"\n" in head:  # mbox envelope line
        first = head.split(b"\n", 2)[1]
    header_end = re.search(rb"\r?\n\r?\n", head)
    header = head[:header_end.start()] if header_end else head
    return bool(HEADER_NAME_RE.match(first)) and b"\x00" not in header


def parse_inbound(raw: bytes, max_bytes: int = MAX_BYTES) -> InboundMessage:
    """Parse one raw RFC 822 message; raises MailRejected for oversized, unparseable or sender-less input."""
    try:
        return _parse(raw, max_bytes)
    except MailRejected:
        raise
    except Exception as exc:  # noqa: BLE001 -- hostile input must never surface as anything but a rejection
        log.exception("inbound mail could not be read")
        raise MailRejected("not_a_message", f"unreadable ({type(exc).__name__})") from None


def _parse(raw: bytes, max_bytes: int) -> InboundMessage:
    if isinstance(raw, (bytearray, memoryview)):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise MailRejected("not_a_message", "expected bytes")
    if len(raw) > max_bytes:
        raise MailRejected("too_large", f"{len(raw)} bytes > {max_bytes}")
    if not raw.strip() or not _looks_like_message(raw):
        raise MailRejected("not_a_message", "no header section")
    msg = message_from_bytes(raw, policy=compat32)
    if not list(msg.raw_items()):
        raise MailRejected("not_a_message", "no headers")

    senders = _addresses(_headers(msg, "From"))
    if not senders:
        raise MailRejected("missing_from", "no From address")
    from_address = senders[0].lower()

    message_ids = _message_ids(_first_header(msg, "Message-ID") or "")
    message_id = message_ids[0] if message_ids else "sha256:" + hashlib.sha256(raw).hexdigest()

    # Each header capped on its own: a huge To must not push the Delivered-To that carries the token out.
    original_recipients = _dedupe([a for name in RECIPIENT_HEADERS for a in _addresses(_headers(msg, name))])
    tokens = []
    for addr in original_recipients:
        match = TOKEN_RE.match(addr.rpartition("@")[0])
        if match:
            tokens.append(match.group(1))

    references = []
    for name in ("In-Reply-To", "References"):
        for value in _headers(msg, name):
            references.extend(_message_ids(value))

    try:
        text = strip_quoted(_body_text(msg))[:MAX_TEXT_CHARS]
    except RecursionError:
        text = ""

    return InboundMessage(
        message_id=message_id,
        from_address=from_address,
        recipients=_dedupe([a.lower() for a in original_recipients]),
        reply_tokens=_dedupe(tokens),
        subject=decode_header_text(_first_header(msg, "Subject") or ""),
        text=text,
        is_auto_reply=_is_auto_reply(msg, from_address),
        sender_unauthenticated=any(re.search(r"\bdmarc\s*=\s*fail\b", v, re.IGNORECASE)
                                   for v in _headers(msg, "Authentication-Results")),
        references=_dedupe(references),
    )


def receive_raw_mail(raw: bytes) -> str:
    """Read one raw message and hand it to the domain (the inbound route, the Postfix pipe, /dev/mail).

    Raises MailRejected for input that is not a usable email message (the caller refuses it).
    """
    return receive_message(parse_inbound(raw, max_bytes=MAX_INBOUND_BYTES))
