"""The consultation clocks the sweep keeps: closing on the last day (R10.1.4), the summary reminder
(R10.2), and summary clocks moved when the office calendar changes (R2.3)."""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar, settings
from .agencies import get_agency
from .base import taipei_date
from .consultation_texts import FOOTER, MSG
from .consultations import CLOSED, OPEN, Consultation, _close, _fields, lock
from .events import record
from .notify import mail_agency
from .outbox import queue_mail, unit_of_work


def close_due(now: dt.datetime) -> int:
    """Sweep step (R10.1.4): close every consultation whose last day has ended; R10.2's clock starts."""
    candidates = [c.id for c in Consultation.select(Consultation.id).where(
        (Consultation.state == OPEN) & (Consultation.closes_at < now))]
    closed = 0
    for consultation_id in candidates:
        with unit_of_work():
            consultation = lock(consultation_id)
            if consultation.state != OPEN or consultation.closes_at >= now:
                continue
            _close(consultation, now, consultation.closes_at, "system:sweep")
            closed += 1
    return closed


def remind_overdue_summaries(now: dt.datetime) -> int:
    """Sweep step (R10.2): one reminder to the agency and the operations team per overdue summary."""
    today = taipei_date(now)
    due = peewee.fn.COALESCE(Consultation.summary_extended_due, Consultation.summary_due)
    candidates = [c.id for c in Consultation.select(Consultation.id).where(
        (Consultation.state == CLOSED) & (due < today) & Consultation.summary_reminded_at.is_null())]
    sent = 0
    for consultation_id in candidates:
        with unit_of_work():
            claimed = (Consultation.update(summary_reminded_at=now)
                       .where((Consultation.id == consultation_id) & (Consultation.state == CLOSED)
                              & Consultation.summary_reminded_at.is_null()).execute())
            if not claimed:
                continue
            consultation = Consultation.get_by_id(consultation_id)
            fields = _fields(consultation)
            subject = MSG["overdue_subject"].format(**fields)
            body = MSG["overdue_body"].format(**fields) + FOOTER
            agency = get_agency(consultation.agency_code)
            mail_agency(agency, subject, body, dedupe_key=f"consultation:{consultation.id}:summary-overdue:agency", now=now)
            queue_mail(settings.OPS_NOTIFY_EMAIL, subject, body,
                       dedupe_key=f"consultation:{consultation.id}:summary-overdue:ops", now=now)
            record("system:sweep", "summary_overdue_reminded", "consultation", consultation.id,
                   detail={"due": fields["due"]}, now=now)
            sent += 1
    return sent


def recompute_due(now: dt.datetime) -> None:
    """A calendar override counts at once for every summary clock not yet expired as of `now` (R2.3)."""
    today = taipei_date(now)
    for consultation in Consultation.select().where(Consultation.state == CLOSED):
        due, extended = consultation.summary_due, consultation.summary_extended_due
        fresh = calendar.due_date("R10.2", taipei_date(consultation.closed_at))
        if fresh != due and due >= today:
            due = fresh
        if extended is not None and extended >= today:
            extended = calendar.extension_due("R10.2", due)
        if (due, extended) != (consultation.summary_due, consultation.summary_extended_due):
            Consultation.update(summary_due=due, summary_extended_due=extended).where(
                Consultation.id == consultation.id).execute()
