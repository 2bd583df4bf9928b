"""Reviewing proposals (R9.2.1–R9.2.4, R7, R9.1.3), operations team only (R8).

The queue lists submitted proposals by their review due day (3 working days, R9.2.1). The detail
page shows every field (escaped by Jinja), the proposer's display name only (R3.0, R4), similar
proposals and the audit history. Each action is a POST form with a CSRF token and the version the
staff member saw: when two act at once the domain lets one win and the other is told ('stale').
"""
from __future__ import annotations

import json

import peewee
from flask import abort, current_app, redirect, render_template, url_for
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from models import agency_confirmation as confirmation
from models import proposals as domain
from models.agencies import active_agencies
from models.agency_reassignment import reassign
from models.calendar import today_taipei
from models.events import AuditEvent
from models.proposals import REMOVAL_GROUNDS, SECONDING, Proposal
from models.removal import remove_published
from models.similar import Match, find_similar_explained

from ..form import Form
from .actions import act_on_detail
from .auth import current_staff, ops_required
from .blueprint import bp
from .confirmations import request_forms
from .forms import VersionedForm
from .history import actor_names, agency_label

REQUIRED = "此欄位必填。"

MSG = {
    "passed": "提案{number}已通過檢核，進入附議階段；已通知提案人。",
    "returned": "提案{number}已退回修改；已通知提案人。",
    "removed": "提案{number}已移除（{ground}）；已通知{told}。",
    "agency_changed": "提案{number}的權責機關已改為{agency}；已通知提案人（已寄過機關確認者，並撤回原機關的請求、請新機關確認）。",
    "bad_form": "表單內容有誤，請檢查後再送出。",
}

ACTION_LABELS = {
    "draft_started": "開始草稿", "submitted": "送出提案", "resubmitted": "修改後重新送出", "withdrawn": "撤回提案",
    "passed_review": "通過檢核", "returned": "退回修改", "removed": "移除", "agency_changed": "變更權責機關",
    "agency_confirmation_requested": "寄送機關確認請求", "agency_answered": "機關回覆",
    "agency_deemed_confirmed": "逾期視為確認", "agency_roles_set": "設定主辦／協辦",
    "agency_roles_disputed": "仍有爭議，全部列為主辦", "agency_doubt_settled": "協調完成",
    "agency_discussion_note": "共同研商意見", "agency_request_withdrawn": "撤回機關確認請求",
    "draft_discarded": "放棄草稿", "group_set": "設為共同提案", "group_unset": "設為個人提案",
    "co_proposer_invited": "邀請共同提案人", "co_proposer_confirmed": "共同提案人同意", "co_proposer_declined": "共同提案人婉拒",
    "co_proposers_removed": "移除未確認的共同提案人", "established": "達成案門檻（成案）",
    "establishment_notified": "成案通知（次日）", "lapsed": "附議期滿未成案", "second_refused": "附議未計入",
}


# --- forms --------------------------------------------------------------------------------------

class _VersionedForm(VersionedForm):
    """A review action always carries the version the staff member saw."""

    version = HiddenField(validators=[DataRequired(REQUIRED)])


class PassForm(_VersionedForm):
    # Passing cannot be undone (R9.2.4): the member confirms it first, without any script.
    confirm = BooleanField("我已確認內容符合規定；通過檢核後即進入附議，無法撤回（第九點（二）4）",
                           validators=[DataRequired("請先勾選確認：通過檢核後無法撤回。")])
    submit = SubmitField("通過檢核，進入附議")


class ReturnForm(_VersionedForm):
    reasons = TextAreaField("退回理由", validators=[DataRequired(REQUIRED), Length(min=2, max=2000)],
                            render_kw={"rows": 4, "maxlength": 2000})
    duplicate_of = IntegerField("與附議中的提案重複（填提案編號，可留空）", validators=[Optional(), NumberRange(min=1)])
    submit = SubmitField("退回修改")


