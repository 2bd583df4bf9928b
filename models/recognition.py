"""Recognition (R11): consent to be recommended for an award, and the per-proposer annual figures.

When an agency adopts a proposal wholly or partly (R9.4.3), each of its proposers (the proposer and
the confirmed co-proposers of a group proposal, R5.1) is asked in LINE whether they agree to be
recommended (`ask_consent`, called by `models.response_publishing.publish_response` in its transaction).
The answer arrives as the postback `a=rec.consent&p=<proposal id>&v=yes|no` (bot/handlers/recognition.py)
and may be changed later; every answer is in the audit trail.

The operations team decides awards "weighing the year's number of proposals and the contribution":
`annual_figures(year)` gives, per proposer, what they proposed that year and how far it went.
Decisions taken where the regulation is silent:
- A year is the Asia/Taipei calendar year; each step counts in the year it happened (a proposal
  submitted in December and adopted in March counts as submitted in one year, adopted in the next).
- Co-proposers of a group proposal count as proposers (R5.1: "an individual or a group proposes").
- Removed proposals (R7) count for nothing: content removed as unlawful or out of scope is no
  contribution.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import peewee

from .agencies import Agency
from .base import BaseModel, DomainError, start_of_day_utc, utcnow
from .events import record
from .officials import Official, require_verified
from .outbox import queue_line, unit_of_work
from .proposals import REMOVED, CoProposer, Proposal

# models.responses.ADOPT / PARTIAL; not imported, because models.responses imports this module.
ADOPT, PARTIAL = "adopt", "partial"
ADOPTED_DECISIONS = (ADOPT, PARTIAL)

YES, NO = "yes", "no"
CONSENT_LABELS = {YES: "同意推薦", NO: "不同意", None: "未回覆"}
CONSENT_ACTION = "rec.consent"  # postback a=rec.consent&p=<proposal>&v=yes|no

MSG = {
    "ask": ("🎉 您的提案{number}「{title}」經權責機關回應為「{decision}」。\n\n"
            "依規定，提案經同意參採或部分參採者，營運小組得衡酌年度提案數量及貢獻度，"
            "簽報獎勵。請問您是否同意由營運小組推薦您接受獎勵？（之後仍可改變選擇）"),
    "ask_yes": "同意推薦",
    "ask_no": "不同意",
    "not_asked": "這個提案沒有請您表示是否同意推薦獎勵。",
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


def _ask_message(proposal: Proposal, decision: str) -> dict:
    def answer(label: str, value: str) -> dict:
        return {"type": "action", "action": {"type": "postback", "label": label, "displayText": label,
                                              "data": f"a={CONSENT_ACTION}&p={proposal.id}&v={value}"}}

    text = MSG["ask"].format(number=proposal.number, title=proposal.title, decision=DECISION_LABELS.get(decision, decision))
    return {"type": "text", "text": text[:4900],
            "quickReply": {"items": [answer(MSG["ask_yes"], YES), answer(MSG["ask_no"], NO)]}}


def ask_consent(proposal: Proposal, decision: str, now: dt.datetime | None = None) -> int:
    """R11: ask each proposer in LINE whether they agree to be recommended; once per proposal and person.

    Call inside the transaction that publishes the response; returns how many were asked.
    """
    if decision not in ADOPTED_DECISIONS:
        return 0
    now = now or utcnow()
    asked = []
    for official in proposers_of(proposal):
        if RecognitionConsent.select().where((RecognitionConsent.proposal == proposal.id)
                                             & (RecognitionConsent.official == official.id)).exists():
            continue
        RecognitionConsent.create(proposal=proposal.id, official=official.id, asked_at=now)
        asked.append(official.id)
        if official.following and official.line_user_id:
            queue_line(official.line_user_id, [_ask_message(proposal, decision)],
                       dedupe_key=f"proposal:{proposal.id}:recognition-ask:{official.id}", now=now)
    if asked:
        record("system:recognition", "recognition_consent_asked", "proposal", proposal.id,
               detail={"officials": asked}, now=now)
    return len(asked)


def answer_consent(official: Official, proposal_id: int, agree: bool, now: dt.datetime | None = None) -> RecognitionConsent:
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
                   detail={"answer": value}, now=now)
    return row


def answer_text(row: RecognitionConsent) -> str:
    """The chat's answer to a consent postback."""
    number = f"第 {row.proposal_id} 號"
    return MSG["answered_yes" if row.answer == YES else "answered_no"].format(number=number)


