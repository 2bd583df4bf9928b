"""GET /healthz: the database and Redis both answer, or which did not."""
from flask import Blueprint, current_app, jsonify

from jobs.queue import redis_connection
from models import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    status = {}
    try:
        db.execute_sql("SELECT 1").fetchone()
        status["db"] = "ok"
    except Exception:  # noqa: BLE001
        status["db"] = "unavailable"
    try:
        (current_app.extensions.get("redis") or redis_connection()).ping()
        status["redis"] = "ok"
    except Exception:  # noqa: BLE001
        status["redis"] = "unavailable"
    healthy = all(v == "ok" for v in status.values())
    return jsonify(status), 200 if healthy else 503
