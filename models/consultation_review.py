"""The operations team reviews a consultation before it opens (R8 議案審核; R8.1 its clock).

An agency submits its draft; the team checks it against 第七點 and 第十點（一） (basis, scope,
length) within 3 working days and passes it or returns it with reasons. Only a passed
consultation can be opened (`consultations.open_consultation`). An overdue review is reminded to
the team once, not blocked.
"""
from __future__ import annotations

import datetime as dt

from . import calendar, settings
from .agencies import get_agency
from .base import DomainError, taipei_date, utcnow
from .consultation_texts import FOOTER, MSG
from .consultations import (
    APPROVED,
    DRAFT,
    IN_REVIEW,
    REASON_MAX,
    Consultation,
    _check_version,
    _console_link,
    _move,
    _require_agency,
    lock,
)
from .events import record
from .notify import mail_agency
from .officials import clean_text
from .outbox import queue_mail, transaction
from .staff import Staff


def review_due_for(submitted_at: dt.datetime) -> dt.date:
    return calendar.due_date("R8.1", taipei_date(submitted_at))


def _fields(consultation: Consultation, **extra: object) -> dict:
    return {"title": consultation.title, "number": consultation.number, "agency": consultation.agency_name,
            "console": _console_link(consultation),
            "review_due": f"{consultation.review_due:%Y-%m-%d}" if consultation.review_due else "", **extra}


def _mail_agency(consultation: Consultation, kind: str, now: dt.datetime, **extra: object) -> None:
    """The agency's contact address, or the team when the agency has none (never lost silently)."""
    agency = get_agency(consultation.agency_code)
    fields = _fields(consultation, **extra)
    subject, body = MSG[f"{kind}_subject"].format(**fields), MSG[f"{kind}_body"].format(**fields) + FOOTER
    key = f"consultation:{consultation.id}:{kind}:{consultation.version}"
    if agency and agency.contact_email:
        mail_agency(agency, subject, body, dedupe_key=key, now=now)
    else:
        queue_mail(settings.OPS_NOTIFY_EMAIL, subject, body, dedupe_key=key, now=now)


def _require_ops(staff: Staff) -> None:
    if not staff.is_ops:
        raise DomainError(MSG["ops_only"], "ops_only")


@transaction
def submit_for_review(staff: Staff, consultation_id: int, now: dt.datetime | None = None, *,
                      expected_version: int | None = None) -> Consultation:
    """The agency sends its draft to the team; the R8.1 clock starts and the team is told."""
    now = now or utcnow()
    consultation = lock(consultation_id)
    _require_agency(staff, consultation.agency_code)
    _check_version(consultation, expected_version)
    if consultation.state != DRAFT:
        raise DomainError(MSG["not_draft"].format(state=consultation.state_label), "not_draft")
    _move(consultation, IN_REVIEW, now, submitted_at=now, review_due=review_due_for(now), review_reminded_at=None)
    record(staff.actor, "consultation_submitted", "consultation", consultation.id,
           detail={"review_due": f"{consultation.review_due:%Y-%m-%d}"}, now=now)
    fields = _fields(consultation)
    queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["review_ops_subject"].format(**fields),
               MSG["review_ops_body"].format(**fields) + FOOTER,
               dedupe_key=f"consultation:{consultation.id}:review:{consultation.version}", now=now)
    return consultation


@transaction
def pass_consultation_review(staff: Staff, consultation_id: int, now: dt.datetime | None = None, *,
                             expected_version: int | None = None) -> Consultation:
    """R8: the team finds the basis, scope and length in order; the agency may now open it."""
    now = now or utcnow()
    _require_ops(staff)
    consultation = lock(consultation_id)
    _check_version(consultation, expected_version)
    if consultation.state != IN_REVIEW:
        raise DomainError(MSG["not_in_review"].format(state=consultation.state_label), "not_in_review")
    _move(consultation, APPROVED, now, reviewed_at=now, reviewed_by=staff.actor, return_reasons=None)
    record(staff.actor, "consultation_review_passed", "consultation", consultation.id, now=now)
    _mail_agency(consultation, "passed", now)
    return consultation


@transaction
def return_consultation(staff: Staff, consultation_id: int, reasons: str, now: dt.datetime | None = None, *,
                        expected_version: int | None = None) -> Consultation:
    """R8: the team returns the draft with reasons (第七點, 第十點（一）); the agency edits and resubmits."""
    now = now or utcnow()
    _require_ops(staff)
    reasons = clean_text(reasons, field="退回理由", max_len=REASON_MAX, min_len=4, multiline=True)
    consultation = lock(consultation_id)
    _check_version(consultation, expected_version)
    if consultation.state != IN_REVIEW:
        raise DomainError(MSG["not_in_review"].format(state=consultation.state_label), "not_in_review")
    _move(consultation, DRAFT, now, reviewed_at=now, reviewed_by=staff.actor, return_reasons=reasons)
    record(staff.actor, "consultation_returned", "consultation", consultation.id, reason=reasons, now=now)
    _mail_agency(consultation, "returned", now, reasons=reasons)
    return consultation


def remind_overdue_reviews(now: dt.datetime) -> int:
    """Sweep step (R8.1): the team is reminded once of each consultation whose review is overdue."""
    today = taipei_date(now)
    ids = [c.id for c in Consultation.select(Consultation.id).where(
        (Consultation.state == IN_REVIEW) & (Consultation.review_due < today) & Consultation.review_reminded_at.is_null())]
    return sum(1 for consultation_id in ids if _remind(consultation_id, now))


@transaction
def _remind(consultation_id: int, now: dt.datetime) -> bool:
    claimed = (Consultation.update(review_reminded_at=now)
               .where((Consultation.id == consultation_id) & (Consultation.state == IN_REVIEW)
                      & Consultation.review_reminded_at.is_null()).execute())
    if not claimed:
        return False
    fields = _fields(Consultation.get_by_id(consultation_id))
    queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["review_overdue_subject"].format(**fields),
               MSG["review_overdue_body"].format(**fields) + FOOTER,
               dedupe_key=f"consultation:{consultation_id}:review-overdue:{fields['review_due']}", now=now)
    record("system:sweep", "consultation_review_overdue_reminded", "consultation", consultation_id,
           detail={"review_due": fields["review_due"]}, now=now)
    return True


def recompute_review_due(now: dt.datetime) -> None:
    """A calendar override counts at once for every review clock not yet expired as of `now` (R2.3)."""
    today = taipei_date(now)
    for consultation in Consultation.select().where(Consultation.state == IN_REVIEW):
        due = review_due_for(consultation.submitted_at)
        if due != consultation.review_due and (consultation.review_due is None or consultation.review_due >= today):
            Consultation.update(review_due=due).where(Consultation.id == consultation.id).execute()


def is_review_overdue(consultation: Consultation, today: dt.date) -> bool:
    return consultation.state == IN_REVIEW and consultation.review_due is not None and consultation.review_due < today
