"""The RQ queue, and the app context every job runs in.

`enqueue()` never loses work: if Redis is down the rows stay pending in the database and the
deadlines sweep enqueues them again. A job runs inside the app context its process pushed once:
the RQ worker class `webapp.worker.AppWorker`, or the `flask` command that runs the scheduler.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry

log = logging.getLogger(__name__)
# Named after the service (RQ_QUEUE), never RQ's generic "default": a Redis shared with other
# services must not hand our jobs to their workers, or theirs to ours.
QUEUE_NAME = "taichung-platform"


@contextmanager
def app_context() -> Iterator[Flask]:
    """The app whose context this process pushed (a job needs its mail, LINE and Redis settings)."""
    if not has_app_context():
        raise RuntimeError("no app context: run workers with --worker-class webapp.worker.AppWorker")
    yield current_app._get_current_object()  # type: ignore[attr-defined]


def redis_connection(url: str | None = None) -> Redis:
    with app_context() as app:
        return Redis.from_url(url or app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)


def get_queue(name: str | None = None) -> Queue:
    """One Queue object per app and name (building one per call costs on the webhook's hot path)."""
    with app_context() as app:
        name = name or app.config.get("RQ_QUEUE") or QUEUE_NAME
        queues = app.extensions.setdefault("rq_queues", {})
        if name not in queues:
            conn = app.extensions.get("redis") or redis_connection()
            queues[name] = Queue(name, connection=conn, is_async=app.config.get("RQ_ASYNC", True), default_timeout=120)
        return queues[name]


def enqueue(func, *args, job_id: str | None = None, retry: bool = True, at_front: bool = False,
            skip_if_queued: bool = False) -> bool:
    """Enqueue `func(*args)`; returns False (and logs) when Redis cannot take it: the rows stay
    pending in the database and the sweep enqueues them again."""
    try:
        queue = get_queue()
        if skip_if_queued and job_id and queue.is_async:
            existing = queue.fetch_job(job_id)
            if existing is not None and existing.get_status(refresh=False) in ("queued", "started", "scheduled", "deferred"):
                return True
        queue.enqueue(func, *args, job_id=job_id, retry=Retry(max=3, interval=[5, 30, 120]) if retry else None,
                      at_front=at_front, failure_ttl=7 * 24 * 3600, result_ttl=600)
        return True
    except (RedisError, OSError) as exc:
        log.warning("enqueue of %s failed (%s); the sweep will retry", getattr(func, "__name__", func), type(exc).__name__)
        return False
