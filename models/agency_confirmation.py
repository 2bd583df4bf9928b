"""Confirming the responsible agency (R9.2.5): request → answer (or deemed) → doubts settled.

(1) The operations team emails each agency a request with signed links; (2) the agency confirms,
says it is not theirs, or names the subordinate agency that owns the business; (3) with two or more
agencies the team records the lead (主辦) and co-organisers (協辦), and all become leads if still
disputed; (4) no answer within 5 working days (R2.3) means confirmed (`deem_confirmed`, a sweep
step); a decline or a redirect waits in the console until the team and the agency settle it.

Every change is a conditional UPDATE on `status`, so an answer, a second answer and the sweep
racing each other change a row once; each writes an audit row on the proposal.
"""
from __future__ import annotations

import datetime as dt
import secrets

import peewee
from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import calendar, services, settings
from .agencies import get_agency
from .agency_confirmation_texts import (
    DEEMED_BODY,
    DEEMED_SUBJECT,
    DOUBT_BODY,
    DOUBT_SUBJECT,
    FOOTER,
    MSG,
    REQUEST_BODY,
    REQUEST_SUBJECT,
)
from .base import BaseModel, DomainError, end_of_day_utc, format_taipei, taipei_date, utcnow
from .events import record
from .notify import mail_agency
from .officials import clean_text
from .outbox import queue_mail, unit_of_work
from .proposals import ESTABLISHED, REMOVED, SECONDING, Proposal, change_agency, lock
from .states import Transitions

LEAD = "lead"
CO = "co"
ROLES = {LEAD: "主辦", CO: "協辦"}

PENDING = "pending"
CONFIRMED = "confirmed"
DEEMED = "deemed"
DECLINED = "declined"
REDIRECTED = "redirected"
STATUS_LABELS = {PENDING: "待回覆", CONFIRMED: "已確認", DEEMED: "逾期視為確認", DECLINED: "非本機關業務",
                 REDIRECTED: "應由所屬機關辦理"}
ASSIGNMENT_STATES = Transitions("機關確認", {
    PENDING: {CONFIRMED, DEEMED, DECLINED, REDIRECTED},  # the agency answers, or the clock decides (R9.2.5)
    DECLINED: {CONFIRMED}, REDIRECTED: {CONFIRMED},  # settled: the agency keeps it after all (R9.2.5(4))
    CONFIRMED: set(), DEEMED: set(),
}, STATUS_LABELS)
RESPONSIBLE_STATUSES = {PENDING, CONFIRMED, DEEMED}  # the agency holds (or will hold) the proposal
DOUBT_STATUSES = {DECLINED, REDIRECTED}  # settled by the team and the agency together (R9.2.5(4))

# The agency's answers: decision → status.
DECISIONS = {"confirm": CONFIRMED, "decline": DECLINED, "redirect": REDIRECTED}
DECISION_LABELS = {"confirm": "確認為本機關業務", "decline": "非本機關業務",
                   "redirect": "應由所屬（下級）機關辦理"}
SETTLE_OUTCOMES = {"keep": "協調後由該機關辦理", "release": "協調後不由該機關辦理"}

CONFIRMABLE_STATES = {SECONDING, ESTABLISHED}  # passed review, not yet closed
TOKEN_SALT = "agency-answer"
LINK_GRACE_DAYS = 7  # a link still opens (to show the outcome) this long after the due day
NOTE_MAX = 1000



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
    redirect_agency_code = peewee.CharField(max_length=32, null=True)
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


def due_for(requested_at: dt.datetime) -> dt.date:
    """R9.2.5: 5 working days from the Taipei day of the email to the agency."""
    return calendar.due_date("R9.2.5", taipei_date(requested_at))


def _get(assignment_id: int) -> AgencyAssignment:
    assignment = AgencyAssignment.get_or_none(AgencyAssignment.id == assignment_id)
    if assignment is None:
        raise DomainError(MSG["not_found"], "not_found")
    return assignment


