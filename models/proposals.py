"""Innovative proposals (R5.1, R6, R7, R9.1, R9.2): draft → submitted → review → seconding.

States and their allowed transitions are one table; every change takes a row lock, checks the
transition, writes an audit row and queues its notices in the same transaction.
"""
from __future__ import annotations

import datetime as dt

import peewee

from . import calendar, settings
from .agencies import get_agency
from .base import BaseModel, DomainError, among, end_of_day_utc, row_by, taipei_date, utcnow
from .events import record
from .notify import notify_official
from .officials import Official, clean_text, require_verified
from .outbox import queue_mail, transaction, unit_of_work
from .states import Transitions
from .terms import require_participant
from .texts import without_clauses

DRAFT = "draft"
SUBMITTED = "submitted"
RETURNED = "returned"
WITHDRAWN = "withdrawn"
REMOVED = "removed"
SECONDING = "seconding"
ESTABLISHED = "established"
LAPSED = "lapsed"
RESPONDED = "responded"

STATE_LABELS = {
    DRAFT: "草稿", SUBMITTED: "檢核中", RETURNED: "退回修改", WITHDRAWN: "已撤回", REMOVED: "已移除",
    SECONDING: "附議中", ESTABLISHED: "已成案", LAPSED: "未成案", RESPONDED: "已回應",
}
PROPOSAL_STATES = Transitions("提案", {
    DRAFT: {SUBMITTED},
    SUBMITTED: {SECONDING, RETURNED, REMOVED, WITHDRAWN},
    RETURNED: {SUBMITTED, WITHDRAWN, REMOVED},
    SECONDING: {ESTABLISHED, LAPSED, REMOVED},
    ESTABLISHED: {RESPONDED, REMOVED},
    LAPSED: {SECONDING, REMOVED},  # SECONDING only when a corrected R9.3.2 window had not ended (models.month_clocks)
    WITHDRAWN: set(),
    REMOVED: set(),
    RESPONDED: {REMOVED},  # R7: removal at any time, also after the response
}, STATE_LABELS)
STALE = "這個提案剛剛已被其他人處理，請重新整理後再確認。"
EDITABLE_STATES = {DRAFT, RETURNED}
WITHDRAWABLE_STATES = {SUBMITTED, RETURNED}  # R9.2.4: never after passing review
REVIEWABLE_STATES = {SUBMITTED}
PUBLISHED_STATES = {SECONDING, ESTABLISHED, LAPSED, RESPONDED, REMOVED}  # shown on public pages
SIMILAR_STATES = {SUBMITTED, RETURNED, SECONDING, ESTABLISHED, LAPSED, RESPONDED}

SCOPES = {  # R6
    "rights": "公務人員權益、責任及義務",
    "internal": "機關內部管理",
    "external": "機關對外施政",
}
REMOVAL_GROUNDS = {  # R7.1–R7.7, as data
    "R7.1": "恐嚇、猥褻、誹謗、詐欺、公然侮辱或其他不法行為",
    "R7.2": "侵害他人權利或法律上利益",
    "R7.3": "種族歧視、人身攻擊或其他相類行為",
    "R7.4": "有引起民事、刑事責任之虞或法院審理中之司法案件",
    "R7.5": "違反公共秩序或善良風俗",
    "R7.6": "涉及國家機密",
    "R7.7": "非屬政策參與範圍（第六點）",
}


def removal_ground_words(ground: str | None) -> str:
    """A ground in words only, as the chat says it (no clause number)."""
    return without_clauses(REMOVAL_GROUNDS.get(ground or "", ""))


def removal_ground_label(ground: str | None) -> str:
    """How people read a ground: 第七點第3款（種族歧視、人身攻擊…）, not the rule id R7.3."""
    if ground not in REMOVAL_GROUNDS:
        return ""
    return f"第七點第{ground.split('.')[1]}款（{REMOVAL_GROUNDS[ground]}）"


