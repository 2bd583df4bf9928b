"""The operations status page (ops only): notices and LINE events by state, the failures and
their reasons, queue depths, the scheduler's heartbeat, the last sweeps, and retry / give up."""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, url_for
from wtforms import SubmitField

from bot.line_api import message_quota
from jobs.queue import get_queue
from models import operations
from models.base import utcnow
from models.events import EVENT_STATES, LineEvent
from models.outbox import OUTBOX_STATES, Outbox

from ..form import Form
from .actions import act
from .auth import current_staff, ops_required
from .blueprint import bp


class RowActionForm(Form):
    submit = SubmitField("送出")


def queue_depths() -> dict[str, int | str]:
    """Jobs waiting, running and failed in the service's RQ queue ("無法連線" while Redis is down)."""
    try:
        queue = get_queue()
        return {"等待中": queue.count, "執行中": queue.started_job_registry.count,
                "失敗": queue.failed_job_registry.count, "排程中": queue.scheduled_job_registry.count}
    except Exception:  # noqa: BLE001 - the page must show even while Redis is down
        return {"Redis": "無法連線"}


def line_quota() -> dict:
    """LINE's monthly push quota, its use, and the pushes sent by email instead (429)."""
    fell_back = Outbox.select().where(Outbox.sent_via == "mail").count()
    try:
        quota = message_quota(current_app.config)
    except Exception as exc:  # noqa: BLE001 - the page must show even while LINE cannot be reached
        return {"error": type(exc).__name__, "fell_back": fell_back}
    limit, used = quota["limit"], quota["used"]
    return {**quota, "left": None if limit is None else max(0, limit - used),
            "percent": None if not limit else min(100, round(used * 100 / limit)), "fell_back": fell_back}


@bp.get("/operations")
@ops_required
def operations_page():
    now = utcnow()
    heartbeat = operations.last_beat()
    return render_template(
        "console/operations.html", title="系統狀態", now=now,
        outbox_counts=operations.count_by(Outbox, Outbox.status), outbox_labels=OUTBOX_STATES.labels,
        event_counts=operations.count_by(LineEvent, LineEvent.status), event_labels=EVENT_STATES.labels,
        oldest=operations.oldest_unsent(), failures=operations.outbox_failures(),
        events=operations.event_problems(), queue=queue_depths(), heartbeat=heartbeat,
        health=operations.health(now), sweeps=operations.recent_sweeps(), quota=line_quota(), form=RowActionForm())


_ACTIONS = {
    ("outbox", "retry"): operations.retry_outbox, ("outbox", "give-up"): operations.give_up_outbox,
    ("event", "retry"): operations.retry_event, ("event", "give-up"): operations.give_up_event,
}


@bp.post("/operations/<kind>/<int:row_id>/<action>")
@ops_required
def operations_action(kind: str, row_id: int, action: str):
    change = _ACTIONS.get((kind, action))
    if change is None:
        abort(404)
    back = lambda: redirect(url_for("console.operations_page"))  # noqa: E731
    return act(RowActionForm(), lambda: change(row_id, by=current_staff().actor), on_invalid=back,
               on_refused=back, done=back)
