"""Process one stored LINE webhook event: run the conversation and answer with the reply token."""
from __future__ import annotations

import datetime as dt
import json
import logging

from peewee import IntegrityError

from models.base import db, is_postgres, utcnow
from models.events import LineEvent
from models.outbox import queue_line, unit_of_work

from . import app_context

log = logging.getLogger(__name__)
REPLY_TOKEN_LIFETIME = dt.timedelta(seconds=50)


def process_line_events(event_row_ids: list[int]) -> list[str]:
    """The events of one webhook body, in order."""
    return [process_line_event(event_id) for event_id in event_row_ids]


def process_line_event(event_row_id: int) -> str:
    """Handle the event once: claim the row, run the bot, reply (or push when the token has expired)."""
    from bot.context import BotContext
    from bot.dispatch import handle_event

    with app_context() as app:
        claimed = (LineEvent.update(status="processing", attempts=LineEvent.attempts + 1)
                   .where((LineEvent.id == event_row_id) & (LineEvent.status == "pending")).execute())
        if not claimed:
            return "skipped"
        row = LineEvent.get_by_id(event_row_id)
        event = row.payload
        user_id = (event.get("source") or {}).get("userId") or ""
        try:
            ctx = BotContext.from_config(app.config, user_id)
            replies = handle_event(event, ctx)
        except Exception as exc:
            LineEvent.update(status="pending", last_error=f"{type(exc).__name__}: {str(exc)[:500]}").where(
                LineEvent.id == row.id).execute()
            log.exception("LINE event %s failed", row.id)
            raise
        LineEvent.update(status="done", processed_at=utcnow()).where(LineEvent.id == row.id).execute()
        if replies:
            _answer(app, row, event, user_id, replies)
        return "done"


def _answer(app, row: LineEvent, event: dict, user_id: str, replies: list[dict]) -> None:
    from bot.line_api import reply_messages

    token = event.get("replyToken")
    fresh = utcnow() - row.received_at < REPLY_TOKEN_LIFETIME
    if token and fresh:
        try:
            reply_messages(app.config, token, replies)
            return
        except Exception as exc:  # noqa: BLE001 - an expired or used token falls back to a push
            log.info("reply for event %s failed (%s); pushing instead", row.id, type(exc).__name__)
    if user_id:
        with unit_of_work():
            queue_line(user_id, replies, dedupe_key=f"reply-fallback:{row.webhook_event_id}")


def store_events(body: dict) -> list[int]:
    """Store each event of a webhook body once (by webhookEventId); returns the ids of new rows.

    On PostgreSQL this is one INSERT ... ON CONFLICT DO NOTHING RETURNING id: a redelivered event
    inserts nothing and is not returned, whatever the concurrency.
    """
    rows = []
    seen = set()
    now = utcnow()
    for event in body.get("events") or []:
        if not isinstance(event, dict):
            continue
        event_id = str(event.get("webhookEventId") or "")[:64]
        if not event_id or event_id in seen:
            continue
        seen.add(event_id)
        source = event.get("source") if isinstance(event.get("source"), dict) else {}
        rows.append({"webhook_event_id": event_id, "user_id": str(source.get("userId") or "")[:64] or None,
                     "event_type": str(event.get("type") or "")[:32],
                     "body": json.dumps(event, ensure_ascii=False), "received_at": now})
    if not rows:
        return []
    if is_postgres():
        cursor = (LineEvent.insert_many(rows).on_conflict_ignore().returning(LineEvent.id)
                  .execute())
        return sorted(row.id for row in cursor)
    new_ids = []
    for row in rows:
        try:
            with db.atomic():
                new_ids.append(LineEvent.insert(**row).execute())
        except IntegrityError:
            continue  # a redelivery: processed once already
    return new_ids
