"""Talking with those who gave opinions (R10.2: 並得視需求，與意見表達者進行溝通討論).

After a consultation closes, its agency (or the operations team) may write to the officials who gave
opinions, either all of them or the author of one opinion (`write_to_participants`), and may invite
them to a discussion meeting (`schedule_discussion`) whose summary is published on the public
consultation page once it was held (`record_discussion_summary`), as R9.4.2 meetings are for
proposals. Decisions taken where the regulation is silent:
- The conversation belongs to the summary stage: it is possible once the consultation has closed
  (closed or summarised), never while opinions are still being gathered.
- Recipients are the verified authors of opinions that were not hidden (R7), each once.
- No personal data reaches the agency (R4): it chooses an opinion by its number and sees display
  names and counts only. The platform delivers each message by LINE, and by email when the official
  has no LINE link or the push fails (`models.notify.message_official`). An official who wants to
  answer writes to the agency's contact address, disclosing their own address by their own choice.
- Each message and meeting is a row and an audit event; the meeting's place and how to join are
  sent to the invited only, the public page shows its date and, once held, its summary.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import settings
from .agencies import get_agency
from .base import BaseModel, DomainError, format_taipei, taipei_date, utcnow
from .consultations import CLOSED, SUMMARISED, Consultation, Opinion, _require_agency, consultation_link, lock
from .events import record
from .notify import message_official
from .officials import STATUS_VERIFIED, Official, clean_text
from .outbox import unit_of_work
from .staff import Staff

MESSAGE_MIN, MESSAGE_MAX = 4, 2000
PLACE_MAX, JOIN_MAX, SUMMARY_MAX = 200, 1000, 4000
DISCUSSION_STATES = (CLOSED, SUMMARISED)

MSG = {
    "not_yet": "政策諮詢目前為「{state}」；與意見提供者溝通討論在徵詢結束後進行（第十點（二））。",
    "no_recipients": "這個政策諮詢沒有可聯繫的意見提供者（意見已隱藏或提供者已停用）。",
    "bad_opinion": "找不到這則意見，或它已被隱藏；請從清單中選擇意見編號。",
    "meeting_past": "會議日期不能早於今天（{today}）。",
    "meeting_not_found": "找不到這場溝通討論會議。",
    "summary_early": "會議訂於 {day} 召開，召開後才能填寫會議紀錄摘要。",
}
SUBJECTS = {
    "message": "【政策參與平臺】{agency}就政策諮詢與您溝通：{title}",
    "meeting": "【政策參與平臺】溝通討論會議邀請：{title}",
}
BODIES = {
    "message_all": "{agency}就政策諮詢「{title}」（{number}），想與提出意見的同仁溝通討論：",
    "message_one": "{agency}就您在政策諮詢「{title}」（{number}）提出的意見（意見第 {opinion} 號），想與您溝通討論：",
    "message": ("{intro}\n\n{body}\n\n如您願意回覆，請寫信至 {contact}（回信即會讓機關知道您的電子郵件；"
                "平臺不會提供您的個人資料給機關）。\n諮詢頁面：{link}"),
    "meeting": ("{agency}邀請您出席政策諮詢「{title}」（{number}）的溝通討論會議（第十點（二））：\n\n"
                "日期：{day}\n時間及地點：{place}\n參加方式：{join}\n\n"
                "是否出席由您決定；會後機關會在諮詢頁面公布會議紀錄摘要。\n"
                "如有疑問，請寫信至 {contact}。\n諮詢頁面：{link}"),
}


class DiscussionMessage(BaseModel):
    """What the agency wrote to the officials who gave opinions (all of them, or one opinion's author)."""

    consultation = peewee.ForeignKeyField(Consultation, backref="discussion_messages", on_delete="CASCADE")
    opinion = peewee.ForeignKeyField(Opinion, null=True, backref="+", on_delete="RESTRICT")  # None: everyone
    body = peewee.TextField()
    agency_code = peewee.CharField(max_length=32)
    sent_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)
    recipients = peewee.IntegerField(default=0)
    by_line = peewee.IntegerField(default=0)
    by_mail = peewee.IntegerField(default=0)


