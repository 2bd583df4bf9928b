"""What is due, per role (issue 11 item 5): the counts behind the console home.

`due_counts(agency_code, today)` answers for the operations team (agency_code None: every agency)
or for one agency (only its own work: confirmations it was asked for, responses it leads or
co-organises, its consultations). Each count carries its rule; the console adds the words and links.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .agency_admin import unconfirmed_agencies
from .agency_assignments import DOUBT_STATUSES, LEAD, PENDING, AgencyAssignment, unasked_proposals
from .consultations import CLOSED, IN_REVIEW, Consultation
from .outbox import FAILED, Outbox
from .proposals import ESTABLISHED, SUBMITTED, Proposal
from .responses import console_proposals, effective_due, responsible_agencies

SOON = dt.timedelta(days=7)  # R9.4.4 responses "due within 7 days"


@dataclass(frozen=True)
class Due:
    key: str
    rule: str
    count: int
    urgent: bool  # overdue or due today: shown first and marked


def _assignments(agency_code: str | None):
    query = AgencyAssignment.select()
    return query if agency_code is None else query.where(AgencyAssignment.agency_code == agency_code)


def due_counts(agency_code: str | None, today: dt.date) -> list[Due]:
    """The work waiting, urgent first; ops see every agency's, agency staff their own (no review work)."""
    items: list[Due] = []
    if agency_code is None:
        submitted = Proposal.select().where(Proposal.state == SUBMITTED)
        items += [
            Due("reviews_overdue", "R9.2.1", submitted.where(Proposal.review_due < today).count(), True),
            Due("reviews_today", "R9.2.1", submitted.where(Proposal.review_due == today).count(), True),
            Due("not_asked", "R9.2.5", unasked_proposals().count(), True),  # reminded each working day
            Due("notices_due", "R9.3.3", Proposal.select().where(
                (Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null()
                & (Proposal.notice_due <= today)).count(), True),
        ]
    waiting = _assignments(agency_code).where(AgencyAssignment.status == PENDING)
    items += [
        Due("confirmations_overdue", "R9.2.5", waiting.where(AgencyAssignment.due < today).count(), True),
        Due("confirmations_waiting", "R9.2.5", waiting.where(AgencyAssignment.due >= today).count(), False),
        Due("confirmations_disputed", "R9.2.5", _assignments(agency_code).where(
            AgencyAssignment.status.in_(DOUBT_STATUSES) & AgencyAssignment.settled_at.is_null()).count(),
            agency_code is None),
    ]
    open_responses = [p for p in console_proposals(agency_code) if p.state == ESTABLISHED and effective_due(p)]
    items += [
        Due("responses_overdue", "R9.4.4", sum(1 for p in open_responses if effective_due(p) < today), True),
        Due("responses_soon", "R9.4.4", sum(1 for p in open_responses if today <= effective_due(p) <= today + SOON),
            False),
    ]
    in_review = Consultation.select().where(Consultation.state == IN_REVIEW)
    if agency_code is None:  # R8.1: the team reviews consultations before they open
        items += [
            Due("consultation_reviews_overdue", "R8.1", in_review.where(Consultation.review_due < today).count(), True),
            Due("consultation_reviews_waiting", "R8.1", in_review.where(Consultation.review_due >= today).count(),
                False),
        ]
    closed = Consultation.select().where(Consultation.state == CLOSED)
    if agency_code is not None:
        closed = closed.where(Consultation.agency_code == agency_code)
    late = [c for c in closed if c.effective_summary_due and c.effective_summary_due < today]
    items += [
        Due("summaries_overdue", "R10.2", len(late), True),
        Due("summaries_waiting", "R10.2", closed.count() - len(late), False),
    ]
    if agency_code is None:
        items.append(Due("notices_failed", "R9.3.3", Outbox.select().where(Outbox.status == FAILED).count(), True))
        items.append(Due("agencies_unconfirmed", "R9.2.5", len(unconfirmed_agencies()), False))
    return sorted(items, key=lambda item: (not (item.urgent and item.count), item.count == 0))


def responses_by_agency(today: dt.date) -> list[tuple[str, int, int]]:
    """For the operations team: (lead agency code, overdue, due within 7 days) for each agency with either."""
    counts: dict[str, list[int]] = {}
    for proposal in console_proposals(None):
        due = effective_due(proposal)
        if proposal.state != ESTABLISHED or due is None or due > today + SOON:
            continue
        for code in responsible_agencies(proposal)[LEAD] or [proposal.agency_code or ""]:
            pair = counts.setdefault(code, [0, 0])
            pair[0 if due < today else 1] += 1
    return sorted(((code, late, soon) for code, (late, soon) in counts.items()), key=lambda row: (-row[1], -row[2], row[0]))
