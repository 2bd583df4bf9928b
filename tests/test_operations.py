"""Issue 10 item 9: the operations status page, the scheduler's heartbeat, the sweep record, and
health in two levels (the load balancer's /healthz, monitoring's /healthz/full)."""
from __future__ import annotations

import datetime as dt
import html
import json

from models import operations
from models.base import utcnow
from models.events import LineEvent
from models.outbox import Outbox, queue_mail, unit_of_work
from tests.fixtures_console import console_post


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def _failed_mail(to: str = "someone@taichung.gov.tw", subject: str = "逾期提醒") -> Outbox:
    """A notice the worker gave up on (written as the worker leaves it, never sent)."""
    return Outbox.create(channel="mail", recipient=to, status="failed", attempts=9, last_error="SMTPServerDisconnected",
                         payload=json.dumps({"subject": subject, "body": "內容", "reply_to": None}),
                         created_at=utcnow() - dt.timedelta(hours=49))


def test_healthz_full_names_a_silent_scheduler_and_a_stuck_outbox_while_healthz_stays_up(client, app):
    full = client.get("/healthz/full")
    assert full.status_code == 503 and full.json["failed"] == ["scheduler"]
    from jobs.scheduler import _beat

    _beat()
    assert client.get("/healthz/full").status_code == 200
    assert client.get("/healthz/full").json == {"db": "ok", "redis": "ok", "scheduler": "ok", "outbox": "ok",
                                                "failed": []}
    operations.Heartbeat.update(beat_at=utcnow() - dt.timedelta(minutes=4)).execute()
    Outbox.insert(channel="mail", recipient="x@taichung.gov.tw", payload="{}", status="pending",
                  created_at=utcnow() - dt.timedelta(minutes=16)).execute()
    full = client.get("/healthz/full")
    assert full.status_code == 503 and full.json["failed"] == ["outbox", "scheduler"]
    assert full.json["scheduler"].startswith("silent for") and "min old" in full.json["outbox"]
    assert client.get("/healthz").status_code == 200 and client.get("/healthz").json == {"db": "ok"}


def test_each_sweep_records_every_step_with_its_result_and_duration(runner, app):
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0, result.output
    run = operations.recent_sweeps()[0]
    names = [step["name"] for step in run.step_list]
    assert "outbox_requeued" in names and "line_events_requeued" in names and len(names) >= 5
    assert all(step["ms"] >= 0 and "result" in step for step in run.step_list) and run.failed_steps == 0


def test_the_status_page_shows_failures_and_retry_sends_the_notice(ops_client, smtp, runner):
    row = _failed_mail()
    LineEvent.insert(webhook_event_id="evt-stuck", user_id="U1", event_type="message", body="{}", status="failed",
                     attempts=5, last_error="malformed: postback.data is int").execute()
    runner.invoke(args=["deadlines", "sweep"])
    page = page_text(ops_client.get("/console/operations"))
    assert ops_client.get("/console/operations").status_code == 200
    assert "系統狀態" in page and "失敗 1" in page and "SMTPServerDisconnected" in page
    assert "malformed: postback.data is int" in page and "outbox_requeued" in page and "從未收到" in page
    response = console_post(ops_client, f"/console/operations/outbox/{row.id}/retry", token_from="/console/operations",
                            follow_redirects=True)
    assert "已重新排入寄送" in page_text(response)
    assert Outbox.get_by_id(row.id).status == "sent"
    assert [m["Subject"] for m in smtp.to("someone@taichung.gov.tw")] == ["逾期提醒"]
    event = LineEvent.get(LineEvent.webhook_event_id == "evt-stuck")
    console_post(ops_client, f"/console/operations/event/{event.id}/retry", token_from="/console/operations")
    event = LineEvent.get_by_id(event.id)
    assert event.status == "pending" and event.attempts == 0
    console_post(ops_client, f"/console/operations/event/{event.id}/give-up", token_from="/console/operations")
    assert LineEvent.get_by_id(event.id).status == "failed"
    from models.events import AuditEvent

    actions = [a.action for a in AuditEvent.select().order_by(AuditEvent.id)]
    assert actions[-3:] == ["outbox_retry", "line_event_retry", "line_event_give_up"]


def test_a_sent_notice_cannot_be_retried_and_agency_staff_cannot_see_the_page(ops_client, agency_client):
    with unit_of_work():
        row = queue_mail("a@taichung.gov.tw", "主旨", "內容")
    assert Outbox.get_by_id(row.id).status == "sent"
    response = console_post(ops_client, f"/console/operations/outbox/{row.id}/retry", token_from="/console/operations",
                            follow_redirects=True)
    assert "無法改為" in page_text(response) and Outbox.get_by_id(row.id).status == "sent"
    assert agency_client.get("/console/operations").status_code == 403
    assert console_post(ops_client, f"/console/operations/nothing/{row.id}/retry",
                        token_from="/console/operations").status_code == 404
