"""Agency responses in the console (R9.4).

`/console/responses` lists the established proposals (then the responded ones) by the last day of
their response clock, extended ones and overdue ones marked: every proposal for the operations team,
those their agency leads or co-organises for agency staff. The detail page shows the proposal, the
clock, merges, meetings and the response; the lead agency's staff and the operations team act there
with CSRF-protected forms (publish, extend once, schedule a meeting and record its summary, merge).
Co-organisers see the page without the forms; staff of other agencies get 404.
"""
from __future__ import annotations

import json

import peewee
from flask import abort, current_app, redirect, render_template, url_for
from wtforms import DateField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from models import response_publishing as publishing
from models import responses as domain
from models.agency_confirmation import CO, LEAD
from models.calendar import today_taipei
from models.events import AuditEvent
from models.proposals import ESTABLISHED, RESPONDED, Proposal

from ..form import Form
from .actions import act
from .auth import agency_scope, current_staff, staff_required
from .blueprint import bp
from .review import history

REQUIRED = "此欄位必填。"

MSG = {
    "published": "已公開提案{number}的回應（{decision}），並通知提案人{members}。",
    "members": "；併案的提案{numbers}一併回應",
    "extended": "提案{number}的回應期限已延長至 {due}，延長理由將公開於提案頁面。",
    "scheduled": "已安排 {day} 的會議，並以 LINE 及電子郵件邀請提案人。",
    "summarised": "已儲存會議紀錄摘要。",
    "merged": "提案{number}已併入提案{main}，回應主案時將一併回應。",
    "bad_form": "表單內容有誤，請檢查後再送出。",
}

# Labels of this area's audit actions, added to the review history's (models.responses, models.response_publishing, models.recognition).
ACTION_LABELS = {
    "established": "成案", "establishment_notified": "成案通知",
    "response_published": "公開回應", "response_extended": "延長回應期限", "meeting_scheduled": "安排會議",
    "meeting_summarised": "會議紀錄摘要", "response_merged": "併入其他提案", "response_merge_received": "其他提案併入",
    "response_due_soon_reminded": "回應期限將屆提醒", "response_overdue_reminded": "回應逾期提醒",
    "response_due_recomputed": "行事曆異動，重算回應期限", "recognition_consent_asked": "詢問是否同意推薦獎勵",
    "recognition_consent_answered": "回覆是否同意推薦獎勵",
}


# --- forms --------------------------------------------------------------------------------------

class RespondForm(Form):
    lead = SelectField("代哪一個主辦機關回應（各主辦機關各自回應）", validators=[Optional()], validate_choice=False)
    decision = RadioField("回應結果（第九點（四）3）", choices=list(domain.DECISIONS.items()),
                          validators=[DataRequired(REQUIRED)])
    reasons = TextAreaField(f"理由（至少 {domain.REASONS_MIN} 字）",
                            validators=[DataRequired(REQUIRED), Length(max=domain.REASONS_MAX)],
                            render_kw={"rows": 6, "maxlength": domain.REASONS_MAX})
    plan = TextAreaField("具體辦理方式（同意參採或部分參採時必填）", validators=[Optional(), Length(max=domain.PLAN_MAX)],
                         render_kw={"rows": 5, "maxlength": domain.PLAN_MAX})
    submit = SubmitField("公開回應並通知提案人")


class ExtendForm(Form):
    reason = TextAreaField(f"延長理由（將公開，至少 {domain.EXTENSION_REASON_MIN} 字）",
                           validators=[DataRequired(REQUIRED), Length(max=domain.EXTENSION_REASON_MAX)],
                           render_kw={"rows": 3, "maxlength": domain.EXTENSION_REASON_MAX})
    submit = SubmitField("延長回應期限（限一次）")


