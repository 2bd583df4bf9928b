"""如有疑義 (R9.2.5(4)): the operations team and the agency discuss a doubt together, and settle it.

An agency that answers "not ours" opens a joint discussion (both are emailed). In the console both
sides add notes to it (`add_note`: the team, or the staff of that agency); the team records the
outcome (`settle`): the agency keeps the proposal after all, or it is released and the team asks
another agency (until then the proposal is "not yet asked": models.agency_assignments). The agency is
emailed the outcome; every note and the outcome are kept and shown with the assignment.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import settings
from .agencies import get_agency
from .agency_assignments import ASSIGNMENT_STATES, CONFIRMED, DOUBT_STATUSES, AgencyAssignment
from .agency_confirmation import NOTE_MAX, SETTLE_OUTCOMES, _get
from .agency_confirmation_texts import FOOTER, MSG, SETTLED_BODY, SETTLED_SUBJECT
from .base import BaseModel, DomainError, format_taipei, utcnow
from .events import record
from .officials import clean_text
from .outbox import queue_mail, unit_of_work
from .proposals import forget_response_reminder, lock


class DiscussionNote(BaseModel):
    """One note in the joint discussion of a doubt (R9.2.5(4)), by the team or the agency."""

    assignment = peewee.ForeignKeyField(AgencyAssignment, backref="discussion_notes", on_delete="CASCADE")
    actor = peewee.CharField(max_length=128)
    side = peewee.CharField(max_length=8)  # ops | agency
    text = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)

    @property
    def side_label(self) -> str:
        return "營運小組" if self.side == "ops" else "機關"


def is_open(assignment: AgencyAssignment) -> bool:
    return assignment.status in DOUBT_STATUSES and assignment.settled_at is None


def notes_of(assignment_ids: list[int]) -> dict[int, list[DiscussionNote]]:
    """{assignment id: its notes, oldest first} in one query."""
    found: dict[int, list[DiscussionNote]] = {i: [] for i in assignment_ids}
    if assignment_ids:
        for note in (DiscussionNote.select().where(DiscussionNote.assignment.in_(assignment_ids))
                     .order_by(DiscussionNote.created_at, DiscussionNote.id)):
            found[note.assignment_id].append(note)
    return found


def add_note(assignment_id: int, actor: str, *, is_ops: bool, agency_code: str | None, text: str,
             now: dt.datetime | None = None) -> DiscussionNote:
    """A note in an open discussion: the team, or the staff of the agency that raised the doubt."""
    now = now or utcnow()
    text = clean_text(text, field="研商意見", max_len=NOTE_MAX, min_len=2, multiline=True)
    with unit_of_work():
        assignment = _get(assignment_id)
        lock(assignment.proposal_id)
        if not is_ops and agency_code != assignment.agency_code:
            raise DomainError(MSG["discussion_forbidden"], "forbidden")
        if not is_open(_get(assignment_id)):
            raise DomainError(MSG["discussion_closed"], "discussion_closed")
        note = DiscussionNote.create(assignment=assignment.id, actor=actor[:128], side="ops" if is_ops else "agency",
                                     text=text, created_at=now)
        record(actor, "agency_discussion_note", "proposal", assignment.proposal_id, reason=text,
               detail={"assignment": assignment.id, "agency": assignment.agency_code}, now=now)
    return note


def settle(assignment_id: int, actor: str, outcome: str, note: str, now: dt.datetime | None = None) -> AgencyAssignment:
    """R9.2.5(4): the team records how a doubt was settled with the agency; the agency is told.

    'keep': the agency holds the proposal after all (status confirmed); 'release': it does not,
    and the team asks another agency (`request_confirmation`).
    """
    now = now or utcnow()
    if outcome not in SETTLE_OUTCOMES:
        raise DomainError(MSG["bad_outcome"], "bad_outcome")
    note = clean_text(note, field="協調結果說明", max_len=NOTE_MAX, min_len=2, multiline=True)
    with unit_of_work():
        assignment = _get(assignment_id)
        lock(assignment.proposal_id)  # serialises with role changes on the same proposal
        forget_response_reminder(assignment.proposal_id)  # the agencies holding it may change (R9.4.4)
        changes = {"settled_at": now, "settled_by": actor, "settle_note": note}
        unsettled_doubt = (AgencyAssignment.id == assignment.id) & AgencyAssignment.settled_at.is_null()
        if outcome == "keep":
            updated = ASSIGNMENT_STATES.move(AgencyAssignment, unsettled_doubt, CONFIRMED, from_states=DOUBT_STATUSES,
                                             **changes)
        else:  # released: the status stays the agency's answer; the team asks another agency
            updated = (AgencyAssignment.update(**changes)
                       .where(unsettled_doubt & AgencyAssignment.status.in_(list(DOUBT_STATUSES))).execute())
        if not updated:
            fresh = _get(assignment_id)
            if fresh.settled_at:
                raise DomainError(MSG["settled"].format(when=format_taipei(fresh.settled_at)), "settled")
            raise DomainError(MSG["not_doubt"], "not_doubt")
        record(actor, "agency_doubt_settled", "proposal", assignment.proposal_id, reason=note,
               detail={"assignment": assignment.id, "agency": assignment.agency_code, "outcome": outcome}, now=now)
        _mail_outcome(assignment, outcome, note, now)
    return _get(assignment_id)


def _mail_outcome(assignment: AgencyAssignment, outcome: str, note: str, now: dt.datetime) -> None:
    agency = get_agency(assignment.agency_code)
    proposal = assignment.proposal
    to = agency.contact_email if agency is not None and agency.contact_email else settings.OPS_NOTIFY_EMAIL
    queue_mail(to, SETTLED_SUBJECT.format(number=proposal.number),
               SETTLED_BODY.format(agency=assignment.agency_name, number=proposal.number, title=proposal.title,
                                   outcome=SETTLE_OUTCOMES[outcome], note=note) + FOOTER,
               dedupe_key=f"agency-assignment:{assignment.id}:settled", now=now)
