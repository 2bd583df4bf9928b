"""The operations team's recommendation to a proposer's own agency, and that agency's answer (R11).

"得視提案者意願，由營運小組審酌當年度提案件數及貢獻度，建請其所屬機關辦理專案敘獎、公開表揚及經驗分享":
- Only for a year in which the proposer has a proposal adopted wholly or partly *and* agreed to be
  recommended for it (models/recognition.py); otherwise `recommend` refuses and changes nothing.
- The team chooses one or more of 專案敘獎, 公開表揚, 經驗分享 and writes the contribution in its
  own words; the year's figures (models/recognition_figures.py) are quoted and stored with it.
- The recommendation is emailed to the proposer's own agency (所屬機關, `recognition.workplace_of`):
  the letter names the proposer, which the consent text told them. The proposer is told too.
- The agency's answer (done or declined, with its date and a note) is recorded by the team, once.
Decisions where the regulation is silent: one recommendation per proposer and year; operations
team only (R8); an agency without a contact address is refused with what to do.
"""
from __future__ import annotations

import datetime as dt
import json

import peewee

from . import settings
from .agencies import get_agency
from .base import BaseModel, DomainError, format_taipei, taipei_date, utcnow
from .events import record
from .notify import mail_agency, notify_official
from .officials import Official, clean_text
from .outbox import unit_of_work
from .proposals import Proposal
from .recognition import DECISION_LABELS, workplace_of
from .recognition_figures import ProposerFigures, figures_of
from .staff import Staff

KINDS = {"award": "專案敘獎", "commendation": "公開表揚", "sharing": "經驗分享"}  # R11, in the seed's order
DONE, DECLINED = "done", "declined"
ANSWERS = {DONE: "已辦理", DECLINED: "不辦理"}
REASON_MIN, REASON_MAX, NOTE_MAX = 10, 2000, 1000

MSG = {
    "ops_only": "只有營運小組可以建請所屬機關辦理獎勵（第十一點）。",
    "not_found": "找不到這位提案人。",
    "bad_kinds": "請至少選擇一項：專案敘獎、公開表揚或經驗分享（第十一點）。",
    "not_adopted": "這位提案人 {year} 年沒有經同意參採或部分參採的提案，不能建請獎勵（第十一點）。",
    "no_consent": ("這位提案人尚未同意推薦（第十一點：須視提案者意願）。{year} 年參採的提案：{pending}；"
                   "請待提案人於 LINE 或電子郵件回覆同意後再建請，本次未送出任何建議。"),
    "no_agency": "這位提案人的所屬機關（{agency}）沒有聯絡信箱，請先於「機關」頁設定後再建請。",
    "already": "已於 {when} 就 {year} 年建請{agency}辦理，不能重複建請；如需補充請直接聯繫機關。",
    "answer_not_found": "找不到這筆建議。",
    "bad_answer": "請選擇機關的回覆：已辦理或不辦理。",
    "bad_answer_day": "回覆日期須在建議寄出日（{sent}）與今天（{today}）之間。",
    "answered": "已於 {when} 記錄{agency}的回覆（{answer}），不能再次記錄。",
}
SUBJECTS = {
    "letter": "【政策參與平臺】建請辦理{kinds}：{name}（{year} 年政策參與）",
    "told": "【政策參與平臺】營運小組已建請您的所屬機關辦理獎勵",
}
BODIES = {
    "letter": ("{agency} 承辦同仁您好：\n\n貴機關同仁 {name}（服務單位：{workplace}；平臺顯示名稱：{display}）於 {year} 年在臺中市政府公務人員"
               "政策參與平臺提出的創新政策建議，經權責機關評估參採：\n{proposals}\n\n"
               "{year} 年提案數據：提出 {submitted} 件（另撤回 {withdrawn} 件、退回未再送出 {returned} 件），"
               "通過檢核 {passed_review} 件，成案 {established} 件，同意參採 {adopted} 件，部分參採 {partly_adopted} 件。\n"
               "貢獻說明：{reason}\n\n"
               "依臺中市政府公務人員政策參與平臺作業規範第十一點，營運小組衡酌當年度提案件數及貢獻度，"
               "建請貴機關辦理：{kinds}。本建議經當事人同意後寄送。\n"
               "辦理完成或決定不辦理時，請回覆營運小組（{ops}），以便記錄。\n"
               "\n臺中市政府研究發展考核委員會 政策參與平臺營運小組\n（本郵件由系統發送）"),
    "proposal": "- 提案第 {id} 號「{title}」：{decision}",
    "told": ("營運小組已依作業規範第十一點，建請您的所屬機關（{agency}）辦理：{kinds}，"
             "並附上您 {year} 年的提案數據。謝謝您對市政的貢獻！"),
}


