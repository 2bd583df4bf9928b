"""The deadlines sweep: apply every rule whose time has come, and re-send what was never sent.

Each step is idempotent and takes row locks (or conditional updates), so two sweeps at once never
double an action. Flows register their steps with `sweep_step`.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from models.base import utcnow
from models.events import LineEvent
from models.outbox import Outbox

log = logging.getLogger(__name__)

# name -> step(now) returning a count of actions taken
STEPS: dict[str, Callable[[dt.datetime], int]] = {}
STUCK_AFTER = dt.timedelta(minutes=10)  # well beyond any job's run time (RQ's timeout is 120 s)


def sweep_step(name: str):
    def register(fn):
        STEPS[name] = fn
        return fn
    return register


SWEEP_MODULES = ("models.calendar", "models.proposals", "models.agency_confirmation", "models.seconds", "models.responses",
                 "models.consultations", "models.similar")


def load_steps() -> None:
    """Collect each domain module's SWEEP_STEPS (in this order: reviews, confirmations, seconding)."""
    import importlib

    for module_name in SWEEP_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        for name, step in getattr(module, "SWEEP_STEPS", []):
            STEPS.setdefault(name, step)


def run_sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Run every step as of `now` (naive UTC); one failing step does not stop the others."""
    from . import app_context

    now = now or utcnow()
    results: dict[str, int] = {}
    with app_context():
        load_steps()
        for name, step in list(STEPS.items()):
            try:
                results[name] = step(now)
            except Exception:  # noqa: BLE001 - logged; the next sweep tries again
                log.exception("sweep step %s failed", name)
                results[name] = -1
        results["outbox_requeued"] = requeue_outbox(utcnow())
        results["outbox_failures_reported"] = report_failed_outbox(utcnow())
        results["personal_data_purged"] = purge_personal_data(utcnow())
        results["line_events_requeued"] = requeue_line_events(utcnow())
    return results


def requeue_outbox(now: dt.datetime) -> int:
    """Hand unsent rows whose retry time has come back to the worker (lost jobs, Redis flushes)."""
    from . import enqueue_outbox

    ids = [row.id for row in Outbox.select(Outbox.id).where(
        (Outbox.status == "pending") & (Outbox.next_attempt_at <= now - dt.timedelta(seconds=30)))
        .order_by(Outbox.next_attempt_at, Outbox.id).limit(500)]
    if ids:
        enqueue_outbox(ids, requeue=True)
    return len(ids)


def requeue_line_events(now: dt.datetime) -> int:
    """Events stored but never processed (the enqueue failed, or a worker died mid-way)."""
    from . import enqueue
    from .line_events import process_line_event

    # Stuck means taken long ago and never finished (a worker died): counted from the claim, not
    # from arrival, or a backlog would hand running events out a second time.
    LineEvent.update(status="pending").where(
        (LineEvent.status.in_(("processing", "queued"))) & (LineEvent.claimed_at <= now - STUCK_AFTER)).execute()
    ids = [row.id for row in LineEvent.select(LineEvent.id).where(
        (LineEvent.status == "pending") & (LineEvent.received_at <= now - dt.timedelta(seconds=30))
        & (LineEvent.attempts < 5)).order_by(LineEvent.id).limit(500)]
    for event_id in ids:
        enqueue(process_line_event, event_id, job_id=f"line-event-{event_id}", skip_if_queued=True)
    _give_up_line_events(now)
    return len(ids)


def _give_up_line_events(now: dt.datetime) -> None:
    """An event that failed five times is not retried again: it is marked failed and ops are told once."""
    from models import settings
    from models.outbox import queue_mail, unit_of_work

    for event in LineEvent.select().where((LineEvent.status == "pending") & (LineEvent.attempts >= 5)).limit(100):
        with unit_of_work():
            if not LineEvent.update(status="failed").where(
                    (LineEvent.id == event.id) & (LineEvent.status == "pending")).execute():
                continue
            log.error("LINE event %s given up after %s attempts (%s)", event.id, event.attempts, event.last_error)
            queue_mail(settings.OPS_NOTIFY_EMAIL, f"【政策參與平臺】LINE 訊息處理失敗（事件 {event.id}）",
                       f"一則 {event.event_type} 事件（{event.received_at:%Y-%m-%d %H:%M} UTC 收到）處理 {event.attempts} 次"
                       f"仍失敗（{event.last_error}）。使用者未收到回覆，請檢查服務紀錄。",
                       dedupe_key=f"line-event-failed:{event.id}", now=now)


def report_failed_outbox(now: dt.datetime) -> int:
    """Tell the operations team, once per row, about a notice given up after two days of failures."""
    from models import settings
    from models.outbox import queue_mail, unit_of_work

    failed = list(Outbox.select().where(Outbox.status == "failed").order_by(Outbox.id).limit(100))
    reported = 0
    for row in failed:
        if row.channel == "mail" and row.recipient == settings.OPS_NOTIFY_EMAIL:
            continue  # do not report a failed report by the same road
        with unit_of_work():
            if queue_mail(settings.OPS_NOTIFY_EMAIL, f"【政策參與平臺】通知寄送失敗（第 {row.id} 筆）",
                          f"一則{'電子郵件' if row.channel == 'mail' else 'LINE 訊息'}通知自 {row.created_at:%Y-%m-%d %H:%M} UTC 起"
                          f"嘗試 {row.attempts} 次仍無法送出（{row.last_error}）。請檢查寄送服務，"
                          "並以其他方式聯繫收件人；相關期限不會因此自動延長。",
                          dedupe_key=f"outbox-failed:{row.id}", now=now):
                reported += 1
    return reported


EVENT_BODY_RETENTION = dt.timedelta(days=7)
OUTBOX_PAYLOAD_RETENTION = dt.timedelta(days=30)


def purge_personal_data(now: dt.datetime) -> int:
    """R4: raw chat messages (which carry phones, addresses, emails typed while registering) and the
    text of sent notices (which carry codes) are kept only as long as they can be needed."""
    events = (LineEvent.update(body="{}")
              .where((LineEvent.status == "done") & (LineEvent.received_at < now - EVENT_BODY_RETENTION)
                     & (LineEvent.body != "{}")).execute())
    notices = (Outbox.update(payload="{}")
               .where((Outbox.status == "sent") & (Outbox.sent_at < now - OUTBOX_PAYLOAD_RETENTION)
                      & (Outbox.payload != "{}")).execute())
    return events + notices
