"""Agency actions that answer an established proposal (R9.4.1–R9.4.3): merge, meet, respond.

The records, who acts, the guards and the response clock (R9.4.4) are in models.responses.

- **R9.4.1** The agency may merge identical or similar established proposals (`merge`): the merged
  one is answered with the main one — `publish_response` on the main proposal responds to each
  merged proposal too, and every proposer is told. Extending the main one extends its merged ones
  that can still be extended. A merged proposal keeps its own clock: merging never buys time.
- **R9.4.2** The agency may call a meeting with the proposer and other agencies (`schedule_meeting`):
  the proposers (also of merged proposals) are invited by LINE and email; after the meeting the
  agency records a summary (`record_meeting_summary`), which is published with the date.
- **R9.4.3** The response — adopt / partly adopt / not adopt with reasons (and a concrete plan
  when adopting) — is published on the platform once (`publish_response`); the proposal becomes
  `responded`; proposers and the seconders who opted in are told. Adopted proposals start R11
  (`models.recognition.ask_consent`).
"""
from __future__ import annotations

import datetime as dt

from . import settings
from .agencies import get_agency
from .agency_confirmation import LEAD
from .base import DomainError, format_taipei, taipei_date, utcnow
from .events import record
from .notify import notify_official, public_base_url
from .officials import Official, clean_text
from .outbox import unit_of_work
from .proposals import ESTABLISHED, RESPONDED, Proposal, _move, lock, proposal_link
from .recognition import ask_consent, proposers_of
from .responses import (
    ADOPTED_DECISIONS,
    DECISIONS,
    MEETING_PLACE_MAX,
    MEETING_TEXT_MAX,
    MERGE_REASON_MAX,
    MERGE_REASON_MIN,
    PARTIAL,
    PLAN_MAX,
    PLAN_MIN,
    REASONS_MAX,
    REASONS_MIN,
    AgencyResponse,
    Meeting,
    ResponseMerge,
    _answering_lead,
    _clean,
    _lock_group,
    _require_lead,
    _require_main,
    _require_open,
    agency_name,
    effective_due,
    is_overdue,
    merged_into,
    missing_leads,
    response_of,
    responsible_agencies,
)
from .seconds import Second
from .staff import Staff

MSG = {
    "bad_decision": "請選擇回應結果：同意參採、部分參採或不予採納（第九點（四）3）。",
    "plan_required": "同意參採或部分參採時，請寫明具體的辦理方式（第九點（四）2）。",
    "meeting_past": "會議日期不能早於今天（{today}）。",
    "meeting_not_found": "找不到這場會議。",
    "summary_early": "會議訂於 {day} 召開，召開後才能填寫會議紀錄摘要。",
    "merge_self": "不能將提案併入自己。",
    "merge_already": "提案{number}已併入提案{main}。",
    "merge_chain": "提案{number}本身已併入提案{main}，請直接併入主案。",
    "merge_has_members": "已有其他提案併入提案{number}，它只能作為主案，不能再併入其他提案。",
    "merge_agency": "兩個提案須由同一機關主辦才能併案（第九點（四）1）。",
}

SUBJECTS = {
    "responded": "【政策參與平臺】權責機關已回應您的提案：{title}",
    "responded_seconder": "【政策參與平臺】您附議的提案已有機關回應：{title}",
    "meeting": "【政策參與平臺】會議邀請：提案{number}「{title}」",
    "merged": "【政策參與平臺】您的提案已併案研議：{title}",
}
BODIES = {
    "responded": ("您的提案{number}「{title}」，{agencies}已於 {when} 公開回應（第九點（四）3）：\n\n"
                  "回應結果：{decision}\n理由：\n{reasons}\n{plan}{merged}\n完整回應：{link}"),
    "responded_seconder": ("您附議的提案{number}「{title}」，{agencies}已於 {when} 回應：{decision}。\n"
                           "理由與辦理方式請見提案頁面：{link}"),
    "plan": "\n具體辦理方式：\n{plan}\n",
    "waiting": "\n（本提案有多個主辦機關，各自回應；尚待{agencies}回應。）\n",
    "merged_note": "\n（本提案已併入提案{main}「{main_title}」一併研議回應。）\n",
    "meeting": ("{agency}邀請您出席提案{number}「{title}」的研商會議（第九點（四）2）：\n\n"
                "日期：{day}\n時間及地點：{place}\n\n"
                "如無法出席，請回覆{agency}（{contact}）。\n提案頁面：{link}"),
    "merged": ("您的提案{number}「{title}」，{agency}已將其與提案{main}「{main_title}」併案研議（第九點（四）1）。\n"
               "說明：{reason}\n機關回應時會一併通知您；本提案的回應期限仍為 {due}。\n提案頁面：{link}"),
}


