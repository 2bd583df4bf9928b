"""Changing the responsible agency (R9.1.3) and keeping every assignment consistent with it.

The operations team may change a wrong choice of agency at any time before the proposal is closed.
Once confirmation requests were sent (R9.2.5), the change also: withdraws the old agency's request
(its answer link then says so, and its response link stops working: models.response_links) and
emails it; asks the new agency in the same role, with its own 5-working-day clock (and, when the
proposal is already established, the response deadline and a response link); so the public page,
the notices, the reminders and the right to respond follow the new assignment. The proposer is told
by LINE and email. One transaction: a refusal (no contact address, a stale page…) changes nothing.
"""
from __future__ import annotations

import datetime as dt

from .agencies import get_agency
from .agency_assignments import (
    ASSIGNMENT_STATES,
    CONFIRMABLE_STATES,
    LEAD,
    WITHDRAWN,
    AgencyAssignment,
    active_assignments,
)
from .agency_confirmation import request_confirmation
from .agency_confirmation_texts import FOOTER
from .base import DomainError, utcnow
from .events import record
from .notify import notify_official, public_base_url
from .officials import clean_text
from .outbox import queue_mail, unit_of_work
from .proposals import PUBLISHED_STATES, Proposal, change_agency, lock, proposal_link
from .recognition import proposers_of

REASON_MAX = 500
MSG = {
    "same": "權責機關已是{name}，未做任何變更。",
    "already_holding": "{name}已是本提案的{role}機關；如要調整主辦／協辦，請使用「設定主辦／協辦」。",
    "withdrawn_subject": "【政策參與平臺】權責機關變更，確認請求已撤回：提案{number}",
    "withdrawn_body": ("{agency} 承辦同仁您好：\n\n營運小組已將提案{number}「{title}」的權責機關由貴機關改為{new}"
                       "（第九點（一）3）。貴機關先前收到的確認請求已撤回，郵件中的連結（含回應連結）已失效，無須再辦理。\n"
                       "變更理由：{reason}\n"),
    "proposer_subject": "【政策參與平臺】提案的權責機關已變更：{title}",
    "proposer_body": ("您的提案{number}「{title}」，營運小組已將權責機關由{old}改為{new}。\n"
                      "理由：{reason}\n{asked}{link}"),
    "proposer_asked": "營運小組已請{new}確認權責，之後的通知與回應都由{new}辦理。\n",
}


def _agency_name(code: str | None) -> str:
    agency = get_agency(code or "")
    return agency.name if agency else (code or "（未指定）")


def reassign(proposal_id: int, actor: str, agency_code: str, reason: str = "", now: dt.datetime | None = None, *,
             expected_version: int | None = None, base_url: str = "") -> Proposal:
    """R9.1.3: change the responsible agency; assignments, notices and response rights follow (see above)."""
    now = now or utcnow()
    with unit_of_work():
        proposal = lock(proposal_id)
        new = get_agency(agency_code)
        if new is not None and new.code == proposal.agency_code:
            raise DomainError(MSG["same"].format(name=new.name), "same_agency")
        passed = proposal.state in CONFIRMABLE_STATES
        if passed or (reason or "").strip():  # the proposer (and the old agency) are told why
            reason = clean_text(reason, field="變更理由", max_len=REASON_MAX, min_len=2, multiline=True)
        old_code = proposal.agency_code
        held = {a.agency_code: a for a in active_assignments(proposal.id)}
        if new is not None and new.code in held:
            raise DomainError(MSG["already_holding"].format(name=new.name, role=held[new.code].role_label),
                              "already_holding")
        asked_before = AgencyAssignment.select().where(AgencyAssignment.proposal == proposal.id).exists()
        proposal = change_agency(proposal.id, actor, agency_code, reason, now, expected_version=expected_version)
        old = held.get(old_code or "")
        if old is not None:
            _withdraw(old, proposal, actor, reason, now)
        if passed and asked_before:
            request_confirmation(proposal.id, actor, [(proposal.agency_code, old.role if old else LEAD)], now,
                                 base_url=base_url)
        _tell_proposers(proposal, old_code, reason, passed and asked_before, now, base_url)
    return Proposal.get_by_id(proposal.id)


def _withdraw(assignment: AgencyAssignment, proposal: Proposal, actor: str, reason: str, now: dt.datetime) -> None:
    """The old agency's request is withdrawn (its links stop working) and it is told."""
    ASSIGNMENT_STATES.move(AgencyAssignment, AgencyAssignment.id == assignment.id, WITHDRAWN, withdrawn_at=now)
    record(actor, "agency_request_withdrawn", "proposal", proposal.id, reason=reason or None,
           detail={"assignment": assignment.id, "agency": assignment.agency_code}, now=now)
    agency = get_agency(assignment.agency_code)
    if agency is None or not agency.contact_email:
        return
    body = MSG["withdrawn_body"].format(agency=agency.name, number=proposal.number, title=proposal.title,
                                        new=_agency_name(proposal.agency_code), reason=reason or "（未填寫）")
    queue_mail(agency.contact_email, MSG["withdrawn_subject"].format(number=proposal.number), body + FOOTER,
               dedupe_key=f"agency-assignment:{assignment.id}:withdrawn:{now:%Y%m%d%H%M%S}", now=now)


def _tell_proposers(proposal: Proposal, old_code: str | None, reason: str, asked: bool, now: dt.datetime,
                    base_url: str) -> None:
    new = _agency_name(proposal.agency_code)
    fields = {"number": proposal.number, "title": proposal.title, "old": _agency_name(old_code), "new": new,
              "reason": reason or "（未填寫）", "asked": MSG["proposer_asked"].format(new=new) if asked else "",
              "link": f"提案頁面：{proposal_link(proposal, public_base_url(base_url))}"
              if proposal.state in PUBLISHED_STATES else ""}
    for person in proposers_of(proposal):
        notify_official(person, subject=MSG["proposer_subject"].format(**fields), body=MSG["proposer_body"].format(**fields),
                        key=f"proposal:{proposal.id}:agency-changed:{proposal.agency_code}:{now:%Y%m%d%H%M%S}:{person.id}",
                        now=now)
