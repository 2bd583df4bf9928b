"""An SMTP sink on loopback (aiosmtpd) that keeps every message the service sends, and reply helpers."""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import re
import socket
import threading
import uuid
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

WAIT_SECONDS = 15.0  # for a message the test expects; one that never comes fails the test after this


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        refusal = self.sink.refused.get(address.lower())
        if refusal:
            return refusal  # e.g. "550 5.1.1 mailbox unavailable" (a bounce) or "450 4.2.1 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.sink.arrived:
            self.sink.messages.append(message)
            self.sink.arrived.notify_all()
        return "250 OK"


class SmtpSink:
    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refused: dict[str, str] = {}  # address -> the SMTP reply that refuses it (`refuse`)
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)  # notified with each message the sink accepts
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def clear(self):
        with self.lock:
            self.messages.clear()
            self.refused.clear()

    def refuse(self, address: str, reply: str = "550 5.1.1 <{address}>: mailbox unavailable") -> None:
        """Refuse `address` at RCPT from now on, as a mail server does for an unknown mailbox (5xx) or a full one (4xx)."""
        self.refused[address.lower()] = reply.format(address=address)

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return self._to(address)

    def last_to(self, address: str, wait: float = WAIT_SECONDS) -> EmailMessage:
        """The latest message to `address`, waiting up to `wait` seconds for the first one: a live server sends
        its mail from the outbox after the chat's reply, so a browser test can get here before the mail does."""
        with self.arrived:
            self.arrived.wait_for(lambda: self._to(address), timeout=wait)
            found = self._to(address)
            assert found, f"no email to {address}; sent: {[str(m['To']) for m in self.messages]}"
        return found[-1]

    def _to(self, address: str) -> list[EmailMessage]:  # the lock held
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    @staticmethod
    def body(message: EmailMessage) -> str:
        part = message.get_body(preferencelist=("plain", "html"))
        return part.get_content() if part else ""

    def code_for(self, address: str) -> str:
        match = re.search(r"認證碼是：(\d{6})", self.body(self.last_to(address)))
        assert match, "no code in the last email"
        return match.group(1)


@pytest.fixture(scope="session")
def smtp_server():
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture
def smtp(smtp_server):
    smtp_server.clear()
    return smtp_server


def reply_to_email(original: EmailMessage, from_address: str, text: str, *, html: bool = False,
                   charset: str = "utf-8", headers: dict | None = None, with_code: bool = True) -> bytes:
    """A person's reply to `original`: addressed to its Reply-To, quoting it below the new text.

    With `with_code` the person writes the code from the original above their text, as the email
    asks them to; without it, the code appears only in the quoted original.
    """
    if with_code:
        match = re.search(r"認證碼是：(\d{6})", SmtpSink.body(original))
        if match and match.group(1) not in text:
            text = f"{match.group(1)} {text}"
    reply = EmailMessage()
    reply["From"] = from_address
    reply["To"] = str(original["Reply-To"])
    reply["Subject"] = "Re: " + str(original["Subject"])
    reply["Message-ID"] = f"<{uuid.uuid4().hex}@mail.taichung.gov.tw>"
    reply["In-Reply-To"] = str(original["Message-ID"] or "")
    for key, value in (headers or {}).items():
        reply[key] = value
    quoted = "\n".join("> " + line for line in SmtpSink.body(original).splitlines())
    if html:
        reply.set_content(f"<html><body><p>{text}</p><blockquote>{quoted}</blockquote></body></html>",
                          subtype="html", charset=charset)
    else:
        reply.set_content(f"{text}\n\n{quoted}\n", charset=charset)
    return reply.as_bytes()


def post_inbound(client, raw: bytes, secret: str | None = None):
    secret = secret or client.application.config["INBOUND_EMAIL_SECRET"]
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post("/email/inbound", data=raw, headers={"Content-Type": "message/rfc822",
                                                              "X-Inbound-Signature": f"sha256={signature}"})
