"""Discarding a draft, or starting over (R9.1); a returned proposal is withdrawn instead (my_proposals, R9.2.4)."""
from __future__ import annotations

from models.proposals import DRAFT, discard_draft, start_draft

from .. import messages as m
from .. import proposal_cards as cards
from ..conversation import clear_state
from ..registry import ACTIONS, action
from .proposing import _begin, _current, _goto, _menu_quick, _pb, next_step


@action("prop.discard")
def ask_discard(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    if proposal.state != DRAFT:
        return ACTIONS["prop.withdraw"](ctx, official, state, {"p": proposal.id})  # my_proposals (R9.2.4)
    _goto(state, proposal, "discard")
    return [m.text(cards.DISCARD_ASK.format(title=proposal.title or "尚未填主題"), quick=[
        _pb(state, "確定放棄", "prop.discard_ok"), m.quick_postback("返回預覽", "prop.preview")])]


@action("prop.restart")
def ask_restart(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    _goto(state, proposal, "discard", then="restart")
    return [m.text(cards.RESTART_ASK.format(title=proposal.title or "尚未填主題"), quick=[
        _pb(state, "確定重新開始", "prop.discard_ok"), _pb(state, "繼續編輯", "prop.resume")])]


@action("prop.discard_ok")
def discard(ctx, official, state, params):
    proposal = _current(official, state, params, need_token=True)
    if isinstance(proposal, list):
        return proposal
    restart = state.values.get("then") == "restart"
    discard_draft(official, proposal.id, ctx.now)
    clear_state(state)
    if restart:
        draft = start_draft(official, ctx.now)
        _begin(state, draft)
        return next_step(ctx, official, state, draft, [m.text(cards.DISCARDED)])
    return [m.text(cards.DISCARDED, quick=[m.quick_postback("提出提案", "prop.start")] + _menu_quick())]
