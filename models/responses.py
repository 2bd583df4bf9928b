"""Agency responses to established proposals (R9.4): the records, who acts, and the response clock.

- **R9.4.1–R9.4.3** Merging, meetings and publishing the response are in models.response_publishing,
  which builds on the records, reading and guards here.
- **R9.4.4** `response_due` is set by the establishment notice (models.seconds, R9.3.3) as
  `calendar.due_date("R9.4.4", notice day)`. It may be extended once, before it expires, by at most
  one month added to that last day (`calendar.extension_due`), with a published reason
  (`extend_deadline`). The sweep's reminders and the calendar recomputation are in
  models.response_clock.

Who acts: the staff of a lead agency (主辦) or the operations team. Co-organisers (協辦) see the
proposal and its response in the console but do not act for it (R9.2.5(3)).
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar, settings
from .agencies import get_agency
from .agency_assignments import CO, LEAD, RESPONSIBLE_STATUSES, AgencyAssignment, responsible_roles
from .base import BaseModel, DomainError, end_of_day_utc, format_taipei, utcnow
from .events import record
from .notify import notify_official, public_base_url
from .officials import clean_text
from .outbox import unit_of_work
from .proposals import ESTABLISHED, RESPONDED, Proposal, lock, proposal_link
from .recognition import proposers_of
from .staff import Staff

ADOPT, PARTIAL, REJECT = "adopt", "partial", "reject"
DECISIONS = {ADOPT: "同意參採", PARTIAL: "部分參採", REJECT: "不予採納"}  # R9.4.3
ADOPTED_DECISIONS = (ADOPT, PARTIAL)
REASONS_MIN, REASONS_MAX = 20, 6000  # "with reasons": a sentence or two at least
PLAN_MIN, PLAN_MAX = 10, 6000
EXTENSION_REASON_MIN, EXTENSION_REASON_MAX = 10, 1000
MERGE_REASON_MIN, MERGE_REASON_MAX = 4, 1000
MEETING_PLACE_MAX, MEETING_TEXT_MAX = 200, 4000

MSG = {
    "forbidden": "只有主辦機關的承辦同仁或營運小組可以處理這個提案的回應。",
    "not_established": "提案目前為「{state}」，只有已成案、尚未回應的提案可以辦理。",
    "not_notified": "提案尚未發出成案通知（第九點（三）3），回應期限尚未起算。",
    "already": "提案{number}已於 {when} 公開回應（{decision}），不能再次回應。",
    "already_lead": "{agency}已於 {when} 公開本提案的回應（{decision}），同一主辦機關不能再次回應（第九點（四）3）。",
    "choose_lead": "本提案有多個主辦機關，各自回應（第九點（二）5（3））：請選擇代哪一個主辦機關公開回應。",
    "not_lead": "「{agency}」不是本提案尚未回應的主辦機關。",
    "merged": "提案{number}已併入提案{main}一併研議，請在主案辦理（第九點（四）1）。",
    "extended": "提案{number}已於 {when} 延長回應期限至 {due}；依規定只能延長一次（第九點（四）4）。",
    "expired": "回應期限已於 {due} 屆滿，不能再延長；延長須在期限屆滿前為之（第九點（四）4）。",
}

SUBJECTS = {
    "extended": "【政策參與平臺】提案回應期限延長：{title}",
    "due_soon": "【政策參與平臺】提案回應期限將屆（{due}）：提案{number}",
    "overdue": "【政策參與平臺】提案回應已逾期（{due}）：提案{number}",
}
BODIES = {
    "extended": ("您的提案{number}「{title}」，權責機關已將回應期限由 {original} 延長至 {due}（第九點（四）4，以一次為限）。\n"
                 "延長理由：{reason}\n提案頁面：{link}"),
    "due_soon": ("{agency} 承辦同仁您好：\n\n提案{number}「{title}」的回應期限為 {due}（第九點（四）4），"
                 "尚未於平臺公開回應。{merged}請於期限前至工作臺「機關回應」公開回應"
                 "（同意參採、部分參採或不予採納，並敘明理由）；如需延長，得於期限屆滿前延長一次，以 {response_extension}為限，並公開理由。\n"
                 "{console}\n"),
    "overdue": ("{agency} 承辦同仁您好：\n\n提案{number}「{title}」的回應期限已於 {due} 屆滿（第九點（四）4），"
                "尚未於平臺公開回應。{merged}請儘速至工作臺「機關回應」辦理。\n{console}\n"),
    "overdue_ops": ("提案{number}「{title}」的回應期限已於 {due} 屆滿（第九點（四）4），主辦機關（{agency}）尚未公開回應。"
                    "{merged}請協助督促。\n{console}\n"),
    "footer": "\n臺中市政府公務人員政策參與平臺\n（本郵件由系統發送）",
}
BODIES = {key: settings.fill(text) for key, text in BODIES.items()}


class AgencyResponse(BaseModel):
    """One lead agency's published response to an established proposal (R9.4.3); never changed.

    One per (proposal, lead agency): with several leads each answers for itself (R9.2.5(3)), and the
    proposal is `responded` once every lead has published."""

    proposal = peewee.ForeignKeyField(Proposal, backref="agency_responses", on_delete="RESTRICT")
    decision = peewee.CharField(max_length=8, constraints=[peewee.Check("decision IN ('adopt', 'partial', 'reject')")])
    reasons = peewee.TextField()
    plan = peewee.TextField(null=True)  # R9.4.2 the concrete plan
    agency_code = peewee.CharField(max_length=32)
    responded_by = peewee.CharField(max_length=128)  # actor, e.g. "staff:3"
    published_at = peewee.DateTimeField()
    main_proposal = peewee.ForeignKeyField(Proposal, null=True, backref="+", on_delete="RESTRICT")  # given via a merge

    class Meta:
        indexes = ((("proposal", "agency_code"), True),)

    @property
    def decision_label(self) -> str:
        return DECISIONS.get(self.decision, self.decision)

    @property
    def agency_name(self) -> str:
        return agency_name(self.agency_code)


class Extension(BaseModel):
    """The one extension of a response clock (R9.4.4); its reason is published."""

    proposal = peewee.ForeignKeyField(Proposal, unique=True, backref="response_extensions", on_delete="CASCADE")
    original_due = peewee.DateField()
    new_due = peewee.DateField()
    reason = peewee.TextField()
    agency_code = peewee.CharField(max_length=32, null=True)
    granted_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)


class Meeting(BaseModel):
    """A meeting the agency calls with the proposer and other agencies (R9.4.2).

    Public: the date and, once held, the summary. Not public: place and participants.
    """

    proposal = peewee.ForeignKeyField(Proposal, backref="response_meetings", on_delete="CASCADE")
    held_on = peewee.DateField()
    place = peewee.CharField(max_length=MEETING_PLACE_MAX)  # time and place, as the agency writes it
    participants = peewee.TextField()
    summary = peewee.TextField(null=True)
    agency_code = peewee.CharField(max_length=32, null=True)
    scheduled_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)
    summarised_by = peewee.CharField(max_length=128, null=True)
    summarised_at = peewee.DateTimeField(null=True)


class ResponseMerge(BaseModel):
    """R9.4.1: `proposal` is answered together with `into_proposal` (the main one)."""

    proposal = peewee.ForeignKeyField(Proposal, unique=True, backref="response_merges", on_delete="CASCADE")
    into_proposal = peewee.ForeignKeyField(Proposal, backref="response_members", on_delete="CASCADE")
    reason = peewee.TextField()
    agency_code = peewee.CharField(max_length=32, null=True)
    merged_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)


# publish_response writes the consent requests of R11 in its transaction, so their table comes with ours.


# --- reading --------------------------------------------------------------------------------------

def agency_name(code: str | None) -> str:
    agency = get_agency(code or "")
    return agency.name if agency else (code or "")


def responsible_agencies(proposal: Proposal) -> dict[str, list[str]]:
    """{'lead': codes, 'co': codes}: the agencies holding it (R9.2.5; never a released or withdrawn one)."""
    return responsible_roles(proposal)


def role_of(staff: Staff | None, proposal: Proposal) -> str | None:
    """'ops', 'lead', 'co' or None: what this staff member is for this proposal's response."""
    if staff is None or not staff.is_active:
        return None
    if staff.is_ops:
        return "ops"
    agencies = responsible_agencies(proposal)
    if staff.agency_code in agencies[LEAD]:
        return LEAD
    if staff.agency_code in agencies[CO]:
        return CO
    return None