# --- the annual figures ----------------------------------------------------------------------------

@dataclass
class ProposerFigures:
    """One proposer's year (R11): counts by step, and their consent for the adopted proposals."""

    official_id: int
    display_name: str
    agency: str
    submitted: int = 0
    passed_review: int = 0
    established: int = 0
    adopted: int = 0
    partly_adopted: int = 0
    consent_yes: int = 0
    consent_no: int = 0
    consent_pending: int = 0
    adopted_proposals: list[int] = field(default_factory=list)

    @property
    def adopted_total(self) -> int:
        return self.adopted + self.partly_adopted

    @property
    def consent_label(self) -> str:
        """同意推薦 / 不同意 / 未回覆 — or the counts when the proposer answered differently per proposal."""
        if not self.adopted_total:
            return "—"
        answers = [(self.consent_yes, CONSENT_LABELS[YES]), (self.consent_no, CONSENT_LABELS[NO]),
                   (self.consent_pending, CONSENT_LABELS[None])]
        given = [(n, label) for n, label in answers if n]
        if len(given) == 1:
            return given[0][1]
        return "、".join(f"{label} {n} 件" for n, label in given)

    @property
    def eligible(self) -> bool:
        """Adopted wholly or partly, and the proposer agreed for at least one of them (R11)."""
        return self.adopted_total > 0 and self.consent_yes > 0


def _in_year(value: dt.datetime | None, start: dt.datetime, end: dt.datetime) -> bool:
    return value is not None and start <= value < end


def annual_figures(year: int) -> list[ProposerFigures]:
    """R11: per proposer, the year's proposals submitted, passed review, established, adopted/partly adopted,
    and their consent; those with adopted proposals first."""
    start, end = start_of_day_utc(dt.date(year, 1, 1)), start_of_day_utc(dt.date(year + 1, 1, 1))
    submitted = peewee.fn.COALESCE(Proposal.first_submitted_at, Proposal.submitted_at)
    touched = (submitted.between(start, end) | Proposal.seconding_started_at.between(start, end)
               | Proposal.established_at.between(start, end) | Proposal.responded_at.between(start, end))
    proposals = list(Proposal.select().where(touched & (Proposal.state != REMOVED)))
    if not proposals:
        return []
    ids = [p.id for p in proposals]
    people: dict[int, list[int]] = {p.id: [p.proposer_id] for p in proposals}
    for proposal_id, official_id in (CoProposer.select(CoProposer.proposal, CoProposer.official)
                                     .where(CoProposer.proposal.in_(ids) & CoProposer.confirmed_at.is_null(False))
                                     .tuples()):
        people[proposal_id].append(official_id)
    consents = {(r.proposal_id, r.official_id): r.answer
                for r in RecognitionConsent.select().where(RecognitionConsent.proposal.in_(ids))}
    officials = {o.id: o for o in Official.select().where(Official.id.in_({i for v in people.values() for i in v}))}
    agency_names = {a.code: a.name for a in Agency.select(Agency.code, Agency.name)}

    rows: dict[int, ProposerFigures] = {}
    for proposal in proposals:
        adopted_now = _in_year(proposal.responded_at, start, end) and proposal.response_decision in ADOPTED_DECISIONS
        for official_id in people[proposal.id]:
            official = officials[official_id]
            row = rows.get(official_id)
            if row is None:
                row = rows[official_id] = ProposerFigures(
                    official_id, official.display_name,
                    agency_names.get(official.agency_code or "", official.agency_code or ""))
            row.submitted += _in_year(proposal.first_submitted_at or proposal.submitted_at, start, end)
            row.passed_review += _in_year(proposal.seconding_started_at, start, end)
            row.established += _in_year(proposal.established_at, start, end)
            if adopted_now:
                if proposal.response_decision == ADOPT:
                    row.adopted += 1
                else:
                    row.partly_adopted += 1
                row.adopted_proposals.append(proposal.id)
                answer = consents.get((proposal.id, official_id))
                if answer == YES:
                    row.consent_yes += 1
                elif answer == NO:
                    row.consent_no += 1
                else:
                    row.consent_pending += 1
    return sorted(rows.values(), key=lambda r: (-r.adopted_total, -r.established, -r.passed_review, -r.submitted,
                                                r.display_name, r.official_id))
