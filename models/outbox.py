"""The outbox: every email and LINE push is a row written in the same transaction as the state change.

A job sends it and marks it sent; the sweep re-enqueues what was never sent, so losing Redis or a
worker loses nothing. `dedupe_key` makes "notify once" a database constraint, not a hope.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import threading
from collections.abc import Callable
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import peewee

from . import services
from .base import BaseModel, create_row, db, utcnow
from .states import Transitions

# A notice is retried with back-off (10 s doubling, at most hourly: jobs.outbox.retry_backoff) for two days, however many
# attempts that takes: a mail server down for an afternoon must not silently drop a legal notice.
GIVE_UP_AFTER = dt.timedelta(hours=48)

PENDING, SENT, FAILED, REROUTED = "pending", "sent", "failed", "rerouted"
OUTBOX_STATES = Transitions("通知", {
    PENDING: {SENT, FAILED, REROUTED},  # sent, or given up after GIVE_UP_AFTER of retries (ops are told) or by staff
    SENT: set(), FAILED: {PENDING},  # sent again on the operations page
    REROUTED: set(),  # a LINE push that failed and carried a fallback: its email (a new row) replaces it
}, labels={PENDING: "待寄送", SENT: "已寄送", FAILED: "失敗", REROUTED: "改以電子郵件寄送"})


class Outbox(BaseModel):
    channel = peewee.CharField(max_length=8)  # mail | line | richmenu
    recipient = peewee.CharField(max_length=320)  # email address or LINE user id
    payload = peewee.TextField()  # JSON: mail {subject, body, reply_to} | line {messages}
    dedupe_key = peewee.CharField(max_length=200, unique=True, null=True)
    status = peewee.CharField(max_length=12, default=PENDING, index=True)  # OUTBOX_STATES
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    next_attempt_at = peewee.DateTimeField(default=utcnow, index=True)
    sent_at = peewee.DateTimeField(null=True)
    # "mail" when LINE refused a push (429: the monthly quota used up, or the rate limit) and the
    # notice went by email instead; None: sent on its own channel.
    sent_via = peewee.CharField(max_length=8, null=True)

    @property
    def data(self) -> dict:
        return json.loads(self.payload)

    def mail_form(self) -> dict | None:
        """The email form of a LINE push: {"to", "subject", "body"} to send (with "on_any_failure": True
        when any failure, not only the quota's 429, sends it), {"twin": dedupe key} of an email of the
        same notice already queued, or None (a chat-only message)."""
        form = self.data.get("mail") if self.channel == "line" else None
        return form if isinstance(form, dict) else None


# One outbox row before it is written: (channel, recipient, payload, dedupe key).
Row = tuple[str, str, dict, str | None]


def mail_row(to: str, subject: str, body: str, *, reply_to: str | None = None, dedupe_key: str | None = None) -> Row:
    return ("mail", to, {"subject": subject, "body": body, "reply_to": reply_to}, dedupe_key)


def line_row(user_id: str, messages: list[dict], *, dedupe_key: str | None = None, mail: dict | None = None) -> Row:
    """A LINE push of up to five messages. `mail` is its email form (see `Outbox.mail_form`): used if
    LINE refuses the push for the quota (429), or on any failure when it says `"on_any_failure": True`
    (models.notify.message_official, R10.2)."""
    payload: dict = {"messages": messages[:5]}
    if mail:
        payload["mail"] = mail
    return ("line", user_id, payload, dedupe_key)


def queue_row(row: Row, now: dt.datetime | None = None) -> Outbox | None:
    """Queue one row, unless a row with its dedupe key exists (None then)."""
    channel, recipient, payload, dedupe_key = row
    if dedupe_key and Outbox.select().where(Outbox.dedupe_key == dedupe_key).exists():
        return None
    now = now or utcnow()
    created = create_row(Outbox, channel=channel, recipient=recipient, payload=json.dumps(payload, ensure_ascii=False),
                         dedupe_key=dedupe_key, created_at=now, next_attempt_at=utcnow())
    _pending_ids().append(created.id)
    return created


def queue_rows(rows: list[Row], now: dt.datetime | None = None) -> int:
    """Queue many rows at once, skipping dedupe keys already queued (or repeated in `rows`): one query
    per 1,000 keys for the existing ones and one INSERT per 500 rows (a calendar change at 100k, a
    sweep lapsing a thousand windows). The INSERT also ignores a key written meanwhile by another
    transaction, so a notice is never doubled. Returns how many were queued."""
    now = now or utcnow()
    fresh: list[Row] = []
    seen: set[str] = set()
    for start in range(0, len(rows), 1000):
        chunk = rows[start:start + 1000]
        keys = [row[3] for row in chunk if row[3]]
        taken = ({k for (k,) in Outbox.select(Outbox.dedupe_key).where(Outbox.dedupe_key.in_(keys)).tuples()}
                 if keys else set())
        for row in chunk:
            key = row[3]
            if key and (key in taken or key in seen):
                continue
            if key:
                seen.add(key)
            fresh.append(row)
    values = [{"channel": channel, "recipient": recipient, "dedupe_key": key, "created_at": now,
               "next_attempt_at": utcnow(), "payload": json.dumps(payload, ensure_ascii=False)}
              for channel, recipient, payload, key in fresh]
    queued = 0
    for start in range(0, len(values), 500):
        inserted = (Outbox.insert_many(values[start:start + 500]).on_conflict_ignore()
                    .returning(Outbox.id).execute())
        ids = [row[0] if isinstance(row, tuple) else row.id for row in inserted]
        _pending_ids().extend(ids)
        queued += len(ids)
    return queued


def queue_mail(to: str, subject: str, body: str, *, reply_to: str | None = None, dedupe_key: str | None = None,
               now: dt.datetime | None = None) -> Outbox | None:
    """Queue one email (sent by the worker after the transaction commits)."""
    return queue_row(mail_row(to, subject, body, reply_to=reply_to, dedupe_key=dedupe_key), now)


def queue_mails(mails: list[tuple[str, str, str, str]], now: dt.datetime | None = None) -> int:
    """Queue many emails at once, each (dedupe key, to, subject, body), skipping keys already queued
    (`queue_rows`). Returns how many were queued."""
    return queue_rows([mail_row(to, subject, body, dedupe_key=key) for key, to, subject, body in mails], now)


def queue_line(user_id: str, messages: list[dict], *, dedupe_key: str | None = None,
               now: dt.datetime | None = None, mail: dict | None = None) -> Outbox | None:
    """Queue one LINE push (`line_row`)."""
    return queue_row(line_row(user_id, messages, dedupe_key=dedupe_key, mail=mail), now)


def queue_rich_menu(user_id: str, *, now: dt.datetime | None = None) -> Outbox | None:
    """Bring the user's LINE rich menu in step with their status. The job reads the status when it
    runs, so rows sent late or out of order (block, then unblock) still end on the right menu."""
    return queue_row(("richmenu", user_id, {}, None), now)


def requeue_after_commit(row_id: int) -> None:
    """Hand an existing row to the worker again once the current transaction commits."""
    _pending_ids().append(row_id)


_local = threading.local()
P = ParamSpec("P")
R = TypeVar("R")


def _pending_ids() -> list[int]:
    if not hasattr(_local, "ids"):
        _local.ids = []
    return _local.ids


@contextmanager
def unit_of_work():
    """One domain transaction; the outbox rows it wrote are handed to the worker after it commits."""
    outermost = not db.in_transaction()
    try:
        with db.atomic():
            yield
    except BaseException:
        if outermost:
            _pending_ids().clear()
        raise
    if outermost:
        ids = list(_pending_ids())
        _pending_ids().clear()
        hook = services.current().after_commit  # handed over at start-up: jobs enqueue the rows
        if ids and hook is not None:
            hook(ids)


def transaction(change: Callable[P, R]) -> Callable[P, R]:
    """A public domain state change owns its transaction: everything it writes (rows, events and
    outbox notices) commits together or not at all. Re-entrant: called inside another unit of work
    it becomes a savepoint of it, so a caller may still group several changes."""
    @functools.wraps(change)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work():
            return change(*args, **kwargs)

    return run