def effective_due(proposal: Proposal) -> dt.date | None:
    """The last day the response is due: the extended one if there is one (R9.4.4)."""
    return proposal.response_extended_due or proposal.response_due


def is_overdue(proposal: Proposal, today: dt.date) -> bool:
    due = effective_due(proposal)
    return proposal.state == ESTABLISHED and due is not None and due < today


def merged_into(proposal_id: int) -> Proposal | None:
    """The main proposal this one was merged into (R9.4.1), unless that one was removed since."""
    row = ResponseMerge.get_or_none(ResponseMerge.proposal == proposal_id)
    if row is None:
        return None
    main = Proposal.get_by_id(row.into_proposal_id)
    return main if main.state in (ESTABLISHED, RESPONDED) else None


def members_of(proposal_id: int) -> list[Proposal]:
    """The proposals merged into this one, oldest first."""
    return list(Proposal.select().join(ResponseMerge, on=(ResponseMerge.proposal == Proposal.id))
                .where(ResponseMerge.into_proposal == proposal_id).order_by(Proposal.id))


def response_of(proposal_id: int, agency_code: str | None = None) -> AgencyResponse | None:
    """The first published response (or this agency's, when given)."""
    query = AgencyResponse.select().where(AgencyResponse.proposal == proposal_id)
    if agency_code is not None:
        query = query.where(AgencyResponse.agency_code == agency_code)
    return query.order_by(AgencyResponse.published_at, AgencyResponse.id).first()


