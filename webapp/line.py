"""POST /line/webhook: verify the signature first, store each event once, answer 200 fast."""
from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, request
from linebot.v3.webhook import SignatureValidator

from jobs.line_events import process_line_events, store_events
from jobs.metrics import WEBHOOK_SECONDS
from jobs.queue import enqueue

bp = Blueprint("line", __name__)
log = logging.getLogger(__name__)
MAX_WEBHOOK_BYTES = 1024 * 1024


@bp.post("/line/webhook")
def webhook():
    with WEBHOOK_SECONDS.time():
        return _webhook()


def _webhook():
    signature = request.headers.get("X-Line-Signature", "")
    if request.content_length is not None and request.content_length > MAX_WEBHOOK_BYTES:
        abort(413)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_WEBHOOK_BYTES:
        abort(413)
    body = raw.decode("utf-8", errors="replace")
    if not signature or not SignatureValidator(current_app.config["LINE_CHANNEL_SECRET"]).validate(body, signature):
        log.info("webhook refused: bad or missing signature")
        abort(400, "Invalid signature")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
        abort(400, "Malformed JSON")
    if not isinstance(payload, dict) or not isinstance(payload.get("events", []), list):
        abort(400, "Malformed webhook body")
    new_ids = store_events(payload)
    if new_ids and current_app.config.get("LINE_DISPATCH") != "listen":
        # Without the PostgreSQL dispatcher (SQLite, or jobs run inline in tests) queue them here.
        enqueue(process_line_events, new_ids, job_id=f"line-events-{new_ids[0]}")
    return "OK", 200