FIELD_LIMITS = {  # R9.1.2: (label, max, min, required)
    "title": ("主題", settings.TITLE_MAX, 4, True),
    "content": ("內容或建議事項", settings.CONTENT_MAX, 10, True),
    "benefits": ("利益與影響", settings.BENEFITS_MAX, 5, True),
    "evidence": ("佐證資料", settings.EVIDENCE_MAX, 4, True),  # a source, figure, link or why there is none
}
TEXT_FIELDS = tuple(FIELD_LIMITS)
# R9.1.2: evidence is part of the format. A bare "none" says nothing; a stated reason why there is
# no evidence does (e.g. 「源自承辦實務經驗，尚無統計資料」).
EVIDENCE_PLACEHOLDERS = {"無", "沒有", "暫無", "尚無", "略過", "跳過", "不詳", "none", "n/a", "na", "nil", "-", "--", "—", "/", "x"}
EVIDENCE_HELP = ("「佐證資料」不可空白（第九點（一）2）：請提供資料來源、數據或網址；"
                 "如果沒有佐證資料，請說明原因，例如「源自承辦實務經驗，尚無統計資料」。")


class Proposal(BaseModel):
    proposer = peewee.ForeignKeyField(Official, backref="proposals", on_delete="RESTRICT")
    state = peewee.CharField(max_length=16, default=DRAFT, index=True)
    version = peewee.IntegerField(default=1)  # bumped on every change: two staff at once, one wins
    scope = peewee.CharField(max_length=16, null=True)
    title = peewee.CharField(max_length=200, null=True)
    content = peewee.TextField(null=True)
    benefits = peewee.TextField(null=True)
    evidence = peewee.TextField(null=True)
    agency_code = peewee.CharField(max_length=32, null=True)  # R9.1.3: null + agency_by_ops = ops decides
    agency_by_ops = peewee.BooleanField(default=False)
    is_group = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow, index=True)  # open data's ETag reads its maximum
    submitted_at = peewee.DateTimeField(null=True)
    first_submitted_at = peewee.DateTimeField(null=True)
    review_due = peewee.DateField(null=True, index=True)  # R9.2.1
    review_reminded_at = peewee.DateTimeField(null=True)
    reviewed_at = peewee.DateTimeField(null=True)
    returned_at = peewee.DateTimeField(null=True)
    return_reasons = peewee.TextField(null=True)
    duplicate_of = peewee.ForeignKeyField("self", null=True, backref="duplicates", on_delete="SET NULL")
    withdrawn_at = peewee.DateTimeField(null=True)
    removed_at = peewee.DateTimeField(null=True)
    removal_ground = peewee.CharField(max_length=8, null=True)
    removal_reason = peewee.TextField(null=True)
    seconding_started_at = peewee.DateTimeField(null=True)
    seconding_ends = peewee.DateField(null=True)  # R9.3.2 last day (Asia/Taipei)
    seconding_ends_at = peewee.DateTimeField(null=True, index=True)  # its 23:59:59 as naive UTC
    second_count = peewee.IntegerField(default=0)  # valid seconds; kept with the seconds under a row lock
    established_at = peewee.DateTimeField(null=True)  # R9.3.2 the instant the threshold was reached
    notice_due = peewee.DateField(null=True, index=True)  # R9.3.3 the day after
    notified_at = peewee.DateTimeField(null=True)
    lapsed_at = peewee.DateTimeField(null=True)
    response_due = peewee.DateField(null=True)  # R9.4.4
    response_extended_due = peewee.DateField(null=True)
    # the last reminder queued (R9.4.4): its kind and the last day it named; the sweep skips a proposal
    # already reminded of this kind for its current last day, so a minute's sweep reads only new work
    response_reminded_kind = peewee.CharField(max_length=8, null=True)
    response_reminded_due = peewee.DateField(null=True)
    responded_at = peewee.DateTimeField(null=True)
    response_decision = peewee.CharField(max_length=16, null=True)

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def scope_label(self) -> str:
        return SCOPES.get(self.scope or "", "")

    @property
    def agency_name(self) -> str:
        if not self.agency_code:
            return "由營運小組協助判斷" if self.agency_by_ops else "（未選擇）"
        agency = get_agency(self.agency_code)
        return agency.name if agency else self.agency_code

    @property
    def number(self) -> str:
        return f"第 {self.id} 號"


# The response reminders' query (models.response_clock.remindable) follows the established
# proposals near their last day through this index, not every established proposal (bench/sweep.py).
Proposal.add_index(Proposal.index(peewee.fn.COALESCE(Proposal.response_extended_due, Proposal.response_due),
                                  name="proposal_response_last_day", where=peewee.SQL("state = 'established'")))