def responses_by_lead(proposal_ids: list[int]) -> dict[int, dict[str, AgencyResponse]]:
    """{proposal id: {agency code: its response}} in one query (pages and open data)."""
    found: dict[int, dict[str, AgencyResponse]] = {pid: {} for pid in proposal_ids}
    if proposal_ids:
        for row in AgencyResponse.select().where(AgencyResponse.proposal.in_(list(proposal_ids))):
            found[row.proposal_id][row.agency_code] = row
    return found


def missing_leads(proposal: Proposal) -> list[str]:
    """The lead agencies that have not published their response yet (R9.4.3: each lead answers)."""
    answered = responses_by_lead([proposal.id])[proposal.id]
    return [code for code in responsible_agencies(proposal)[LEAD] if code not in answered]


def lead_rows(proposal: Proposal, today: dt.date, leads: list[str] | None = None,
              answered: dict[str, AgencyResponse] | None = None, names: dict[str, str] | None = None) -> list[dict]:
    """Each lead with its response, or whether it is overdue (R9.4.3, R9.4.4): for pages and open data.
    `names` (code -> name, as `agency_names` gives) spares a query per lead when many proposals are read."""
    leads = responsible_agencies(proposal)[LEAD] if leads is None else leads
    answered = responses_by_lead([proposal.id])[proposal.id] if answered is None else answered
    codes = list(dict.fromkeys([*leads, *answered]))  # a lead that answered stays shown
    late = is_overdue(proposal, today)
    return [{"code": code, "name": names[code] if names and code in names else agency_name(code),
             "response": answered.get(code),
             "overdue": late and code not in answered} for code in codes]


def extension_of(proposal_id: int) -> Extension | None:
    return Extension.get_or_none(Extension.proposal == proposal_id)


