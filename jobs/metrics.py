"""In-process counters, in prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is
set (gunicorn's workers and every RQ worker write their own files; the endpoint adds them up).

Only what happens inside a process is counted here (webhook latency, events handled, notices
sent). Figures that live in the database are read from it when scraped (`webapp/metrics.py`).
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_SECONDS = Histogram("platform_webhook_seconds", "Time to verify and store one LINE webhook body",
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
EVENTS_HANDLED = Counter("platform_line_events_handled", "LINE events handled by the workers, by outcome",
                         ["outcome"])
NOTICES_SENT = Counter("platform_notices_attempted", "Outbox sends attempted by the workers, by channel and outcome",
                       ["channel", "outcome"])
