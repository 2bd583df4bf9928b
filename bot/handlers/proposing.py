"""Proposing (R5.1, R6, R9.1, R9.2.3–R9.2.4): compose a draft one answer at a time, preview, submit.

The draft is saved after every answer (models.proposals.set_field), so a chat can stop and resume
days later. Every question's postbacks carry `t`, a token of the question they answer: a tap on an
older question (a second device, a double tap) changes nothing and is answered "已處理".
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets

from models import seconds, settings
from models.agencies import search_agencies
from models.base import DomainError
from models.co_proposers import (
    co_proposers,
    invite_co_proposer,
    remove_co_proposers,
    require_co_proposers_confirmed,
    set_group,
)
from models.officials import Official, require_verified
from models.proposals import (
    DRAFT,
    EDITABLE_STATES,
    FIELD_LIMITS,
    RETURNED,
    SCOPES,
    Proposal,
    current_draft,
    missing_fields,
    set_field,
    start_draft,
)
from models.similar import Match, shown_before_submitting
from models.submission import submit
from models.terms import require_participant
from models.texts import without_clauses

from .. import messages as m
from .. import proposal_cards as cards
from ..conversation import ConversationState, clear_state, set_state
from ..registry import action, reprompt, text_step

FLOW = "proposing"
TEXT_FIELDS = ("title", "content", "benefits", "evidence")
EDIT_BUTTONS = [("scope", "修改範圍"), ("title", "修改主題"), ("content", "修改內容"), ("benefits", "修改利益與影響"),
                ("evidence", "修改佐證資料"), ("agency", "修改權責機關"), ("group", "修改提案方式")]
ABANDONED_AFTER = dt.timedelta(hours=24)


# --- conversation plumbing ---------------------------------------------------------------------

def _fingerprint(proposal: Proposal) -> str:
    fields = [proposal.state, proposal.scope, proposal.title, proposal.content, proposal.benefits,
              proposal.evidence, proposal.agency_code, proposal.agency_by_ops]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:16]


def _goto(state: ConversationState, proposal: Proposal, step: str, **values) -> None:
    """Enter `step` for this proposal with a fresh question token; older buttons become stale."""
    fresh = Proposal.get_by_id(proposal.id)
    set_state(state, FLOW, step, pid=proposal.id, t=secrets.token_hex(4), fp=_fingerprint(fresh), **values)


def _begin(state: ConversationState, proposal: Proposal) -> None:
    """Start editing `proposal` afresh (nothing left over from an earlier visit to the flow)."""
    clear_state(state)
    set_state(state, FLOW, None, pid=proposal.id)


def _pb(state: ConversationState, label: str, name: str, display: str | None = None, **params) -> dict:
    """A quick reply answering the current question (carries the proposal and the question token)."""
    return m.quick_postback(label, name, display, p=state.values.get("pid"), t=state.values.get("t"), **params)


def _pb_action(state: ConversationState, label: str, name: str, **params) -> dict:
    return m.postback_action(label, name, p=state.values.get("pid"), t=state.values.get("t"), **params)


def _menu_quick() -> list[dict]:
    return [m.quick_postback("我的提案", "prop.mine"), m.quick_postback("選單", "menu")]


def owned_proposal(official: Official, proposal_id) -> Proposal | None:
    """The official's own proposal with this id (as postback data: any string), else None."""
    number = m.parse_int(proposal_id, default=0)
    proposal = Proposal.get_or_none(Proposal.id == number) if number else None
    return proposal if proposal is not None and proposal.proposer_id == official.id else None


def _current(official: Official, state: ConversationState, params: dict, *,
             need_token: bool = False) -> Proposal | list[dict]:
    """The draft this conversation edits, or the reply to give instead (stale button, draft gone).

    `need_token`: the action changes something irreversible (submit, discard), so it must answer
    the current question exactly."""
    require_verified(official)
    if ("t" in params or need_token) and (state.flow != FLOW or params.get("t") != state.values.get("t")):
        quick = [m.quick_postback("預覽提案", "prop.preview")] if state.flow == FLOW else _menu_quick()
        return [m.text(cards.STALE, quick=quick)]
    proposal = owned_proposal(official, state.values.get("pid")) if state.flow == FLOW else None
    if proposal is None or proposal.state not in EDITABLE_STATES:
        clear_state(state)
        return [m.text(cards.GONE, quick=[m.quick_postback("提出提案", "prop.start")] + _menu_quick())]
    return proposal


# --- questions ---------------------------------------------------------------------------------