# The lapse step's query (models.seconds.lapse_seconding) reads only the open windows, in the order
# they ended, not the ended windows of every lapsed, established and responded proposal.
Proposal.add_index(Proposal.index(Proposal.seconding_ends_at, Proposal.id, name="proposal_seconding_open_ends_at",
                                  where=peewee.SQL("state = 'seconding'")))
# The establishment notices' query (models.seconds.send_establishment_notices) reads only the
# proposals not yet notified, not every established proposal whose notice day has passed.
Proposal.add_index(Proposal.index(Proposal.notice_due, name="proposal_notice_due_unnotified",
                                  where=peewee.SQL("notified_at IS NULL")))


class CoProposer(BaseModel):
    """A group proposal's co-proposers (R5.1); each confirms in their own chat."""

    proposal = peewee.ForeignKeyField(Proposal, backref="co_proposers", on_delete="CASCADE")
    # Null for an address that matched no verified official: kept as a pending place-holder so the
    # proposer cannot tell a registered colleague from an unknown address (R3.0, R4).
    official = peewee.ForeignKeyField(Official, on_delete="CASCADE", null=True)
    address_hash = peewee.CharField(max_length=64, null=True)
    invited_at = peewee.DateTimeField(default=utcnow)
    confirmed_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("proposal", "official"), True), (("proposal", "address_hash"), True))


# --- helpers ----------------------------------------------------------------------------------

def lock(proposal_id: int) -> Proposal:
    """The proposal row, locked for the rest of the transaction (PostgreSQL)."""
    proposal = row_by(Proposal.id, proposal_id, for_update=True)  # a kept statement: every confirmation locks it
    if proposal is None:
        raise DomainError("找不到這個提案。", "not_found")
    return proposal


def _move(proposal: Proposal, new_state: str, now: dt.datetime, expected_version: int | None = None, **changes) -> None:
    if expected_version is not None and proposal.version != expected_version:
        raise DomainError(STALE, "stale")
    PROPOSAL_STATES.check(proposal.state, new_state)
    updated = (Proposal.update(state=new_state, version=Proposal.version + 1, updated_at=now, **changes)
               .where((Proposal.id == proposal.id) & (Proposal.version == proposal.version)).execute())
    if not updated:
        raise DomainError(STALE, "stale")
    proposal.state = new_state
    proposal.version += 1
    for key, value in changes.items():
        setattr(proposal, key, value)


def proposal_link(proposal: Proposal, base_url: str) -> str:
    return f"{base_url}/proposals/{proposal.id}"


# --- proposer actions (R9.1, R9.2.3, R9.2.4) --------------------------------------------------

def current_draft(official: Official) -> Proposal | None:
    return (Proposal.select().where((Proposal.proposer == official) & (Proposal.state.in_(EDITABLE_STATES)))
            .order_by(Proposal.updated_at.desc()).first())


@transaction
def start_draft(official: Official, now: dt.datetime | None = None) -> Proposal:
    """A new draft, or the one the official left unfinished (only one open draft at a time)."""
    require_participant(official)  # R4: the terms of use accepted before proposing
    existing = Proposal.get_or_none((Proposal.proposer == official) & (Proposal.state == DRAFT))
    if existing:
        return existing
    now = now or utcnow()
    proposal = Proposal.create(proposer=official, created_at=now, updated_at=now)
    record(official.actor, "draft_started", "proposal", proposal.id, now=now)
    return proposal


def own_editable(official: Official, proposal_id: int) -> Proposal:
    proposal = lock(proposal_id)
    if proposal.proposer_id != official.id:
        raise DomainError("您不是這個提案的提案人。", "not_owner")
    if proposal.state not in EDITABLE_STATES:
        raise DomainError(f"提案目前為「{proposal.state_label}」，不能修改。", "not_editable")
    return proposal


