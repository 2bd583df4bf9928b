"""GET /metrics: Prometheus text format, for monitoring inside the government network.

Reachable from loopback and private addresses (the client address ProxyFix passes on), or from
anywhere with `Authorization: Bearer $METRICS_TOKEN`. In-process counters (`jobs/metrics.py`) are
summed over every process's files when PROMETHEUS_MULTIPROC_DIR is set; the figures that live in
the database are read from it on each scrape, so web and worker processes never disagree.
"""
from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from models import figures, operations
from models.base import utcnow

bp = Blueprint("metrics", __name__)


class DatabaseCollector:
    """Gauges read from the database at scrape time."""

    def describe(self):
        return []  # registering must not query the database (nothing is connected at import)

    def collect(self):
        outbox = GaugeMetricFamily("platform_notices", "Notices in the outbox, by channel and state",
                                   labels=["channel", "state"])
        for (channel, state), count in figures.outbox_by_channel_and_status().items():
            outbox.add_metric([channel, state], count)
        yield outbox
        oldest = operations.oldest_unsent()
        yield GaugeMetricFamily("platform_oldest_unsent_notice_seconds", "Age of the oldest unsent notice (0: none)",
                                value=(utcnow() - oldest.created_at).total_seconds() if oldest else 0)
        events = GaugeMetricFamily("platform_line_events", "Stored LINE events, by state", labels=["state"])
        for (state,), count in figures.line_events_by_status().items():
            events.add_metric([state], count)
        yield events
        codes = GaugeMetricFamily("platform_codes", "Emailed codes issued, by purpose and state (confirmed = used)",
                                  labels=["purpose", "state"])
        for (purpose, state), count in figures.codes_by_purpose_and_status().items():
            codes.add_metric([purpose, state], count)
        yield codes
        seconds = GaugeMetricFamily("platform_seconds", "Seconds counted, by how the code was confirmed", labels=["via"])
        for (via,), count in figures.seconds_by_via().items():
            seconds.add_metric([via], count)
        yield seconds
        overdue = GaugeMetricFamily("platform_overdue_clocks", "Open clocks past their last day, by rule",
                                    labels=["rule"])
        for rule, count in figures.overdue_clocks().items():
            overdue.add_metric([rule], count)
        yield overdue
        steps = GaugeMetricFamily("platform_sweep_step_seconds", "Duration of each step of the latest sweep",
                                  labels=["step"])
        failed = GaugeMetricFamily("platform_sweep_step_failed", "1 when the step failed in the latest sweep",
                                   labels=["step"])
        for step in figures.last_sweep_steps():
            steps.add_metric([step["name"]], step["ms"] / 1000)
            failed.add_metric([step["name"]], 1 if step.get("error") else 0)
        yield steps
        yield failed
        heartbeat = operations.last_beat()
        yield GaugeMetricFamily("platform_scheduler_heartbeat_age_seconds", "Seconds since the scheduler's last beat",
                                value=(utcnow() - heartbeat.beat_at).total_seconds() if heartbeat else -1)


DATABASE = DatabaseCollector()
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    REGISTRY.register(DATABASE)


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return address.is_loopback or address.is_private


@bp.get("/metrics")
def metrics():
    if not _allowed():
        abort(403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # every process's files, summed
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        registry.register(DATABASE)
    else:  # one process (development, tests): its own registry, where DATABASE is registered
        registry = REGISTRY
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