class Recommendation(BaseModel):
    """The team's recommendation of one proposer, for one year, to their own agency (R11)."""

    official = peewee.ForeignKeyField(Official, backref="recommendations", on_delete="RESTRICT")
    year = peewee.IntegerField()
    agency_code = peewee.CharField(max_length=32)  # the proposer's own agency when it was sent
    kinds = peewee.CharField(max_length=64)  # comma-separated keys of KINDS
    reason = peewee.TextField()  # the contribution, in the team's words
    figures = peewee.TextField()  # JSON: ProposerFigures.as_dict() when it was sent
    sent_to = peewee.CharField(max_length=254)
    recommended_by = peewee.CharField(max_length=128)
    recommended_at = peewee.DateTimeField(default=utcnow)
    answer = peewee.CharField(max_length=8, null=True, constraints=[peewee.Check("answer IN ('done', 'declined')")])
    answered_on = peewee.DateField(null=True)
    answer_note = peewee.TextField(null=True)
    answer_recorded_by = peewee.CharField(max_length=128, null=True)
    answer_recorded_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("official", "year"), True),)

    @property
    def kind_labels(self) -> str:
        return "、".join(KINDS[k] for k in self.kinds.split(",") if k in KINDS)

    @property
    def figure_values(self) -> dict:
        return json.loads(self.figures or "{}")

    @property
    def answer_label(self) -> str:
        return ANSWERS.get(self.answer or "", "待機關回覆")

    @property
    def agency_name(self) -> str:
        agency = get_agency(self.agency_code)
        return agency.name if agency else self.agency_code


def _require_ops(staff: Staff) -> None:
    if not staff.is_ops:
        raise DomainError(MSG["ops_only"], "forbidden")


def _check_eligible(figures: ProposerFigures | None, year: int) -> ProposerFigures:
    if figures is None or not figures.adopted_total:
        raise DomainError(MSG["not_adopted"].format(year=year), "not_adopted")
    if not figures.consented_proposals:
        pending = "、".join(f"第 {pid} 號" for pid in figures.adopted_proposals)
        raise DomainError(MSG["no_consent"].format(year=year, pending=pending), "no_consent")
    return figures


