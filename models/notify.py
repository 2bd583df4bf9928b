"""Notices to officials: a LINE push and an email, both outbox rows written with the state change."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from . import services
from .officials import Official
from .outbox import (
    OUTBOX_STATES,
    PENDING,
    REROUTED,
    Outbox,
    Row,
    line_row,
    mail_row,
    queue_line,
    queue_mail,
    queue_row,
    unit_of_work,
)
from .texts import without_clauses


def public_base_url(given: str = "") -> str:
    """Where links in chats and emails point: the given URL, else the configured public base URL."""
    return given or services.current().public_base_url


MAIL_FOOTER = "\n\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）"


def notify_official(official: Official, *, subject: str, body: str, line_messages: list[dict] | None = None,
                    key: str, now: dt.datetime | None = None, mail: bool = True, reply_to: str | None = None) -> None:
    """Tell one official, once per `key` (the outbox refuses a second row with the same key).

    `reply_to`: where a reply to the email goes (e.g. the operations team, for an objection)."""
    for row in official_notice(official, subject=subject, body=body, line_messages=line_messages, key=key,
                               mail=mail, reply_to=reply_to):
        queue_row(row, now)


def official_notice(official: Official, *, subject: str, body: str, line_messages: list[dict] | None = None,
                    key: str, mail: bool = True, reply_to: str | None = None) -> list[Row]:
    """The outbox rows of `notify_official`, not yet written: an email to the verified address
    (`{key}:mail`) and a LINE push when the official follows the account (`{key}:line`). Many
    notices are written at once with `outbox.queue_rows` (the sweep's lapses)."""
    rows: list[Row] = []
    mailed = bool(mail and official.verified_email)
    if mailed:
        rows.append(mail_row(official.verified_email, subject, mail_body(official, body), reply_to=reply_to,
                             dedupe_key=f"{key}:mail"))
    if official.following and official.line_user_id:
        # If LINE refuses the push (quota), the notice still reaches them by email.
        form = ({"twin": f"{key}:mail"} if mailed else
                {"to": official.verified_email, "subject": subject, "body": mail_body(official, body)}
                if official.verified_email else None)
        messages = line_messages or [{"type": "text", "text": body[:4900]}]
        messages = [{**msg, "text": without_clauses(msg["text"])} if msg.get("type") == "text" else msg
                    for msg in messages]  # chat prompts carry no clause numbers; the email keeps them
        rows.append(line_row(official.line_user_id, messages, dedupe_key=f"{key}:line", mail=form))
    return rows


def message_official(official: Official, *, subject: str, body: str, key: str,
                     now: dt.datetime | None = None) -> str | None:
    """One message to one official through LINE, with email as the fallback: by email at once when
    the official has no LINE link, and by the worker (jobs/outbox.py) when the LINE push fails.
    Returns the channel chosen ("line" or "mail"), or None when the official cannot be reached."""
    if official.following and official.line_user_id:
        queue_line(official.line_user_id, [{"type": "text", "text": body[:4900]}], dedupe_key=f"{key}:line", now=now,
                   mail={"to": official.verified_email, "subject": subject, "body": mail_body(official, body),
                         "on_any_failure": True} if official.verified_email else None)
        return "line"
    if official.verified_email:
        queue_mail(official.verified_email, subject, mail_body(official, body), dedupe_key=f"{key}:mail", now=now)
        return "mail"
    return None


def mail_body(official: Official, body: str) -> str:
    """The email text of a notice: greeting by real name (it goes to the official's own address), the
    body, the platform's footer."""
    return f"{official.greeting_name} 您好：\n\n{body}{MAIL_FOOTER}"


def agency_mails(agency, subject: str, body: str | Callable[[str], str], *,
                 dedupe_key: str) -> list[tuple[str, str, str, str]]:
    """(dedupe key, to, subject, body) for each of an agency's contact addresses (`Agency.contact_emails`);
    `body` may be a function of the address (a link scoped to it). The main address keeps `dedupe_key`
    as it is, the others add `:cc<n>`. Empty when the agency has no address."""
    addresses = agency.contact_emails if agency is not None else []
    return [(dedupe_key if index == 0 else f"{dedupe_key}:cc{index}", address, subject,
             body(address) if callable(body) else body) for index, address in enumerate(addresses)]


def mail_agency(agency, subject: str, body: str | Callable[[str], str], *, dedupe_key: str,
                now: dt.datetime | None = None) -> int:
    """Queue `agency_mails`: one email to each contact address. Returns how many were queued (0: the
    agency has no address; the caller tells the team)."""
    return sum(1 for key, to, title, text in agency_mails(agency, subject, body, dedupe_key=dedupe_key)
               if queue_mail(to, title, text, dedupe_key=key, now=now))


def reroute_to_mail(row: Outbox, error: str) -> bool:
    """A LINE push that failed and whose email form is to be used on any failure (R10.2 messages,
    `message_official`) is emailed instead, once (its row becomes `rerouted`, the email a new row).
    False when it has no such form."""
    form = row.mail_form()
    if form is None or not form.get("on_any_failure") or not form.get("to"):
        return False
    with unit_of_work():
        if not OUTBOX_STATES.move(Outbox, Outbox.id == row.id, REROUTED, from_states=[PENDING],
                                  last_error=f"{error}; rerouted to mail"):
            return False
        queue_mail(form["to"], form["subject"], form["body"], dedupe_key=f"{row.dedupe_key or f'outbox:{row.id}'}:fallback")
    return True
