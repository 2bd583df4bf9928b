"""The agency's summary response to a closed consultation, and its one extension (R10.2)."""
from __future__ import annotations

import datetime as dt

from . import calendar
from .base import DomainError, taipei_date, utcnow
from .consultation_texts import MSG
from .consultations import (
    CLOSED,
    OPEN,
    SUMMARISED,
    SUMMARY_MAX,
    Consultation,
    _check_version,
    _clean_reason,
    _close,
    _fields,
    _move,
    _require_agency,
    lock,
    participants_to_notify,
)
from .events import record
from .notify import notify_official
from .officials import clean_text
from .outbox import unit_of_work
from .staff import Staff


def _catch_up(consultation: Consultation, now: dt.datetime) -> None:
    """A consultation past its last day is closed now, if the sweep has not done it yet."""
    if consultation.state == OPEN and consultation.closes_at is not None and now > consultation.closes_at:
        _close(consultation, now, consultation.closes_at, "system:clock")


def publish_summary(staff: Staff, consultation_id: int, summary: str, now: dt.datetime | None = None, *,
                    expected_version: int | None = None) -> Consultation:
    """R10.2: publish the summary response to the opinions; opted-in participants are told."""
    now = now or utcnow()
    summary = clean_text(summary, field="綜整回應", max_len=SUMMARY_MAX, min_len=10, multiline=True)
    with unit_of_work():
        consultation = lock(consultation_id)
        _require_agency(staff, consultation.agency_code)
        _check_version(consultation, expected_version)
        _catch_up(consultation, now)
        if consultation.state == OPEN:
            raise DomainError(MSG["still_open"], "still_open")
        _move(consultation, SUMMARISED, now, summary=summary, summary_published_at=now)
        record(staff.actor, "summary_published", "consultation", consultation.id,
               detail={"due": f"{consultation.effective_summary_due:%Y-%m-%d}", "late": consultation.summary_late},
               now=now)
        fields = _fields(consultation)
        excerpt = summary if len(summary) <= 800 else summary[:800] + "…（全文請見諮詢頁面）"
        for official in participants_to_notify(consultation):
            notify_official(official, subject=MSG["summary_official_subject"].format(**fields),
                            body=MSG["summary_official_body"].format(excerpt=excerpt, **fields),
                            key=f"consultation:{consultation.id}:summary:official:{official.id}", now=now)
    return consultation


def extend_summary(staff: Staff, consultation_id: int, reason: str, now: dt.datetime | None = None, *,
                   expected_version: int | None = None) -> Consultation:
    """R10.2: once, before the last day ends, by 14 days (moved to a working day), with a published reason."""
    now = now or utcnow()
    reason = _clean_reason(reason, "延長理由")
    with unit_of_work():
        consultation = lock(consultation_id)
        _require_agency(staff, consultation.agency_code)
        _check_version(consultation, expected_version)
        _catch_up(consultation, now)
        if consultation.state != CLOSED:
            raise DomainError(MSG["bad_transition"].format(state=consultation.state_label, new="延長綜整回應期限"),
                              "bad_state")
        if consultation.summary_extended_due is not None:
            raise DomainError(MSG["extended_once"].format(until=f"{consultation.summary_extended_due:%Y-%m-%d}"),
                              "extended_once")
        if taipei_date(now) > consultation.summary_due:
            raise DomainError(MSG["extend_expired"].format(due=f"{consultation.summary_due:%Y-%m-%d}"), "expired")
        until = calendar.extension_due("R10.2", consultation.summary_due)
        _move(consultation, None, now, summary_extended_due=until, extension_reason=reason,
              extended_at=now)
        record(staff.actor, "summary_extended", "consultation", consultation.id, reason=reason,
               detail={"from": f"{consultation.summary_due:%Y-%m-%d}", "to": f"{until:%Y-%m-%d}"}, now=now)
    return consultation
