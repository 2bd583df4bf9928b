"""Confirming the responsible agency (R9.2.5): request → answer (or deemed) → doubts settled.

(1) The operations team emails each agency a request with signed links; (2) the agency confirms,
confirms and names its own subordinate agency (附屬機關) that does the work (a handling unit: the
agency stays responsible and coordinates it), or says it is not theirs; (3) with two or more
agencies the team records the lead (主辦) and co-organisers (協辦), and all become leads if still
disputed; (4) no answer within 5 working days (R2.3) means confirmed (`deem_confirmed`, a sweep
step); a doubt (not theirs) opens a joint discussion of the team and the agency
(models.agency_discussion), settled in the console with a recorded outcome.

Every change is a conditional UPDATE on `status`, so an answer, a second answer and the sweep
racing each other change a row once; each writes an audit row on the proposal.
"""
from __future__ import annotations

import datetime as dt
import secrets

from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import calendar, services, settings
from .agencies import get_agency
from .agency_assignments import (
    ASSIGNMENT_STATES,
    CO,
    CONFIRMABLE_STATES,
    CONFIRMED,
    DECLINED,
    DEEMED,
    DOUBT_STATUSES,
    LEAD,
    PENDING,
    REDIRECTED,
    RESPONSIBLE_STATUSES,
    ROLES,
    STATUS_LABELS,
    WITHDRAWN,
    AgencyAssignment,
    active_assignments,
    agencies_by_proposal,
    agencies_of,
    assignments_of,
    console_assignments,
    responsible_roles,
    unasked_proposals,
)
from .agency_confirmation_texts import (
    DEEMED_BODY,
    DEEMED_SUBJECT,
    DISCUSSION_BODY,
    DISCUSSION_SUBJECT,
    DOUBT_BODY,
    DOUBT_SUBJECT,
    ESTABLISHED_NOTE,
    FOOTER,
    HANDLING_BODY,
    HANDLING_SUBJECT,
    MSG,
    REQUEST_BODY,
    REQUEST_SUBJECT,
    UNASKED_BODY,
    UNASKED_SUBJECT,
)
from .base import DomainError, end_of_day_utc, format_taipei, taipei_date, utcnow
from .events import record
from .notify import mail_agency
from .officials import clean_text
from .outbox import Outbox, queue_mail, unit_of_work
from .proposals import ESTABLISHED, REMOVED, Proposal, change_agency, forget_response_reminder, lock
from .response_links import link_text

# The records and the reading side live in models.agency_assignments; these names stay importable here.
__all__ = ["ASSIGNMENT_STATES", "CO", "CONFIRMABLE_STATES", "CONFIRMED", "DECLINED", "DEEMED", "DOUBT_STATUSES",
           "LEAD", "PENDING", "REDIRECTED", "RESPONSIBLE_STATUSES", "ROLES", "STATUS_LABELS", "WITHDRAWN",
           "AgencyAssignment", "active_assignments", "agencies_by_proposal", "agencies_of", "assignments_of",
           "console_assignments", "responsible_roles", "unasked_proposals"]

# The agency's answers (R9.2.5(2)): decision → status. A subordinate is a confirmation with a handling
# unit, never a way out; "redirect" is what links in older emails still send.
DECISIONS = {"confirm": CONFIRMED, "subordinate": CONFIRMED, "decline": DECLINED}
DECISION_ALIASES = {"redirect": "subordinate"}
DECISION_LABELS = {"confirm": "確認為本機關業務", "subordinate": "確認，由本機關所屬（附屬）機關承辦並由本機關督導",
                   "decline": "有疑義：非本機關業務（與營運小組共同研商）", "redirect": "應由所屬（下級）機關辦理"}
SETTLE_OUTCOMES = {"keep": "協調後由該機關辦理", "release": "協調後不由該機關辦理（另請其他機關）"}

TOKEN_SALT = "agency-answer"
LINK_GRACE_DAYS = 7  # a link still opens (to show the outcome) this long after the due day
NOTE_MAX = 1000
UNIT_MAX = 100


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
    if assignment.status == WITHDRAWN and secrets.compare_digest(str(nonce), assignment.token_nonce):
        raise DomainError(MSG["withdrawn_token"].format(when=format_taipei(assignment.withdrawn_at)), "expired_token")
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
    forget_response_reminder(proposal.id)  # a new lead of an established proposal is reminded too (R9.4.4)
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
            if code in existing and existing[code].status != WITHDRAWN:
                raise DomainError(MSG["already_asked"].format(name=agencies[code].name), "already_asked")
        combined = {a.agency_code: a.role for a in active_assignments(proposal.id)} | wanted
        _check_roles(combined, exactly_one_lead=False)
        due = due_for(now)
        created = []
        for code, role in wanted.items():
            assignment = _ask(proposal, code, role, existing.get(code), actor, due, now)
            record(actor, "agency_confirmation_requested", "proposal", proposal.id,
                   detail={"assignment": assignment.id, "agency": code, "role": role, "due": due.isoformat()}, now=now)
            _mail_request(assignment, proposal, agencies[code], base_url, secret_key, now)
            created.append(assignment)
        _sync_lead(proposal, actor, now)
    return created


