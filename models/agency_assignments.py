"""Agency assignments (R9.2.5): who was asked to hold a proposal, in what role, and what they answered.

The records and the reading side; the workflow that changes them is models.agency_confirmation
(request, answer, deem, settle), models.agency_reassignment (R9.1.3) and models.agency_discussion.

Who is responsible for a proposal (`responsible_roles`): the agencies whose assignment is pending,
confirmed or deemed; before any agency has been asked, the agency the proposer (or the team) chose.
An agency that was released after a settled doubt, or withdrawn when the team changed the agency,
is never responsible, not even by fallback: until another agency is asked the proposal is "not yet
asked" (`unasked_proposals`), listed on the console home and reminded each working day.
"""
from __future__ import annotations

import datetime as dt
import secrets

import peewee

from .agencies import get_agency
from .base import BaseModel, among, utcnow
from .proposals import ESTABLISHED, SECONDING, Proposal
from .states import Transitions

LEAD = "lead"
CO = "co"
ROLES = {LEAD: "主辦", CO: "協辦"}

PENDING = "pending"
CONFIRMED = "confirmed"
DEEMED = "deemed"
DECLINED = "declined"
REDIRECTED = "redirected"  # older answers only: a subordinate now means a confirmation with a handling unit
WITHDRAWN = "withdrawn"  # R9.1.3: the team changed the agency; the request was withdrawn
STATUS_LABELS = {PENDING: "待回覆", CONFIRMED: "已確認", DEEMED: "逾期視為確認", DECLINED: "非本機關業務（研商中）",
                 REDIRECTED: "應由所屬機關辦理", WITHDRAWN: "已撤回（權責機關變更）"}
ASSIGNMENT_STATES = Transitions("機關確認", {
    PENDING: {CONFIRMED, DEEMED, DECLINED, WITHDRAWN},  # the agency answers, or the clock decides (R9.2.5)
    DECLINED: {CONFIRMED, WITHDRAWN}, REDIRECTED: {CONFIRMED, WITHDRAWN},  # settled: kept after all (R9.2.5(4))
    CONFIRMED: {WITHDRAWN}, DEEMED: {WITHDRAWN},  # R9.1.3: the team may still change a wrong agency
    WITHDRAWN: {PENDING},  # asked again after a later change
}, STATUS_LABELS)
RESPONSIBLE_STATUSES = {PENDING, CONFIRMED, DEEMED}  # the agency holds (or will hold) the proposal
DOUBT_STATUSES = {DECLINED, REDIRECTED}  # settled by the team and the agency together (R9.2.5(4))
CONFIRMABLE_STATES = {SECONDING, ESTABLISHED}  # passed review, not yet closed



class AgencyAssignment(BaseModel):
    """One agency asked to confirm it is responsible for one proposal (R9.2.5)."""

    proposal = peewee.ForeignKeyField(Proposal, backref="agency_assignments", on_delete="CASCADE")
    agency_code = peewee.CharField(max_length=32, index=True)
    role = peewee.CharField(max_length=8, default=LEAD)  # lead (主辦) | co (協辦)
    status = peewee.CharField(max_length=12, default=PENDING, index=True)
    requested_at = peewee.DateTimeField(default=utcnow)
    requested_by = peewee.CharField(max_length=128, null=True)
    due = peewee.DateField(index=True)  # R9.2.5 last day (Asia/Taipei)
    answered_at = peewee.DateTimeField(null=True)
    answered_by = peewee.CharField(max_length=128, null=True)
    note = peewee.TextField(null=True)
    redirect_agency_code = peewee.CharField(max_length=32, null=True)  # older answers (REDIRECTED)
    # R9.2.5(2): the subordinate agency (附屬機關) that does the work; the agency stays responsible
    handling_unit_code = peewee.CharField(max_length=32, null=True)
    handling_unit_name = peewee.CharField(max_length=100, null=True)  # a unit not on the agency list, as written
    withdrawn_at = peewee.DateTimeField(null=True)  # R9.1.3
    token_nonce = peewee.CharField(max_length=32, default=lambda: secrets.token_urlsafe(12))
    settled_at = peewee.DateTimeField(null=True)  # a decline or redirect, settled with the team
    settled_by = peewee.CharField(max_length=128, null=True)
    settle_note = peewee.TextField(null=True)

    class Meta:
        indexes = ((("proposal", "agency_code"), True),)

    @property
    def agency_name(self) -> str:
        return _agency_name(self.agency_code)

    @property
    def redirect_agency_name(self) -> str:
        return _agency_name(self.redirect_agency_code) if self.redirect_agency_code else ""

    @property
    def handling_unit(self) -> str:
        """The subordinate that does the work, by name ('' when the agency does it itself)."""
        return _agency_name(self.handling_unit_code) if self.handling_unit_code else (self.handling_unit_name or "")

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def needs_settling(self) -> bool:
        return self.status in DOUBT_STATUSES and self.settled_at is None

    def is_overdue(self, today: dt.date) -> bool:
        return self.status == PENDING and self.due < today




