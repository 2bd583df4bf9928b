"""Process one stored LINE webhook event: run the conversation and answer with the reply token."""
from __future__ import annotations

import datetime as dt
import json
import logging
import time
import traceback

from peewee import DatabaseError, IntegrityError, InterfaceError

from bot.context import BotContext
from bot.dispatch import handle_event
from bot.event_shape import check_event, user_id_of
from bot.line_api import reply_messages
from models.base import db, ensure_connection, is_postgres, kept_statement, utcnow
from models.events import DONE, EVENT_STATES, FAILED, IGNORED, PENDING, PROCESSING, QUEUED, LineEvent
from models.outbox import queue_line, unit_of_work

from .metrics import EVENTS_HANDLED
from .outbox import sending_after
from .queue import app_context, enqueue

log = logging.getLogger(__name__)
REPLY_TOKEN_LIFETIME = dt.timedelta(seconds=50)
NOTIFY_CHANNEL = "line_events"
DISPATCH_BATCH = 500
EVENTS_PER_JOB = 20
RELEASE_TRIES = 5


def process_line_events(event_row_ids: list[int]) -> list[str]:
    """The events of one webhook body, in order; each on its own, so one that fails never holds
    up the others (it is recorded on its row and retried by the sweep, or failed at once when
    malformed). The notices they write (a code email ...) are sent together at the end, over one
    connection, not as one job each."""
    with sending_after():
        return [process_line_event(event_id) for event_id in event_row_ids]


def process_line_event(event_row_id: int) -> str:
    with sending_after():
        outcome = _process(event_row_id)
    EVENTS_HANDLED.labels(outcome).inc()
    return outcome


def _process(event_row_id: int) -> str:
    """Handle the event once: claim the row, run the bot, reply (or push when the token has expired).

    Returns what became of it: done, failed (malformed: never retried), ignored (no sender),
    retry (an error: back to pending with the error's name and place, for the sweep), skipped.
    """
    with app_context() as app:
        row = _claim(event_row_id)
        if row is None:
            return "skipped"
        try:
            event = row.payload
            check_event(event)
        except (ValueError, RecursionError) as exc:
            return _finish(row, FAILED, f"malformed: {exc}"[:500], logging.WARNING)
        user_id = user_id_of(event)
        source_type = event["source"].get("type") if isinstance(event.get("source"), dict) else None
        if not user_id and source_type not in ("group", "room"):
            return _finish(row, IGNORED, "no source.userId: nobody to answer", logging.INFO)
        try:
            ctx = BotContext.from_config(app.config, user_id)
            with unit_of_work():  # the conversation's changes and "done" commit together, or neither
                # "done" first: a row lock the conversation takes (a proposal's, by a second) is then
                # held only until the commit that follows it, not through another statement.
                EVENT_STATES.move_row(LineEvent, row.id, DONE, processed_at=utcnow(), last_error=None)
                replies = handle_event(event, ctx)
        except Exception as exc:  # noqa: BLE001 - recorded on the row; the batch goes on
            log.exception("LINE event %s failed", row.id)
            _release(row.id, _where(exc))
            return "retry"
        if replies:
            _answer(app, row, event, user_id, replies)
        return "done"


def _claim(event_row_id: int) -> LineEvent | None:
    """Take the event if it is pending or queued (one conditional UPDATE, so only one job gets it);
    on PostgreSQL the same statement returns the row."""
    sources = sorted(EVENT_STATES.sources(PROCESSING))
    if is_postgres():  # every event passes here: the statement's text is written once (kept_statement)
        sql = kept_statement(("claim_event", tuple(sources)),
                             lambda: _CLAIM_SQL.format(sources=", ".join(["%s"] * len(sources))))
        return next(iter(LineEvent.raw(sql, PROCESSING, utcnow(), event_row_id, *sources)), None)
    where = (LineEvent.id == event_row_id) & LineEvent.status.in_(sources)
    query = LineEvent.update(status=PROCESSING, attempts=LineEvent.attempts + 1, claimed_at=utcnow()).where(where)
    return LineEvent.get_by_id(event_row_id) if query.execute() else None


_CLAIM_SQL = ('UPDATE "line_event" SET "status" = %s, "attempts" = "attempts" + 1, "claimed_at" = %s'
              ' WHERE "id" = %s AND "status" IN ({sources}) RETURNING *')


def _release(event_id: int, error: str) -> None:
    """Back to pending for the sweep. If the database itself went away (a restart), wait for it a
    little: left 'processing', the event would wait for the stuck-event rule (minutes)."""
    for attempt in range(RELEASE_TRIES):
        try:
            ensure_connection()
            EVENT_STATES.move(LineEvent, LineEvent.id == event_id, PENDING, from_states=[PROCESSING],
                              last_error=error)
            return
        except (DatabaseError, InterfaceError):
            if attempt == RELEASE_TRIES - 1:
                raise
            time.sleep(2)


def _finish(row: LineEvent, status: str, reason: str, level: int) -> str:
    EVENT_STATES.move(LineEvent, LineEvent.id == row.id, status, from_states=[PROCESSING],
                      processed_at=utcnow(), last_error=reason)
    log.log(level, "LINE event %s %s: %s", row.id, status, reason)
    return status


