"""The official's own proposals (R9.2.3–R9.2.4, R5.1): 我的提案, withdrawing, revising a returned
proposal, and answering a co-proposer invitation. Composing a draft lives in `proposing`."""
from __future__ import annotations

from models.co_proposers import answer_co_invitation, pending_co_invitations
from models.officials import require_verified
from models.proposals import (
    DRAFT,
    EDITABLE_STATES,
    REMOVED,
    RETURNED,
    WITHDRAWABLE_STATES,
    WITHDRAWN,
    Proposal,
    withdraw,
)

from .. import messages as m
from .. import proposal_cards as cards
from ..conversation import clear_state
from ..registry import action
from .proposing import FLOW, _begin, _menu_quick, owned_proposal, preview

# --- revising a returned proposal (R9.2.3) -----------------------------------------------------

@action("prop.revise")
def revise(ctx, official, state, params):
    """R9.2.3: a returned proposal comes back into the compose flow; resubmitting restarts the review clock."""
    require_verified(official)
    proposal = owned_proposal(official, params.get("p"))
    if proposal is None:
        return [m.text("找不到這個提案。", quick=_menu_quick())]
    if proposal.state not in EDITABLE_STATES:
        return [m.text(f"已處理：提案目前為「{proposal.state_label}」，不需要修改。", quick=_menu_quick())]
    _begin(state, proposal)
    note = [m.text("請依退回理由修改欄位，完成後點「送出提案」重新送出。")] if proposal.state == RETURNED else []
    return preview(ctx, official, state, proposal, note)


# --- withdrawing (R9.2.4) ----------------------------------------------------------------------

@action("prop.withdraw")
def ask_withdraw(ctx, official, state, params):
    require_verified(official)
    proposal = owned_proposal(official, params.get("p"))
    if proposal is None:
        return [m.text("找不到這個提案。", quick=_menu_quick())]
    if proposal.state == WITHDRAWN:
        return [m.text(cards.ALREADY_WITHDRAWN.format(title=proposal.title), quick=_menu_quick())]
    if proposal.state == DRAFT:
        return [m.text("草稿尚未送出，不需要撤回；可在預覽中選「放棄草稿」。",
                       quick=[m.quick_postback("預覽提案", "prop.preview", p=proposal.id)])]
    if proposal.state not in WITHDRAWABLE_STATES:
        return [m.text(cards.PASSED_NO_WITHDRAW if proposal.state != REMOVED else f"提案目前為「{proposal.state_label}」，無法撤回。",
                       quick=_menu_quick())]
    return [m.text(cards.WITHDRAW_ASK.format(title=proposal.title, number=proposal.number), quick=[
        m.quick_postback("確定撤回", "prop.withdraw_ok", display="確定撤回提案", p=proposal.id),
        m.quick_postback("不撤回", "prop.mine", display="不撤回")])]


@action("prop.withdraw_ok")
def confirm_withdraw(ctx, official, state, params):
    require_verified(official)
    proposal = owned_proposal(official, params.get("p"))
    if proposal is None:
        return [m.text("找不到這個提案。", quick=_menu_quick())]
    if proposal.state == WITHDRAWN:
        return [m.text(cards.ALREADY_WITHDRAWN.format(title=proposal.title), quick=_menu_quick())]
    withdraw(official, proposal.id, ctx.now)  # refuses after passing review (R9.2.4)
    if state.flow == FLOW and state.values.get("pid") == proposal.id:
        clear_state(state)
    return [m.text(cards.WITHDRAWN.format(title=proposal.title), quick=_menu_quick())]


# --- the official's own proposals --------------------------------------------------------------

@action("prop.mine", "我的提案")
def mine(ctx, official, state, params):
    require_verified(official)
    rows = list(Proposal.select().where(Proposal.proposer == official)
                .order_by(Proposal.created_at.desc(), Proposal.id.desc()).limit(10))
    quick = [m.quick_postback("提出提案", "prop.start"), m.quick_postback("選單", "menu")]
    if not rows:
        return [m.text(cards.MINE_EMPTY, quick=quick)]
    bubbles = [cards.mine_bubble(p, ctx.base_url) for p in rows]
    return [m.flex(f"我的提案（最近 {len(bubbles)} 件）", m.carousel(bubbles), quick=quick)]


# --- co-proposer invitations (R5.1), answered by the invitee -----------------------------------

@action("prop.cop")
def answer_invitation(ctx, official, state, params):
    require_verified(official)
    proposal_id = m.parse_int(params.get("p"), default=-1)
    if proposal_id < 0:
        return [m.text(cards.CO_NONE_PENDING)]
    _proposal, outcome = answer_co_invitation(official, proposal_id, params.get("v") == "yes", ctx.now)
    return [m.text(cards.CO_ANSWERED[outcome], quick=[m.quick_postback("選單", "menu")])]


@action("prop.invites", "共同提案邀請")
def invitations(ctx, official, state, params):
    require_verified(official)
    rows = pending_co_invitations(official)
    if not rows:
        return [m.text(cards.CO_NONE_PENDING, quick=[m.quick_postback("選單", "menu")])]
    bubbles = [cards.invitation_bubble(row) for row in rows[:10]]
    return [m.flex(f"共同提案邀請（{len(bubbles)} 件）", m.carousel(bubbles))]
