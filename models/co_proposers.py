"""Group proposals (R5.1): inviting, confirming and removing co-proposers.

A group proposal names its co-proposers by their verified email; each confirms in their own chat.
Declining (or being removed) deletes the row; the proposal is submitted only when every named
co-proposer has confirmed (`require_co_proposers_confirmed`, called before `submit`).
"""
from __future__ import annotations

import datetime as dt

import peewee

from .base import DomainError, utcnow
from .events import AuditEvent, record
from .officials import Official, require_verified
from .outbox import queue_line, transaction
from .proposals import EDITABLE_STATES, CoProposer, Proposal, lock, own_editable

MAX_CO_PROPOSERS = 10
CO_INVITE_ACTION = "prop.cop"  # postback answered by the invitee: a=prop.cop&p=<proposal>&v=yes|no


def co_proposers(proposal: Proposal) -> list[CoProposer]:
    """The named co-proposers, in the order they were invited."""
    return list(CoProposer.select(CoProposer, Official).join(Official, peewee.JOIN.LEFT_OUTER)
                .where(CoProposer.proposal == proposal).order_by(CoProposer.invited_at, CoProposer.id))


@transaction
def set_group(official: Official, proposal_id: int, is_group: bool, now: dt.datetime | None = None) -> Proposal:
    """Choose an individual or a group proposal; going back to individual drops every co-proposer."""
    require_verified(official)
    proposal = own_editable(official, proposal_id)
    if not is_group:
        CoProposer.delete().where(CoProposer.proposal == proposal).execute()
    Proposal.update(is_group=bool(is_group)).where(Proposal.id == proposal.id).execute()
    proposal.is_group = bool(is_group)
    record(official.actor, "group_set" if is_group else "group_unset", "proposal", proposal.id, now=now)
    return proposal


def _co_invite_messages(proposal: Proposal, proposer: Official) -> list[dict]:
    def answer(label: str, value: str) -> dict:
        return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label,
                                              "data": f"a={CO_INVITE_ACTION}&p={proposal.id}&v={value}"}}

    body = (f"{proposer.display_name} 邀請您擔任提案「{proposal.title or '（尚未命名）'}」的共同提案人。\n"
            "確認後，您的顯示名稱會與提案一同公開。請選擇是否同意。")
    return [{"type": "text", "text": body[:4900], "quickReply": {"items": [answer("同意擔任", "yes"), answer("婉拒", "no")]}}]


MAX_CO_INVITES_PER_DAY = 20


@transaction
def invite_co_proposer(official: Official, proposal_id: int, email: str,
                       now: dt.datetime | None = None) -> CoProposer | None:
    """Name a verified colleague by email as co-proposer; they are asked in LINE to confirm.

    The answer is the same whether or not the address belongs to a verified official (R3.0, R4):
    an address must not reveal who is registered or which nickname hides which person. Returns
    the invitation, or None when nobody matched; attempts are limited per day either way.
    """
    import unicodedata

    require_verified(official)
    now = now or utcnow()
    proposal = own_editable(official, proposal_id)
    address = unicodedata.normalize("NFKC", email or "").strip().lower()
    if "@" not in address or len(address) > 254:
        raise DomainError("請輸入同仁註冊時使用的公務電子郵件（例如 name@taichung.gov.tw）。", "bad_email")
    if address == (official.verified_email or "").lower():
        raise DomainError("您是提案人，不需要邀請自己。", "self")
    attempts = AuditEvent.select().where(
        (AuditEvent.actor == official.actor)
        & AuditEvent.action.in_(("co_proposer_invited", "co_proposer_invite_unmatched"))
        & (AuditEvent.created_at > now - dt.timedelta(days=1))).count()
    if attempts >= MAX_CO_INVITES_PER_DAY:
        raise DomainError(f"今天已送出 {MAX_CO_INVITES_PER_DAY} 次邀請，請明天再試。", "invite_limit")
    if CoProposer.select().where(CoProposer.proposal == proposal).count() >= MAX_CO_PROPOSERS:
        raise DomainError(f"共同提案人最多 {MAX_CO_PROPOSERS} 位。", "too_many")
    import hashlib

    address_hash = hashlib.sha256(address.encode()).hexdigest()
    if CoProposer.select().where((CoProposer.proposal == proposal) & (CoProposer.address_hash == address_hash)).exists():
        return None  # already on the list, matched or not: the same answer
    colleague = Official.get_or_none(Official.verified_email == address)
    if colleague is None or not colleague.is_verified or CoProposer.select().where(
            (CoProposer.proposal == proposal) & (CoProposer.official == colleague)).exists():
        CoProposer.create(proposal=proposal, official=None, address_hash=address_hash, invited_at=now)
        Proposal.update(is_group=True).where(Proposal.id == proposal.id).execute()
        record(official.actor, "co_proposer_invite_unmatched", "proposal", proposal.id, now=now)
        return None
    row = CoProposer.create(proposal=proposal, official=colleague, address_hash=address_hash, invited_at=now)
    Proposal.update(is_group=True).where(Proposal.id == proposal.id).execute()
    proposal.is_group = True
    record(official.actor, "co_proposer_invited", "proposal", proposal.id, detail={"official": colleague.id}, now=now)
    if colleague.following and colleague.line_user_id:
        queue_line(colleague.line_user_id, _co_invite_messages(proposal, official),
                   dedupe_key=f"proposal:{proposal.id}:co-invite:{row.id}", now=now)
    return row


