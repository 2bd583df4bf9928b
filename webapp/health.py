"""Health for two audiences.

`GET /healthz` is the load balancer's: 200 while this process reaches the database, whatever
else is down. A mail outage, Redis or a dead scheduler must not take the webhook out of rotation
(the webhook only needs the database; the rest catches up).

`GET /healthz/full` is monitoring's: the database, Redis, the scheduler's heartbeat (silent for
3 minutes = failed) and the oldest unsent notice (over 15 minutes = failed); 503 naming each
failed part under "failed".
"""
from flask import Blueprint, current_app, jsonify

from jobs.queue import redis_connection
from models import db, operations

bp = Blueprint("health", __name__)


def _database() -> str:
    try:
        db.execute_sql("SELECT 1").fetchone()
        return "ok"
    except Exception:  # noqa: BLE001
        return "unavailable"


def _redis() -> str:
    try:
        (current_app.extensions.get("redis") or redis_connection()).ping()
        return "ok"
    except Exception:  # noqa: BLE001
        return "unavailable"


@bp.get("/healthz")
def healthz():
    status = {"db": _database()}
    return jsonify(status), 200 if status["db"] == "ok" else 503


@bp.get("/healthz/full")
def healthz_full():
    status = {"db": _database(), "redis": _redis()}
    if status["db"] == "ok":
        try:
            status.update(operations.health())
        except Exception:  # noqa: BLE001 - e.g. the tables are missing: say so rather than 500
            status.update(scheduler="unknown", outbox="unknown")
    else:
        status.update(scheduler="unknown", outbox="unknown")
    failed = sorted(name for name, value in status.items() if value != "ok")
    return jsonify({**status, "failed": failed}), 503 if failed else 200
