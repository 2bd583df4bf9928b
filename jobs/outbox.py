"""Send one outbox row: an email through Flask-Mail, or a LINE push through the Messaging API."""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import uuid

from flask_mail import Message
from linebot.v3.messaging import ApiException

from bot.line_api import push_messages, show_rich_menu
from bot.richmenu import menu_for
from models.base import utcnow
from models.bounces import record_bounce
from models.notify import reroute_to_mail
from models.officials import Official
from models.outbox import FAILED, GIVE_UP_AFTER, OUTBOX_STATES, SENT, Outbox

from .metrics import NOTICES_SENT
from .queue import app_context, enqueue

log = logging.getLogger(__name__)


def enqueue_outbox(ids: list[int], requeue: bool = False) -> None:
    """Hand committed outbox rows to the workers (the domain's after-commit hook, and the sweep)."""
    for outbox_id in ids:
        # No RQ retry: the row's own back-off (next_attempt_at) drives retries through the sweep.
        enqueue(send_outbox, outbox_id, job_id=f"outbox-{outbox_id}", skip_if_queued=requeue, retry=False)


def send_outbox(outbox_id: int) -> str:
    """Send the row unless it was sent already; a failure is recorded and re-raised so RQ retries it."""
    with app_context() as app:
        row = Outbox.get_or_none(Outbox.id == outbox_id)
        if row is None or row.status == SENT:
            return "skipped"
        via = None
        try:
            if row.channel == "mail":
                _send_mail(app, row)
            elif row.channel == "richmenu":
                _send_rich_menu(app, row)
            else:
                via = _send_line(app, row)
        except Exception as exc:
            if reroute_to_mail(row, type(exc).__name__):  # a message with an email fallback (R10.2)
                log.warning("outbox %s (line) failed: %s; emailed instead", row.id, type(exc).__name__)
                NOTICES_SENT.labels(row.channel, "rerouted").inc()
                return "rerouted"
            attempts = row.attempts + 1
            backoff = dt.timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 10)))
            # A recipient the mail server refuses for good (5xx) will not take it later either: a bounce.
            bounced = row.channel == "mail" and _permanent_refusal(exc)
            given_up = bounced or utcnow() - row.created_at > GIVE_UP_AFTER
            (Outbox.update(attempts=attempts, last_error=type(exc).__name__,  # no message text: it may hold an address
                           next_attempt_at=utcnow() + backoff)
             .where(Outbox.id == row.id).execute())
            if given_up:
                OUTBOX_STATES.move(Outbox, Outbox.id == row.id, FAILED)
            if bounced:
                record_bounce(row.recipient, row.id)
            log.warning("outbox %s (%s) failed, attempt %s: %s", row.id, row.channel, attempts, type(exc).__name__)
            if given_up:
                log.error("outbox %s (%s) given up after %s attempts", row.id, row.channel, attempts)
            NOTICES_SENT.labels(row.channel, "failed").inc()
            return "failed"  # the sweep retries it when next_attempt_at comes (no RQ retry: it ignores back-off)
        extra = {"sent_via": via, "last_error": "LINE 429"} if via else {}
        OUTBOX_STATES.move(Outbox, Outbox.id == row.id, SENT, sent_at=utcnow(), attempts=row.attempts + 1, **extra)
        NOTICES_SENT.labels(row.channel, "sent").inc()
        return "sent" if via is None else f"sent by {via}"


def _permanent_refusal(exc: Exception) -> bool:
    """The server refused the recipient with a permanent 5xx reply (a 4xx is tried again later)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _msg in exc.recipients.values())
    return False


def _send_mail(app, row: Outbox, to: str | None = None, data: dict | None = None) -> None:
    data = data or row.data
    message = Message(subject=data["subject"], recipients=[to or row.recipient], body=data["body"],
                      reply_to=data.get("reply_to"), sender=app.config["MAIL_DEFAULT_SENDER"],
                      extra_headers={"Auto-Submitted": "auto-generated", "X-Platform-Outbox": str(row.id)})
    app.extensions["mail"].send(message)


def _send_line(app, row: Outbox) -> str | None:
    """Push the row; if LINE refuses it with 429 (the monthly quota used up, or the rate limit) and
    the notice has an email form, it goes by email instead: returns "mail", else None."""
    # The retry key makes LINE drop a duplicate push if we retry after a lost response.
    retry_key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"outbox:{row.id}:{row.created_at.isoformat()}"))
    try:
        push_messages(app.config, row.recipient, row.data["messages"], retry_key=retry_key)
        return None
    except ApiException as exc:
        form = row.mail_form()
        if exc.status != 429 or form is None:
            raise
    if "twin" in form:  # the same notice has its own email row: it reaches them there
        if not Outbox.select().where(Outbox.dedupe_key == form["twin"]).exists():
            raise RuntimeError("LINE 429 and the notice's email is missing")
    else:
        _send_mail(app, row, to=form["to"], data=form)
    log.warning("outbox %s: LINE refused the push (429); sent by email instead", row.id)
    return "mail"


def _send_rich_menu(app, row: Outbox) -> None:
    """The menu for the official's status now (not when the row was written): verified → main."""
    official = Official.get_or_none(Official.line_user_id == row.recipient)
    show_rich_menu(app.config, row.recipient, menu_for(official is not None and official.is_verified))