@transaction
def answer_co_invitation(official: Official, proposal_id: int, accept: bool,
                         now: dt.datetime | None = None) -> tuple[Proposal, str]:
    """The invitee confirms or declines; returns (proposal, outcome) with outcome confirmed|declined|already."""
    require_verified(official)
    now = now or utcnow()
    proposal = lock(proposal_id)
    row = CoProposer.get_or_none((CoProposer.proposal == proposal) & (CoProposer.official == official))
    if row is None:
        raise DomainError("這個共同提案邀請已取消或不存在。", "no_invitation")
    if row.confirmed_at is not None:
        return proposal, "already"
    if proposal.state not in EDITABLE_STATES:
        raise DomainError(f"提案目前為「{proposal.state_label}」，邀請已不需回覆。", "not_editable")
    if accept:
        CoProposer.update(confirmed_at=now).where(CoProposer.id == row.id).execute()
        outcome, said = "confirmed", "已同意擔任共同提案人"
    else:
        row.delete_instance()
        outcome, said = "declined", "婉拒擔任共同提案人，已從名單移除"
    record(official.actor, f"co_proposer_{outcome}", "proposal", proposal.id, now=now)
    proposer = proposal.proposer
    if proposer.following and proposer.line_user_id:
        text = f"{official.display_name} {said}（提案「{proposal.title or '（尚未命名）'}」）。"
        quick = [{"type": "action", "action": {"type": "postback", "label": "預覽提案", "displayText": "預覽提案",
                                                "data": f"a=prop.preview&p={proposal.id}"}}]
        queue_line(proposer.line_user_id, [{"type": "text", "text": text, "quickReply": {"items": quick}}],
                   dedupe_key=f"proposal:{proposal.id}:co-answer:{row.id}:{outcome}", now=now)
    return proposal, outcome


@transaction
def remove_co_proposers(official: Official, proposal_id: int, *, unconfirmed_only: bool = True,
                        co_official_id: int | None = None, now: dt.datetime | None = None) -> int:
    """The proposer removes one co-proposer, or every one who has not confirmed; returns how many."""
    require_verified(official)
    proposal = own_editable(official, proposal_id)
    query = CoProposer.delete().where(CoProposer.proposal == proposal)
    if co_official_id is not None:
        query = query.where(CoProposer.official == co_official_id)
    if unconfirmed_only:
        query = query.where(CoProposer.confirmed_at.is_null())
    removed = query.execute()
    if removed:
        record(official.actor, "co_proposers_removed", "proposal", proposal.id, detail={"count": removed}, now=now)
    return removed


def require_co_proposers_confirmed(proposal: Proposal) -> None:
    """R5.1: a group proposal needs at least one co-proposer, and every one named must have confirmed."""
    if not proposal.is_group:
        return
    rows = co_proposers(proposal)
    if not rows:
        raise DomainError("共同提案至少需要一位共同提案人；請邀請同仁，或改為個人提案。", "no_co_proposers")
    waiting = [r for r in rows if r.confirmed_at is None]
    if waiting:
        raise DomainError(f"還在等待 {len(waiting)} 位共同提案人確認。請等待確認，或移除未確認的共同提案人後再送出。",
                          "co_unconfirmed")


def pending_co_invitations(official: Official) -> list[CoProposer]:
    """Invitations this official has not answered, on proposals still being edited."""
    return list(CoProposer.select(CoProposer, Proposal).join(Proposal)
                .where((CoProposer.official == official) & CoProposer.confirmed_at.is_null()
                       & Proposal.state.in_(EDITABLE_STATES)).order_by(CoProposer.invited_at))
