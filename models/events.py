"""Idempotency and audit records: LINE webhook events, inbound mails, and the audit trail."""
from __future__ import annotations

import json

import peewee

from .base import BaseModel, utcnow
from .states import Transitions

PENDING, QUEUED, PROCESSING, DONE, FAILED = "pending", "queued", "processing", "done", "failed"
IGNORED = "ignored"
EVENT_STATES = Transitions("LINE 事件", {
    PENDING: {QUEUED, PROCESSING, FAILED},  # handed to a worker / claimed by one / given up after 5 tries
    QUEUED: {PROCESSING, PENDING},  # claimed / the enqueue failed or the job was lost
    # handled / failed or the worker died (retried) / malformed (never retried) / no sender to answer
    PROCESSING: {DONE, PENDING, FAILED, IGNORED},
    DONE: set(), FAILED: {PENDING}, IGNORED: set(),  # failed: retried from the operations page
}, labels={PENDING: "等待處理", QUEUED: "已排入佇列", PROCESSING: "處理中", DONE: "已處理", FAILED: "失敗",
           IGNORED: "已略過"})


class LineEvent(BaseModel):
    """One LINE webhook event; `webhook_event_id` makes a redelivery a no-op (INTERFACES.md)."""

    webhook_event_id = peewee.CharField(max_length=64, unique=True)
    user_id = peewee.CharField(max_length=64, null=True, index=True)
    event_type = peewee.CharField(max_length=32)
    body = peewee.TextField()
    status = peewee.CharField(max_length=16, default=PENDING, index=True)  # EVENT_STATES
    attempts = peewee.IntegerField(default=0)
    received_at = peewee.DateTimeField(default=utcnow, index=True)
    claimed_at = peewee.DateTimeField(null=True)  # when a dispatcher or worker last took it
    processed_at = peewee.DateTimeField(null=True)
    last_error = peewee.TextField(null=True)

    @property
    def payload(self) -> dict:
        return json.loads(self.body)


class InboundMail(BaseModel):
    """One inbound email by Message-ID: processed once."""

    message_id = peewee.CharField(max_length=255, unique=True)
    from_address = peewee.CharField(max_length=320, null=True)
    outcome = peewee.CharField(max_length=64)
    received_at = peewee.DateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    """Who did what to which record, when and why (R4, R7, R8 traceability)."""

    actor = peewee.CharField(max_length=128)  # "official:12", "staff:3", "system:sweep"
    action = peewee.CharField(max_length=64, index=True)
    subject_type = peewee.CharField(max_length=32)
    subject_id = peewee.IntegerField(null=True)
    reason = peewee.TextField(null=True)
    detail = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow, index=True)

    class Meta:
        indexes = ((("subject_type", "subject_id"), False),)


def record(actor: str, action: str, subject_type: str, subject_id: int | None, *, reason: str | None = None,
           detail: dict | None = None, now=None) -> AuditEvent:
    """Append one audit row (call inside the domain transaction)."""
    return AuditEvent.create(
        actor=actor, action=action, subject_type=subject_type, subject_id=subject_id, reason=reason,
        detail=json.dumps(detail, ensure_ascii=False) if detail else None, created_at=now or utcnow(),
    )


def record_many(actor: str, action: str, subject_type: str, details: dict[int, dict], now=None) -> None:
    """One audit row per subject, {subject id: detail}, in INSERTs of 500 (a calendar change at 100k)."""
    rows = [{"actor": actor, "action": action, "subject_type": subject_type, "subject_id": subject_id,
             "reason": None, "detail": json.dumps(detail, ensure_ascii=False) if detail else None,
             "created_at": now or utcnow()} for subject_id, detail in details.items()]
    for start in range(0, len(rows), 500):
        AuditEvent.insert_many(rows[start:start + 500]).execute()
