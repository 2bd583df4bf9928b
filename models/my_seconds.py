"""我的附議: the proposals an official has seconded, newest first, how each stands, and their opt-in.

A second itself never changes (models.seconds: no one can withdraw it). The one thing its official
may change is whether they hear the outcome (`Second.notify_result`, first chosen with 「附議並
通知我結果」), and only while an outcome is still to come: during seconding, and once established
until the agency responds. The notices themselves are sent by models.seconds (established, lapsed)
and models.response_publishing (responded).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from . import settings
from .base import DomainError
from .events import record
from .officials import Official, require_verified
from .outbox import unit_of_work
from .proposals import ESTABLISHED, LAPSED, REMOVED, RESPONDED, SECONDING, Proposal
from .responses import DECISIONS, effective_due
from .seconds import Second, window_open

# How a seconded proposal stands, as 我的附議 shows it.
OPEN = "open"  # seconding, the window still open
CLOSING = "closing"  # the window has ended below the threshold; the sweep marks it lapsed
STAGE_BY_STATE = {ESTABLISHED: "established", RESPONDED: "responded", LAPSED: "lapsed", REMOVED: "removed"}
OUTCOME_PENDING = {OPEN, CLOSING, "established"}  # the opt-in still matters

MSG = {
    "not_seconded": "您沒有附議這個提案，無法設定結果通知。",
    "decided": "提案{number}已有結果（{state}），不需要再設定結果通知。",
}


@dataclass(frozen=True)
class MySecond:
    second: Second
    proposal: Proposal
    stage: str

    @property
    def notify(self) -> bool:
        return bool(self.second.notify_result)

    @property
    def notice_adjustable(self) -> bool:
        return self.stage in OUTCOME_PENDING

    @property
    def decision_label(self) -> str:
        return DECISIONS.get(self.proposal.response_decision or "", "")

    @property
    def response_due(self) -> dt.date | None:
        return effective_due(self.proposal) if self.stage == "established" else None


def stage_of(proposal: Proposal, now: dt.datetime) -> str:
    if proposal.state == SECONDING:
        return OPEN if window_open(proposal, now) else CLOSING
    return STAGE_BY_STATE.get(proposal.state, proposal.state)


def threshold() -> int:
    return settings.SECONDING_THRESHOLD


def my_seconds(official: Official, now: dt.datetime, *, page: int = 0,
               per_page: int = 9) -> tuple[list[MySecond], bool, int]:
    """One page of the official's seconds, newest first; whether there are more; how many in all."""
    query = (Second.select(Second, Proposal).join(Proposal)
             .where(Second.official == official.id)
             .order_by(Second.created_at.desc(), Second.id.desc()))
    total = query.count()
    rows = list(query.offset(max(0, page) * per_page).limit(per_page + 1))
    return [MySecond(s, s.proposal, stage_of(s.proposal, now)) for s in rows[:per_page]], len(rows) > per_page, total


def set_outcome_notice(official: Official, proposal_id: int, on: bool, now: dt.datetime) -> MySecond:
    """Turn the official's notice of this proposal's outcome on or off (audited)."""
    require_verified(official)
    with unit_of_work():
        second = (Second.select(Second, Proposal).join(Proposal)
                  .where((Second.official == official.id) & (Second.proposal == proposal_id)).first())
        if second is None:
            raise DomainError(MSG["not_seconded"], "not_seconded")
        proposal = second.proposal
        stage = stage_of(proposal, now)
        if stage not in OUTCOME_PENDING:
            raise DomainError(MSG["decided"].format(number=proposal.number, state=proposal.state_label), "decided")
        if bool(second.notify_result) != on:
            Second.update(notify_result=on).where(Second.id == second.id).execute()
            record(official.actor, "second_notice_on" if on else "second_notice_off", "proposal", proposal.id,
                   now=now)
            second.notify_result = on
    return MySecond(second, proposal, stage)
