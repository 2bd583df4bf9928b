"""Notices to officials: a LINE push and an email, both outbox rows written with the state change."""
from __future__ import annotations

import datetime as dt

from . import services
from .officials import Official
from .outbox import queue_line, queue_mail
from .texts import without_clauses


def public_base_url(given: str = "") -> str:
    """Where links in chats and emails point: the given URL, else the configured public base URL."""
    return given or services.current().public_base_url


MAIL_FOOTER = "\n\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"


def notify_official(official: Official, *, subject: str, body: str, line_messages: list[dict] | None = None,
                    key: str, now: dt.datetime | None = None, mail: bool = True) -> None:
    """Tell one official, once per `key` (the outbox refuses a second row with the same key)."""
    mailed = bool(mail and official.verified_email)
    if mailed:
        queue_mail(official.verified_email, subject, f"{official.greeting_name} 您好：\n\n{body}{MAIL_FOOTER}",
                   dedupe_key=f"{key}:mail", now=now)
    if official.following and official.line_user_id:
        # If LINE refuses the push (quota), the notice still reaches them by email.
        form = ({"twin": f"{key}:mail"} if mailed else
                {"to": official.verified_email, "subject": subject,
                 "body": f"{official.greeting_name} 您好：\n\n{body}{MAIL_FOOTER}"} if official.verified_email else None)
        messages = line_messages or [{"type": "text", "text": body[:4900]}]
        messages = [{**msg, "text": without_clauses(msg["text"])} if msg.get("type") == "text" else msg
                    for msg in messages]  # chat prompts carry no clause numbers; the email keeps them
        queue_line(official.line_user_id, messages, dedupe_key=f"{key}:line", now=now, mail=form)
