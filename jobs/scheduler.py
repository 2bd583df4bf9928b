"""The scheduler process: the deadlines sweep once a minute, the LINE event dispatcher, and every
10 s the outbox retries that came due (a mail server back after an outage gets its mail at once).

We use this small loop instead of `rq cron` because:
- the job id carries the minute, so however many schedulers run, each minute's sweep is enqueued
  once (and the sweep itself is idempotent anyway);
- if Redis is down the sweep runs in-process, so deadlines are kept even without a worker;
- the same loop LISTENs on PostgreSQL for new webhook events and hands them to the workers in
  batches (`dispatch_pending`), which keeps Redis off the webhook's hot path.
"""
from __future__ import annotations

import logging
import os
import select
import socket
import time

import psycopg2

from models import operations
from models.base import ensure_connection, utcnow

from .line_events import NOTIFY_CHANNEL, dispatch_pending
from .queue import app_context, enqueue, get_queue
from .sweep import hand_out_lost_events, requeue_due_retries, run_sweep

log = logging.getLogger(__name__)
IDLE_WAIT = 1.0  # seconds between dispatch passes when no NOTIFY arrives
HOLD_BACK_AT = 2  # jobs already waiting in the queue: new events wait in the database, to go in bigger jobs
HELD_WAIT = 0.1  # seconds between looks at the queue while events are held back
BEAT_EVERY = 20  # seconds between heartbeats (/healthz/full calls it dead after 3 minutes)
LOST_CHECK_EVERY = 10  # seconds between checks for events whose job Redis lost, and for due mail retries


def run_forever(interval: int = 60) -> None:
    with app_context() as app:
        listener = _listener(app.config)
        next_sweep = next_beat = next_lost_check = 0.0
        retries_since = None
        while True:
            ensure_connection()  # PostgreSQL may have restarted
            if listener is None:
                listener = _listener(app.config)
            if time.time() >= next_beat:
                _beat()
                next_beat = time.time() + BEAT_EVERY
            if time.time() >= next_sweep:
                _enqueue_sweep()
                next_sweep = time.time() + interval - (time.time() % interval)
            if time.time() >= next_lost_check:
                _guarded(hand_out_lost_events, utcnow())
                retries_since = _requeue_retries(retries_since)
                next_lost_check = time.time() + LOST_CHECK_EVERY
            held = _dispatch()
            listener = _wait(listener, min(HELD_WAIT if held else IDLE_WAIT, max(0.0, next_sweep - time.time())))


def _beat() -> None:
    try:
        operations.beat(operations.SCHEDULER, f"{socket.gethostname()}:{os.getpid()}")
    except Exception:  # noqa: BLE001 - a database outage shows as a silent heartbeat
        log.exception("scheduler heartbeat failed")


def _enqueue_sweep() -> None:
    minute = utcnow().strftime("%Y%m%d%H%M")
    if not enqueue(run_sweep, job_id=f"sweep-{minute}", retry=False):
        log.warning("Redis unavailable: running the sweep in the scheduler process")
        try:
            run_sweep()
        except Exception:  # noqa: BLE001
            log.exception("in-process sweep failed")


def _requeue_retries(since):
    """Enqueue the outbox rows whose retry came due since the last pass; returns this pass's time
    (the previous one again if the pass failed, so nothing due in between is skipped)."""
    now = utcnow()
    try:
        requeue_due_retries(now, since)
    except Exception:  # noqa: BLE001 - the next pass covers the same rows (the sweep too)
        log.exception("requeue_due_retries failed")
        return since
    return now


def _dispatch() -> bool:
    """Hand stored events to the workers, unless they are behind (jobs already waiting in the queue):
    then the events wait in the database and go out in the next pass after the queue has drained, as
    fewer, fuller jobs (up to `EVENTS_PER_JOB` each). Handed out at once, a burst of taps became one job
    per one or two events, and RQ's own work per job (a dozen Redis commands) was a tenth of the
    workers' CPU (bench/README.md, "Throughput"). Returns True when it held events back."""
    if _jobs_waiting() >= HOLD_BACK_AT:
        return True
    _guarded(dispatch_pending)
    return False


def _jobs_waiting() -> int:
    try:
        return get_queue().count
    except Exception:  # noqa: BLE001 - Redis down: dispatch anyway; events it refuses stay pending
        return 0


def _guarded(step, *args) -> None:
    try:
        step(*args)
    except Exception:  # noqa: BLE001 - the next pass (or the sweep) tries again
        log.exception("%s failed", step.__name__)


def _listener(config):
    """A dedicated autocommit connection LISTENing for new events (PostgreSQL only); None when not
    wanted, or when the database cannot be reached now (the loop tries again)."""
    if not config["DATABASE_URL"].startswith("postgres") or config.get("LINE_DISPATCH") != "listen":
        return None
    url = config["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    try:
        conn = psycopg2.connect(url, connect_timeout=5)
        conn.autocommit = True
        conn.cursor().execute(f"LISTEN {NOTIFY_CHANNEL}")
    except psycopg2.Error as exc:
        log.warning("cannot LISTEN for LINE events (%s); polling until the database is back", type(exc).__name__)
        return None
    return conn


def _wait(listener, timeout: float):
    """Sleep until a NOTIFY or `timeout`; returns the listener, or None if its connection was lost."""
    if listener is None:
        time.sleep(timeout)
        return None
    try:
        if select.select([listener], [], [], timeout)[0]:
            listener.poll()
            listener.notifies.clear()
        return listener
    except (psycopg2.Error, OSError, ValueError) as exc:  # the server restarted or went away
        log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
        try:
            listener.close()
        except psycopg2.Error:
            pass
        return None
