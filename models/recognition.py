"""Recognition (R11): the proposer's consent to be recommended to their own agency for an award.

When an agency adopts a proposal wholly or partly (R9.4.3), each of its proposers (the proposer and
the confirmed co-proposers of a group proposal, R5.1) is asked whether they agree (`ask_consent`,
called by `models.response_publishing.publish_response` in its transaction), by LINE *and* email:
- LINE: a message with two quick replies, the postback `a=rec.consent&p=<proposal id>&v=yes|no`
  (bot/handlers/recognition.py);
- email: the same text with a signed link (`consent_link`) to a page with the two answers
  (webapp/recognition_consent.py), so an official without LINE can answer too.
The consent text says exactly what agreeing means: the operations team may recommend them to their
own agency (所屬機關) for 專案敘獎, 公開表揚 and 經驗分享, and then emails that agency their name,
the proposal and the year's figures (models/recommendations.py). If nobody answered after
`settings.RECOGNITION_REMINDER_WORKING_DAYS` working days, the sweep asks once more, by LINE and
email (`remind_unanswered`). An answer may be changed later; a recommendation already sent stays
sent. Every answer is in the audit trail. The annual figures are in models/recognition_figures.py.
"""
from __future__ import annotations

import datetime as dt

import peewee
from itsdangerous import BadSignature, URLSafeSerializer

from . import calendar, services, settings
from .agencies import get_agency
from .base import BaseModel, DomainError, taipei_date, utcnow
from .events import record
from .notify import notify_official
from .officials import Official, require_verified
from .outbox import unit_of_work
from .proposals import CoProposer, Proposal

# models.responses.ADOPT / PARTIAL; not imported, because models.responses imports this module.
ADOPT, PARTIAL = "adopt", "partial"
ADOPTED_DECISIONS = (ADOPT, PARTIAL)

YES, NO = "yes", "no"
CONSENT_LABELS = {YES: "同意推薦", NO: "不同意", None: "未回覆"}
CONSENT_ACTION = "rec.consent"  # postback a=rec.consent&p=<proposal>&v=yes|no
LINK_PATH = "/recognition/consent/"

CONSENT_TEXT = ("依作業規範第十一點，提案經權責機關同意參採或部分參採者，營運小組得視您的意願，衡酌您當年度的提案件數"
                "及貢獻度，建請您的所屬機關（{workplace}）辦理專案敘獎、公開表揚及經驗分享。\n"
                "如您同意，營運小組建議時會以電子郵件將您的姓名、顯示名稱、參採的提案及年度提案數據寄給{workplace}，"
                "由機關決定是否辦理並回覆營運小組；不同意則不會寄送。")
MSG = {
    "ask": ("🎉 您的提案{number}「{title}」經權責機關回應為「{decision}」。\n\n" + CONSENT_TEXT
            + "\n\n請問您是否同意？（營運小組寄出建議前仍可改變選擇）"),
    "ask_subject": "【政策參與平臺】提案獲參採，是否同意推薦獎勵：{title}",
    "ask_mail": "\n\n請點選下列連結回覆（也可在 LINE 官方帳號點選「同意推薦」或「不同意」）：\n{link}",
    "remind": "提醒：您尚未回覆是否同意推薦獎勵。\n\n",
    "remind_subject": "【政策參與平臺】提醒：是否同意推薦獎勵（提案{number}）",
    "ask_yes": "同意推薦",
    "ask_no": "不同意",
    "not_asked": "這個提案沒有請您表示是否同意推薦獎勵。",
    "bad_link": "這個連結無效（可能不完整或遭修改），請使用通知信中的完整連結，或在 LINE 官方帳號回覆。",
    "answered_yes": "✅ 已記錄：您同意由營運小組推薦獎勵（提案{number}）。謝謝您的貢獻！",
    "answered_no": "已記錄：您不同意推薦獎勵（提案{number}）。如改變心意，可再點選「同意推薦」。",
}
DECISION_LABELS = {ADOPT: "同意參採", PARTIAL: "部分參採"}


class RecognitionConsent(BaseModel):
    """One proposer asked whether they agree to be recommended for an award for one adopted proposal (R11)."""

    proposal = peewee.ForeignKeyField(Proposal, backref="recognition_consents", on_delete="CASCADE")
    official = peewee.ForeignKeyField(Official, backref="+", on_delete="CASCADE")
    asked_at = peewee.DateTimeField(default=utcnow)
    answer = peewee.CharField(max_length=3, null=True, constraints=[peewee.Check("answer IN ('yes', 'no')")])
    answered_at = peewee.DateTimeField(null=True)
    remind_due = peewee.DateField(null=True, index=True)  # unanswered after this day: asked once more
    reminded_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("proposal", "official"), True),)

    @property
    def answer_label(self) -> str:
        return CONSENT_LABELS.get(self.answer, self.answer or "")


def proposers_of(proposal: Proposal) -> list[Official]:
    """The proposer, then the confirmed co-proposers of a group proposal (R5.1)."""
    people = [proposal.proposer]
    people += [c.official for c in CoProposer.select(CoProposer, Official).join(Official)
               .where((CoProposer.proposal == proposal.id) & CoProposer.confirmed_at.is_null(False))
               .order_by(CoProposer.id)]
    return people


def workplace_of(official: Official) -> str:
    """Where the official works, as recognition names it: their own agency (所屬機關)."""
    agency = get_agency(official.agency_code or "")
    return agency.name if agency else "您的所屬機關"


# --- the signed link in the email ------------------------------------------------------------------

