"""Send one outbox row: an email through Flask-Mail, or a LINE push through the Messaging API."""
from __future__ import annotations

import datetime as dt
import logging
import uuid

from bot.line_api import show_rich_menu
from bot.richmenu import menu_for
from models.base import utcnow
from models.officials import Official
from models.outbox import GIVE_UP_AFTER, Outbox

from . import app_context

log = logging.getLogger(__name__)


def send_outbox(outbox_id: int) -> str:
    """Send the row unless it was sent already; a failure is recorded and re-raised so RQ retries it."""
    with app_context() as app:
        row = Outbox.get_or_none(Outbox.id == outbox_id)
        if row is None or row.status == "sent":
            return "skipped"
        try:
            if row.channel == "mail":
                _send_mail(app, row)
            elif row.channel == "richmenu":
                _send_rich_menu(app, row)
            else:
                _send_line(app, row)
        except Exception as exc:
            attempts = row.attempts + 1
            backoff = dt.timedelta(seconds=min(3600, 30 * 2 ** min(attempts, 10)))
            given_up = utcnow() - row.created_at > GIVE_UP_AFTER
            (Outbox.update(attempts=attempts, last_error=type(exc).__name__,  # no message text: it may hold an address
                           status="failed" if given_up else "pending",
                           next_attempt_at=utcnow() + backoff)
             .where(Outbox.id == row.id).execute())
            log.warning("outbox %s (%s) failed, attempt %s: %s", row.id, row.channel, attempts, type(exc).__name__)
            if given_up:
                log.error("outbox %s (%s) given up after %s attempts", row.id, row.channel, attempts)
            return "failed"  # the sweep retries it when next_attempt_at comes (no RQ retry: it ignores back-off)
        Outbox.update(status="sent", sent_at=utcnow(), attempts=row.attempts + 1).where(Outbox.id == row.id).execute()
        return "sent"


def _send_mail(app, row: Outbox) -> None:
    from flask_mail import Message

    data = row.data
    message = Message(subject=data["subject"], recipients=[row.recipient], body=data["body"],
                      reply_to=data.get("reply_to"), sender=app.config["MAIL_DEFAULT_SENDER"],
                      extra_headers={"Auto-Submitted": "auto-generated", "X-Platform-Outbox": str(row.id)})
    app.extensions["mail"].send(message)


def _send_line(app, row: Outbox) -> None:
    from bot.line_api import push_messages

    # The retry key makes LINE drop a duplicate push if we retry after a lost response.
    retry_key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"outbox:{row.id}:{row.created_at.isoformat()}"))
    push_messages(app.config, row.recipient, row.data["messages"], retry_key=retry_key)


def _send_rich_menu(app, row: Outbox) -> None:
    """The menu for the official's status now (not when the row was written): verified → main."""
    official = Official.get_or_none(Official.line_user_id == row.recipient)
    show_rich_menu(app.config, row.recipient, menu_for(official is not None and official.is_verified))