def recommend(staff: Staff, official_id: int, year: int, kinds: list[str], reason: str,
              now: dt.datetime | None = None) -> Recommendation:
    """R11: recommend a consenting proposer of adopted proposals to their own agency; the letter is
    emailed to that agency and the proposer is told."""
    now = now or utcnow()
    _require_ops(staff)
    chosen = [k for k in KINDS if k in set(kinds or [])]
    if not chosen or len(chosen) != len(set(kinds)):
        raise DomainError(MSG["bad_kinds"], "bad_kinds")
    reason = clean_text(reason, field="貢獻說明", max_len=REASON_MAX, min_len=REASON_MIN, multiline=True)
    official = Official.get_or_none(Official.id == official_id)
    if official is None:
        raise DomainError(MSG["not_found"], "not_found")
    with unit_of_work():
        figures = _check_eligible(figures_of(official.id, year), year)
        agency = get_agency(official.agency_code or "")
        if agency is None or not agency.contact_email:
            raise DomainError(MSG["no_agency"].format(agency=workplace_of(official)), "no_agency")
        existing = Recommendation.get_or_none((Recommendation.official == official.id) & (Recommendation.year == year))
        if existing is not None:
            raise DomainError(MSG["already"].format(when=format_taipei(existing.recommended_at), year=year,
                                                    agency=existing.agency_name), "already")
        row = Recommendation.create(official=official.id, year=year, agency_code=agency.code, kinds=",".join(chosen),
                                    reason=reason, figures=json.dumps(figures.as_dict()), sent_to=agency.contact_email,
                                    recommended_by=staff.actor, recommended_at=now)
        kind_text = row.kind_labels
        lines = [BODIES["proposal"].format(id=p.id, title=p.title,
                                           decision=DECISION_LABELS.get(p.response_decision, p.response_decision))
                 for p in Proposal.select().where(Proposal.id.in_(figures.consented_proposals)).order_by(Proposal.id)]
        mail_agency(agency, SUBJECTS["letter"].format(kinds=kind_text, name=official.real_name, year=year),
                   BODIES["letter"].format(agency=workplace_of(official), name=official.real_name,
                                           workplace=official.workplace_label(),
                                           display=official.display_name, year=year, proposals="\n".join(lines),
                                           reason=reason, kinds=kind_text, ops=settings.OPS_NOTIFY_EMAIL,
                                           **{k: v for k, v in figures.as_dict().items() if isinstance(v, int)}),
                    dedupe_key=f"recommendation:{row.id}:letter", now=now)
        notify_official(official, subject=SUBJECTS["told"],
                        body=BODIES["told"].format(agency=workplace_of(official), kinds=kind_text, year=year),
                        key=f"recommendation:{row.id}:told", now=now)
        record(staff.actor, "recognition_recommended", "official", official.id, reason=reason,
               detail={"recommendation": row.id, "year": year, "kinds": chosen, "agency": agency.code,
                       "proposals": figures.consented_proposals}, now=now)
    return row


def record_answer(staff: Staff, recommendation_id: int, answer: str, answered_on: dt.date | None, note: str = "",
                  now: dt.datetime | None = None) -> Recommendation:
    """R11: the agency's answer (done or declined, on a date), recorded once by the team."""
    now = now or utcnow()
    _require_ops(staff)
    if answer not in ANSWERS:
        raise DomainError(MSG["bad_answer"], "bad_answer")
    note = clean_text(note, field="說明", max_len=NOTE_MAX, multiline=True) if (note or "").strip() else None
    with unit_of_work():
        row = Recommendation.get_or_none(Recommendation.id == recommendation_id)
        if row is None:
            raise DomainError(MSG["answer_not_found"], "not_found")
        sent, today = taipei_date(row.recommended_at), taipei_date(now)
        if not isinstance(answered_on, dt.date) or not sent <= answered_on <= today:
            raise DomainError(MSG["bad_answer_day"].format(sent=f"{sent:%Y-%m-%d}", today=f"{today:%Y-%m-%d}"),
                              "bad_answer_day")
        claimed = (Recommendation.update(answer=answer, answered_on=answered_on, answer_note=note,
                                         answer_recorded_by=staff.actor, answer_recorded_at=now)
                   .where((Recommendation.id == row.id) & Recommendation.answer.is_null()).execute())
        if not claimed:
            raise DomainError(MSG["answered"].format(when=format_taipei(row.answer_recorded_at), agency=row.agency_name,
                                                     answer=row.answer_label), "answered")
        record(staff.actor, "recognition_answer_recorded", "official", row.official_id, reason=note,
               detail={"recommendation": row.id, "answer": answer, "answered_on": answered_on.isoformat()}, now=now)
    return Recommendation.get_by_id(row.id)


def recommendations_of(official_id: int) -> list[Recommendation]:
    return list(Recommendation.select().where(Recommendation.official == official_id)
                .order_by(Recommendation.year.desc(), Recommendation.id.desc()))


def recommended_in(year: int) -> dict[int, Recommendation]:
    """{official id: the year's recommendation}."""
    return {r.official_id: r for r in Recommendation.select().where(Recommendation.year == year)}
