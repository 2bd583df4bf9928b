"""The deadlines sweep: apply every rule whose time has come, and re-send what was never sent.

The domain's steps, in order and each with its rule, are the table `models.deadlines.SWEEP_STEPS`;
after them come the outbox and event housekeeping below. Each step is idempotent and takes row
locks (or conditional updates), so two sweeps at once never double an action.
"""
from __future__ import annotations

import datetime as dt
import logging
import time

from redis.exceptions import RedisError

from models import operations, settings
from models.base import utcnow
from models.deadlines import SWEEP_STEPS
from models.events import EVENT_STATES, FAILED, PENDING, PROCESSING, QUEUED, LineEvent
from models.outbox import Outbox, queue_mail, unit_of_work

from .line_events import process_line_event
from .outbox import enqueue_outbox
from .queue import app_context, enqueue, get_queue

log = logging.getLogger(__name__)

# An event being processed longer than this has lost its worker: RQ kills a job after 120 s.
STUCK_AFTER = dt.timedelta(minutes=3)
# An event handed to a job this long ago while the queue is empty lost its job (Redis flushed or
# restarted, the job dropped): nothing will run it. With jobs still queued it may only be waiting.
QUEUED_LOST_AFTER = dt.timedelta(seconds=20)
# Due retries are read in pages of this many rows, at most this many pages a pass (an SMTP outage
# under a surge fails ~2 000 mails in a minute, several hundred coming due in one 10 s window).
RETRY_PAGE, RETRY_PAGES = 500, 40


def run_sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Run every step as of `now` (naive UTC); one failing step does not stop the others. Each
    step's result and duration is recorded (the operations page, the metrics)."""
    now = now or utcnow()
    started = utcnow()
    results: dict[str, int] = {}
    record: list[dict] = []
    housekeeping = [("outbox_requeued", requeue_outbox), ("outbox_failures_reported", report_failed_outbox),
                    ("line_events_requeued", requeue_line_events)]
    with app_context():
        steps = [(name, lambda step=step: step(now)) for _rule, name, step in SWEEP_STEPS]
        steps += [(name, lambda step=step: step(utcnow())) for name, step in housekeeping]
        for name, run in steps:
            clock = time.perf_counter()
            entry: dict = {"name": name}
            try:
                results[name] = run()
            except Exception as exc:  # noqa: BLE001 - logged; the next sweep tries again
                log.exception("sweep step %s failed", name)
                results[name] = -1
                entry["error"] = type(exc).__name__
            entry["result"] = results[name]
            entry["ms"] = round((time.perf_counter() - clock) * 1000, 1)
            record.append(entry)
        try:
            operations.record_sweep(started, utcnow(), record)
        except Exception:  # noqa: BLE001 - the record is for people; the sweep's work is done
            log.exception("recording the sweep failed")
    return results


def requeue_outbox(now: dt.datetime) -> int:
    """Hand unsent rows whose retry time has come back to the worker (lost jobs, Redis flushes)."""
    ids = [row.id for row in Outbox.select(Outbox.id).where(
        (Outbox.status == "pending") & (Outbox.next_attempt_at <= now - dt.timedelta(seconds=30)))
        .order_by(Outbox.next_attempt_at, Outbox.id).limit(500)]
    if ids:
        enqueue_outbox(ids, requeue=True)
    return len(ids)


def requeue_due_retries(now: dt.datetime, since: dt.datetime | None = None) -> int:
    """Hand failed rows whose retry has come (next_attempt_at in (since, now]) back to the workers:
    the scheduler calls it every few seconds with the previous pass's `now`, so each due retry is
    enqueued once, as soon as its back-off ends. The send still claims each row (`_claim`), so a row
    also re-enqueued by the sweep or held by a running job is never sent twice; a job Redis loses is
    left to the sweep (`requeue_outbox`). They go to the front of the queue: behind a backlog of
    events (the full surge run) they waited minutes after the mail server was back."""
    due = (Outbox.status == "pending") & (Outbox.attempts > 0) & (Outbox.next_attempt_at <= now)
    if since is not None:
        due &= Outbox.next_attempt_at > since
    total = 0
    for _page in range(RETRY_PAGES):  # every row of the window: one skipped here would wait for the sweep
        rows = list(Outbox.select(Outbox.id, Outbox.next_attempt_at).where(due)
                    .order_by(Outbox.next_attempt_at, Outbox.id).limit(RETRY_PAGE))
        if rows:
            enqueue_outbox([row.id for row in rows], requeue=True, at_front=True)
            total += len(rows)
        if len(rows) < RETRY_PAGE:
            break
        last = rows[-1]
        due &= ((Outbox.next_attempt_at > last.next_attempt_at)
                | ((Outbox.next_attempt_at == last.next_attempt_at) & (Outbox.id > last.id)))
    return total


