"""RQ jobs. A job is a plain function taking ids and dates; it reloads its rows and is safe to run twice.

`enqueue()` never loses work: if Redis is down the rows stay pending in the database and the
deadlines sweep enqueues them again.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from flask import current_app, has_app_context

log = logging.getLogger(__name__)
_app = None
QUEUE_NAME = "default"


@contextmanager
def app_context():
    """The current app, or one app per worker process."""
    global _app
    if has_app_context():
        yield current_app
        return
    if _app is None:
        from webapp import create_app

        _app = create_app()
    with _app.app_context():
        yield _app


def redis_connection(url: str | None = None):
    from redis import Redis

    with app_context() as app:
        return Redis.from_url(url or app.config["REDIS_URL"], socket_timeout=2, socket_connect_timeout=2)


def get_queue(name: str = QUEUE_NAME):
    """One Queue object per app and name (building one per call costs on the webhook's hot path)."""
    from rq import Queue

    with app_context() as app:
        queues = app.extensions.setdefault("rq_queues", {})
        if name not in queues:
            conn = app.extensions.get("redis") or redis_connection()
            queues[name] = Queue(name, connection=conn, is_async=app.config.get("RQ_ASYNC", True), default_timeout=120)
        return queues[name]


def enqueue(func, *args, job_id: str | None = None, retry: bool = True, at_front: bool = False,
            skip_if_queued: bool = False) -> bool:
    """Enqueue `func(*args)`; returns False (and logs) when Redis cannot take it: the rows stay
    pending in the database and the sweep enqueues them again."""
    from redis.exceptions import RedisError
    from rq import Retry

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


def enqueue_outbox(ids: list[int], requeue: bool = False) -> None:
    from .outbox import send_outbox

    for outbox_id in ids:
        # No RQ retry: the row's own back-off (next_attempt_at) drives retries through the sweep.
        enqueue(send_outbox, outbox_id, job_id=f"outbox-{outbox_id}", skip_if_queued=requeue, retry=False)


def init_jobs() -> None:
    """Hand committed outbox rows to the queue."""
    from models import outbox

    outbox.after_commit_hook = enqueue_outbox