class MeetingForm(Form):
    held_on = DateField("會議日期", validators=[DataRequired("請選擇會議日期。")])
    place = StringField("時間及地點", validators=[DataRequired(REQUIRED), Length(max=domain.MEETING_PLACE_MAX)],
                        render_kw={"maxlength": domain.MEETING_PLACE_MAX, "placeholder": "例如：14:00 臺灣大道市政大樓惠中樓 501 會議室"})
    participants = TextAreaField("出席對象（不公開）", validators=[DataRequired(REQUIRED), Length(max=domain.MEETING_TEXT_MAX)],
                                 render_kw={"rows": 2, "maxlength": domain.MEETING_TEXT_MAX,
                                            "placeholder": "例如：提案人、民政局、人事處"})
    submit = SubmitField("安排會議並邀請提案人")


class SummaryForm(Form):
    summary = TextAreaField("會議紀錄摘要（將公開）", validators=[DataRequired(REQUIRED), Length(max=domain.MEETING_TEXT_MAX)],
                            render_kw={"rows": 4, "maxlength": domain.MEETING_TEXT_MAX})
    submit = SubmitField("儲存會議紀錄摘要")


class MergeForm(Form):
    into = SelectField("併入的主案", validators=[DataRequired(REQUIRED)])
    reason = TextAreaField("併案理由（相同或相似之處）", validators=[DataRequired(REQUIRED), Length(max=domain.MERGE_REASON_MAX)],
                           render_kw={"rows": 2, "maxlength": domain.MERGE_REASON_MAX})
    submit = SubmitField("併案")


def _respond_form(proposal: Proposal, **formdata) -> RespondForm:
    """With several leads the team names the one it publishes for; a lead's staff publish for their own."""
    form = RespondForm(prefix="respond", **formdata)
    form.lead.choices = [(c, domain.agency_name(c)) for c in domain.missing_leads(proposal)]
    return form


def _merge_form(proposal: Proposal, **formdata) -> MergeForm:
    form = MergeForm(prefix="merge", **formdata)
    form.into.choices = [("", "請選擇")] + [(str(p.id), f"{p.number} {p.title}")
                                          for p in domain.merge_targets(proposal, current_staff())]
    return form


def _forms(proposal: Proposal, given: dict) -> dict:
    forms = {
        "respond_form": given.get("respond_form") or _respond_form(proposal, formdata=None),
        "extend_form": given.get("extend_form") or ExtendForm(prefix="extend", formdata=None),
        "meeting_form": given.get("meeting_form") or MeetingForm(prefix="meeting", formdata=None),
        "merge_form": given.get("merge_form") or _merge_form(proposal, formdata=None),
    }
    forms["summary_forms"] = {m.id: SummaryForm(prefix=f"summary{m.id}", formdata=None, summary=m.summary)
                              for m in domain.meetings_of(proposal.id)}
    if given.get("summary_form") is not None:
        forms["summary_forms"][given["summary_meeting_id"]] = given["summary_form"]
    return forms


# --- reading ------------------------------------------------------------------------------------

def _viewable_or_404(proposal_id: int) -> tuple[Proposal, str]:
    """The proposal and the staff member's role for it; 404 when it is not theirs to see (nothing is revealed)."""
    try:
        proposal = Proposal.get_by_id(proposal_id)
    except peewee.DoesNotExist:
        abort(404)
    role = domain.role_of(current_staff(), proposal)
    if proposal.state not in (ESTABLISHED, RESPONDED) or role is None:
        abort(404)
    return proposal, role


def _event_detail(event: AuditEvent) -> str:
    """A short zh-TW line for this area's events (the review history does not know their details)."""
    try:
        detail = json.loads(event.detail or "{}")
    except ValueError:
        return ""
    parts = []
    if detail.get("response_decision"):
        parts.append(domain.DECISIONS.get(detail["response_decision"], detail["response_decision"]))
    if detail.get("agency"):
        parts.append(domain.agency_name(detail["agency"]))
    if detail.get("late"):
        parts.append("逾期回應")
    if detail.get("main"):
        parts.append(f"經由主案第 {detail['main']} 號回應")
    if detail.get("original_due") and detail.get("new_due"):
        parts.append(f"{detail['original_due']} → {detail['new_due']}")
    if detail.get("held_on"):
        parts.append(f"會議日期 {detail['held_on']}")
    if detail.get("into"):
        parts.append(f"併入第 {detail['into']} 號")
    if detail.get("member"):
        parts.append(f"第 {detail['member']} 號併入")
    if detail.get("due"):
        parts.append(f"期限 {detail['due']}")
    if detail.get("answer"):
        parts.append("同意" if detail["answer"] == "yes" else "不同意")
    return "；".join(parts)


