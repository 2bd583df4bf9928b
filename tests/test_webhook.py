"""The LINE webhook as INTERFACES.md states it, and what the bot answers to odd input (R3.0)."""
from __future__ import annotations

import datetime as dt
import json

from devtools.line_standin import make_body, make_event
from models.events import LineEvent
from models.officials import Official
from models.outbox import Outbox
from tests.helpers import tap


def test_r3_0_webhook_refuses_missing_or_wrong_signature(client, line):
    uid = line.user()
    body = make_body([make_event("follow", uid)])
    assert line.raw(client, body, signature=False).status_code == 400
    assert line.raw(client, body, signature="bm90IGEgc2lnbmF0dXJl").status_code == 400
    assert LineEvent.select().count() == 0 and Official.select().count() == 0
    assert line.messages(uid) == []


def test_r3_0_webhook_refuses_malformed_json_and_oversized_body(client, line):
    assert line.raw(client, b"{not json").status_code == 400
    assert line.raw(client, b'["a list"]').status_code == 400
    huge = b'{"events": [], "pad": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    assert line.raw(client, huge).status_code == 413
    assert LineEvent.select().count() == 0


def test_r3_0_verification_request_with_no_events_answers_200(client, line):
    assert line.raw(client, json.dumps({"destination": "U0", "events": []}).encode()).status_code == 200


def test_r3_0_same_event_twice_is_processed_once(client, line):
    uid = line.user()
    first = line.follow(client, uid)
    again = line.redeliver(client, first)
    assert first.status_code == again.status_code == 200
    assert LineEvent.select().count() == 1
    assert sum("歡迎" in t for t in line.texts(uid)) == 1


def test_r3_0_unknown_event_types_are_stored_and_ignored(client, line):
    uid = line.user()
    event = make_event("follow", uid)
    event["type"] = "somethingNew"
    assert line.send(client, event).status_code == 200
    assert line.messages(uid) == []


def test_r3_0_stickers_images_and_other_messages_get_a_short_answer(client, line):
    uid = line.user()
    line.sticker(client, uid)
    assert "貼圖" in line.texts(uid)[-1]
    line.image(client, uid)
    assert "文字" in line.texts(uid)[-1]
    line.location(client, uid)
    assert "文字" in line.texts(uid)[-1]


def test_r3_0_group_chats_are_told_to_talk_one_to_one(client, line):
    uid = line.user()
    line.group_text(client, uid, "大家好")
    calls = [c for c in line.calls() if c["path"] == "/v2/bot/message/reply"]
    assert "一對一" in calls[-1]["body"]["messages"][0]["text"]
    assert Official.select().count() == 0