def _ask(proposal: Proposal, code: str, role: str, withdrawn: AgencyAssignment | None, actor: str, due: dt.date,
         now: dt.datetime) -> AgencyAssignment:
    """A new assignment, or one withdrawn earlier asked again (fresh clock, answer and link)."""
    if withdrawn is None:
        return AgencyAssignment.create(proposal=proposal.id, agency_code=code, role=role, requested_at=now,
                                       requested_by=actor, due=due)
    ASSIGNMENT_STATES.move(AgencyAssignment, AgencyAssignment.id == withdrawn.id, PENDING, from_states=[WITHDRAWN],
                           role=role, requested_at=now, requested_by=actor, due=due, answered_at=None,
                           answered_by=None, note=None, redirect_agency_code=None, handling_unit_code=None,
                           handling_unit_name=None, settled_at=None, settled_by=None, settle_note=None,
                           withdrawn_at=None, token_nonce=secrets.token_urlsafe(12))
    return _get(withdrawn.id)


def _mail_request(assignment: AgencyAssignment, proposal: Proposal, agency, base_url: str,
                  secret_key: str | None, now: dt.datetime) -> None:
    link = f"{base_url}/agency/answer/{answer_token(assignment, secret_key)}"

    def body(address: str) -> str:
        established = ""
        if proposal.state == ESTABLISHED and proposal.response_due:  # asked after the notice (R9.1.3): it may respond
            due = proposal.response_extended_due or proposal.response_due
            established = ESTABLISHED_NOTE.format(due=f"{due:%Y-%m-%d}",
                                                  respond=link_text(proposal.id, agency.code, address))
        return REQUEST_BODY.format(agency=agency.name, number=proposal.number, title=proposal.title,
                                   role=assignment.role_label, scope=proposal.scope_label, content=proposal.content or "",
                                   due=f"{assignment.due:%Y-%m-%d}", link=link, established=established) + FOOTER

    mail_agency(agency, REQUEST_SUBJECT.format(number=proposal.number, title=proposal.title), body,
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
        forget_response_reminder(proposal.id)
        record(actor, "agency_roles_disputed", "proposal", proposal.id,
               detail={"leads": [a.agency_code for a in current]}, now=now)
    return active_assignments(proposal_id)


# --- the agency: answer (R9.2.5(2)) -----------------------------------------------------------

def _refusal(assignment: AgencyAssignment) -> DomainError:
    if assignment.status == DEEMED:
        return DomainError(MSG["deemed"].format(agency=assignment.agency_name, due=f"{assignment.due:%Y-%m-%d}"),
                           "already_answered")
    return DomainError(MSG["answered"].format(agency=assignment.agency_name, when=format_taipei(assignment.answered_at),
                                              status=assignment.status_label), "already_answered")


def _handling_unit(assignment: AgencyAssignment, unit_code: str | None, unit_name: str) -> tuple[str | None, str]:
    """R9.2.5(2): the agency's own subordinate (by code, from its list) or a unit named as written."""
    if unit_code:
        target = get_agency(unit_code)
        if target is None or not target.active or target.parent_code != assignment.agency_code:
            name = target.name if target else unit_code[:40]
            raise DomainError(MSG["not_subordinate"].format(unit=name, agency=assignment.agency_name), "not_subordinate")
        return target.code, ""
    unit_name = (unit_name or "").strip()
    if not unit_name:
        raise DomainError(MSG["unit_required"], "unit_required")
    return None, clean_text(unit_name, field="承辦單位", max_len=UNIT_MAX, min_len=2)


def answer(assignment_id: int, by: str, decision: str, note: str = "", handling_unit_code: str | None = None,
           now: dt.datetime | None = None, *, handling_unit_name: str = "") -> AgencyAssignment:
    """R9.2.5(2): the agency confirms (itself, or naming its own subordinate as the handling unit) or
    raises a doubt with its reasons; once only."""
    now = now or utcnow()
    decision = DECISION_ALIASES.get(decision, decision)
    if decision not in DECISIONS:
        raise DomainError(MSG["bad_decision"], "bad_decision")
    note = _clean_note(note)
    assignment = _get(assignment_id)
    unit_code, unit_name = None, ""
    if decision == "decline" and not note:
        raise DomainError(MSG["decline_reason"], "reason_required")
    if decision == "subordinate":
        unit_code, unit_name = _handling_unit(assignment, handling_unit_code, handling_unit_name or "")
    if assignment.status == PENDING and taipei_date(now) > assignment.due:
        deem(assignment.id, now)  # too late: the clock already decided (R9.2.5(4))
        raise _refusal(_get(assignment_id))
    status = DECISIONS[decision]
    with unit_of_work():
        updated = ASSIGNMENT_STATES.move(AgencyAssignment, AgencyAssignment.id == assignment.id, status,
                                         from_states=[PENDING], answered_at=now, answered_by=by[:128],
                                         note=note or None, handling_unit_code=unit_code,
                                         handling_unit_name=unit_name or None)
        if not updated:
            raise _refusal(_get(assignment_id))
        assignment = _get(assignment_id)
        record(by[:128], "agency_answered", "proposal", assignment.proposal_id, reason=note or None,
               detail={"assignment": assignment.id, "agency": assignment.agency_code, "decision": decision,
                       **({"handling_unit": assignment.handling_unit} if decision == "subordinate" else {})}, now=now)
        if status in DOUBT_STATUSES:
            _mail_doubt(assignment, decision, now)
        elif unit_code:
            _mail_handling_unit(assignment, now)
    return assignment


def _mail_handling_unit(assignment: AgencyAssignment, now: dt.datetime) -> None:
    """The subordinate hears that it does the work, coordinated by its agency (R9.2.5(2))."""
    unit = get_agency(assignment.handling_unit_code or "")
    if unit is None or not unit.contact_email:
        return
    proposal = assignment.proposal
    mail_agency(unit, HANDLING_SUBJECT.format(number=proposal.number),
                HANDLING_BODY.format(unit=unit.name, agency=assignment.agency_name, number=proposal.number,
                                     title=proposal.title, role=assignment.role_label) + FOOTER,
                dedupe_key=f"agency-assignment:{assignment.id}:handling-unit:{unit.code}", now=now)


def _mail_doubt(assignment: AgencyAssignment, decision: str, now: dt.datetime) -> None:
    """如有疑義 (R9.2.5(4)): a joint discussion opens; the team and the agency both hear of it."""
    proposal = assignment.proposal
    detail = f"說明：{assignment.note}" if assignment.note else ""
    queue_mail(settings.OPS_NOTIFY_EMAIL, DOUBT_SUBJECT.format(number=proposal.number),
               DOUBT_BODY.format(agency=assignment.agency_name, number=proposal.number, title=proposal.title,
                                 decision=DECISION_LABELS[decision], detail=detail) + FOOTER,
               dedupe_key=f"agency-assignment:{assignment.id}:doubt", now=now)
    agency = get_agency(assignment.agency_code)
    if agency is not None and agency.contact_email:
        mail_agency(agency, DISCUSSION_SUBJECT.format(number=proposal.number),
                    DISCUSSION_BODY.format(agency=agency.name, number=proposal.number, title=proposal.title,
                                           detail=detail, ops=settings.OPS_NOTIFY_EMAIL) + FOOTER,
                    dedupe_key=f"agency-assignment:{assignment.id}:discussion-opened", now=now)


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






def remind_unasked(now: dt.datetime) -> int:
    """Sweep step (R9.2.5(1)): each working day, one email to the team listing the passed proposals no
    agency has been asked about (or all were released or withdrawn). Returns 1 when it was queued."""
    today = taipei_date(now)
    key = f"agency-confirmation:unasked:{today:%Y%m%d}"
    if not calendar.is_working_day(today) or Outbox.select().where(Outbox.dedupe_key == key).exists():
        return 0  # sent today already: the other 1,439 sweeps of the day read no proposal (issue 13)
    waiting = list(unasked_proposals())
    if not waiting:
        return 0
    lines = "\n".join(f"- 提案{p.number}「{p.title}」（{p.state_label}）" for p in waiting)
    with unit_of_work():
        queued = queue_mail(settings.OPS_NOTIFY_EMAIL, UNASKED_SUBJECT.format(count=len(waiting)),
                            UNASKED_BODY.format(count=len(waiting), lines=lines) + FOOTER,
                            dedupe_key=key, now=now)
    return 1 if queued else 0