class DiscussionMeeting(BaseModel):
    """A discussion meeting with those who gave opinions; public: its date and, once held, the summary."""

    consultation = peewee.ForeignKeyField(Consultation, backref="discussion_meetings", on_delete="CASCADE")
    held_on = peewee.DateField()
    place = peewee.CharField(max_length=PLACE_MAX)  # time and place, as the agency writes it
    how_to_join = peewee.TextField()
    agency_code = peewee.CharField(max_length=32)
    scheduled_by = peewee.CharField(max_length=128)
    created_at = peewee.DateTimeField(default=utcnow)
    invited = peewee.IntegerField(default=0)
    summary = peewee.TextField(null=True)
    summarised_by = peewee.CharField(max_length=128, null=True)
    summarised_at = peewee.DateTimeField(null=True)


def recipients(consultation: Consultation, opinion_id: int | None = None) -> list[Official]:
    """The verified authors of the consultation's visible opinions (of one opinion, if given), each once."""
    query = Opinion.select(Opinion.official).where((Opinion.consultation == consultation.id)
                                                   & Opinion.hidden_at.is_null())
    if opinion_id is not None:
        query = query.where(Opinion.id == opinion_id)
    return list(Official.select().where(Official.id.in_(query) & (Official.status == STATUS_VERIFIED))
                .order_by(Official.id))


def _open_for_discussion(staff: Staff, consultation_id: int) -> Consultation:
    consultation = lock(consultation_id)
    _require_agency(staff, consultation.agency_code)
    if consultation.state not in DISCUSSION_STATES:
        raise DomainError(MSG["not_yet"].format(state=consultation.state_label), "not_closed")
    return consultation


def _fields(consultation: Consultation) -> dict:
    agency = get_agency(consultation.agency_code)
    return {"agency": consultation.agency_name, "title": consultation.title, "number": consultation.number,
            "contact": (agency.contact_email if agency else None) or settings.OPS_NOTIFY_EMAIL,
            "link": consultation_link(consultation)}


def write_to_participants(staff: Staff, consultation_id: int, body: str, opinion_id: int | None = None,
                          now: dt.datetime | None = None) -> DiscussionMessage:
    """R10.2: a message to every official who gave an opinion, or to one opinion's author, by LINE
    (email as the fallback); the agency learns how many were reached, never who or where."""
    now = now or utcnow()
    body = clean_text(body, field="訊息內容", max_len=MESSAGE_MAX, min_len=MESSAGE_MIN, multiline=True)
    with unit_of_work():
        consultation = _open_for_discussion(staff, consultation_id)
        if opinion_id is not None:
            opinion = Opinion.get_or_none((Opinion.id == opinion_id) & (Opinion.consultation == consultation.id))
            if opinion is None or opinion.is_hidden:
                raise DomainError(MSG["bad_opinion"], "bad_opinion")
        people = recipients(consultation, opinion_id)
        if not people:
            raise DomainError(MSG["no_recipients"] if opinion_id is None else MSG["bad_opinion"], "no_recipients")
        row = DiscussionMessage.create(consultation=consultation.id, opinion=opinion_id, body=body,
                                       agency_code=consultation.agency_code, sent_by=staff.actor, created_at=now)
        fields = _fields(consultation)
        intro = (BODIES["message_one"].format(opinion=opinion_id, **fields) if opinion_id is not None
                 else BODIES["message_all"].format(**fields))
        text = BODIES["message"].format(intro=intro, body=body, **fields)
        channels = [message_official(person, subject=SUBJECTS["message"].format(**fields), body=text,
                                     key=f"consultation:{consultation.id}:message:{row.id}:official:{person.id}",
                                     now=now) for person in people]
        row.recipients, row.by_line, row.by_mail = len(people), channels.count("line"), channels.count("mail")
        row.save()
        record(staff.actor, "discussion_message_sent", "consultation", consultation.id,
               detail={"message": row.id, "opinion": opinion_id, "recipients": row.recipients}, now=now)
    return row


