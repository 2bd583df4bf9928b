"""The agency's response link (issue 11 item 6): a lightweight page, no console account needed.

The establishment notice (R9.3.3) and each response reminder carry a signed link scoped to one
proposal, one agency and the address it was mailed to. It is valid until the end of the response
deadline (with its extension, if granted); once the response is published it keeps showing it,
read-only. Actions through it run the console's own rules (models.responses,
models.response_publishing) with a `LinkActor`, which records the address that received the link.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from . import services
from .agencies import get_agency
from .agency_assignments import responsible_roles
from .base import DomainError, end_of_day_utc, format_taipei
from .proposals import RESPONDED, Proposal

PATH = "/agency/respond/"
MSG = {
    "bad": "這個回應連結無效（可能不完整或遭修改），請使用成案通知或提醒信中的完整連結。",
    "expired": "這個回應連結已於 {until} 到期。如需協助請洽營運小組（研考會）。",
    "not_open": "這個提案目前不在回應階段。",
    "reassigned": ("貴機關已不是本提案的權責機關（營運小組得變更權責機關，第九點（一）3），"
                   "這個回應連結已失效。目前由{agencies}辦理；如有疑問請洽營運小組（研考會）。"),
    "line": "\n免登入回應頁（限貴機關、限本提案使用，可公開回應、申請延長或登記會議）：\n{link}\n",
}


@dataclass(frozen=True)
class LinkActor:
    """Who acts through a response link: the agency, as the address the link was mailed to."""

    agency_code: str
    recipient: str
    is_active: bool = True
    is_ops: bool = False
    role: str = "agency"

    @property
    def actor(self) -> str:
        return f"link:{self.agency_code}:{self.recipient}"[:128]

    @property
    def name(self) -> str:
        return self.recipient


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(services.secret_key(), salt="agency-response-link")


def response_link(proposal_id: int, agency_code: str, recipient: str) -> str:
    token = _serializer().dumps([proposal_id, agency_code, recipient])
    return f"{services.current().public_base_url}{PATH}{token}"


def link_text(proposal_id: int, agency_code: str, recipient: str) -> str:
    """The paragraph a notice or reminder adds for the agency."""
    return MSG["line"].format(link=response_link(proposal_id, agency_code, recipient))


def valid_until(proposal: Proposal) -> dt.datetime | None:
    due = proposal.response_extended_due or proposal.response_due
    return end_of_day_utc(due) if due else None


def open_link(token: str, now: dt.datetime) -> tuple[Proposal, LinkActor]:
    """The proposal and the actor a link is for; DomainError 'bad_link' or 'expired_link' (zh-TW)."""
    try:
        proposal_id, agency_code, recipient = _serializer().loads(token)
        proposal = Proposal.get_or_none(Proposal.id == int(proposal_id))
    except (BadSignature, TypeError, ValueError):
        raise DomainError(MSG["bad"], "bad_link") from None
    if proposal is None or not isinstance(agency_code, str) or not isinstance(recipient, str):
        raise DomainError(MSG["bad"], "bad_link")
    until = valid_until(proposal)
    if until is None:
        raise DomainError(MSG["not_open"], "not_open")
    if proposal.state != RESPONDED and now > until:
        raise DomainError(MSG["expired"].format(until=format_taipei(until)), "expired_link")
    roles = responsible_roles(proposal)
    if agency_code not in roles["lead"] + roles["co"]:  # R9.1.3: response rights follow the new assignment
        names = "、".join(a.name for a in filter(None, map(get_agency, roles["lead"] + roles["co"])))
        raise DomainError(MSG["reassigned"].format(agencies=names or "營運小組指定之機關"), "reassigned")
    return proposal, LinkActor(agency_code, recipient)
