"""Talking with those who gave opinions, in the console (R10.2): the consultation's agency or ops.

On a closed (or summarised) consultation's page: write to every official who gave an opinion or to
one opinion's author (chosen by the opinion's number; the agency never sees an address or a LINE
id), invite them to a discussion meeting, and record the meeting's summary, which is published on
the public consultation page. The domain is `models/consultation_discussion.py`.
"""
from __future__ import annotations

from flask import abort, redirect, url_for

from models import consultation_discussion as discussion
from models.base import DomainError

from .actions import act
from .auth import current_staff, staff_required
from .blueprint import bp
from .consultations import _act, _own_or_abort, render_detail
from .forms import DiscussionMeetingForm, DiscussionMessageForm, DiscussionSummaryForm

MSG = {
    "sent": "訊息已送出給{whom}（{n} 位；LINE {line}、電子郵件 {mail}）。機關不會取得對方的個人資料。",
    "scheduled": "已安排 {day} 的溝通討論會議，並邀請 {n} 位意見提供者。",
    "summarised": "已儲存會議紀錄摘要，並公布於諮詢頁面。",
}


@bp.post("/consultations/<int:consultation_id>/message")
@staff_required
def consultation_message(consultation_id: int):
    """R10.2: a message to every official who gave an opinion, or to one opinion's author."""
    consultation = _own_or_abort(consultation_id)
    form = DiscussionMessageForm(prefix="message")

    def action(form):
        choice = form.recipient.data or ""
        opinion_id = None if choice == "all" else _opinion_number(choice)
        row = discussion.write_to_participants(current_staff(), consultation.id, form.body.data, opinion_id)
        whom = f"意見第 {opinion_id} 號的提出者" if opinion_id else "全體意見提供者"
        return MSG["sent"].format(whom=whom, n=row.recipients, line=row.by_line, mail=row.by_mail)

    return _act(consultation, form, "message_form", action)


def _opinion_number(choice: str) -> int:
    if not choice.isdigit() or len(choice) > 12:
        raise DomainError(discussion.MSG["bad_opinion"], "bad_opinion")
    return int(choice)


@bp.post("/consultations/<int:consultation_id>/meetings")
@staff_required
def consultation_meeting(consultation_id: int):
    """R10.2: invite those who gave opinions to a discussion meeting (LINE, email as the fallback)."""
    consultation = _own_or_abort(consultation_id)

    def action(form):
        meeting = discussion.schedule_discussion(current_staff(), consultation.id, form.held_on.data, form.place.data,
                                                 form.how_to_join.data)
        return MSG["scheduled"].format(day=f"{meeting.held_on:%Y-%m-%d}", n=meeting.invited)

    return _act(consultation, DiscussionMeetingForm(prefix="meeting"), "meeting_form", action)


@bp.post("/consultations/<int:consultation_id>/meetings/<int:meeting_id>/summary")
@staff_required
def consultation_meeting_summary(consultation_id: int, meeting_id: int):
    """R10.2: the summary of a discussion meeting that was held (published with its date)."""
    consultation = _own_or_abort(consultation_id)
    meeting = discussion.DiscussionMeeting.get_or_none((discussion.DiscussionMeeting.id == meeting_id)
                                                       & (discussion.DiscussionMeeting.consultation == consultation.id))
    if meeting is None:
        abort(404)
    form = DiscussionSummaryForm(prefix=f"dsummary{meeting.id}")

    def back():
        return redirect(url_for("console.consultation_detail", consultation_id=consultation.id) + "#discussion")

    return act(form, lambda: (discussion.record_discussion_summary(current_staff(), meeting.id, form.summary.data),
                              MSG["summarised"])[1],
               on_invalid=lambda: render_detail(consultation, status=400, dsummary_form=form,
                                                dsummary_meeting_id=meeting.id),
               on_refused=back, done=back, explain_errors=True)
