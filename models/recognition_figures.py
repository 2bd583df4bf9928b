"""The per-proposer annual figures the operations team weighs for recognition (R11).

"衡酌當年度提案件數及貢獻度": `annual_figures(year)` gives, per proposer, what they proposed that
year and how far it went. Decisions taken where the regulation is silent:
- A year is the Asia/Taipei calendar year; each step counts in the year it happened (a proposal
  submitted in December and adopted in March counts as submitted in one year, adopted in the next).
- Withdrawn proposals, and returned ones the proposer never sent again, are counted apart from the
  submitted ones (`withdrawn`, `returned`, in the year that happened): they are not contributions.
  A returned proposal that was sent again counts as submitted.
- Co-proposers of a group proposal count as proposers (R5.1: "an individual or a group proposes").
- Removed proposals (R7) count for nothing: content removed as unlawful or out of scope is no
  contribution.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import peewee

from .agencies import Agency
from .base import start_of_day_utc
from .officials import Official
from .proposals import REMOVED, RETURNED, WITHDRAWN, CoProposer, Proposal
from .recognition import ADOPT, ADOPTED_DECISIONS, CONSENT_LABELS, NO, YES, RecognitionConsent


@dataclass
class ProposerFigures:
    """One proposer's year (R11): counts by step, and their consent for the adopted proposals."""

    official_id: int
    display_name: str
    agency: str
    submitted: int = 0
    withdrawn: int = 0
    returned: int = 0
    passed_review: int = 0
    established: int = 0
    adopted: int = 0
    partly_adopted: int = 0
    consent_yes: int = 0
    consent_no: int = 0
    consent_pending: int = 0
    adopted_proposals: list[int] = field(default_factory=list)
    consented_proposals: list[int] = field(default_factory=list)

    @property
    def adopted_total(self) -> int:
        return self.adopted + self.partly_adopted

    @property
    def consent_label(self) -> str:
        """同意推薦 / 不同意 / 未回覆 — or the counts when the proposer answered differently per proposal."""
        if not self.adopted_total:
            return "—"
        answers = [(self.consent_yes, CONSENT_LABELS[YES]), (self.consent_no, CONSENT_LABELS[NO]),
                   (self.consent_pending, CONSENT_LABELS[None])]
        given = [(n, label) for n, label in answers if n]
        if len(given) == 1:
            return given[0][1]
        return "、".join(f"{label} {n} 件" for n, label in given)

    @property
    def eligible(self) -> bool:
        """Adopted wholly or partly, and the proposer agreed for at least one of them (R11)."""
        return self.adopted_total > 0 and self.consent_yes > 0

    def as_dict(self) -> dict:
        """The figures a recommendation quotes (stored with it, as they were when it was sent)."""
        return {name: getattr(self, name) for name in (
            "submitted", "withdrawn", "returned", "passed_review", "established", "adopted", "partly_adopted",
            "adopted_proposals", "consented_proposals")}


def _in_year(value: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return value is not None and start <= value < end


def annual_figures(year: int, official_id: int | None = None) -> list[ProposerFigures]:
    """R11: per proposer (or for one), the year's proposals submitted, withdrawn, returned, passed review,
    established, adopted/partly adopted, and their consent; those with adopted proposals first."""
    start, end = start_of_day_utc(dt.date(year, 1, 1)), start_of_day_utc(dt.date(year + 1, 1, 1))
    submitted = peewee.fn.COALESCE(Proposal.first_submitted_at, Proposal.submitted_at)
    touched = (submitted.between(start, end) | Proposal.seconding_started_at.between(start, end)
               | Proposal.established_at.between(start, end) | Proposal.responded_at.between(start, end)
               | Proposal.withdrawn_at.between(start, end) | Proposal.returned_at.between(start, end))
    query = Proposal.select().where(touched & (Proposal.state != REMOVED))
    if official_id is not None:
        mine = CoProposer.select(CoProposer.proposal).where((CoProposer.official == official_id)
                                                            & CoProposer.confirmed_at.is_null(False))
        query = query.where((Proposal.proposer == official_id) | Proposal.id.in_(mine))
    proposals = list(query)
    if not proposals:
        return []
    ids = [p.id for p in proposals]
    people: dict[int, list[int]] = {p.id: [p.proposer_id] for p in proposals}
    for proposal_id, person_id in (CoProposer.select(CoProposer.proposal, CoProposer.official)
                                   .where(CoProposer.proposal.in_(ids) & CoProposer.confirmed_at.is_null(False))
                                   .tuples()):
        people[proposal_id].append(person_id)
    consents = {(r.proposal_id, r.official_id): r.answer
                for r in RecognitionConsent.select().where(RecognitionConsent.proposal.in_(ids))}
    officials = {o.id: o for o in Official.select().where(Official.id.in_({i for v in people.values() for i in v}))}
    agency_names = {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}

    rows: dict[int, ProposerFigures] = {}
    for proposal in proposals:
        for person_id in people[proposal.id]:
            if official_id is not None and person_id != official_id:
                continue
            official = officials[person_id]
            row = rows.get(person_id)
            if row is None:
                row = rows[person_id] = ProposerFigures(  # the agency and the unit (R11: letters name both)
                    person_id, official.display_name,
                    official.workplace_label(agency_names.get(official.agency_code or "", official.agency_code or "")))
            _count(row, proposal, consents.get((proposal.id, person_id)), start, end)
    return sorted(rows.values(), key=lambda r: (-r.adopted_total, -r.established, -r.passed_review, -r.submitted,
                                                r.display_name, r.official_id))


def _count(row: ProposerFigures, proposal: Proposal, answer: str | None, start: dt.datetime, end: dt.datetime) -> None:
    if proposal.state == WITHDRAWN:
        row.withdrawn += _in_year(proposal.withdrawn_at, start, end)
        return
    if proposal.state == RETURNED:
        row.returned += _in_year(proposal.returned_at, start, end)
        return
    row.submitted += _in_year(proposal.first_submitted_at or proposal.submitted_at, start, end)
    row.passed_review += _in_year(proposal.seconding_started_at, start, end)
    row.established += _in_year(proposal.established_at, start, end)
    if not (_in_year(proposal.responded_at, start, end) and proposal.response_decision in ADOPTED_DECISIONS):
        return
    if proposal.response_decision == ADOPT:
        row.adopted += 1
    else:
        row.partly_adopted += 1
    row.adopted_proposals.append(proposal.id)
    if answer == YES:
        row.consent_yes += 1
        row.consented_proposals.append(proposal.id)
    elif answer == NO:
        row.consent_no += 1
    else:
        row.consent_pending += 1


def figures_of(official_id: int, year: int) -> ProposerFigures | None:
    """One proposer's year, or None when they did nothing that year."""
    rows = annual_figures(year, official_id)
    return rows[0] if rows else None