# --- R9.4.3 publishing the response ------------------------------------------------------------------

def combined_decision(decisions: list[str]) -> str:
    """The proposal's overall outcome from its leads' decisions: theirs when they agree, else partly
    adopted (some lead adopts at least in part, or the leads differ)."""
    distinct = set(decisions)
    return distinct.pop() if len(distinct) == 1 else PARTIAL


def publish_response(proposal_id: int, actor: Staff, decision: str, reasons: str, plan: str = "",
                     now: dt.datetime | None = None, *, base_url: str = "",
                     agency_code: str | None = None) -> AgencyResponse:
    """R9.4.3: one lead publishes adopt / partly adopt / not adopt with reasons, once; merged proposals
    are answered too.

    With several leads each publishes its own (`agency_code` names the lead when the team publishes
    for one); the proposal (and each merged one) becomes `responded` only when every lead has. Each
    publication tells the proposers; the last one also the seconders who opted in, and adopted ones
    ask the proposers' consent for an award (R11).
    """
    now = now or utcnow()
    if decision not in DECISIONS:
        raise DomainError(MSG["bad_decision"], "bad_decision")
    reasons = _clean(reasons, "理由", REASONS_MIN, REASONS_MAX)
    plan = _clean(plan, "具體辦理方式", PLAN_MIN, PLAN_MAX) if (plan or "").strip() else ""
    if decision in ADOPTED_DECISIONS and not plan:
        raise DomainError(MSG["plan_required"], "plan_required")
    with unit_of_work():
        proposal, members = _lock_group(proposal_id)
        _require_open(proposal)
        _require_main(proposal)
        code = _answering_lead(actor, proposal, agency_code)
        main_response = None
        for target in [proposal] + [m for m in members if m.state == ESTABLISHED]:
            if target is not proposal and response_of(target.id, code) is not None:
                continue  # a merged proposal this lead already answered on its own
            late = is_overdue(target, taipei_date(now))
            row = AgencyResponse.create(proposal=target.id, decision=decision, reasons=reasons, plan=plan or None,
                                        agency_code=code, responded_by=actor.actor, published_at=now,
                                        main_proposal=None if target is proposal else proposal.id)
            record(actor.actor, "response_published", "proposal", target.id, reason=reasons,
                   detail={"response_decision": decision, "agency": code, "late": late,
                           **({"main": proposal.id} if target is not proposal else {})}, now=now)
            waiting = missing_leads(target)
            _tell_responded(target, row, proposal if target is not proposal else None, now, public_base_url(base_url),
                            waiting)
            if not waiting:  # every lead has answered: the proposal is responded (R9.4.3)
                overall = combined_decision([r.decision for r in target.agency_responses])
                _move(target, RESPONDED, now, responded_at=now, response_decision=overall)
                ask_consent(target, overall, now)
            main_response = main_response or row
    return main_response