def ask(ctx, official: Official, state: ConversationState, proposal: Proposal, step: str,
        before: list[dict] | None = None, note: str | None = None, **values) -> list[dict]:
    """Put one question (or the preview) to the official; `note` (e.g. why an answer was refused) leads it."""
    if step == "preview":
        return preview(ctx, official, state, proposal, before)
    _goto(state, proposal, step, **values)
    cancel = m.quick_message("取消")
    back = [m.quick_postback("返回預覽", "prop.preview")] if state.values.get("editing") else []
    if step == "scope":
        body = cards.ASK["scope"]
        quick = [_pb(state, label, "prop.scope", v=key) for key, label in SCOPES.items()] + back + [cancel]
    elif step in TEXT_FIELDS:
        _label, max_len, min_len, _required = FIELD_LIMITS[step]
        body = cards.ASK[step].format(min=min_len, max=max_len)
        current = getattr(proposal, step)
        if state.values.get("editing") and current:
            body += "\n\n目前內容：\n" + cards.excerpt(current, 1500)
        form = m.quick_uri("用網頁填寫", cards.draft_url(ctx, official.id, proposal.id))
        quick = [form] + back + [cancel]
    elif step == "agency":
        body, quick = cards.ASK["agency"], [_pb(state, cards.OPS_LABEL, "prop.agency", code="ops")] + back + [cancel]
    elif step == "group":
        body = cards.ASK["group"]
        quick = [_pb(state, "個人提案", "prop.group", v="0"), _pb(state, "共同提案", "prop.group", v="1")] + back
    elif step == "coprop":
        return coprop_menu(state, proposal, cards.ASK["coprop"], before)
    else:
        return preview(ctx, official, state, proposal, before)
    return (before or []) + [m.text(f"{note}\n\n{body}" if note else body, quick=quick)]


def next_step(ctx, official: Official, state: ConversationState, proposal: Proposal,
              before: list[dict] | None = None) -> list[dict]:
    """The first unanswered question, or the preview once everything is there (or while editing)."""
    proposal = Proposal.get_by_id(proposal.id)
    if state.values.get("editing"):
        return preview(ctx, official, state, proposal, before)
    missing = missing_fields(proposal)
    for step in ("scope", "title", "content", "benefits"):
        if step in missing:
            return ask(ctx, official, state, proposal, step, before)
    if not proposal.evidence:  # also a draft saved when evidence could still be skipped (R9.1.2)
        return ask(ctx, official, state, proposal, "evidence", before)
    if "agency_code" in missing:
        return ask(ctx, official, state, proposal, "agency", before)
    return preview(ctx, official, state, proposal, before)


def preview(ctx, official: Official, state: ConversationState, proposal: Proposal,
            before: list[dict] | None = None) -> list[dict]:
    proposal = Proposal.get_by_id(proposal.id)
    _goto(state, proposal, "preview", editing=None)
    quick = [_pb(state, "送出提案", "prop.submit")]
    quick += [_pb(state, label, "prop.edit", f=field) for field, label in EDIT_BUTTONS]
    if proposal.is_group:
        quick.append(_pb(state, "共同提案人", "prop.coprop"))
    if proposal.state == RETURNED:
        quick.append(m.quick_postback("撤回提案", "prop.withdraw", p=proposal.id))
    else:
        quick.append(_pb(state, "放棄草稿", "prop.discard"))
    form_url = cards.draft_url(ctx, official.id, proposal.id)
    bubble = cards.preview_bubble(proposal, form_url, _pb_action(state, "送出提案", "prop.submit"))
    return (before or [])[:3] + [m.flex(f"提案預覽：{proposal.title or '（未命名）'}", bubble, quick=quick)]


def coprop_menu(state: ConversationState, proposal: Proposal, body: str, before: list[dict] | None = None) -> list[dict]:
    _goto(state, proposal, "coprop")
    rows = co_proposers(proposal)
    confirmed = [r for r in rows if r.confirmed_at]
    if confirmed:  # a name is shown only once its owner agreed to stand beside the proposal
        body += "\n\n已同意的共同提案人：\n" + "\n".join(f"・{r.official.display_name}" for r in confirmed)
    if len(rows) > len(confirmed):
        body += f"\n等待確認：{len(rows) - len(confirmed)} 位"
    quick = [_pb(state, "完成邀請", "prop.codone")]
    if any(r.confirmed_at is None for r in rows):
        quick.append(_pb(state, "移除未確認者", "prop.coremove"))
    quick.append(_pb(state, "改為個人提案", "prop.group", v="0"))
    return (before or []) + [m.text(body, quick=quick)]


# --- entry points ------------------------------------------------------------------------------

def _has_content(proposal: Proposal) -> bool:
    return any(getattr(proposal, f) not in (None, "") for f in ("scope", *TEXT_FIELDS, "agency_code")) \
        or proposal.agency_by_ops