def test_r3_0_a_10000_character_message_gets_a_clear_answer(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.postback(client, uid, "a=reg.start")
    tap(client, line, uid, "同意並繼續")  # R4: the terms first
    line.text(client, uid, "長" * 10_000)
    assert "最多 30 個字" in line.texts(uid)[-1]
    assert Official.get(Official.line_user_id == uid).real_name is None


def test_r3_0_unfollow_marks_official_and_stops_pushes(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.unfollow(client, uid)
    assert Official.get(Official.line_user_id == uid).following is False


def test_r3_0_forged_postback_data_is_answered_without_change(client, line):
    uid = line.user()
    line.follow(client, uid)
    line.postback(client, uid, "a=reg.edit&f=verified_email")
    line.postback(client, uid, "a=nonexistent&x=" + "y" * 5000)
    official = Official.get(Official.line_user_id == uid)
    assert official.verified_email is None
    assert line.texts(uid)[-1]


def test_r3_0_reply_falls_back_to_push_when_the_token_expired(client, line, app):
    """A worker that picks an event up too late pushes the answer instead (through the outbox)."""
    from jobs.line_events import process_line_event, store_events

    uid = line.user()
    body = json.loads(make_body([make_event("follow", uid)]))
    ids = store_events(body)
    LineEvent.update(received_at=LineEvent.received_at - dt.timedelta(minutes=5)).execute()
    assert process_line_event(ids[0]) == "done"
    pushes = [c for c in line.calls() if c["path"] == "/v2/bot/message/push"]
    assert pushes and "歡迎" in pushes[0]["body"]["messages"][0]["text"]
    assert Outbox.get().status == "sent"


def test_r3_0_healthz_for_the_load_balancer_needs_only_the_database(client, app):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"db": "ok"}
    from redis import Redis

    app.extensions["redis"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    response = client.get("/healthz")  # Redis down: the webhook still stores events, stay in rotation
    assert response.status_code == 200 and response.json == {"db": "ok"}
    full = client.get("/healthz/full")
    assert full.status_code == 503 and full.json["redis"] == "unavailable" and "redis" in full.json["failed"]


def test_r3_0_dispatcher_hands_stored_events_to_workers_once(client, line, app):
    """With LINE_DISPATCH=listen the webhook only stores; the dispatcher queues each event once."""
    from jobs.line_events import dispatch_pending

    app.config["LINE_DISPATCH"] = "listen"
    uid, other = line.user(), line.user()
    line.follow(client, uid)
    line.follow(client, other)
    line.text(client, uid, "選單")
    assert line.messages(uid) == [] and LineEvent.select().where(LineEvent.status == "pending").count() == 3
    assert dispatch_pending() == 3
    assert dispatch_pending() == 0
    assert LineEvent.select().where(LineEvent.status == "done").count() == 3
    texts = line.texts(uid)
    assert "歡迎" in texts[0] and len(texts) == 2
    assert "歡迎" in line.texts(other)[0]


def test_r3_0_production_refuses_to_start_with_development_secrets(monkeypatch):
    import pytest

    from webapp import create_app

    monkeypatch.setenv("SECRET_KEY", "a-real-secret")
    monkeypatch.setenv("LINE_CHANNEL_SECRET", "real-channel-secret")
    monkeypatch.delenv("LINE_CHANNEL_ACCESS_TOKEN", raising=False)
    monkeypatch.delenv("INBOUND_EMAIL_SECRET", raising=False)
    with pytest.raises(RuntimeError) as refused:
        create_app()
    named = set(str(refused.value).split(": ", 1)[1].split(", "))
    assert named == {"LINE_CHANNEL_ACCESS_TOKEN", "INBOUND_EMAIL_SECRET"}


def test_r3_0_sweep_does_not_hand_out_an_event_a_worker_is_running(client, line, app):
    """In a backlog every event is old; only one taken long ago and never finished is re-queued."""
    from jobs.sweep import requeue_line_events
    from models.base import utcnow

    app.config["LINE_DISPATCH"] = "listen"
    uid = line.user()
    line.follow(client, uid)
    event = LineEvent.get()
    now = utcnow()
    LineEvent.update(status="processing", received_at=now - dt.timedelta(minutes=30),
                     claimed_at=now - dt.timedelta(seconds=20)).execute()
    assert requeue_line_events(now) == 0 and LineEvent.get_by_id(event.id).status == "processing"
    LineEvent.update(claimed_at=now - dt.timedelta(minutes=4)).execute()
    assert requeue_line_events(now) == 1  # the worker died: handed out again, processed once
    assert LineEvent.get_by_id(event.id).status == "done"
    assert sum("歡迎" in t for t in line.texts(uid)) == 1


def test_r3_0_events_whose_job_redis_lost_are_handed_out_again_once(client, line, app):
    """Redis flushed: the queue is empty, the events it held stay 'queued'; after 20 s the sweep
    hands them out again (the scheduler checks every 10 s), and each is processed once."""
    from jobs.sweep import requeue_line_events
    from models.base import utcnow

    app.config["LINE_DISPATCH"] = "listen"
    uid = line.user()
    line.follow(client, uid)
    event = LineEvent.get()
    now = utcnow()
    LineEvent.update(status="queued", attempts=0, received_at=now - dt.timedelta(minutes=5),
                     claimed_at=now - dt.timedelta(seconds=10)).execute()
    assert requeue_line_events(now) == 0 and LineEvent.get_by_id(event.id).status == "queued"
    LineEvent.update(claimed_at=now - dt.timedelta(seconds=21)).execute()
    assert requeue_line_events(now) == 1
    assert LineEvent.get_by_id(event.id).status == "done"
    assert sum("歡迎" in t for t in line.texts(uid)) == 1


def test_r4_dev_pages_in_production_need_a_console_login_and_mail_is_never_served(app_config):
    from webapp import create_app

    production = create_app({**app_config, "PRODUCTION": True, "LINE_SIMULATOR": True})
    client = production.test_client()
    page = client.get("/dev/line")
    assert page.status_code == 302 and "/console/login" in page.headers["Location"]
    assert client.post("/dev/line/api/event", json={"userId": "U" + "0" * 32, "type": "follow"}).status_code == 401
    assert client.get("/dev/mail").status_code == 404


def test_r3_0_an_event_failing_five_times_is_given_up_and_reported_once(client, line, app, smtp, runner):
    from models import settings

    app.config["LINE_DISPATCH"] = "listen"
    uid = line.user()
    line.follow(client, uid)
    LineEvent.update(attempts=5, last_error="RuntimeError",
                     received_at=LineEvent.received_at - dt.timedelta(minutes=5)).execute()
    runner.invoke(args=["deadlines", "sweep"])
    runner.invoke(args=["deadlines", "sweep"])
    assert LineEvent.get().status == "failed"
    reports = smtp.to(settings.OPS_NOTIFY_EMAIL)
    assert len(reports) == 1 and "LINE 訊息處理失敗" in str(reports[0]["Subject"])


def test_r3_0_a_sticker_mid_registration_gets_the_question_again_with_its_buttons(client, line):
    from tests.helpers import quick_replies

    uid = line.user()
    line.follow(client, uid)
    line.postback(client, uid, "a=reg.start")
    tap(client, line, uid, "同意並繼續")  # R4: the terms first
    line.text(client, uid, "王小明")
    line.text(client, uid, "小明")
    line.sticker(client, uid)
    assert "貼圖" in line.texts(uid)[-2]
    assert [a["label"] for a in quick_replies(line.last(uid))] == ["以真實姓名顯示", "以暱稱顯示"]


def test_r3_0_dispatcher_holds_events_back_while_jobs_wait_in_the_queue(client, line, app, monkeypatch):
    """While jobs already wait for the workers, new events stay in the database and go out together
    once the queue has drained (fuller jobs under load); nothing is lost or handled twice."""
    from jobs import scheduler

    app.config["LINE_DISPATCH"] = "listen"
    uid = line.user()
    line.follow(client, uid)
    line.text(client, uid, "選單")
    monkeypatch.setattr(scheduler, "_jobs_waiting", lambda: scheduler.HOLD_BACK_AT)
    assert scheduler._dispatch() is True  # held back
    assert LineEvent.select().where(LineEvent.status == "pending").count() == 2 and line.messages(uid) == []
    monkeypatch.setattr(scheduler, "_jobs_waiting", lambda: scheduler.HOLD_BACK_AT - 1)
    assert scheduler._dispatch() is False
    assert LineEvent.select().where(LineEvent.status == "done").count() == 2
    assert "歡迎" in line.texts(uid)[0] and len(line.texts(uid)) == 2


def test_r3_0_dispatcher_counts_the_queue_and_dispatches_when_redis_is_down(app, monkeypatch):
    from jobs import scheduler

    assert scheduler._jobs_waiting() == 0  # an empty queue
    monkeypatch.setattr(scheduler, "get_queue", lambda: (_ for _ in ()).throw(ConnectionError("redis down")))
    assert scheduler._jobs_waiting() == 0  # so events are still handed out (and kept if Redis refuses them)