def _tell_responded(proposal: Proposal, response: AgencyResponse, main: Proposal | None, now: dt.datetime,
                    base_url: str, waiting: list[str]) -> None:
    """Proposers hear each lead's response; opted-in seconders once every lead has answered."""
    agencies = response.agency_name
    fields = {"number": proposal.number, "title": proposal.title, "agencies": agencies,
              "when": format_taipei(now, "%Y-%m-%d"), "decision": response.decision_label,
              "reasons": response.reasons, "link": proposal_link(proposal, base_url),
              "plan": BODIES["plan"].format(plan=response.plan) if response.plan else "",
              "merged": BODIES["merged_note"].format(main=main.number, main_title=main.title) if main else ""}
    if waiting:
        fields["merged"] += BODIES["waiting"].format(agencies="、".join(agency_name(c) for c in waiting))
    proposer_ids = set()
    for person in proposers_of(proposal):
        proposer_ids.add(person.id)
        notify_official(person, subject=SUBJECTS["responded"].format(**fields), body=BODIES["responded"].format(**fields),
                        key=f"proposal:{proposal.id}:responded:{response.agency_code}:official:{person.id}", now=now)
    if waiting:
        return
    for seconder in _opted_in_seconders(proposal):
        if seconder.id not in proposer_ids:
            notify_official(seconder, subject=SUBJECTS["responded_seconder"].format(**fields),
                            body=BODIES["responded_seconder"].format(**fields),
                            key=f"proposal:{proposal.id}:responded:seconder:{seconder.id}", now=now)


def _opted_in_seconders(proposal: Proposal) -> list[Official]:
    """The seconders who asked to hear the outcome (`Second.notify_result`)."""
    return [s.official for s in Second.select(Second, Official).join(Official)
            .where((Second.proposal == proposal.id) & (Second.notify_result == True))]  # noqa: E712


# --- R9.4.2 meetings --------------------------------------------------------------------------------

def schedule_meeting(proposal_id: int, actor: Staff, held_on: dt.date, place: str, participants: str,
                     now: dt.datetime | None = None, *, base_url: str = "") -> Meeting:
    """R9.4.2: call a meeting with the proposer and other agencies; proposers are invited by LINE and email."""
    now = now or utcnow()
    today = taipei_date(now)
    if not isinstance(held_on, dt.date) or held_on < today:
        raise DomainError(MSG["meeting_past"].format(today=f"{today:%Y-%m-%d}"), "meeting_past")
    place = clean_text(place, field="時間及地點", max_len=MEETING_PLACE_MAX, min_len=2)
    participants = _clean(participants, "出席對象", 2, MEETING_TEXT_MAX)
    with unit_of_work():
        proposal, members = _lock_group(proposal_id)
        _require_open(proposal)
        _require_main(proposal)
        agency_code = _require_lead(actor, proposal)
        meeting = Meeting.create(proposal=proposal.id, held_on=held_on, place=place, participants=participants,
                                 agency_code=agency_code, scheduled_by=actor.actor, created_at=now)
        record(actor.actor, "meeting_scheduled", "proposal", proposal.id,
               detail={"meeting": meeting.id, "held_on": held_on.isoformat()}, now=now)
        agency = get_agency(agency_code or "")
        fields = {"number": proposal.number, "title": proposal.title, "day": f"{held_on:%Y-%m-%d}", "place": place,
                  "agency": agency.name if agency else "權責機關",
                  "contact": (agency.contact_email if agency else None) or settings.OPS_NOTIFY_EMAIL,
                  "link": proposal_link(proposal, public_base_url(base_url))}
        invited = set()
        for target in [proposal, *members]:
            for person in proposers_of(target):
                if person.id in invited:
                    continue
                invited.add(person.id)
                notify_official(person, subject=SUBJECTS["meeting"].format(**fields),
                                body=BODIES["meeting"].format(**fields),
                                key=f"meeting:{meeting.id}:invite:{person.id}", now=now)
    return meeting