def _history(proposal: Proposal) -> list[dict]:
    """The review history, with this area's actions labelled and described."""
    events = list(AuditEvent.select().where((AuditEvent.subject_type == "proposal") & (AuditEvent.subject_id == proposal.id))
                  .order_by(AuditEvent.created_at, AuditEvent.id))
    rows = history(proposal)
    for row, event in zip(rows, events, strict=False):
        if event.action in ACTION_LABELS and row["at"] == event.created_at:
            row["action"] = ACTION_LABELS[event.action]
            row["detail"] = _event_detail(event) or row["detail"]
    return rows


def staff_code(role: str) -> str | None:
    return current_staff().agency_code if role == LEAD else None


def render_detail(proposal: Proposal, role: str, status: int = 200, **given):
    today = today_taipei()
    main = domain.merged_into(proposal.id)
    is_open = proposal.state == ESTABLISHED and proposal.notified_at is not None
    can_act = role in ("ops", LEAD) and is_open and main is None
    members = domain.members_of(proposal.id)
    extension = domain.extension_of(proposal.id)
    agencies = domain.responsible_agencies(proposal)
    waiting = domain.missing_leads(proposal)
    page = render_template(
        "console/response_detail.html", proposal=proposal, role=role, today=today, main=main, members=members,
        lead_names=[domain.agency_name(c) for c in agencies[LEAD]], co_names=[domain.agency_name(c) for c in agencies[CO]],
        response=domain.response_of(proposal.id), lead_rows=domain.lead_rows(proposal, today),
        can_publish=can_act and (staff_code(role) in waiting if role == LEAD else bool(waiting)),
        extension=extension, meetings=domain.meetings_of(proposal.id), history=_history(proposal),
        overdue=domain.is_overdue(proposal, today), due=domain.effective_due(proposal),
        can_act=can_act, can_summarise=role in ("ops", LEAD),
        can_extend=can_act and extension is None and proposal.response_due is not None and proposal.response_due >= today,
        can_merge=can_act and not members, role_label={"ops": "營運小組", LEAD: "主辦機關", CO: "協辦機關"}[role],
        title=f"機關回應：提案{proposal.number}", **_forms(proposal, given),
    )
    return page, status


# --- views --------------------------------------------------------------------------------------

@bp.get("/responses")
@staff_required
def responses():
    """Established proposals by response due day (extended and overdue marked), then the responded ones."""
    staff = current_staff()
    code = agency_scope(staff)
    today = today_taipei()
    rows = []
    for proposal in domain.console_proposals(code):
        agencies = domain.responsible_agencies(proposal)
        rows.append({"p": proposal, "due": domain.effective_due(proposal), "overdue": domain.is_overdue(proposal, today),
                     "leads": [domain.agency_name(c) for c in agencies[LEAD]],
                     "cos": [domain.agency_name(c) for c in agencies[CO]], "main": domain.merged_into(proposal.id),
                     "role": ("主辦" if code in agencies[LEAD] else "協辦") if code else ""})
    open_rows = [r for r in rows if r["p"].state == ESTABLISHED]
    done_rows = [r for r in rows if r["p"].state == RESPONDED]
    return render_template("console/response_list.html", open_rows=open_rows, done_rows=done_rows, today=today,
                           decisions=domain.DECISIONS, title="機關回應")


