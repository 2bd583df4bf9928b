"""Nothing is lost when Redis, the mail server, LINE or a worker fails: the outbox and the sweep."""
from __future__ import annotations

import datetime as dt

from models.base import utcnow
from models.outbox import Outbox, queue_line, queue_mail, unit_of_work


def _age_rows():
    Outbox.update(next_attempt_at=Outbox.next_attempt_at - dt.timedelta(hours=2)).execute()


def test_r3_2_failed_line_push_is_retried_by_the_sweep(client, line, runner):
    uid = line.user()
    line.fail(count=1, status=500)
    with unit_of_work():
        queue_line(uid, [{"type": "text", "text": "通知"}])
    row = Outbox.get()
    assert row.status == "pending" and row.attempts == 1 and row.last_error
    assert line.messages(uid) == []
    _age_rows()
    result = runner.invoke(args=["deadlines", "sweep"])
    assert result.exit_code == 0, result.output
    assert Outbox.get().status == "sent"
    assert [m["text"] for m in line.messages(uid)] == ["通知"]


def test_r3_2_mail_server_down_then_back(app, smtp, runner):
    from webapp.extensions import mail

    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # nothing listens there
    mail.init_app(app)
    with unit_of_work():
        queue_mail("wang@taichung.gov.tw", "主旨", "內容")
    assert Outbox.get().status == "pending"
    app.config["MAIL_PORT"] = port
    mail.init_app(app)
    _age_rows()
    runner.invoke(args=["deadlines", "sweep"])
    assert Outbox.get().status == "sent"
    assert smtp.last_to("wang@taichung.gov.tw")["Subject"] == "主旨"