def record_meeting_summary(meeting_id: int, actor: Staff, summary: str, now: dt.datetime | None = None) -> Meeting:
    """R9.4.2: after the meeting, its summary (published with the date; participants stay internal)."""
    now = now or utcnow()
    summary = _clean(summary, "會議紀錄摘要", 10, MEETING_TEXT_MAX)
    meeting = Meeting.get_or_none(Meeting.id == meeting_id)
    if meeting is None:
        raise DomainError(MSG["meeting_not_found"], "not_found")
    with unit_of_work():
        proposal = lock(meeting.proposal_id)
        _require_lead(actor, proposal)
        if meeting.held_on > taipei_date(now):
            raise DomainError(MSG["summary_early"].format(day=f"{meeting.held_on:%Y-%m-%d}"), "summary_early")
        Meeting.update(summary=summary, summarised_by=actor.actor, summarised_at=now).where(Meeting.id == meeting.id).execute()
        record(actor.actor, "meeting_summarised", "proposal", proposal.id, reason=summary,
               detail={"meeting": meeting.id, "held_on": meeting.held_on.isoformat()}, now=now)
    return Meeting.get_by_id(meeting.id)


# --- R9.4.1 merging ---------------------------------------------------------------------------------

def merge(proposal_id: int, into_proposal_id: int, actor: Staff, reason: str, now: dt.datetime | None = None, *,
          base_url: str = "") -> ResponseMerge:
    """R9.4.1: merge an established proposal into an identical or similar one led by the same agency;
    responding to the main one answers both. The merged proposal's proposers are told."""
    now = now or utcnow()
    reason = _clean(reason, "併案理由", MERGE_REASON_MIN, MERGE_REASON_MAX)
    if proposal_id == into_proposal_id:
        raise DomainError(MSG["merge_self"], "merge_self")
    with unit_of_work():
        first, second = sorted((proposal_id, into_proposal_id))
        locked = {first: lock(first), second: lock(second)}
        proposal, main = locked[proposal_id], locked[into_proposal_id]
        for each in (proposal, main):
            _require_open(each)
        existing = ResponseMerge.get_or_none(ResponseMerge.proposal == proposal.id)
        if existing is not None and merged_into(proposal.id) is None:
            existing.delete_instance()  # its main proposal was removed since: the proposal stands alone again
        elif existing is not None:
            raise DomainError(MSG["merge_already"].format(number=proposal.number, main=f"第 {existing.into_proposal_id} 號"),
                              "merge_already")
        if ResponseMerge.select().where(ResponseMerge.into_proposal == proposal.id).exists():
            raise DomainError(MSG["merge_has_members"].format(number=proposal.number), "merge_has_members")
        chain = ResponseMerge.get_or_none(ResponseMerge.proposal == main.id)
        if chain is not None:
            raise DomainError(MSG["merge_chain"].format(number=main.number, main=f"第 {chain.into_proposal_id} 號"),
                              "merge_chain")
        agency_code = _require_lead(actor, proposal)
        _require_lead(actor, main)
        shared = set(responsible_agencies(proposal)[LEAD]) & set(responsible_agencies(main)[LEAD])
        if not shared or (not actor.is_ops and actor.agency_code not in shared):
            raise DomainError(MSG["merge_agency"], "merge_agency")
        row = ResponseMerge.create(proposal=proposal.id, into_proposal=main.id, reason=reason, agency_code=agency_code,
                                   merged_by=actor.actor, created_at=now)
        record(actor.actor, "response_merged", "proposal", proposal.id, reason=reason, detail={"into": main.id}, now=now)
        record(actor.actor, "response_merge_received", "proposal", main.id, reason=reason,
               detail={"member": proposal.id}, now=now)
        fields = {"number": proposal.number, "title": proposal.title, "main": main.number, "main_title": main.title,
                  "agency": agency_name(agency_code), "reason": reason, "due": f"{effective_due(proposal):%Y-%m-%d}",
                  "link": proposal_link(proposal, public_base_url(base_url))}
        for person in proposers_of(proposal):
            notify_official(person, subject=SUBJECTS["merged"].format(**fields), body=BODIES["merged"].format(**fields),
                            key=f"proposal:{proposal.id}:response-merged:{main.id}:official:{person.id}", now=now)
    return row