def _where(exc: BaseException) -> str:
    """The error's type and the innermost frame of this project: enough to find it, and no personal
    data (an exception's message may quote values, R4)."""
    place = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if "/site-packages/" not in frame.filename:
            place = f" at {frame.filename.rsplit('/', 2)[-2]}/{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
    return f"{type(exc).__name__}{place}"[:500]


def _answer(app, row: LineEvent, event: dict, user_id: str, replies: list[dict]) -> None:
    token = event.get("replyToken")
    fresh = utcnow() - row.received_at < REPLY_TOKEN_LIFETIME
    if token and fresh:
        try:
            reply_messages(app.config, token, replies)
            return
        except Exception as exc:  # noqa: BLE001 - an expired or used token falls back to a push
            log.info("reply for event %s failed (%s); pushing instead", row.id, type(exc).__name__)
    if user_id:
        with unit_of_work():
            queue_line(user_id, replies, dedupe_key=f"reply-fallback:{row.webhook_event_id}")


def store_events(body: dict) -> list[int]:
    """Store each event of a webhook body once (by webhookEventId); returns the ids of new rows.

    On PostgreSQL this is one INSERT ... ON CONFLICT DO NOTHING RETURNING id: a redelivered event
    inserts nothing and is not returned, whatever the concurrency.
    """
    rows = []
    seen = set()
    now = utcnow()
    for event in body.get("events") or []:
        if not isinstance(event, dict):
            continue
        event_id = str(event.get("webhookEventId") or "")[:64]
        if not event_id or event_id in seen:
            continue
        seen.add(event_id)
        source = event.get("source") if isinstance(event.get("source"), dict) else {}
        rows.append({"webhook_event_id": event_id, "user_id": str(source.get("userId") or "")[:64] or None,
                     "event_type": str(event.get("type") or "")[:32],
                     "body": json.dumps(event, ensure_ascii=False), "received_at": now})
    if not rows:
        return []
    if is_postgres():
        # One statement, one round trip (peewee runs PostgreSQL in autocommit mode, so the statement
        # is its own transaction). The events are inputs LINE already delivered and a person can
        # repeat, so this commit does not wait for the WAL flush (a disk sync per webhook); domain
        # changes (codes, seconds) keep full durability. pg_notify wakes the dispatcher at commit.
        values = ", ".join(["(%s, %s, %s, %s, 'pending', 0, %s)"] * len(rows))
        params = [v for r in rows for v in (r["webhook_event_id"], r["user_id"], r["event_type"], r["body"],
                                            r["received_at"])]
        cursor = db.execute_sql(
            "WITH settings AS (SELECT set_config('synchronous_commit', 'off', true)), "
            "ins AS (INSERT INTO line_event (webhook_event_id, user_id, event_type, body, status, attempts, received_at) "
            f"VALUES {values} ON CONFLICT (webhook_event_id) DO NOTHING RETURNING id) "
            f"SELECT ins.id, pg_notify('{NOTIFY_CHANNEL}', '') FROM ins, settings", params)
        return sorted(row[0] for row in cursor.fetchall())
    new_ids = []
    for row in rows:
        try:
            with db.atomic():
                new_ids.append(LineEvent.insert(**row).execute())
        except IntegrityError:
            continue  # a redelivery: processed once already
    return new_ids


def dispatch_pending(limit: int = DISPATCH_BATCH) -> int:
    """Hand stored, unclaimed events to the workers in batches (the dispatcher's half of the webhook).

    The webhook only verifies and stores; this moves the queueing off its hot path. Events are
    claimed with FOR UPDATE SKIP LOCKED, so several dispatchers never hand out one event twice;
    one user's events stay together and in order inside a job.
    """
    total = 0
    while True:
        with db.atomic():
            if is_postgres():
                cursor = db.execute_sql(
                    "UPDATE line_event SET status = 'queued', claimed_at = (now() AT TIME ZONE 'utc') WHERE id IN ("
                    " SELECT id FROM line_event WHERE status = 'pending' AND attempts = 0"
                    " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id, user_id", (limit,))
                claimed = sorted(cursor.fetchall())
            else:
                claimed = [(r.id, r.user_id) for r in LineEvent.select(LineEvent.id, LineEvent.user_id)
                           .where((LineEvent.status == "pending") & (LineEvent.attempts == 0))
                           .order_by(LineEvent.id).limit(limit)]
                EVENT_STATES.move(LineEvent, LineEvent.id.in_([i for i, _ in claimed]), QUEUED, claimed_at=utcnow())
        if not claimed:
            return total
        by_user: dict[str, list[int]] = {}
        for event_id, user_id in claimed:
            by_user.setdefault(user_id or "", []).append(event_id)
        job: list[int] = []
        for ids in by_user.values():
            job.extend(ids)
            if len(job) >= EVENTS_PER_JOB:
                _enqueue_batch(enqueue, job)
                job = []
        if job:
            _enqueue_batch(enqueue, job)
        total += len(claimed)
        if len(claimed) < limit:
            return total


def _enqueue_batch(enqueue, ids: list[int]) -> None:
    if not enqueue(process_line_events, list(ids), job_id=f"line-events-{ids[0]}-{ids[-1]}"):
        # Redis refused: leave them for the next dispatch or the sweep.
        EVENT_STATES.move(LineEvent, LineEvent.id.in_(ids), PENDING, from_states=[QUEUED])