def test_r3_2_redis_down_keeps_rows_for_the_sweep(app, smtp, runner):
    from redis import Redis

    good = app.extensions["redis"]
    app.extensions["redis"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app.config["RQ_ASYNC"] = True  # production mode: an enqueue failure must not raise
    app.extensions.pop("rq_queues", None)
    with unit_of_work():
        queue_mail("lee@taichung.gov.tw", "主旨", "內容")
    assert Outbox.get().status == "pending" and smtp.to("lee@taichung.gov.tw") == []
    app.extensions["redis"] = good
    app.config["RQ_ASYNC"] = False
    app.extensions.pop("rq_queues", None)
    _age_rows()
    runner.invoke(args=["deadlines", "sweep"])
    assert Outbox.get().status == "sent"


def test_r3_2_notice_is_sent_once_per_dedupe_key(client, smtp):
    with unit_of_work():
        queue_mail("wang@taichung.gov.tw", "一次", "內容", dedupe_key="k1")
        queue_mail("wang@taichung.gov.tw", "一次", "內容", dedupe_key="k1")
    with unit_of_work():
        queue_mail("wang@taichung.gov.tw", "一次", "內容", dedupe_key="k1")
    assert Outbox.select().count() == 1
    assert len(smtp.to("wang@taichung.gov.tw")) == 1


def test_r3_2_notice_is_retried_for_two_days_then_reported_to_ops(app, smtp, runner):
    from models import settings
    from webapp.extensions import mail

    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1
    mail.init_app(app)
    with unit_of_work():
        queue_mail("agency@taichung.gov.tw", "成案通知", "內容")
    for _ in range(12):  # many failures within the two days: still pending, never dropped
        _age_rows()
        runner.invoke(args=["deadlines", "sweep"])
    row = Outbox.get()
    assert row.status == "pending" and row.attempts >= 10
    Outbox.update(created_at=Outbox.created_at - dt.timedelta(hours=49)).execute()
    _age_rows()
    runner.invoke(args=["deadlines", "sweep"])
    assert Outbox.get_by_id(row.id).status == "failed"
    app.config["MAIL_PORT"] = port
    mail.init_app(app)
    _age_rows()  # the report itself waited for the mail server too
    runner.invoke(args=["deadlines", "sweep"])
    runner.invoke(args=["deadlines", "sweep"])
    reports = smtp.to(settings.OPS_NOTIFY_EMAIL)
    assert len(reports) == 1 and "通知寄送失敗" in str(reports[0]["Subject"])


def test_r4_raw_chat_and_sent_notice_text_are_purged_after_their_retention(client, line, runner, smtp):
    from models.events import LineEvent

    uid = line.user()
    line.follow(client, uid)
    line.text(client, uid, "0912-345-678")
    with unit_of_work():
        queue_mail("wang@taichung.gov.tw", "認證碼", "您的認證碼是：123456")
    runner.invoke(args=["deadlines", "sweep"])
    assert all(e.body != "{}" for e in LineEvent.select()) and Outbox.get().payload != "{}"
    LineEvent.update(received_at=LineEvent.received_at - dt.timedelta(days=8)).execute()
    Outbox.update(sent_at=Outbox.sent_at - dt.timedelta(days=31)).execute()
    runner.invoke(args=["deadlines", "sweep"])
    assert all(e.body == "{}" for e in LineEvent.select()) and LineEvent.select().count() == 2
    assert Outbox.get().payload == "{}" and Outbox.get().status == "sent"


def _mail_rows(count: int) -> list[int]:
    with unit_of_work():
        rows = [queue_mail(f"batch{i}@taichung.gov.tw", "批次", f"內容{i}") for i in range(count)]
    return [row.id for row in rows]


def test_r3_2_a_batch_sends_each_row_exactly_once(app, smtp):
    from jobs.outbox import send_outbox_batch, sending_after

    with sending_after():  # as a job of LINE events: the rows are sent together at its end
        ids = _mail_rows(3)
        assert all(smtp.to(f"batch{i}@taichung.gov.tw") == [] for i in range(3))
    assert [len(smtp.to(f"batch{i}@taichung.gov.tw")) for i in range(3)] == [1, 1, 1]
    assert {row.status for row in Outbox.select()} == {"sent"}
    assert send_outbox_batch(ids) == ["skipped"] * 3  # a second job with the same rows sends nothing
    assert [len(smtp.to(f"batch{i}@taichung.gov.tw")) for i in range(3)] == [1, 1, 1]


def test_r3_2_a_row_sent_again_keeps_its_message_id_so_the_mailbox_shows_one(app, smtp):
    """The send went out but its 'sent' mark did not land (the database away for longer than the mark
    waits): after the lease the row is sent again, with the same Message-ID, in the sender's domain,
    so mail systems and readers take the two for one message. Another row has its own."""
    from jobs.outbox import send_outbox_batch, sending_after

    with sending_after():
        ids = _mail_rows(2)
    first = smtp.last_to("batch0@taichung.gov.tw")["Message-ID"]
    assert first.startswith(f"<outbox.{ids[0]}.") and first.endswith("@platform.localhost>")
    Outbox.update(status="pending", next_attempt_at=utcnow() - dt.timedelta(seconds=1)).where(
        Outbox.id == ids[0]).execute()  # as if the mark had never been written
    assert send_outbox_batch([ids[0]]) == ["sent"]
    again = smtp.to("batch0@taichung.gov.tw")
    assert len(again) == 2 and again[1]["Message-ID"] == first
    assert smtp.last_to("batch1@taichung.gov.tw")["Message-ID"] not in (first, None)


def test_r3_2_a_row_held_by_another_job_is_not_sent_twice(app, smtp, monkeypatch):
    import jobs.outbox
    from jobs.outbox import _claim, send_outbox_batch, sending_after

    held: list[int] = []
    monkeypatch.setattr(jobs.outbox, "send_outbox_batch", held.extend)
    with sending_after():
        _mail_rows(1)
    monkeypatch.undo()
    assert _claim(held[0]) is not None  # job A holds it (it is sending)
    assert send_outbox_batch(held) == ["skipped"]  # job B (a sweep's re-enqueue) leaves it
    assert smtp.to("batch0@taichung.gov.tw") == [] and Outbox.get().status == "pending"


def test_r3_2_worker_killed_holding_a_batch_leaves_rows_retried_once(app, smtp, runner, monkeypatch):
    import jobs.outbox
    from jobs.outbox import _claim, sending_after

    held: list[int] = []
    monkeypatch.setattr(jobs.outbox, "send_outbox_batch", held.extend)  # the process dies before sending
    with sending_after():
        _mail_rows(3)
    monkeypatch.undo()
    assert len(held) == 3 and {row.status for row in Outbox.select()} == {"pending"}
    assert _claim(held[0]) is not None  # it was sending the first row when it was killed
    Outbox.update(next_attempt_at=Outbox.next_attempt_at - dt.timedelta(minutes=1)).where(
        Outbox.id.in_(held[1:])).execute()
    assert runner.invoke(args=["deadlines", "sweep"]).exit_code == 0
    assert [len(smtp.to(f"batch{i}@taichung.gov.tw")) for i in range(3)] == [0, 1, 1]  # the held row waits
    _age_rows()  # its claim lease runs out
    assert runner.invoke(args=["deadlines", "sweep"]).exit_code == 0
    assert [len(smtp.to(f"batch{i}@taichung.gov.tw")) for i in range(3)] == [1, 1, 1]
    assert {row.status for row in Outbox.select()} == {"sent"}


def test_r3_2_mail_server_back_after_an_outage_gets_its_mail_at_the_schedulers_next_pass(app, smtp, runner, monkeypatch):
    """Issue 13: mails that failed during an SMTP outage go out at the scheduler's next 10 s pass once
    their first back-off (10 s) ends, each once; a longer outage makes the back-off grow."""
    import jobs.outbox
    import jobs.scheduler
    from jobs.outbox import retry_backoff
    from jobs.scheduler import _requeue_retries
    from models.base import utcnow
    from webapp.extensions import mail

    assert [retry_backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert retry_backoff(12) == retry_backoff(40) == dt.timedelta(hours=1)  # a long outage: hourly, no hammering
    clock = {"ahead": dt.timedelta(0)}  # the sender's and the scheduler's clock, moved by the test
    for module in (jobs.outbox, jobs.scheduler):
        monkeypatch.setattr(module, "utcnow", lambda: utcnow() + clock["ahead"])

    def passes(seconds: int) -> None:
        clock["ahead"] += dt.timedelta(seconds=seconds)

    port = app.config["MAIL_PORT"]
    app.config["MAIL_PORT"] = 1  # the mail server is down
    mail.init_app(app)
    with unit_of_work():
        queue_mail("out1@taichung.gov.tw", "主旨一", "內容")
        queue_mail("out2@taichung.gov.tw", "主旨二", "內容")
    assert [(r.status, r.attempts) for r in Outbox.select()] == [("pending", 1), ("pending", 1)]
    since = _requeue_retries(None)  # a pass before the back-off ends: nothing tried
    assert [r.attempts for r in Outbox.select()] == [1, 1]
    passes(11)
    since = _requeue_retries(since)  # still down: tried again, the back-off doubles (20 s)
    assert [(r.status, r.attempts) for r in Outbox.select()] == [("pending", 2), ("pending", 2)]
    app.config["MAIL_PORT"] = port  # the mail server is back
    mail.init_app(app)
    passes(10)
    since = _requeue_retries(since)  # 10 s later: the 20 s back-off has not ended
    assert smtp.to("out1@taichung.gov.tw") == [] and [r.attempts for r in Outbox.select()] == [2, 2]
    passes(10)
    since = _requeue_retries(since)  # the next pass sends them
    assert [r.status for r in Outbox.select()] == ["sent", "sent"]
    passes(10)
    _requeue_retries(since)
    _requeue_retries(None)
    assert runner.invoke(args=["deadlines", "sweep"]).exit_code == 0
    assert [len(smtp.to(f"out{i}@taichung.gov.tw")) for i in (1, 2)] == [1, 1]  # each sent once
    assert smtp.last_to("out2@taichung.gov.tw")["Subject"] == "主旨二"


def test_r3_2_due_retries_go_ahead_of_queued_work(app, smtp, monkeypatch):
    """Behind a backlog of LINE events the retries waited minutes (the full surge run): they go to the
    front of the queue."""
    import jobs.outbox
    from jobs.sweep import requeue_due_retries
    from models.base import utcnow

    with unit_of_work():
        queue_mail("front@taichung.gov.tw", "主旨", "內容")
    Outbox.update(attempts=1, status="pending", next_attempt_at=utcnow()).execute()  # as after a failed attempt
    calls: list[dict] = []
    monkeypatch.setattr(jobs.outbox, "enqueue", lambda func, *args, **kw: calls.append(kw) or True)
    assert requeue_due_retries(utcnow() + dt.timedelta(seconds=1)) == 1
    assert [call["at_front"] for call in calls] == [True]


def test_r3_2_every_retry_due_in_a_pass_is_enqueued_past_one_page(app, smtp, monkeypatch):
    """More rows come due in one 10 s window than a page holds (the full surge run: ~2 000 mails
    failed in a minute): every one is handed out in that pass, not left for the minute sweep."""
    import jobs.outbox
    import jobs.sweep
    from jobs.sweep import requeue_due_retries
    from models.base import utcnow

    with unit_of_work():
        for i in range(7):
            queue_mail(f"page{i}@taichung.gov.tw", "主旨", "內容")
    due = utcnow()
    Outbox.update(attempts=1, status="pending", next_attempt_at=due).execute()  # all due at the same instant
    handed: list[int] = []
    monkeypatch.setattr(jobs.outbox, "enqueue", lambda func, ids, **kw: handed.extend(ids) or True)
    monkeypatch.setattr(jobs.sweep, "RETRY_PAGE", 3)
    assert requeue_due_retries(due + dt.timedelta(seconds=1), since=due - dt.timedelta(seconds=10)) == 7
    assert sorted(handed) == sorted(row.id for row in Outbox.select())


def test_r3_2_an_email_reads_the_same_as_flask_mails_own_rendering(app, smtp):
    """The outbox writes messages with the compat32 policy (faster than Flask-Mail's refolding): a
    reader sees the same subject, addresses, headers and body as Flask-Mail's own rendering."""
    import email
    import email.policy

    from flask_mail import Message

    subject = "【附議認證碼】提案 TC-2026-00123「提高超勤津貼上限並放寬每月加班時數上限以反映實際工作量」"
    body = "王小明您好：\n\n您的附議認證碼是：123456\n" + "請於 15 分鐘內輸入。" * 20
    with unit_of_work():
        row = queue_mail("王小明 <wang.compat@taichung.gov.tw>", subject, body, reply_to="reply+abc@reply.example.tw")
    assert Outbox.get_by_id(row.id).status == "sent"  # sent once the transaction committed
    sent = smtp.last_to("wang.compat@taichung.gov.tw")
    reference = Message(subject=subject, recipients=["王小明 <wang.compat@taichung.gov.tw>"], body=body,
                        reply_to="reply+abc@reply.example.tw", sender=app.config["MAIL_DEFAULT_SENDER"])
    with app.app_context():
        flask_mail_form = email.message_from_bytes(reference.as_bytes(), policy=email.policy.default)
    assert sent["Subject"] == subject == flask_mail_form["Subject"]
    for header in ("From", "To", "Reply-To", "Content-Type", "MIME-Version"):
        assert sent[header] == flask_mail_form[header], header
    assert str(sent["To"]) == "王小明 <wang.compat@taichung.gov.tw>"
    assert sent["Auto-Submitted"] == "auto-generated" and sent["X-Platform-Outbox"] == str(row.id)
    def text(message):  # as a mail reader shows it: line ends are the transport's
        return smtp.body(message).replace("\r\n", "\n").rstrip("\n")

    assert text(sent) == body == text(flask_mail_form)