@transaction
def set_field(official: Official, proposal_id: int, field: str, value: str, now: dt.datetime | None = None) -> Proposal:
    """Validate and save one field of a draft or returned proposal (saved after every answer)."""
    require_verified(official)
    proposal = own_editable(official, proposal_id)
    now = now or utcnow()
    if field in FIELD_LIMITS:
        label, max_len, min_len, required = FIELD_LIMITS[field]
        if field == "evidence" and value.strip().strip("。.").lower() in EVIDENCE_PLACEHOLDERS | {""}:
            raise DomainError(EVIDENCE_HELP, "evidence_required")
        if not required and value.strip() in ("", "無", "略過", "none", "-"):
            cleaned = ""
        else:
            cleaned = clean_text(value, field=label, max_len=max_len, min_len=max(min_len, 1), multiline=True)
            if field == "title":
                cleaned = " ".join(cleaned.split())  # one line
    elif field == "scope":
        if value not in SCOPES:
            raise DomainError("請從三個範圍中選擇一個（第六點）。", "bad_scope")
        cleaned = value
    elif field == "agency_code":
        if value == "ops":
            Proposal.update(agency_code=None, agency_by_ops=True, updated_at=now).where(Proposal.id == proposal.id).execute()
            proposal.agency_code, proposal.agency_by_ops = None, True
            return proposal
        agency = get_agency(value)
        if agency is None or not agency.active:
            raise DomainError("請從清單中選擇權責機關。", "bad_agency")
        Proposal.update(agency_code=agency.code, agency_by_ops=False, updated_at=now).where(Proposal.id == proposal.id).execute()
        proposal.agency_code, proposal.agency_by_ops = agency.code, False
        return proposal
    else:
        raise DomainError("無法修改這個欄位。", "bad_field")
    Proposal.update({getattr(Proposal, field): cleaned, Proposal.updated_at: now}).where(Proposal.id == proposal.id).execute()
    setattr(proposal, field, cleaned)
    return proposal


def missing_fields(proposal: Proposal) -> list[str]:
    missing = [] if proposal.scope else ["scope"]
    missing += [f for f in TEXT_FIELDS if FIELD_LIMITS[f][3] and not getattr(proposal, f)]
    if not proposal.agency_code and not proposal.agency_by_ops:
        missing.append("agency_code")
    return missing


@transaction
def discard_draft(official: Official, proposal_id: int, now: dt.datetime | None = None) -> None:
    proposal = own_editable(official, proposal_id)
    if proposal.state != DRAFT:
        raise DomainError("只有草稿可以刪除；退回的提案請選擇撤回。", "not_draft")
    record(official.actor, "draft_discarded", "proposal", proposal.id, now=now)
    CoProposer.delete().where(CoProposer.proposal == proposal).execute()
    proposal.delete_instance()


def review_due_for(submitted_at: dt.datetime) -> dt.date:
    return calendar.due_date("R9.2.1", taipei_date(submitted_at))


@transaction
def withdraw(official: Official, proposal_id: int, now: dt.datetime | None = None) -> Proposal:
    """R9.2.4: the proposer may withdraw until the proposal passes review, never after."""
    now = now or utcnow()
    proposal = lock(proposal_id)
    if proposal.proposer_id != official.id:
        raise DomainError("您不是這個提案的提案人。", "not_owner")
    if proposal.state not in WITHDRAWABLE_STATES:
        if proposal.state in (SECONDING, ESTABLISHED, LAPSED, RESPONDED):
            raise DomainError("提案已通過檢核，依規定不得撤回（第九點（二）4）。", "passed")
        raise DomainError(f"提案目前為「{proposal.state_label}」，無法撤回。", "bad_transition")
    _move(proposal, WITHDRAWN, now, withdrawn_at=now)
    record(official.actor, "withdrawn", "proposal", proposal.id, now=now)
    return proposal


# --- operations team actions (R9.2, R7) -------------------------------------------------------

def _notify_proposer(proposal: Proposal, key: str, subject: str, body: str, now: dt.datetime,
                     quick: list[dict] | None = None) -> None:
    message = {"type": "text", "text": body[:4900]}
    if quick:
        message["quickReply"] = {"items": quick}
    notify_official(proposal.proposer, subject=subject, body=body, line_messages=[message],
                    key=f"proposal:{proposal.id}:{key}", now=now)