def _clean_note(note: str | None, field: str = "說明") -> str:
    note = (note or "").strip()
    return clean_text(note, field=field, max_len=NOTE_MAX, min_len=2, multiline=True) if note else ""


# --- signed links -----------------------------------------------------------------------------

def _serializer(secret_key: str | None) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key or services.secret_key(), salt=TOKEN_SALT)


def answer_token(assignment: AgencyAssignment, secret_key: str | None = None) -> str:
    """The signed (assignment id, nonce) in the agency's links."""
    return _serializer(secret_key).dumps([assignment.id, assignment.token_nonce])


def link_valid_until(assignment: AgencyAssignment) -> dt.datetime:
    return end_of_day_utc(assignment.due + dt.timedelta(days=LINK_GRACE_DAYS))


def assignment_for_token(token: str, now: dt.datetime | None = None, secret_key: str | None = None) -> AgencyAssignment:
    """The assignment a link is for; DomainError 'bad_token' (forged) or 'expired_token' (too old, replaced)."""
    now = now or utcnow()
    try:
        assignment_id, nonce = _serializer(secret_key).loads(token)
        assignment = AgencyAssignment.get_or_none(AgencyAssignment.id == int(assignment_id))
    except (BadSignature, TypeError, ValueError):
        raise DomainError(MSG["bad_token"], "bad_token") from None
    if assignment is None:
        raise DomainError(MSG["bad_token"], "bad_token")
    if not secrets.compare_digest(str(nonce), assignment.token_nonce):
        raise DomainError(MSG["replaced_token"], "expired_token")
    if now > link_valid_until(assignment):
        until = format_taipei(link_valid_until(assignment), "%Y-%m-%d")
        raise DomainError(MSG["expired_token"].format(until=until), "expired_token")
    return assignment


# --- the operations team: request, roles, settling (R9.2.5(1), (3), (4)) ----------------------

def _check_roles(roles: dict[str, str], *, exactly_one_lead: bool) -> None:
    if any(role not in ROLES for role in roles.values()):
        raise DomainError(MSG["bad_role"], "bad_role")
    leads = sum(1 for role in roles.values() if role == LEAD)
    if leads == 0:
        raise DomainError(MSG["need_lead"], "need_lead")
    if exactly_one_lead and len(roles) > 1 and leads != 1:
        raise DomainError(MSG["one_lead"], "one_lead")


def _sync_lead(proposal: Proposal, actor: str, now: dt.datetime) -> None:
    """The proposal's responsible agency follows a single lead (R9.1.3)."""
    leads = [a.agency_code for a in active_assignments(proposal.id) if a.role == LEAD]
    if len(leads) == 1 and leads[0] != proposal.agency_code:
        change_agency(proposal.id, actor, leads[0], reason="權責機關確認：主辦機關", now=now)


def request_confirmation(proposal_id: int, actor: str, assignments: list[tuple[str, str]],
                         now: dt.datetime | None = None, *, base_url: str = "",
                         secret_key: str | None = None) -> list[AgencyAssignment]:
    """R9.2.5(1): email each agency a request with signed links; its 5-working-day clock starts now."""
    now = now or utcnow()
    if not assignments:
        raise DomainError(MSG["no_agencies"], "no_agencies")
    wanted: dict[str, str] = {}
    agencies = {}
    for code, role in assignments:
        agency = get_agency(code)
        if agency is None or not agency.active:
            raise DomainError(MSG["bad_agency"].format(code=(code or "")[:40]), "bad_agency")
        if not agency.contact_email:
            raise DomainError(MSG["no_contact"].format(name=agency.name), "no_contact")
        if agency.code in wanted:
            raise DomainError(MSG["twice"].format(name=agency.name), "duplicate_agency")
        wanted[agency.code], agencies[agency.code] = role, agency
    with unit_of_work():
        proposal = lock(proposal_id)
        if proposal.state not in CONFIRMABLE_STATES:
            raise DomainError(MSG["bad_state"].format(state=proposal.state_label), "bad_state")
        existing = {a.agency_code: a for a in AgencyAssignment.select().where(AgencyAssignment.proposal == proposal.id)}
        for code in wanted:
            if code in existing:
                raise DomainError(MSG["already_asked"].format(name=agencies[code].name), "already_asked")
        combined = {a.agency_code: a.role for a in active_assignments(proposal.id)} | wanted
        _check_roles(combined, exactly_one_lead=False)
        due = due_for(now)
        created = []
        for code, role in wanted.items():
            assignment = AgencyAssignment.create(proposal=proposal.id, agency_code=code, role=role, requested_at=now,
                                                 requested_by=actor, due=due)
            record(actor, "agency_confirmation_requested", "proposal", proposal.id,
                   detail={"assignment": assignment.id, "agency": code, "role": role, "due": due.isoformat()}, now=now)
            _mail_request(assignment, proposal, agencies[code], base_url, secret_key, now)
            created.append(assignment)
        _sync_lead(proposal, actor, now)
    return created