def meetings_of(proposal_id: int) -> list[Meeting]:
    return list(Meeting.select().where(Meeting.proposal == proposal_id).order_by(Meeting.held_on, Meeting.id))


def console_proposals(agency_code: str | None) -> list[Proposal]:
    """Established and responded proposals: every one (None, ops) or those the agency leads or co-organises."""
    query = Proposal.select().where(Proposal.state.in_((ESTABLISHED, RESPONDED)))
    if agency_code is not None:
        holding = AgencyAssignment.status.in_(RESPONSIBLE_STATUSES)
        mine = AgencyAssignment.select(AgencyAssignment.proposal).where(holding & (AgencyAssignment.agency_code == agency_code))
        anyone = AgencyAssignment.select(AgencyAssignment.proposal)  # once asked, the assignments decide
        query = query.where(Proposal.id.in_(mine) | ((Proposal.agency_code == agency_code) & Proposal.id.not_in(anyone)))
    due = peewee.fn.COALESCE(Proposal.response_extended_due, Proposal.response_due)
    return list(query.order_by(Proposal.state, due.asc(nulls="LAST"), Proposal.responded_at.desc(), Proposal.id))


def merge_targets(proposal: Proposal, staff: Staff) -> list[Proposal]:
    """Open proposals this one may be merged into: led by the same agency (the staff member's, for agency staff)."""
    leads = set(responsible_agencies(proposal)[LEAD])
    if not staff.is_ops:
        leads &= {staff.agency_code}
    merged = ResponseMerge.select(ResponseMerge.proposal)
    candidates = Proposal.select().where((Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null(False)
                                         & (Proposal.id != proposal.id) & Proposal.id.not_in(merged)).order_by(Proposal.id)
    return [c for c in candidates if leads & set(responsible_agencies(c)[LEAD])]


# --- guards ----------------------------------------------------------------------------------------

def _require_open(proposal: Proposal) -> None:
    if proposal.state == RESPONDED:
        decision = DECISIONS.get(proposal.response_decision or "", "")
        raise DomainError(MSG["already"].format(number=proposal.number, when=format_taipei(proposal.responded_at),
                                                decision=decision), "already_responded")
    if proposal.state != ESTABLISHED:
        raise DomainError(MSG["not_established"].format(state=proposal.state_label), "bad_state")
    if proposal.notified_at is None or proposal.response_due is None:
        raise DomainError(MSG["not_notified"], "not_notified")


def _require_main(proposal: Proposal) -> None:
    main = merged_into(proposal.id)
    if main is not None:
        raise DomainError(MSG["merged"].format(number=proposal.number, main=main.number), "merged")


def _require_lead(staff: Staff, proposal: Proposal) -> str | None:
    """The agency the action is recorded for; DomainError 'forbidden' unless lead agency staff or ops."""
    role = role_of(staff, proposal)
    if role == "ops":
        leads = responsible_agencies(proposal)[LEAD]
        return leads[0] if leads else proposal.agency_code
    if role == LEAD:
        return staff.agency_code
    raise DomainError(MSG["forbidden"], "forbidden")


def _answering_lead(staff: Staff, proposal: Proposal, agency_code: str | None = None) -> str:
    """The lead a response is published for (R9.4.3): the staff member's own agency, or for the team the
    lead it names (needed when several leads have not answered yet); refused once that lead has answered."""
    role = role_of(staff, proposal)
    missing = missing_leads(proposal)
    if role == LEAD:
        code = staff.agency_code
    elif role == "ops":
        code = (agency_code or "").strip().upper() or (missing[0] if len(missing) == 1 else "")
        if not code:
            raise DomainError(MSG["choose_lead"], "choose_lead")
        if code not in responsible_agencies(proposal)[LEAD]:
            raise DomainError(MSG["not_lead"].format(agency=agency_name(code)[:40]), "not_lead")
    else:
        raise DomainError(MSG["forbidden"], "forbidden")
    done = response_of(proposal.id, code)
    if done is not None:
        raise DomainError(MSG["already_lead"].format(agency=agency_name(code), when=format_taipei(done.published_at),
                                                     decision=done.decision_label), "already_responded")
    return code


def _lock_group(proposal_id: int) -> tuple[Proposal, list[Proposal]]:
    """The proposal and the ones merged into it, locked in id order (so two actions never deadlock)."""
    def members() -> set[int]:
        return {r.proposal_id for r in ResponseMerge.select(ResponseMerge.proposal)
                .where(ResponseMerge.into_proposal == proposal_id)}

    member_ids = members()
    locked = {pid: lock(pid) for pid in sorted({proposal_id, *member_ids})}
    # A merge that committed while we waited for the locks is only visible now: read again (merge
    # locks the main proposal too, so once we hold it the set cannot change any more).
    while (current := members()) != member_ids:
        for pid in sorted(current - set(locked)):
            locked[pid] = lock(pid)
        member_ids = current
    return locked[proposal_id], [locked[pid] for pid in sorted(member_ids)]


def _clean(value: str, field: str, min_len: int, max_len: int) -> str:
    return clean_text(value, field=field, max_len=max_len, min_len=min_len, multiline=True)


# --- R9.4.4 extending the clock ----------------------------------------------------------------------

def extend_deadline(proposal_id: int, actor: Staff, reason: str, now: dt.datetime | None = None, *,
                    base_url: str = "") -> Extension:
    """R9.4.4: extend once, before the period expires, by at most a month from the original last day; the
    reason is published. Merged proposals that can still be extended are extended with it."""
    now = now or utcnow()
    reason = _clean(reason, "延長理由", EXTENSION_REASON_MIN, EXTENSION_REASON_MAX)
    with unit_of_work():
        proposal, members = _lock_group(proposal_id)
        _require_open(proposal)
        _require_main(proposal)
        agency_code = _require_lead(actor, proposal)
        extension = _extend(proposal, actor, agency_code, reason, now, base_url)
        for member in members:
            if member.state == ESTABLISHED and member.response_due and extension_of(member.id) is None \
                    and now <= end_of_day_utc(member.response_due):
                _extend(member, actor, agency_code, reason, now, base_url)
    return extension


def _extend(proposal: Proposal, actor: Staff, agency_code: str | None, reason: str, now: dt.datetime,
            base_url: str) -> Extension:
    existing = extension_of(proposal.id)
    if existing is not None:
        raise DomainError(MSG["extended"].format(number=proposal.number, when=format_taipei(existing.created_at, "%Y-%m-%d"),
                                                 due=f"{existing.new_due:%Y-%m-%d}"), "already_extended")
    if now > end_of_day_utc(proposal.response_due):
        raise DomainError(MSG["expired"].format(due=f"{proposal.response_due:%Y-%m-%d}"), "expired")
    new_due = calendar.extension_due("R9.4.4", proposal.response_due)
    extension = Extension.create(proposal=proposal.id, original_due=proposal.response_due, new_due=new_due, reason=reason,
                                 agency_code=agency_code, granted_by=actor.actor, created_at=now)
    Proposal.update(response_extended_due=new_due, version=Proposal.version + 1, updated_at=now).where(
        Proposal.id == proposal.id).execute()
    proposal.response_extended_due = new_due
    record(actor.actor, "response_extended", "proposal", proposal.id, reason=reason,
           detail={"original_due": proposal.response_due.isoformat(), "new_due": new_due.isoformat()}, now=now)
    fields = {"number": proposal.number, "title": proposal.title, "original": f"{proposal.response_due:%Y-%m-%d}",
              "due": f"{new_due:%Y-%m-%d}", "reason": reason, "link": proposal_link(proposal, public_base_url(base_url))}
    for person in proposers_of(proposal):
        notify_official(person, subject=SUBJECTS["extended"].format(**fields), body=BODIES["extended"].format(**fields),
                        key=f"proposal:{proposal.id}:response-extended:official:{person.id}", now=now)
    return extension
