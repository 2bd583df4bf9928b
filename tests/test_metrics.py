"""Issue 10 item 10: the Prometheus endpoint, its access rule, database figures read at scrape
time, and counters summed over processes in multiprocess mode."""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

from prometheus_client.parser import text_string_to_metric_families

from devtools.line_standin import make_event
from models.base import utcnow
from models.outbox import Outbox


def _samples(text: str) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_metrics_answer_inside_the_network_or_with_the_token_only(client, app):
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1
    outside = {"REMOTE_ADDR": "140.112.8.8"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    app.config["METRICS_TOKEN"] = "scrape-token"
    assert client.get("/metrics", environ_base=outside, headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert client.get("/metrics", environ_base=outside,
                      headers={"Authorization": "Bearer scrape-token"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.30.40"}).status_code == 200


def test_metrics_count_webhooks_events_notices_and_read_the_database(client, line, app, runner):
    before = _samples(client.get("/metrics").get_data(as_text=True))
    uid = line.user()
    bad = make_event("postback", uid, data="menu")
    bad["postback"]["data"] = 7
    line.send(client, make_event("follow", uid), bad)
    # a notice whose payload the mailer cannot use: the sweep's retry fails and is counted
    Outbox.insert(channel="mail", recipient="x@taichung.gov.tw", payload="{}", status="pending",
                  created_at=utcnow() - dt.timedelta(minutes=20),
                  next_attempt_at=utcnow() - dt.timedelta(minutes=1)).execute()
    runner.invoke(args=["deadlines", "sweep"])
    after = _samples(client.get("/metrics").get_data(as_text=True))

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("platform_webhook_seconds_count") == 1
    assert grew("platform_line_events_handled_total", outcome="done") == 1
    assert grew("platform_line_events_handled_total", outcome="failed") == 1
    assert grew("platform_notices_attempted_total", channel="mail", outcome="failed") == 1
    assert after[("platform_line_events", (("state", "failed"),))] == 1
    assert after[("platform_notices", (("channel", "mail"), ("state", "pending")))] == 1
    assert after[("platform_oldest_unsent_notice_seconds", ())] >= 20 * 60
    assert after[("platform_overdue_clocks", (("rule", "R9.2.1"),))] == 0
    assert ("platform_sweep_step_seconds", (("step", "lapse_seconding"),)) in after


def test_multiprocess_mode_sums_the_counters_of_every_process(tmp_path, app_config):
    """Two processes count; a third (the endpoint) reports the sum, as gunicorn's and RQ's would."""
    script = textwrap.dedent("""
        import sys
        from jobs.metrics import NOTICES_SENT
        NOTICES_SENT.labels("mail", "sent").inc(int(sys.argv[1]))
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("2", "3"):
        subprocess.run([sys.executable, "-c", script, count], env=env, check=True, timeout=60)
    endpoint = textwrap.dedent(f"""
        from webapp import create_app
        app = create_app({{"DATABASE_URL": {app_config['DATABASE_URL']!r}, "REDIS_URL": {app_config['REDIS_URL']!r},
                          "SECRET_KEY": "x", "TESTING": True}})
        print(app.test_client().get("/metrics").get_data(as_text=True))
    """)
    for name in ("LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "INBOUND_EMAIL_SECRET", "SECRET_KEY"):
        env.pop(name, None)
    out = subprocess.run([sys.executable, "-c", endpoint], env=env, check=True, timeout=120, capture_output=True,
                         text=True).stdout
    samples = _samples(out)
    assert samples[("platform_notices_attempted_total", (("channel", "mail"), ("outcome", "sent")))] == 5
    assert ("platform_overdue_clocks", (("rule", "R9.2.1"),)) in samples  # and the database's figures
