"""What the operations team watches: the scheduler's heartbeat, the last sweeps, the outbox and
the LINE events by state, and the two things they may do about a stuck row (retry, give up).

Everything here is read from the database, so every web process shows the same figures whichever
process wrote them (the scheduler beats, the worker runs sweeps and sends notices).
"""
from __future__ import annotations

import datetime as dt
import json

import peewee

from . import events, outbox
from .base import BaseModel, DomainError, utcnow
from .events import EVENT_STATES, LineEvent
from .outbox import OUTBOX_STATES, Outbox, transaction

SCHEDULER = "scheduler"
HEARTBEAT_SILENT_AFTER = dt.timedelta(minutes=3)  # /healthz/full: the scheduler is down
OUTBOX_LATE_AFTER = dt.timedelta(minutes=15)  # /healthz/full: notices are not going out
SWEEP_RUNS_KEPT = 500
FAILURES_SHOWN = 50


class Heartbeat(BaseModel):
    """One row per long-running process kind, updated while it runs."""

    name = peewee.CharField(max_length=32, unique=True)
    beat_at = peewee.DateTimeField()
    detail = peewee.CharField(max_length=200, null=True)  # host and pid: which process beat last


class SweepRun(BaseModel):
    """One deadlines sweep: when, how long, and each step's result and duration."""

    started_at = peewee.DateTimeField(index=True)
    finished_at = peewee.DateTimeField()
    steps = peewee.TextField()  # JSON list of {name, result, ms, error?}
    failed_steps = peewee.IntegerField(default=0)

    @property
    def step_list(self) -> list[dict]:
        return json.loads(self.steps)

    @property
    def duration_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


# --- written by the processes ------------------------------------------------------------------

def beat(name: str = SCHEDULER, detail: str | None = None, now: dt.datetime | None = None) -> None:
    """The process is alive (one upsert)."""
    now = now or utcnow()
    (Heartbeat.insert(name=name, beat_at=now, detail=detail)
     .on_conflict(conflict_target=[Heartbeat.name], update={Heartbeat.beat_at: now, Heartbeat.detail: detail})
     .execute())


def last_beat(name: str = SCHEDULER) -> Heartbeat | None:
    return Heartbeat.get_or_none(Heartbeat.name == name)


def record_sweep(started_at: dt.datetime, finished_at: dt.datetime, steps: list[dict]) -> SweepRun:
    run = SweepRun.create(started_at=started_at, finished_at=finished_at, steps=json.dumps(steps, ensure_ascii=False),
                          failed_steps=sum(1 for s in steps if s.get("error")))
    oldest_kept = SweepRun.select(SweepRun.id).order_by(SweepRun.id.desc()).offset(SWEEP_RUNS_KEPT).limit(1).first()
    if oldest_kept is not None:
        SweepRun.delete().where(SweepRun.id <= oldest_kept.id).execute()
    return run


def recent_sweeps(limit: int = 10) -> list[SweepRun]:
    return list(SweepRun.select().order_by(SweepRun.started_at.desc(), SweepRun.id.desc()).limit(limit))


# --- read by the status page, the health check and the metrics ---------------------------------

def count_by(model: type[BaseModel], field: peewee.Field) -> dict[str, int]:
    return {row[0]: row[1] for row in model.select(field, peewee.fn.COUNT(model.id)).group_by(field).tuples()}


def oldest_unsent(now: dt.datetime | None = None) -> Outbox | None:
    return (Outbox.select().where(Outbox.status == outbox.PENDING)
            .order_by(Outbox.created_at, Outbox.id).first())


def outbox_failures(limit: int = FAILURES_SHOWN) -> list[Outbox]:
    """Given-up notices and pending ones that failed at least once, newest first."""
    return list(Outbox.select().where((Outbox.status == outbox.FAILED)
                                      | ((Outbox.status == outbox.PENDING) & (Outbox.attempts > 0)))
                .order_by(Outbox.created_at.desc(), Outbox.id.desc()).limit(limit))