@bp.get("/responses/<int:proposal_id>")
@staff_required
def response_detail(proposal_id: int):
    proposal, role = _viewable_or_404(proposal_id)
    return render_detail(proposal, role)


def _act(proposal_id: int, form_name: str, make_form, action, **extra):
    """Validate, run one domain action, flash its outcome; a refusal keeps what was typed."""
    proposal, role = _viewable_or_404(proposal_id)
    form = make_form(proposal)
    return act(form, lambda: action(proposal, form),
               on_invalid=lambda: render_detail(proposal, role, status=400, **{form_name: form}, **extra),
               on_refused=lambda: render_detail(Proposal.get_by_id(proposal.id), role, status=400,
                                                **{form_name: form}, **extra),
               done=lambda: redirect(url_for("console.response_detail", proposal_id=proposal.id)))


@bp.post("/responses/<int:proposal_id>/publish")
@staff_required
def response_publish(proposal_id: int):
    """R9.4.3: publish the response (lead agency or ops); the proposers and opted-in seconders are told."""
    def action(proposal, form):
        publishing.publish_response(proposal.id, current_staff(), form.decision.data, form.reasons.data, form.plan.data or "",
                                    base_url=current_app.config["PUBLIC_BASE_URL"], agency_code=form.lead.data or None)
        numbers = [m.number for m in domain.members_of(proposal.id)]
        return MSG["published"].format(number=proposal.number, decision=domain.DECISIONS[form.decision.data],
                                       members=MSG["members"].format(numbers="、".join(numbers)) if numbers else "")

    return _act(proposal_id, "respond_form", lambda p: _respond_form(p), action)


@bp.post("/responses/<int:proposal_id>/extend")
@staff_required
def response_extend(proposal_id: int):
    """R9.4.4: extend once, before the last day has passed, with a published reason."""
    def action(proposal, form):
        extension = domain.extend_deadline(proposal.id, current_staff(), form.reason.data,
                                           base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["extended"].format(number=proposal.number, due=f"{extension.new_due:%Y-%m-%d}")

    return _act(proposal_id, "extend_form", lambda p: ExtendForm(prefix="extend"), action)


@bp.post("/responses/<int:proposal_id>/meetings")
@staff_required
def response_meeting(proposal_id: int):
    """R9.4.2: schedule a meeting; the proposers are invited by LINE and email."""
    def action(proposal, form):
        meeting = publishing.schedule_meeting(proposal.id, current_staff(), form.held_on.data, form.place.data,
                                          form.participants.data, base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["scheduled"].format(day=f"{meeting.held_on:%Y-%m-%d}")

    return _act(proposal_id, "meeting_form", lambda p: MeetingForm(prefix="meeting"), action)


@bp.post("/responses/<int:proposal_id>/meetings/<int:meeting_id>/summary")
@staff_required
def response_meeting_summary(proposal_id: int, meeting_id: int):
    """R9.4.2: the summary of a meeting that was held (published with its date)."""
    meeting = domain.Meeting.get_or_none((domain.Meeting.id == meeting_id) & (domain.Meeting.proposal == proposal_id))
    if meeting is None:
        abort(404)

    def action(proposal, form):
        publishing.record_meeting_summary(meeting.id, current_staff(), form.summary.data)
        return MSG["summarised"]

    return _act(proposal_id, "summary_form", lambda p: SummaryForm(prefix=f"summary{meeting.id}"), action,
                summary_meeting_id=meeting.id)


@bp.post("/responses/<int:proposal_id>/merge")
@staff_required
def response_merge(proposal_id: int):
    """R9.4.1: merge into another established proposal led by the same agency."""
    def action(proposal, form):
        row = publishing.merge(proposal.id, int(form.into.data), current_staff(), form.reason.data,
                           base_url=current_app.config["PUBLIC_BASE_URL"])
        return MSG["merged"].format(number=proposal.number, main=f"第 {row.into_proposal_id} 號")

    return _act(proposal_id, "merge_form", lambda p: _merge_form(p), action)