@action("prop.start", "提案", "提出提案")
def start(ctx, official: Official, state: ConversationState, params: dict) -> list[dict]:
    require_participant(official)  # R4: the terms of use accepted before proposing
    draft = Proposal.get_or_none((Proposal.proposer == official) & (Proposal.state == DRAFT))
    if draft is not None and _has_content(draft):
        _goto(state, draft, "resume")
        return [m.text(cards.RESUME.format(title=draft.title or "尚未填主題"), quick=[
            _pb(state, "繼續編輯", "prop.resume"), _pb(state, "重新開始", "prop.restart"), m.quick_message("取消")])]
    draft = draft or start_draft(official, ctx.now)
    _begin(state, draft)
    return next_step(ctx, official, state, draft)


@action("prop.resume")
def resume(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    set_state(state, FLOW, state.step, editing=None)
    return next_step(ctx, official, state, proposal)


@action("prop.preview", "預覽提案")
def show_preview(ctx, official, state, params):
    require_verified(official)
    if params.get("p"):
        proposal = owned_proposal(official, params["p"])
        if proposal is None or proposal.state not in EDITABLE_STATES:
            return [m.text(cards.GONE, quick=_menu_quick())]
        _begin(state, proposal)
    elif state.flow != FLOW:
        proposal = current_draft(official)
        if proposal is None:
            return [m.text("目前沒有編輯中的提案草稿。", quick=[m.quick_postback("提出提案", "prop.start")] + _menu_quick())]
        _begin(state, proposal)
    proposal = _current(official, state, {k: v for k, v in params.items() if k == "t"})
    if isinstance(proposal, list):
        return proposal
    return preview(ctx, official, state, proposal)


# --- answers -----------------------------------------------------------------------------------

def _after_answer(ctx, official, state, proposal, saved_step: str) -> list[dict]:
    if state.values.get("editing"):
        return preview(ctx, official, state, proposal, [m.text(cards.SAVED_HINT)])
    if saved_step == "agency":
        return ask(ctx, official, state, proposal, "group")
    if saved_step in ("content", "benefits", "evidence") and getattr(proposal, saved_step):
        # Say what was kept, so a long text sent as two messages does not slip into the next field unseen.
        saved = cards.SAVED_FIELD.format(field=FIELD_LIMITS[saved_step][0], n=len(getattr(proposal, saved_step)))
        return next_step(ctx, official, state, proposal, [m.text(saved)])
    return next_step(ctx, official, state, proposal)


@action("prop.scope")
def choose_scope(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    proposal = set_field(official, proposal.id, "scope", params.get("v", ""), ctx.now)
    return _after_answer(ctx, official, state, proposal, "scope")


@action("prop.agency")
def choose_agency(ctx, official, state, params):
    """R9.1.3: the proposer picks the agency, or asks the operations team to decide ("ops")."""
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    proposal = set_field(official, proposal.id, "agency_code", params.get("code", ""), ctx.now)
    return _after_answer(ctx, official, state, proposal, "agency")


@action("prop.group")
def choose_group(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    proposal = set_group(official, proposal.id, params.get("v") == "1", ctx.now)
    if proposal.is_group:
        return ask(ctx, official, state, proposal, "coprop")
    set_state(state, FLOW, state.step, editing=None)
    return next_step(ctx, official, state, proposal)


@action("prop.edit")
def edit_field(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    field = params.get("f")
    if field not in dict(EDIT_BUTTONS):
        return preview(ctx, official, state, proposal)
    return ask(ctx, official, state, proposal, field, editing=True)


@action("prop.coprop")
def manage_co_proposers(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    return ask(ctx, official, state, proposal, "coprop")


@action("prop.codone")
def co_proposers_done(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    return next_step(ctx, official, state, proposal)


@action("prop.coremove")
def remove_unconfirmed(ctx, official, state, params):
    proposal = _current(official, state, params)
    if isinstance(proposal, list):
        return proposal
    removed = remove_co_proposers(official, proposal.id, unconfirmed_only=True, now=ctx.now)
    return coprop_menu(state, proposal, cards.CO_REMOVED.format(n=removed))


def _answer_scope_text(text: str) -> str | None:
    word = text.strip()
    keys = list(SCOPES)
    if word in ("1", "2", "3"):
        return keys[int(word) - 1]
    return next((key for key, label in SCOPES.items() if word == label), None)


@text_step(FLOW)
def on_text(ctx, official, state, text):
    proposal = _current(official, state, {})
    if isinstance(proposal, list):
        return proposal
    step = state.step
    if state.updated_at and ctx.now - state.updated_at > ABANDONED_AFTER and step not in ("preview", "resume"):
        _goto(state, proposal, step)  # keeps "editing"; only the question token changes
        return [m.text(cards.WELCOME_BACK.format(title=proposal.title or "尚未填主題"), quick=[
            _pb(state, "繼續編輯", "prop.resume"), m.quick_postback("預覽提案", "prop.preview"),
            _pb(state, "重新開始", "prop.restart")])]
    if state.values.get("fp") != _fingerprint(proposal):
        return preview(ctx, official, state, proposal, [m.text(cards.CHANGED_ELSEWHERE)])
    try:
        if step in TEXT_FIELDS:
            proposal = set_field(official, proposal.id, step, text, ctx.now)
        elif step == "scope":
            scope = _answer_scope_text(text)
            if scope is None:
                return ask(ctx, official, state, proposal, "scope", note=cards.SCOPE_PICK)
            proposal = set_field(official, proposal.id, "scope", scope, ctx.now)
        elif step == "agency":
            return agency_candidates(ctx, official, state, proposal, text)
        elif step == "coprop":
            invite_co_proposer(official, proposal.id, text, ctx.now)
            email = re.sub(r"\s+", "", text).lower()[:254]
            return coprop_menu(state, proposal, cards.CO_INVITED.format(email=email))
        else:
            return ask(ctx, official, state, proposal, step or "preview")
    except DomainError as error:
        if step == "coprop":
            return coprop_menu(state, proposal, without_clauses(error.message))
        return ask(ctx, official, state, proposal, step, note=without_clauses(error.message))
    return _after_answer(ctx, official, state, proposal, step)


def agency_candidates(ctx, official, state, proposal, text: str) -> list[dict]:
    found = search_agencies(text, limit=10)
    _goto(state, proposal, "agency")
    ops = _pb(state, cards.OPS_LABEL, "prop.agency", code="ops")
    if not found:
        return [m.text(cards.AGENCY_NONE.format(q=text.strip()[:30]), quick=[ops, m.quick_message("取消")])]
    shown, more = found[:9], len(found) > 9
    quick = [_pb(state, a.short_name or a.name, "prop.agency", display=a.name, code=a.code) for a in shown]
    back = [_pb(state, "返回預覽", "prop.preview")] if state.values.get("editing") else [m.quick_message("取消")]
    return [m.text(cards.AGENCY_CHOOSE + (cards.AGENCY_MORE if more else ""), quick=quick + [ops] + back)]


# --- similar proposals, submitting (R9.1.4, R9.2.1) --------------------------------------------

def similar_to(official: Official, proposal: Proposal) -> list[Match]:
    """Similar proposals the official may see, for the proposal being submitted."""
    return shown_before_submitting(proposal.title or "", proposal.content or "", official_id=official.id,
                                   exclude_id=proposal.id)


@action("prop.submit")
def submit_proposal(ctx, official, state, params):
    proposal = _current(official, state, params, need_token=True)
    if isinstance(proposal, list):
        return proposal
    if missing_fields(proposal):
        labels = "、".join(cards.LABELS["agency" if f == "agency_code" else f] for f in missing_fields(proposal))
        set_state(state, FLOW, state.step, editing=None)
        return next_step(ctx, official, state, proposal, [m.text(f"還缺少：{labels}。請先補上。")])
    try:
        require_co_proposers_confirmed(proposal)
    except DomainError as error:
        _goto(state, proposal, "preview")
        return [m.text(without_clauses(error.message), quick=[_pb(state, "共同提案人", "prop.coprop"),
                                             m.quick_postback("返回預覽", "prop.preview")])]
    if params.get("force") != "1":
        found = similar_to(official, proposal)
        if found:
            _goto(state, proposal, "similar")
            last = (m.quick_postback("撤回提案", "prop.withdraw", p=proposal.id) if proposal.state == RETURNED
                    else _pb(state, "放棄草稿", "prop.discard"))
            quick = [_pb(state, "仍要送出", "prop.submit", force="1"), m.quick_postback("修改提案", "prop.preview"), last]
            seconded = seconds.seconded_ids(official, [match.proposal.id for match in found])
            return [m.text(cards.SIMILAR_INTRO), cards.similar_carousel(found, ctx.base_url, quick, seconded, proposal.id)]
    resubmission = proposal.state == RETURNED
    proposal = submit(official, proposal.id, ctx.now)
    clear_state(state)
    body = cards.SUBMITTED.format(title=proposal.title, number=proposal.number, days=settings.REVIEW_WORKING_DAYS,
                                  due=f"{proposal.review_due:%Y-%m-%d}（{'一二三四五六日'[proposal.review_due.weekday()]}）")
    if resubmission:
        body += "\n" + cards.RESUBMITTED_NOTE
    return [m.text(body, quick=_menu_quick())]


@reprompt(FLOW)
def ask_again(ctx, official, state) -> list[dict]:
    """The question the official was answering, again (a sticker or a photo does not answer it)."""
    proposal = _current(official, state, {})
    if isinstance(proposal, list):
        return proposal
    return ask(ctx, official, state, proposal, state.step or "preview")
