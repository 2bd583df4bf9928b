"""Send outbox rows: emails through Flask-Mail, LINE pushes and rich menus through the Messaging API.

Rows are sent in batches over one SMTP connection. A row is claimed just before it is sent (one
conditional UPDATE that pushes its `next_attempt_at` past the claim lease), so two jobs holding the
same row (a sweep's re-enqueue while the first job still runs) never both send it; a worker killed
while holding a batch leaves the rows it had not reached claimable at once, and the one it was
sending claimable after the lease, for the sweep.

Rows written while a worker job runs inside `sending_after()` (a batch of LINE events) are sent by
that job at its end instead of one RQ job per row: the per-job cost and the SMTP handshake were
most of the time per code email (bench/README.md, "Seconding surge").
"""
from __future__ import annotations

import datetime as dt
import logging
import smtplib
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy as email_policy
from email.header import Header
from email.utils import parseaddr

from flask_mail import Message
from linebot.v3.messaging import ApiException
from peewee import DatabaseError, InterfaceError

from bot.line_api import push_messages, show_rich_menu
from bot.richmenu import menu_for
from models.base import ensure_connection, is_postgres, utcnow
from models.bounces import record_bounce
from models.notify import reroute_to_mail
from models.officials import Official
from models.outbox import FAILED, GIVE_UP_AFTER, OUTBOX_STATES, PENDING, SENT, Outbox

from .metrics import NOTICES_SENT
from .queue import app_context, enqueue

log = logging.getLogger(__name__)
# Longer than RQ's job timeout (120 s): a job still sending a claimed row has been killed by then.
CLAIM_LEASE = dt.timedelta(seconds=150)
SEND_BATCH = 50
MARK_TRIES = 8  # 2 s apart: a clean PostgreSQL restart takes one or two
_collecting = threading.local()
# The first retry of a failed row waits this long, each later one twice as long as the one before,
# at most an hour: a mail server back after a short outage gets its mail within seconds (the
# scheduler re-enqueues due retries every 10 s), one down for hours is not hammered.
FIRST_RETRY = 10
MAX_RETRY = 3600


def retry_backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt (1 → 10 s, 2 → 20 s, 3 → 40 s … ≤ 1 h)."""
    return dt.timedelta(seconds=min(MAX_RETRY, FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 12)))


def enqueue_outbox(ids: list[int], requeue: bool = False, at_front: bool = False) -> None:
    """Hand committed outbox rows to the workers (the domain's after-commit hook, and the sweep).
    Inside `sending_after()` they are kept for the running job to send at its end. `at_front`: ahead
    of the queued jobs (due retries: they are older than anything waiting behind a backlog)."""
    collector = getattr(_collecting, "ids", None)
    if collector is not None:
        collector.extend(ids)
        return
    for start in range(0, len(ids), SEND_BATCH):
        chunk = list(ids[start:start + SEND_BATCH])
        job_id = f"outbox-{chunk[0]}" if len(chunk) == 1 else f"outbox-{chunk[0]}-{chunk[-1]}"
        # No RQ retry: the row's own back-off (next_attempt_at) drives retries through the sweep.
        enqueue(send_outbox_batch, chunk, job_id=job_id, skip_if_queued=requeue, retry=False, at_front=at_front)


@contextmanager
def sending_after() -> Iterator[None]:
    """Rows committed inside are sent by this process when the block ends, over one connection.
    If the process dies first they are still pending: the sweep re-enqueues them."""
    if getattr(_collecting, "ids", None) is not None:  # nested: the outermost block sends
        yield
        return
    _collecting.ids = []
    try:
        yield
    finally:
        ids, _collecting.ids = _collecting.ids, None
        if ids:
            try:
                send_outbox_batch(ids)
            except Exception:  # noqa: BLE001 - the rows stay pending for the sweep
                log.exception("sending %s outbox rows after the job failed", len(ids))


def send_outbox(outbox_id: int) -> str:
    """Send one row (jobs enqueued before batches existed call this)."""
    return send_outbox_batch([outbox_id])[0]


def send_outbox_batch(ids: list[int]) -> list[str]:
    """Send each row unless it was sent or is held by another job; a failure is recorded on the row
    (back-off in next_attempt_at, re-enqueued by the scheduler when due) and the batch goes on."""
    with app_context() as app, _Mailer(app) as mailer:
        return [_send_one(app, mailer, outbox_id) for outbox_id in ids]


def _claim(outbox_id: int) -> Outbox | None:
    """Take the row if it is pending and due: one conditional UPDATE, so only one job gets it."""
    now = utcnow()
    if is_postgres():  # every notice passes here: the statement's text is written once
        return next(iter(Outbox.raw(_CLAIM_SQL, now + CLAIM_LEASE, outbox_id, PENDING, now)), None)
    query = (Outbox.update(next_attempt_at=now + CLAIM_LEASE)
             .where((Outbox.id == outbox_id) & (Outbox.status == PENDING) & (Outbox.next_attempt_at <= now)))
    return Outbox.get_by_id(outbox_id) if query.execute() else None


_CLAIM_SQL = ('UPDATE "outbox" SET "next_attempt_at" = %s'
              ' WHERE "id" = %s AND "status" = %s AND "next_attempt_at" <= %s RETURNING *')


def _send_one(app, mailer: _Mailer, outbox_id: int) -> str:
    row = _claim(outbox_id)
    if row is None:
        return "skipped"
    via = None
    try:
        if row.channel == "mail":
            mailer.send(_mail_message(app, row))
        elif row.channel == "richmenu":
            _send_rich_menu(app, row)
        else:
            via = _send_line(app, mailer, row)
    except Exception as exc:
        mailer.reset()  # a broken connection is not reused for the next row
        if reroute_to_mail(row, type(exc).__name__):  # a message with an email fallback (R10.2)
            log.warning("outbox %s (line) failed: %s; emailed instead", row.id, type(exc).__name__)
            NOTICES_SENT.labels(row.channel, "rerouted").inc()
            return "rerouted"
        attempts = row.attempts + 1
        backoff = retry_backoff(attempts)
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
        return "failed"  # the scheduler re-enqueues it when next_attempt_at comes (no RQ retry: it ignores back-off)
    _mark_sent(row, via)
    NOTICES_SENT.labels(row.channel, "sent").inc()
    return "sent" if via is None else f"sent by {via}"


def _permanent_refusal(exc: Exception) -> bool:
    """The server refused the recipient with a permanent 5xx reply (a 4xx is tried again later)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= code < 600 for code, _msg in exc.recipients.values())
    return False