def event_problems(limit: int = FAILURES_SHOWN) -> list[LineEvent]:
    """LINE events waiting (not done yet) or failed, oldest first."""
    return list(LineEvent.select(LineEvent.id, LineEvent.webhook_event_id, LineEvent.event_type, LineEvent.status,
                                 LineEvent.attempts, LineEvent.received_at, LineEvent.last_error)
                .where(LineEvent.status.in_([events.PENDING, events.QUEUED, events.PROCESSING, events.FAILED]))
                .order_by(LineEvent.received_at, LineEvent.id).limit(limit))


def health(now: dt.datetime | None = None) -> dict[str, str]:
    """The parts /healthz/full reports besides the connections: the scheduler's heartbeat and the
    oldest unsent notice, each "ok" or a short reason."""
    now = now or utcnow()
    status = {}
    heartbeat = last_beat()
    if heartbeat is None:
        status["scheduler"] = "never seen"
    elif now - heartbeat.beat_at > HEARTBEAT_SILENT_AFTER:
        status["scheduler"] = f"silent for {int((now - heartbeat.beat_at).total_seconds())} s"
    else:
        status["scheduler"] = "ok"
    oldest = oldest_unsent()
    if oldest is not None and now - oldest.created_at > OUTBOX_LATE_AFTER:
        status["outbox"] = f"oldest unsent is {int((now - oldest.created_at).total_seconds() // 60)} min old"
    else:
        status["outbox"] = "ok"
    return status


# --- what staff may do about a stuck row --------------------------------------------------------

@transaction
def retry_outbox(outbox_id: int, *, by: str, now: dt.datetime | None = None) -> str:
    """Send a failed notice again (once more; the worker picks it up after commit)."""
    row = Outbox.get_or_none(Outbox.id == outbox_id)
    if row is None:
        raise DomainError("找不到這則通知。", "not_found")
    OUTBOX_STATES.check(row.status, outbox.PENDING)
    OUTBOX_STATES.move(Outbox, Outbox.id == row.id, outbox.PENDING, next_attempt_at=now or utcnow())
    outbox.requeue_after_commit(row.id)
    events.record(by, "outbox_retry", "outbox", row.id, now=now)
    return f"通知 #{row.id} 已重新排入寄送。"


@transaction
def give_up_outbox(outbox_id: int, *, by: str, now: dt.datetime | None = None) -> str:
    row = Outbox.get_or_none(Outbox.id == outbox_id)
    if row is None:
        raise DomainError("找不到這則通知。", "not_found")
    OUTBOX_STATES.check(row.status, outbox.FAILED)
    OUTBOX_STATES.move(Outbox, Outbox.id == row.id, outbox.FAILED, last_error=f"given up by {by}")
    events.record(by, "outbox_give_up", "outbox", row.id, now=now)
    return f"通知 #{row.id} 已放棄寄送。"


@transaction
def retry_event(event_id: int, *, by: str, now: dt.datetime | None = None) -> str:
    """A failed LINE event back to pending with a fresh count of tries (the sweep hands it out)."""
    row = LineEvent.get_or_none(LineEvent.id == event_id)
    if row is None:
        raise DomainError("找不到這個 LINE 事件。", "not_found")
    EVENT_STATES.check(row.status, events.PENDING)
    EVENT_STATES.move(LineEvent, LineEvent.id == row.id, events.PENDING, attempts=0, claimed_at=None)
    events.record(by, "line_event_retry", "line_event", row.id, now=now)
    return f"LINE 事件 #{row.id} 已重新排入處理。"


@transaction
def give_up_event(event_id: int, *, by: str, now: dt.datetime | None = None) -> str:
    row = LineEvent.get_or_none(LineEvent.id == event_id)
    if row is None:
        raise DomainError("找不到這個 LINE 事件。", "not_found")
    EVENT_STATES.check(row.status, events.FAILED)
    EVENT_STATES.move(LineEvent, LineEvent.id == row.id, events.FAILED, from_states=[events.PENDING],
                      last_error=f"given up by {by}", processed_at=now or utcnow())
    events.record(by, "line_event_give_up", "line_event", row.id, now=now)
    return f"LINE 事件 #{row.id} 已放棄處理。"