def schedule_discussion(staff: Staff, consultation_id: int, held_on: dt.date, place: str, how_to_join: str,
                        now: dt.datetime | None = None) -> DiscussionMeeting:
    """R10.2: invite every official who gave an opinion to a discussion meeting (LINE, email as fallback)."""
    now = now or utcnow()
    today = taipei_date(now)
    if not isinstance(held_on, dt.date) or held_on < today:
        raise DomainError(MSG["meeting_past"].format(today=f"{today:%Y-%m-%d}"), "meeting_past")
    place = clean_text(place, field="時間及地點", max_len=PLACE_MAX, min_len=2)
    how_to_join = clean_text(how_to_join, field="參加方式", max_len=JOIN_MAX, min_len=2, multiline=True)
    with unit_of_work():
        consultation = _open_for_discussion(staff, consultation_id)
        people = recipients(consultation)
        if not people:
            raise DomainError(MSG["no_recipients"], "no_recipients")
        meeting = DiscussionMeeting.create(consultation=consultation.id, held_on=held_on, place=place,
                                           how_to_join=how_to_join, agency_code=consultation.agency_code,
                                           scheduled_by=staff.actor, created_at=now, invited=len(people))
        fields = {**_fields(consultation), "day": f"{held_on:%Y-%m-%d}", "place": place, "join": how_to_join}
        for person in people:
            message_official(person, subject=SUBJECTS["meeting"].format(**fields), body=BODIES["meeting"].format(**fields),
                             key=f"consultation:{consultation.id}:meeting:{meeting.id}:official:{person.id}", now=now)
        record(staff.actor, "discussion_meeting_scheduled", "consultation", consultation.id,
               detail={"meeting": meeting.id, "held_on": held_on.isoformat(), "recipients": len(people)}, now=now)
    return meeting


def record_discussion_summary(staff: Staff, meeting_id: int, summary: str,
                              now: dt.datetime | None = None) -> DiscussionMeeting:
    """R10.2: after the meeting, its summary, published on the consultation page with the date."""
    now = now or utcnow()
    summary = clean_text(summary, field="會議紀錄摘要", max_len=SUMMARY_MAX, min_len=10, multiline=True)
    meeting = DiscussionMeeting.get_or_none(DiscussionMeeting.id == meeting_id)
    if meeting is None:
        raise DomainError(MSG["meeting_not_found"], "not_found")
    with unit_of_work():
        consultation = lock(meeting.consultation_id)
        _require_agency(staff, consultation.agency_code)
        if meeting.held_on > taipei_date(now):
            raise DomainError(MSG["summary_early"].format(day=f"{meeting.held_on:%Y-%m-%d}"), "summary_early")
        (DiscussionMeeting.update(summary=summary, summarised_by=staff.actor, summarised_at=now)
         .where(DiscussionMeeting.id == meeting.id).execute())
        record(staff.actor, "discussion_meeting_summarised", "consultation", consultation.id, reason=summary,
               detail={"meeting": meeting.id, "held_on": meeting.held_on.isoformat()}, now=now)
    return DiscussionMeeting.get_by_id(meeting.id)


def messages_of(consultation: Consultation) -> list[DiscussionMessage]:
    return list(DiscussionMessage.select().where(DiscussionMessage.consultation == consultation.id)
                .order_by(DiscussionMessage.created_at, DiscussionMessage.id))


def meetings_of(consultation: Consultation) -> list[DiscussionMeeting]:
    return list(DiscussionMeeting.select().where(DiscussionMeeting.consultation == consultation.id)
                .order_by(DiscussionMeeting.held_on, DiscussionMeeting.id))


def describe_message(row: DiscussionMessage) -> str:
    """Whom a message went to, as the agency may see it (no personal data)."""
    whom = f"意見第 {row.opinion_id} 號的提出者" if row.opinion_id else "全體意見提供者"
    return f"{whom}（{row.recipients} 位：LINE {row.by_line}、電子郵件 {row.by_mail}）；{format_taipei(row.created_at)}"