def _mark_sent(row: Outbox, via: str | None = None) -> None:
    """Record the send. It went out: if the database is briefly away (a restart), wait for it rather
    than leave the row pending, which would send it again after the lease."""
    for attempt in range(MARK_TRIES):
        try:
            ensure_connection()
            extra = {"sent_via": via, "last_error": "LINE 429"} if via else {}
            OUTBOX_STATES.move_row(Outbox, row.id, SENT, sent_at=utcnow(), attempts=row.attempts + 1, **extra)
            return
        except (DatabaseError, InterfaceError):
            if attempt == MARK_TRIES - 1:
                raise
            time.sleep(2)


class _Mailer:
    """One SMTP connection for a batch, opened at its first email, dropped after an error."""

    def __init__(self, app):
        self.mail = app.extensions["mail"]
        self.connection = None

    def send(self, message: Message) -> None:
        if self.connection is None:
            connection = self.mail.connect()
            connection.__enter__()
            self.connection = connection
        self.connection.send(message)

    def reset(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            try:
                connection.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - the server went away: nothing to close politely
                pass

    def __enter__(self) -> _Mailer:
        return self

    def __exit__(self, *exc) -> None:
        self.reset()


class _OutboxMessage(Message):
    """Flask-Mail's message, written out with the compat32 policy instead of `policy.SMTP`.

    Flask-Mail builds the headers the compat32 way (encoded `Header` objects) and then asks the
    modern policy to write them, which parses and refolds each one again: 2.5–3.8 ms a code email,
    the largest single cost of the worker's sending (py-spy, bench/README.md "Throughput"); compat32
    writes the same headers as they are in about a quarter of that. The subject is given its header
    name so its first line is not folded (a decoded subject would start with a space).
    tests/test_outbox.py compares both forms header by header.
    """

    def as_bytes(self) -> bytes:
        msg = self._message()
        msg.policy = _SMTP_COMPAT
        if self.subject and not self.subject.isascii():
            del msg["Subject"]
            msg["Subject"] = Header(self.subject, self.charset or "utf-8", header_name="Subject")
        return msg.as_bytes()


_SMTP_COMPAT = email_policy.compat32.clone(linesep="\r\n")


def _mail_message(app, row: Outbox, to: str | None = None, data: dict | None = None) -> Message:
    data = data or row.data
    sender = app.config["MAIL_DEFAULT_SENDER"]
    message = _OutboxMessage(subject=data["subject"], recipients=[to or row.recipient], body=data["body"],
                             reply_to=data.get("reply_to"), sender=sender,
                             extra_headers={"Auto-Submitted": "auto-generated", "X-Platform-Outbox": str(row.id)})
    message.msgId = _message_id(row, sender)
    return message


def _message_id(row: Outbox, sender: str | tuple[str, str]) -> str:
    """One Message-ID for a row, however often it is sent. A send that went out while the database did
    not hear of it (the 'sent' mark waits for a restart only so long) is sent again after its lease:
    with the same Message-ID, mail systems and readers treat the two as one message. The domain is
    the sender's own (Flask-Mail's default is this host's name, which says nothing to a reader and
    may differ between workers); the row's creation time tells apart rows of the same id in
    different databases (a rebuilt development database)."""
    address = sender[1] if isinstance(sender, tuple) else parseaddr(sender)[1]
    domain = address.rpartition("@")[2] or "platform.localhost"
    return f"<outbox.{row.id}.{row.created_at:%Y%m%d%H%M%S%f}@{domain}>"


def _send_line(app, mailer: _Mailer, row: Outbox) -> str | None:
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
        mailer.send(_mail_message(app, row, to=form["to"], data=form))
    log.warning("outbox %s: LINE refused the push (429); sent by email instead", row.id)
    return "mail"


def _send_rich_menu(app, row: Outbox) -> None:
    """The menu for the official's status now (not when the row was written): verified → main."""
    official = Official.get_or_none(Official.line_user_id == row.recipient)
    show_rich_menu(app.config, row.recipient, menu_for(official is not None and official.is_verified))