def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(services.secret_key(), salt="recognition-consent")


def consent_link(proposal_id: int, official_id: int) -> str:
    return f"{services.current().public_base_url}{LINK_PATH}{_serializer().dumps([proposal_id, official_id])}"


def open_consent_link(token: str) -> RecognitionConsent:
    """The consent a link is for; DomainError 'bad_link' (zh-TW) when forged or for nothing asked."""
    try:
        proposal_id, official_id = _serializer().loads(token)
        row = RecognitionConsent.get_or_none((RecognitionConsent.proposal == int(proposal_id))
                                             & (RecognitionConsent.official == int(official_id)))
    except (BadSignature, TypeError, ValueError):
        raise DomainError(MSG["bad_link"], "bad_link") from None
    if row is None:
        raise DomainError(MSG["bad_link"], "bad_link")
    return row


# --- asking, reminding, answering ------------------------------------------------------------------

def _ask_message(proposal: Proposal, text: str) -> dict:
    def answer(label: str, value: str) -> dict:
        return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label,
                                              "data": f"a={CONSENT_ACTION}&p={proposal.id}&v={value}"}}

    return {"type": "text", "text": text[:4900],
            "quickReply": {"items": [answer(MSG["ask_yes"], YES), answer(MSG["ask_no"], NO)]}}


def _ask(proposal: Proposal, official: Official, decision: str, key: str, now: dt.datetime,
         reminder: bool = False) -> None:
    text = (MSG["remind"] if reminder else "") + MSG["ask"].format(
        number=proposal.number, title=proposal.title, decision=DECISION_LABELS.get(decision, decision),
        workplace=workplace_of(official))
    subject = (MSG["remind_subject"] if reminder else MSG["ask_subject"]).format(number=proposal.number,
                                                                                title=proposal.title)
    notify_official(official, subject=subject, body=text + MSG["ask_mail"].format(link=consent_link(proposal.id, official.id)),
                    line_messages=[_ask_message(proposal, text)], key=key, now=now)


def ask_consent(proposal: Proposal, decision: str, now: dt.datetime | None = None) -> int:
    """R11: ask each proposer by LINE and email whether they agree to be recommended; once per proposal
    and person. Call inside the transaction that publishes the response; returns how many were asked."""
    if decision not in ADOPTED_DECISIONS:
        return 0
    now = now or utcnow()
    remind_due = calendar.add_working_days(taipei_date(now), settings.RECOGNITION_REMINDER_WORKING_DAYS)
    asked = []
    for official in proposers_of(proposal):
        if RecognitionConsent.select().where((RecognitionConsent.proposal == proposal.id)
                                             & (RecognitionConsent.official == official.id)).exists():
            continue
        RecognitionConsent.create(proposal=proposal.id, official=official.id, asked_at=now, remind_due=remind_due)
        asked.append(official.id)
        _ask(proposal, official, decision, f"proposal:{proposal.id}:recognition-ask:{official.id}", now)
    if asked:
        record("system:recognition", "recognition_consent_asked", "proposal", proposal.id,
               detail={"officials": asked, "remind_due": remind_due.isoformat()}, now=now)
    return len(asked)


def remind_unanswered(now: dt.datetime) -> int:
    """Sweep step (R11): once, ask again (LINE and email) whoever has not answered by `remind_due`."""
    today = taipei_date(now)
    candidates = [r.id for r in RecognitionConsent.select(RecognitionConsent.id).where(
        RecognitionConsent.answer.is_null() & RecognitionConsent.reminded_at.is_null()
        & (RecognitionConsent.remind_due < today))]
    sent = 0
    for row_id in candidates:
        with unit_of_work():
            claimed = (RecognitionConsent.update(reminded_at=now)
                       .where((RecognitionConsent.id == row_id) & RecognitionConsent.answer.is_null()
                              & RecognitionConsent.reminded_at.is_null()).execute())
            if not claimed:
                continue
            row = RecognitionConsent.get_by_id(row_id)
            proposal = Proposal.get_by_id(row.proposal_id)
            _ask(proposal, row.official, proposal.response_decision or ADOPT,
                 f"proposal:{proposal.id}:recognition-remind:{row.official_id}", now, reminder=True)
            record("system:sweep", "recognition_consent_reminded", "proposal", proposal.id,
                   detail={"official": row.official_id}, now=now)
            sent += 1
    return sent


def answer_consent(official: Official, proposal_id: int, agree: bool, now: dt.datetime | None = None, *,
                   via: str = "line") -> RecognitionConsent:
    """The proposer agrees (or not) to be recommended for an award; a later answer replaces an earlier one."""
    require_verified(official)
    now = now or utcnow()
    value = YES if agree else NO
    with unit_of_work():
        row = RecognitionConsent.get_or_none((RecognitionConsent.proposal == proposal_id)
                                             & (RecognitionConsent.official == official.id))
        if row is None:
            raise DomainError(MSG["not_asked"], "not_asked")
        if row.answer != value:
            RecognitionConsent.update(answer=value, answered_at=now).where(RecognitionConsent.id == row.id).execute()
            row.answer, row.answered_at = value, now
            record(official.actor, "recognition_consent_answered", "proposal", proposal_id,
                   detail={"answer": value, "via": via}, now=now)
    return row


def answer_text(row: RecognitionConsent) -> str:
    """The answer to a consent, in the chat or on the link's page."""
    number = f"第 {row.proposal_id} 號"
    return MSG["answered_yes" if row.answer == YES else "answered_no"].format(number=number)
