"""The scheduler process: enqueue the deadlines sweep once a minute.

We use a tiny loop instead of `rq cron` so the job id carries the minute: however many schedulers
run, each minute's sweep is enqueued once, and the sweep itself is idempotent anyway. If Redis is
down the sweep runs in-process, so deadlines are kept even without a worker.
"""
from __future__ import annotations

import logging
import time

from models.base import utcnow

log = logging.getLogger(__name__)


def run_forever(interval: int = 60) -> None:
    from . import app_context, enqueue
    from .sweep import run_sweep

    with app_context():
        while True:
            minute = utcnow().strftime("%Y%m%d%H%M")
            if not enqueue(run_sweep, job_id=f"sweep-{minute}", retry=False):
                log.warning("Redis unavailable: running the sweep in the scheduler process")
                try:
                    run_sweep()
                except Exception:  # noqa: BLE001
                    log.exception("in-process sweep failed")
            time.sleep(interval - (time.time() % interval))