def requeue_line_events(now: dt.datetime) -> int:
    """Events stored but never processed (the enqueue failed, or a worker died mid-way)."""
    # Stuck means taken long ago and never finished (a worker died): counted from the claim, not
    # from arrival, or a backlog would hand running events out a second time.
    EVENT_STATES.move(LineEvent, LineEvent.claimed_at <= now - STUCK_AFTER, PENDING, from_states=[PROCESSING, QUEUED])
    hand_out_lost_events(now)
    ids = [row.id for row in LineEvent.select(LineEvent.id).where(
        (LineEvent.status == "pending") & (LineEvent.received_at <= now - dt.timedelta(seconds=30))
        & (LineEvent.attempts < 5)).order_by(LineEvent.id).limit(500)]
    for event_id in ids:
        enqueue(process_line_event, event_id, job_id=f"line-event-{event_id}", skip_if_queued=True)
    _give_up_line_events(now)
    return len(ids)


def hand_out_lost_events(now: dt.datetime) -> int:
    """Queued events whose job is gone go back to pending, where the dispatcher takes them at once
    (the scheduler checks every few seconds, the sweep every minute). Handing one out twice is
    harmless: a job claims each event atomically before running it."""
    if not _queue_is_empty():
        return 0
    return EVENT_STATES.move(LineEvent, LineEvent.claimed_at <= now - QUEUED_LOST_AFTER, PENDING,
                             from_states=[QUEUED])


def _queue_is_empty() -> bool:
    """No job waiting in the queue (False when Redis cannot tell: then nothing is handed out twice)."""
    try:
        queue = get_queue()
        return not queue.is_async or queue.count == 0
    except (RedisError, OSError):
        return False


def _give_up_line_events(now: dt.datetime) -> None:
    """An event that failed five times is not retried again: it is marked failed and ops are told once."""
    for event in LineEvent.select().where((LineEvent.status == "pending") & (LineEvent.attempts >= 5)).limit(100):
        with unit_of_work():
            if not EVENT_STATES.move(LineEvent, LineEvent.id == event.id, FAILED):
                continue
            log.error("LINE event %s given up after %s attempts (%s)", event.id, event.attempts, event.last_error)
            queue_mail(settings.OPS_NOTIFY_EMAIL, f"【政策參與平臺】LINE 訊息處理失敗（事件 {event.id}）",
                       f"一則 {event.event_type} 事件（{event.received_at:%Y-%m-%d %H:%M} UTC 收到）處理 {event.attempts} 次"
                       f"仍失敗（{event.last_error}）。使用者未收到回覆，請檢查服務紀錄。",
                       dedupe_key=f"line-event-failed:{event.id}", now=now)


CHANNEL_LABELS = {"mail": "電子郵件通知", "line": "LINE 訊息通知", "richmenu": "LINE 選單切換"}


def report_failed_outbox(now: dt.datetime) -> int:
    """Tell the operations team, once per row, about a notice given up after two days of failures."""
    failed = list(Outbox.select().where(Outbox.status == "failed").order_by(Outbox.id).limit(100))
    reported = 0
    for row in failed:
        if row.channel == "mail" and row.recipient == settings.OPS_NOTIFY_EMAIL:
            continue  # do not report a failed report by the same road
        with unit_of_work():
            if queue_mail(settings.OPS_NOTIFY_EMAIL, f"【政策參與平臺】通知寄送失敗（第 {row.id} 筆）",
                          f"一則{CHANNEL_LABELS.get(row.channel, 'LINE 訊息')}自 {row.created_at:%Y-%m-%d %H:%M} UTC 起"
                          f"嘗試 {row.attempts} 次仍無法送出（{row.last_error}）。請檢查寄送服務，"
                          "並以其他方式聯繫收件人；相關期限不會因此自動延長。",
                          dedupe_key=f"outbox-failed:{row.id}", now=now):
                reported += 1
    return reported