def _mail_request(assignment: AgencyAssignment, proposal: Proposal, agency, base_url: str,
                  secret_key: str | None, now: dt.datetime) -> None:
    link = f"{base_url}/agency/answer/{answer_token(assignment, secret_key)}"
    body = REQUEST_BODY.format(agency=agency.name, number=proposal.number, title=proposal.title,
                               role=assignment.role_label, scope=proposal.scope_label, content=proposal.content or "",
                               due=f"{assignment.due:%Y-%m-%d}", link=link)
    mail_agency(agency, REQUEST_SUBJECT.format(number=proposal.number, title=proposal.title), body + FOOTER,
                dedupe_key=f"agency-assignment:{assignment.id}:request:{assignment.token_nonce}", now=now)


def set_roles(proposal_id: int, actor: str, roles: dict[str, str], now: dt.datetime | None = None) -> list[AgencyAssignment]:
    """R9.2.5(3): the team records the coordinated lead (主辦) and co-organisers (協辦)."""
    now = now or utcnow()
    with unit_of_work():
        proposal = lock(proposal_id)
        current = {a.agency_code: a for a in active_assignments(proposal.id)}
        if not current:
            raise DomainError(MSG["no_roles"], "no_roles")
        roles = {code.strip().upper(): role for code, role in roles.items()}
        unknown = [code for code in roles if code not in current]
        if unknown:
            raise DomainError(MSG["bad_agency"].format(code=unknown[0][:40]), "bad_agency")
        merged = {code: roles.get(code, a.role) for code, a in current.items()}
        _check_roles(merged, exactly_one_lead=True)
        for code, role in merged.items():
            AgencyAssignment.update(role=role).where(AgencyAssignment.id == current[code].id).execute()
        record(actor, "agency_roles_set", "proposal", proposal.id, detail={"roles": merged}, now=now)
        _sync_lead(proposal, actor, now)
    return active_assignments(proposal_id)


def mark_disputed(proposal_id: int, actor: str, now: dt.datetime | None = None) -> list[AgencyAssignment]:
    """R9.2.5(3): still disputed after coordination → every agency is a lead."""
    now = now or utcnow()
    with unit_of_work():
        proposal = lock(proposal_id)
        current = active_assignments(proposal.id)
        if not current:
            raise DomainError(MSG["no_roles"], "no_roles")
        AgencyAssignment.update(role=LEAD).where(AgencyAssignment.id.in_([a.id for a in current])).execute()
        record(actor, "agency_roles_disputed", "proposal", proposal.id,
               detail={"leads": [a.agency_code for a in current]}, now=now)
    return active_assignments(proposal_id)