def _agency_name(code: str | None) -> str:
    agency = get_agency(code or "")
    return agency.name if agency else (code or "")

# --- reading -----------------------------------------------------------------------------------

def assignments_of(proposal_id: int) -> list[AgencyAssignment]:
    """Every agency asked about this proposal, leads first."""
    return list(AgencyAssignment.select().where(AgencyAssignment.proposal == proposal_id)
                .order_by(AgencyAssignment.role.desc(), AgencyAssignment.id))


def active_assignments(proposal_id: int) -> list[AgencyAssignment]:
    """The agencies that hold or may hold the proposal: not released after a settled doubt, not withdrawn."""
    return [a for a in assignments_of(proposal_id)
            if a.status != WITHDRAWN and not (a.status in DOUBT_STATUSES and a.settled_at)]


def agencies_of(proposal_id: int) -> dict[str, list[str]]:
    """{'lead': [codes], 'co': [codes]} of the agencies now responsible (for public pages and open data)."""
    return agencies_by_proposal([proposal_id])[proposal_id]


def agencies_by_proposal(proposal_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """agencies_of() for many proposals in one query (open data lists every proposal)."""
    result: dict[int, dict[str, list[str]]] = {pid: {LEAD: [], CO: []} for pid in proposal_ids}
    if not proposal_ids:
        return result
    for a in (AgencyAssignment.select(AgencyAssignment.proposal, AgencyAssignment.agency_code, AgencyAssignment.role)
              .where(among(AgencyAssignment.proposal, proposal_ids)
                     & AgencyAssignment.status.in_(list(RESPONSIBLE_STATUSES)))
              .order_by(AgencyAssignment.role.desc(), AgencyAssignment.id)):
        result[a.proposal_id][a.role].append(a.agency_code)
    return result


def _asked():
    """Assignments that count as asked: held, or a doubt still being discussed (not released, not withdrawn)."""
    return (AgencyAssignment.status.in_(list(RESPONSIBLE_STATUSES))
            | (AgencyAssignment.status.in_(list(DOUBT_STATUSES)) & AgencyAssignment.settled_at.is_null()))


def responsible_by_proposal(proposals: list[Proposal]) -> dict[int, dict[str, list[str]]]:
    """{'lead': codes, 'co': codes} per proposal: the agencies holding it (R9.2.5); before any agency was
    asked, the chosen agency as lead. A released or withdrawn agency never comes back by fallback."""
    roles = agencies_by_proposal([p.id for p in proposals])
    ids = [p.id for p in proposals]
    asked = {a.proposal_id for a in AgencyAssignment.select(AgencyAssignment.proposal)
             .where(AgencyAssignment.proposal.in_(ids))} if ids else set()
    for proposal in proposals:
        if proposal.id not in asked and proposal.agency_code:
            roles[proposal.id][LEAD] = [proposal.agency_code]
    return roles


def responsible_roles(proposal: Proposal) -> dict[str, list[str]]:
    """responsible_by_proposal() for one proposal."""
    return responsible_by_proposal([proposal])[proposal.id]


def unasked_proposals():
    """Passed proposals no agency holds or is discussing: never asked, or every agency released or
    withdrawn (R9.2.5(1)); the console home lists them and the team is reminded each working day."""
    asked = AgencyAssignment.select(AgencyAssignment.proposal).where(_asked())
    return (Proposal.select().where(Proposal.state.in_(list(CONFIRMABLE_STATES)) & Proposal.id.not_in(asked))
            .order_by(Proposal.reviewed_at, Proposal.id))


def console_assignments(agency_code: str | None = None) -> list[AgencyAssignment]:
    """The console list: waiting answers by due day, then doubts to settle, then the answered ones."""
    query = AgencyAssignment.select(AgencyAssignment, Proposal).join(Proposal)
    if agency_code is not None:  # None = every agency (ops); "" must match nothing, never everything
        query = query.where(AgencyAssignment.agency_code == agency_code)
    rows = list(query.order_by(AgencyAssignment.due, AgencyAssignment.id))

    def order(a: AgencyAssignment) -> tuple:
        rank = 0 if a.status == PENDING else 1 if a.needs_settling else 2
        answered = -(a.answered_at.timestamp() if a.answered_at else 0)
        return (rank, a.due if rank == 0 else dt.date.min, answered, a.id)

    return sorted(rows, key=order)