@transaction
def pass_review(proposal_id: int, actor: str, now: dt.datetime | None = None, *,
                expected_version: int | None = None, base_url: str = "") -> Proposal:
    """R9.2.2: no R7 problem → seconding for one month (R9.3.2); the proposer is emailed and told in LINE."""
    now = now or utcnow()
    proposal = lock(proposal_id)
    if proposal.state not in REVIEWABLE_STATES:
        raise DomainError(f"提案目前為「{proposal.state_label}」，無法通過檢核。", "bad_transition")
    if not proposal.agency_code:
        raise DomainError("請先指定權責機關再通過檢核（第九點（一）3）。", "no_agency")
    ends = calendar.due_date("R9.3.2", taipei_date(now))
    _move(proposal, SECONDING, now, expected_version, reviewed_at=now, seconding_started_at=now,
          seconding_ends=ends, seconding_ends_at=end_of_day_utc(ends))
    record(actor, "passed_review", "proposal", proposal.id, now=now)
    body = (f"您的提案「{proposal.title}」（{proposal.number}）已通過檢核，進入附議階段。\n"
            f"附議期間至 {ends:%Y-%m-%d} 23:59 止，需達 {settings.SECONDING_THRESHOLD} 份有效附議才能成案。\n"
            f"提案頁面：{proposal_link(proposal, base_url)}")
    _notify_proposer(proposal, "passed", f"【政策參與平臺】提案已通過檢核：{proposal.title}", body, now)
    return proposal


@transaction
def return_for_revision(proposal_id: int, actor: str, reasons: str, now: dt.datetime | None = None, *,
                        duplicate_of: int | None = None, expected_version: int | None = None) -> Proposal:
    """R9.2.3: doubtful, unclear or a duplicate of one in seconding → returned with reasons."""
    now = now or utcnow()
    reasons = clean_text(reasons, field="退回理由", max_len=settings.REASON_MAX, min_len=2, multiline=True)
    proposal = lock(proposal_id)
    duplicate = None
    if duplicate_of is not None:
        duplicate = Proposal.get_or_none(Proposal.id == duplicate_of)
        if duplicate is None or duplicate.state != SECONDING or duplicate.id == proposal.id:
            raise DomainError("重複的提案必須是目前附議中的其他提案。", "bad_duplicate")
        reasons = f"與附議中的提案{duplicate.number}「{duplicate.title}」重複。\n{reasons}"
    if proposal.state not in REVIEWABLE_STATES:
        raise DomainError(f"提案目前為「{proposal.state_label}」，無法退回。", "bad_transition")
    _move(proposal, RETURNED, now, expected_version, returned_at=now, return_reasons=reasons,
          duplicate_of=duplicate.id if duplicate else None, reviewed_at=now)
    record(actor, "returned", "proposal", proposal.id, reason=reasons, now=now)
    body = (f"您的提案「{proposal.title}」（{proposal.number}）經營運小組檢核，需要修改：\n{reasons}\n\n"
            "您可以修改後再次送出，或撤回提案。")
    quick = [
        {"type": "action", "action": {"type": "postback", "label": "修改提案", "data": f"a=prop.revise&p={proposal.id}",
                                      "displayText": "修改提案"}},
        {"type": "action", "action": {"type": "postback", "label": "撤回提案", "data": f"a=prop.withdraw&p={proposal.id}",
                                      "displayText": "撤回提案"}},
    ]
    if duplicate:
        quick.insert(0, {"type": "action", "action": {"type": "postback", "label": "改為附議該提案",
                                                      "data": f"a=sec.view&p={duplicate.id}", "displayText": "查看重複的提案"}})
    _notify_proposer(proposal, f"returned:{proposal.version}", f"【政策參與平臺】提案需要修改：{proposal.title}", body, now, quick)
    return proposal


@transaction
def remove(proposal_id: int, actor: str, ground: str, reason: str, now: dt.datetime | None = None, *,
           expected_version: int | None = None) -> Proposal:
    """R7: removal always records its ground and reason, and the proposer is told."""
    now = now or utcnow()
    if ground not in REMOVAL_GROUNDS:
        raise DomainError("請選擇第七點的移除事由。", "bad_ground")
    reason = clean_text(reason, field="移除理由", max_len=settings.REASON_MAX, min_len=2, multiline=True)
    proposal = lock(proposal_id)
    _move(proposal, REMOVED, now, expected_version, removed_at=now, removal_ground=ground, removal_reason=reason)
    record(actor, "removed", "proposal", proposal.id, reason=f"{ground} {reason}", now=now)
    body = (f"您的提案「{proposal.title}」（{proposal.number}）已被移除。\n"
            f"事由：{removal_ground_label(ground)}\n說明：{reason}")
    _notify_proposer(proposal, "removed", f"【政策參與平臺】提案已移除：{proposal.title}", body, now)
    return proposal


