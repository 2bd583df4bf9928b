"""Figures that live in the database, read at scrape time by the metrics endpoint (web and
worker are separate processes, so counting them in memory would give each its own half)."""
from __future__ import annotations

import datetime as dt

import peewee

from .agency_confirmation import PENDING as CONFIRMATION_PENDING
from .agency_confirmation import AgencyAssignment
from .base import taipei_date, utcnow
from .consultations import CLOSED, Consultation
from .events import LineEvent
from .operations import recent_sweeps
from .outbox import Outbox
from .proposals import ESTABLISHED, REVIEWABLE_STATES, Proposal
from .seconds import Second
from .verification import VerificationCode


def _grouped(query) -> dict[tuple, int]:
    return {tuple(row[:-1]): row[-1] for row in query.tuples()}


def outbox_by_channel_and_status() -> dict[tuple, int]:
    return _grouped(Outbox.select(Outbox.channel, Outbox.status, peewee.fn.COUNT(Outbox.id))
                    .group_by(Outbox.channel, Outbox.status))


def line_events_by_status() -> dict[tuple, int]:
    return _grouped(LineEvent.select(LineEvent.status, peewee.fn.COUNT(LineEvent.id)).group_by(LineEvent.status))


def codes_by_purpose_and_status() -> dict[tuple, int]:
    return _grouped(VerificationCode.select(VerificationCode.purpose, VerificationCode.status,
                                            peewee.fn.COUNT(VerificationCode.id))
                    .group_by(VerificationCode.purpose, VerificationCode.status))


def seconds_by_via() -> dict[tuple, int]:
    return _grouped(Second.select(Second.via, peewee.fn.COUNT(Second.id)).group_by(Second.via))


def overdue_clocks(now: dt.datetime | None = None) -> dict[str, int]:
    """Open clocks past their last day, per rule (the same tests the console's overdue marks use)."""
    today = taipei_date(now or utcnow())
    response_due = peewee.fn.COALESCE(Proposal.response_extended_due, Proposal.response_due)
    summary_due = peewee.fn.COALESCE(Consultation.summary_extended_due, Consultation.summary_due)
    return {
        "R9.2.1": Proposal.select().where(Proposal.state.in_(sorted(REVIEWABLE_STATES))
                                          & (Proposal.review_due < today)).count(),
        "R9.2.5": AgencyAssignment.select().where((AgencyAssignment.status == CONFIRMATION_PENDING)
                                                  & (AgencyAssignment.due < today)).count(),
        "R9.3.3": Proposal.select().where((Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null()
                                          & (Proposal.notice_due < today)).count(),
        "R9.4.4": Proposal.select().where((Proposal.state == ESTABLISHED) & (response_due < today)).count(),
        "R10.2": Consultation.select().where((Consultation.state == CLOSED) & (summary_due < today)).count(),
    }


def last_sweep_steps() -> list[dict]:
    """Each step of the latest sweep: name, result, ms, error."""
    runs = recent_sweeps(1)
    return runs[0].step_list if runs else []