def settle(assignment_id: int, actor: str, outcome: str, note: str, now: dt.datetime | None = None) -> AgencyAssignment:
    """R9.2.5(4): a decline or redirect settled by the team and the agency together.

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
        changes = {"settled_at": now, "settled_by": actor, "settle_note": note}
        unsettled_doubt = (AgencyAssignment.id == assignment.id) & AgencyAssignment.settled_at.is_null()
        if outcome == "keep":
            updated = ASSIGNMENT_STATES.move(AgencyAssignment, unsettled_doubt, CONFIRMED, from_states=DOUBT_STATUSES,
                                             **changes)
        else:  # released: the status stays the agency's answer; the team asks another agency
            updated = (AgencyAssignment.update(**changes)
                       .where(unsettled_doubt & AgencyAssignment.status.in_(DOUBT_STATUSES)).execute())
        if not updated:
            fresh = _get(assignment_id)
            if fresh.settled_at:
                raise DomainError(MSG["settled"].format(when=format_taipei(fresh.settled_at)), "settled")
            raise DomainError(MSG["not_doubt"], "not_doubt")
        record(actor, "agency_doubt_settled", "proposal", assignment.proposal_id, reason=note,
               detail={"assignment": assignment.id, "agency": assignment.agency_code, "outcome": outcome}, now=now)
    return _get(assignment_id)


# --- the agency: answer (R9.2.5(2)) -----------------------------------------------------------

def _refusal(assignment: AgencyAssignment) -> DomainError:
    if assignment.status == DEEMED:
        return DomainError(MSG["deemed"].format(agency=assignment.agency_name, due=f"{assignment.due:%Y-%m-%d}"),
                           "already_answered")
    return DomainError(MSG["answered"].format(agency=assignment.agency_name, when=format_taipei(assignment.answered_at),
                                              status=assignment.status_label), "already_answered")


def answer(assignment_id: int, by: str, decision: str, note: str = "", redirect_agency_code: str | None = None,
           now: dt.datetime | None = None) -> AgencyAssignment:
    """R9.2.5(2): the agency confirms, declines, or names the subordinate agency; once only."""
    now = now or utcnow()
    if decision not in DECISIONS:
        raise DomainError(MSG["bad_decision"], "bad_decision")
    note = _clean_note(note)
    assignment = _get(assignment_id)
    redirect_code = None
    if decision == "decline" and not note:
        raise DomainError(MSG["decline_reason"], "reason_required")
    if decision == "redirect":
        if redirect_agency_code:
            target = get_agency(redirect_agency_code)
            if target is None or not target.active:
                raise DomainError(MSG["bad_agency"].format(code=redirect_agency_code[:40]), "bad_agency")
            if target.code == assignment.agency_code:
                raise DomainError(MSG["redirect_self"], "redirect_self")
            redirect_code = target.code
        elif not note:
            raise DomainError(MSG["redirect_target"], "redirect_target")
    if assignment.status == PENDING and taipei_date(now) > assignment.due:
        deem(assignment.id, now)  # too late: the clock already decided (R9.2.5(4))
        raise _refusal(_get(assignment_id))
    status = DECISIONS[decision]
    with unit_of_work():
        updated = ASSIGNMENT_STATES.move(AgencyAssignment, AgencyAssignment.id == assignment.id, status,
                                         from_states=[PENDING], answered_at=now, answered_by=by[:128],
                                         note=note or None, redirect_agency_code=redirect_code)
        if not updated:
            raise _refusal(_get(assignment_id))
        assignment = _get(assignment_id)
        record(by[:128], "agency_answered", "proposal", assignment.proposal_id, reason=note or None,
               detail={"assignment": assignment.id, "agency": assignment.agency_code, "decision": decision,
                       "redirect_to": redirect_code}, now=now)
        if status in DOUBT_STATUSES:
            _mail_doubt(assignment, decision, now)
    return assignment


def _mail_doubt(assignment: AgencyAssignment, decision: str, now: dt.datetime) -> None:
    proposal = assignment.proposal
    detail = []
    if assignment.redirect_agency_code:
        detail.append(f"所屬機關：{assignment.redirect_agency_name}")
    if assignment.note:
        detail.append(f"說明：{assignment.note}")
    queue_mail(settings.OPS_NOTIFY_EMAIL, DOUBT_SUBJECT.format(number=proposal.number),
               DOUBT_BODY.format(agency=assignment.agency_name, number=proposal.number, title=proposal.title,
                                 decision=DECISION_LABELS[decision], detail="\n".join(detail)) + FOOTER,
               dedupe_key=f"agency-assignment:{assignment.id}:doubt", now=now)


# --- the clock (R9.2.5(4), R2.3) --------------------------------------------------------------

def deem(assignment_id: int, now: dt.datetime, actor: str = "system:sweep") -> bool:
    """One pending assignment past its last day becomes 'deemed' (once, however many callers race)."""
    with unit_of_work():
        claimed = ASSIGNMENT_STATES.move(
            AgencyAssignment, (AgencyAssignment.id == assignment_id) & (AgencyAssignment.due < taipei_date(now)),
            DEEMED, answered_at=now, answered_by=actor)
        if not claimed:
            return False
        assignment = _get(assignment_id)
        proposal = assignment.proposal
        record(actor, "agency_deemed_confirmed", "proposal", proposal.id,
               detail={"assignment": assignment.id, "agency": assignment.agency_code, "due": assignment.due.isoformat()},
               now=now)
        agency = get_agency(assignment.agency_code)
        if agency and agency.contact_email:
            mail_agency(agency, DEEMED_SUBJECT.format(number=proposal.number),
                        DEEMED_BODY.format(agency=agency.name, number=proposal.number, title=proposal.title,
                                           due=f"{assignment.due:%Y-%m-%d}", role=assignment.role_label) + FOOTER,
                        dedupe_key=f"agency-assignment:{assignment.id}:deemed", now=now)
    return True


def deem_confirmed(now: dt.datetime) -> int:
    """Sweep step: no answer by the end of the 5th working day → confirmed (R9.2.5(4)).

    Not for a removed proposal (R7): its agencies were told there is nothing left to confirm."""
    today = taipei_date(now)
    overdue = (AgencyAssignment.select(AgencyAssignment.id).join(Proposal)
               .where((AgencyAssignment.status == PENDING) & (AgencyAssignment.due < today)
                      & (Proposal.state != REMOVED)))
    return sum(1 for row in overdue if deem(row.id, now))


def recompute_due(now: dt.datetime) -> None:
    """A calendar override counts at once for every open clock (R2.3): pending assignments not yet expired as of `now`."""
    today = taipei_date(now)
    for assignment in AgencyAssignment.select().where(AgencyAssignment.status == PENDING):
        due = due_for(assignment.requested_at)
        if due != assignment.due and assignment.due >= today:
            AgencyAssignment.update(due=due).where(AgencyAssignment.id == assignment.id).execute()




# --- reading -----------------------------------------------------------------------------------

def assignments_of(proposal_id: int) -> list[AgencyAssignment]:
    """Every agency asked about this proposal, leads first."""
    return list(AgencyAssignment.select().where(AgencyAssignment.proposal == proposal_id)
                .order_by(AgencyAssignment.role.desc(), AgencyAssignment.id))


def active_assignments(proposal_id: int) -> list[AgencyAssignment]:
    """The agencies that hold or may hold the proposal: not released after a settled doubt."""
    return [a for a in assignments_of(proposal_id) if not (a.status in DOUBT_STATUSES and a.settled_at)]


def agencies_of(proposal_id: int) -> dict[str, list[str]]:
    """{'lead': [codes], 'co': [codes]} of the agencies now responsible (for public pages and open data)."""
    return agencies_by_proposal([proposal_id])[proposal_id]


def agencies_by_proposal(proposal_ids: list[int]) -> dict[int, dict[str, list[str]]]:
    """agencies_of() for many proposals in one query (open data lists every proposal)."""
    result: dict[int, dict[str, list[str]]] = {pid: {LEAD: [], CO: []} for pid in proposal_ids}
    if not proposal_ids:
        return result
    for a in (AgencyAssignment.select(AgencyAssignment.proposal, AgencyAssignment.agency_code, AgencyAssignment.role)
              .where(AgencyAssignment.proposal.in_(list(proposal_ids))
                     & AgencyAssignment.status.in_(list(RESPONSIBLE_STATUSES)))
              .order_by(AgencyAssignment.role.desc(), AgencyAssignment.id)):
        result[a.proposal_id][a.role].append(a.agency_code)
    return result


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