@transaction
def forget_response_reminder(proposal_id: int) -> None:
    """The lead agencies changed: the sweep reads the proposal again and a new lead is reminded (R9.4.4;
    the outbox keys keep those already reminded from a second mail)."""
    Proposal.update(response_reminded_kind=None, response_reminded_due=None).where(
        (Proposal.id == proposal_id) & Proposal.response_reminded_due.is_null(False)).execute()


def change_agency(proposal_id: int, actor: str, agency_code: str, reason: str = "",
                  now: dt.datetime | None = None, *, expected_version: int | None = None) -> Proposal:
    """R9.1.3: the operations team may change a wrong choice of responsible agency."""
    now = now or utcnow()
    agency = get_agency(agency_code)
    if agency is None or not agency.active:
        raise DomainError("找不到這個機關。", "bad_agency")
    proposal = lock(proposal_id)
    if expected_version is not None and proposal.version != expected_version:
        raise DomainError(STALE, "stale")
    if proposal.state in (WITHDRAWN, REMOVED, LAPSED, RESPONDED):
        raise DomainError(f"提案目前為「{proposal.state_label}」，不能變更權責機關。", "bad_state")
    old = proposal.agency_code
    Proposal.update(agency_code=agency.code, agency_by_ops=False, version=Proposal.version + 1, updated_at=now).where(
        Proposal.id == proposal.id).execute()
    proposal.agency_code = agency.code
    record(actor, "agency_changed", "proposal", proposal.id, reason=reason or None,
           detail={"from": old, "to": agency.code}, now=now)
    return proposal


# --- clocks -----------------------------------------------------------------------------------

def review_queue() -> list[Proposal]:
    return list(Proposal.select().where(Proposal.state.in_(REVIEWABLE_STATES))
                .order_by(Proposal.review_due, Proposal.submitted_at))


def is_review_overdue(proposal: Proposal, today: dt.date) -> bool:
    return proposal.state in REVIEWABLE_STATES and proposal.review_due is not None and proposal.review_due < today


def remind_overdue_reviews(now: dt.datetime) -> int:
    """Sweep step: one reminder to the operations team per overdue review (per submission)."""
    today = taipei_date(now)
    count = 0
    for proposal in Proposal.select().where((Proposal.state == SUBMITTED) & (Proposal.review_due < today)
                                            & Proposal.review_reminded_at.is_null()):
        with unit_of_work():  # the reminder goes to the worker as soon as this commits
            claimed = (Proposal.update(review_reminded_at=now)
                       .where((Proposal.id == proposal.id) & Proposal.review_reminded_at.is_null()).execute())
            if not claimed:
                continue
            queue_mail(settings.OPS_NOTIFY_EMAIL, f"【政策參與平臺】檢核逾期：{proposal.number}",
                       f"提案{proposal.number}「{proposal.title}」應於 {proposal.review_due:%Y-%m-%d} 前完成檢核（第九點（二）1），"
                       "目前尚未處理，請至營運後台處理。",
                       dedupe_key=f"proposal:{proposal.id}:review-overdue:{proposal.submitted_at:%Y%m%d%H%M%S}", now=now)
            count += 1
    return count


def recompute_review_clocks(now: dt.datetime) -> None:
    """Calendar overrides count at once for every clock not yet expired as of `now` (R2.3): each
    submission day's last day computed once, one UPDATE per new last day (a typhoon day moves
    thousands of review clocks to a handful of new days)."""
    today = taipei_date(now)
    due_by_day: dict[dt.date, dt.date] = {}
    moved: dict[dt.date, list[int]] = {}
    rows = (Proposal.select(Proposal.id, Proposal.submitted_at, Proposal.review_due)
            .where(Proposal.state == SUBMITTED).tuples())
    for proposal_id, submitted_at, review_due in rows:
        day = taipei_date(submitted_at)
        due = due_by_day.get(day)
        if due is None:
            due = due_by_day[day] = review_due_for(submitted_at)
        if due != review_due and (review_due is None or review_due >= today):
            moved.setdefault(due, []).append(proposal_id)
    for due, ids in moved.items():
        for start in range(0, len(ids), 1000):
            Proposal.update(review_due=due).where(among(Proposal.id, ids[start:start + 1000])).execute()