class RemoveForm(_VersionedForm):
    ground = SelectField("移除事由（第七點）", choices=[("", "請選擇")] + [(k, f"{k} {v}") for k, v in REMOVAL_GROUNDS.items()],
                         validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("說明", validators=[DataRequired(REQUIRED), Length(min=2, max=2000)],
                           render_kw={"rows": 3, "maxlength": 2000})
    submit = SubmitField("移除提案")


class AgencyForm(_VersionedForm):
    agency_code = SelectField("權責機關", validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("變更理由", validators=[Optional(), Length(max=500)], render_kw={"rows": 2, "maxlength": 500})
    submit = SubmitField("變更權責機關")


def _agency_choices() -> list[tuple[str, str]]:
    return [("", "請選擇")] + [(a.code, a.name) for a in active_agencies()]


def _forms(proposal: Proposal, **given) -> dict:
    """The action forms of the detail page, each with the version shown (unless given back with errors)."""
    forms = {}
    for name, cls in (("pass_form", PassForm), ("return_form", ReturnForm), ("remove_form", RemoveForm),
                      ("agency_form", AgencyForm)):
        form = given.get(name) or cls(prefix=name.removesuffix("_form"), formdata=None)
        if name not in given:
            form.version.data = str(proposal.version)
        forms[name] = form
    forms["agency_form"].agency_code.choices = _agency_choices()
    if "agency_form" not in given:
        forms["agency_form"].agency_code.data = proposal.agency_code or ""
    return forms


# --- reading ------------------------------------------------------------------------------------

def _proposal_or_404(proposal_id: int) -> Proposal:
    try:
        return Proposal.get_by_id(proposal_id)
    except peewee.DoesNotExist:
        abort(404)


def _similar(proposal: Proposal) -> list[Match]:
    """The similar proposals the proposer saw before submitting (R9.1.4): the same search, with scores
    and why each matched."""
    return find_similar_explained(proposal.title or "", proposal.content or "", exclude_id=proposal.id)


def _duplicate_candidates(proposal: Proposal) -> list[Match]:
    """Candidates for the duplicate field of a return (R9.2.3): similar proposals now in seconding only."""
    return find_similar_explained(proposal.title or "", proposal.content or "", exclude_id=proposal.id,
                                  states={SECONDING})




def _event_detail(event: AuditEvent) -> str:
    """A short zh-TW line from the event's detail (agencies by name)."""
    if not event.detail:
        return ""
    try:
        detail = json.loads(event.detail)
    except ValueError:
        return ""
    parts = []
    if "from" in detail or "to" in detail:
        parts.append(f"{agency_label(detail.get('from')) or '（未指定）'} → {agency_label(detail.get('to'))}")
    if "agency" in detail:
        parts.append(agency_label(detail["agency"]))
    if detail.get("role"):
        parts.append(confirmation.ROLES.get(detail["role"], detail["role"]))
    if detail.get("decision"):
        parts.append(confirmation.DECISION_LABELS.get(detail["decision"], detail["decision"]))
    if detail.get("redirect_to"):
        parts.append(f"所屬機關：{agency_label(detail['redirect_to'])}")
    if detail.get("handling_unit"):
        parts.append(f"承辦：{detail['handling_unit']}")
    if detail.get("outcome"):
        parts.append(confirmation.SETTLE_OUTCOMES.get(detail["outcome"], detail["outcome"]))
    if detail.get("roles"):
        parts.append("、".join(f"{agency_label(c)}（{confirmation.ROLES.get(r, r)}）" for c, r in detail["roles"].items()))
    if detail.get("leads"):
        parts.append("主辦：" + "、".join(agency_label(c) for c in detail["leads"]))
    return "；".join(parts)


def history(proposal: Proposal) -> list[dict]:
    """The proposal's audit trail, oldest first, ready to show."""
    events = list(AuditEvent.select().where((AuditEvent.subject_type == "proposal") & (AuditEvent.subject_id == proposal.id))
                  .order_by(AuditEvent.created_at, AuditEvent.id))
    names = actor_names(events, proposer_id=proposal.proposer_id)
    return [{"at": e.created_at, "actor": names.get(e.actor, e.actor), "action": ACTION_LABELS.get(e.action, e.action),
             "reason": e.reason, "detail": _event_detail(e)} for e in events]


def render_detail(proposal: Proposal, status: int = 200, **given):
    """The detail page (also used by the confirmation forms when they come back with errors)."""
    today = today_taipei()
    page = render_template(
        "console/review_detail.html", proposal=proposal, proposer_name=proposal.proposer.display_name,
        overdue=domain.is_review_overdue(proposal, today), reviewable=proposal.state in domain.REVIEWABLE_STATES,
        confirmable=proposal.state in confirmation.CONFIRMABLE_STATES, similar=_similar(proposal),
        duplicate_candidates=_duplicate_candidates(proposal) if proposal.state in domain.REVIEWABLE_STATES else [],
        history=history(proposal), assignments=confirmation.assignments_of(proposal.id), today=today,
        duplicate=proposal.duplicate_of, title=f"提案{proposal.number}",
        **_forms(proposal, **{k: v for k, v in given.items() if k in ("pass_form", "return_form", "remove_form", "agency_form")}),
        **request_forms(proposal, **{k: v for k, v in given.items() if k in ("request_form", "roles_form")}),
    )
    return page, status


# --- views --------------------------------------------------------------------------------------

@bp.get("/review")
@ops_required
def review_queue():
    """Submitted proposals by review due day (R9.2.1); overdue ones marked. Then passed ones awaiting agencies."""
    today = today_taipei()
    queue = domain.review_queue()
    awaiting = list(confirmation.unasked_proposals())  # R9.2.5(1): never asked, or every agency released
    return render_template("console/review_queue.html", queue=queue, awaiting=awaiting, today=today,
                           is_overdue=domain.is_review_overdue, title="提案檢核")


@bp.get("/review/<int:proposal_id>")
@ops_required
def review_detail(proposal_id: int):
    return render_detail(_proposal_or_404(proposal_id))


def _act(proposal: Proposal, form: Form, form_name: str, action):
    """Run one review action (webapp/console/actions.py); back to the detail page either way."""
    return act_on_detail(form, lambda: action(form), render=lambda **given: render_detail(proposal, **given),
                         form_name=form_name,
                         back=lambda: redirect(url_for("console.review_detail", proposal_id=proposal.id)))


@bp.post("/review/<int:proposal_id>/pass")
@ops_required
def review_pass(proposal_id: int):
    """R9.2.2: no R7 problem → seconding; the proposer is emailed and told in LINE (queued by the domain)."""
    proposal = _proposal_or_404(proposal_id)

    def action(form):
        domain.pass_review(proposal.id, current_staff().actor, expected_version=form.expected_version,
                           base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["passed"].format(number=proposal.number)

    return _act(proposal, PassForm(prefix="pass"), "pass_form", action)


@bp.post("/review/<int:proposal_id>/return")
@ops_required
def review_return(proposal_id: int):
    """R9.2.3: returned with reasons, possibly as a duplicate of a proposal in seconding."""
    proposal = _proposal_or_404(proposal_id)

    def action(form):
        domain.return_for_revision(proposal.id, current_staff().actor, form.reasons.data,
                                   duplicate_of=form.duplicate_of.data, expected_version=form.expected_version)
        return MSG["returned"].format(number=proposal.number)

    return _act(proposal, ReturnForm(prefix="return"), "return_form", action)


@bp.post("/review/<int:proposal_id>/remove")
@ops_required
def review_remove(proposal_id: int):
    """R7: removed at any time on one of the grounds R7.1–R7.7, with a reason; the proposer and agencies are told."""
    proposal = _proposal_or_404(proposal_id)

    def action(form):
        removed = remove_published(proposal.id, current_staff().actor, form.ground.data, form.reason.data,
                                   expected_version=form.expected_version)
        told = "提案人及權責機關" if removed.seconding_started_at else "提案人"  # agencies only once it passed review
        return MSG["removed"].format(number=proposal.number, ground=form.ground.data, told=told)

    return _act(proposal, RemoveForm(prefix="remove"), "remove_form", action)


@bp.post("/review/<int:proposal_id>/agency")
@ops_required
def review_change_agency(proposal_id: int):
    """R9.1.3: the operations team changes a wrong choice of responsible agency."""
    proposal = _proposal_or_404(proposal_id)
    form = AgencyForm(prefix="agency")
    form.agency_code.choices = _agency_choices()

    def action(form):
        changed = reassign(proposal.id, current_staff().actor, form.agency_code.data, form.reason.data or "",
                           expected_version=form.expected_version, base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["agency_changed"].format(number=proposal.number, agency=changed.agency_name)

    return _act(proposal, form, "agency_form", action)
