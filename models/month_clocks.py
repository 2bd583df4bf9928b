"""Clocks dated by the old month count, corrected to the Civil Code's (R2.3, §120–§123).

Until this correction `calendar.add_months` kept the event's date N months later even when
counting started on the 1st of a month: an event on 02-28 plus one month ended on 03-28 instead of
03-31. Every month clock stored before then may end up to three days early:

- R9.3.2 seconding windows of proposals still taking seconds (seconding, established): the window
  is moved to its corrected last day (never shortened).
- Proposals that lapsed on an old, too-early last day: reopened for seconding when the corrected
  window has not ended as of `now`; the operations team, the proposer and every seconder (LINE;
  by email too for those who asked to hear the outcome) are told. One whose
  corrected window has ended as well stays lapsed, and the team is told that it lapsed early.
- R9.4.4 response clocks (and their one extension) not yet answered: moved to the corrected day
  where the old count dated them.
- R10.1.4 needs nothing: a consultation's closing day was chosen within the old, shorter maximum.

Everything is judged as of the `now` it is given, never the wall clock, and is idempotent: it runs
as a calendar listener (every sweep, every override change) and from `flask db migrate`.
"""
from __future__ import annotations

import calendar as _stdcal
import datetime as dt

from . import calendar, settings
from .base import end_of_day_utc, taipei_date
from .events import record
from .notify import notify_official, public_base_url
from .officials import Official
from .outbox import queue_mail, unit_of_work
from .proposals import ESTABLISHED, LAPSED, SECONDING, Proposal, _move, lock, proposal_link
from .responses import Extension, extension_of
from .seconds import Second

ACTOR = "system:calendar"
# The old count ends at most 3 days early (02-28 + 1 month: 03-28 instead of 03-31), so a lapse
# that the corrected window could still reopen has a stored last day at most this far back.
REOPEN_LOOKBACK = dt.timedelta(days=4)
# A clock dated too early by the old count is corrected in the week before its stored end passes.
CORRECTION_HORIZON = dt.timedelta(days=7)

MSG = {
    "ops_reopened_subject": "【政策參與平臺】提案恢復附議（月份期間更正）：提案{number}",
    "ops_reopened_body": ("提案{number}「{title}」原於 {old} 附議期間結束而列為未成案；依民法第一百二十條至第一百二十三條"
                          "計算，附議期間應至 {new} 止（第九點（三）2），尚未屆滿，已恢復為附議中。\n"
                          "原期間結束後至恢復前被拒絕的附議，需請同仁重新附議。已另行通知提案人。\n提案頁面：{link}"),
    "ops_early_subject": "【政策參與平臺】提案提前列為未成案（月份期間更正）：提案{number}",
    "ops_early_body": ("提案{number}「{title}」於 {old} 附議期間結束而列為未成案；依民法第一百二十條至第一百二十三條"
                       "計算，附議期間應至 {new} 止（第九點（三）2），現已屆滿，維持未成案。請營運小組評估是否需通知提案人。\n"
                       "提案頁面：{link}"),
    "proposer_reopened_subject": "【政策參與平臺】您的提案恢復附議：{title}",
    "proposer_reopened_body": ("您的提案{number}「{title}」先前通知於 {old} 附議期間結束、未成案；"
                               "經更正期間計算，附議期間應至 {new} 23:59 止，提案已恢復為附議中，目前有 {count} 份有效附議。\n"
                               "造成困擾，敬請見諒。\n提案頁面：{link}"),
    "seconder_reopened_subject": "【政策參與平臺】您附議的提案恢復附議：{title}",
    "seconder_reopened_body": ("您附議的提案{number}「{title}」先前於 {old} 附議期間結束、列為未成案；"
                               "經更正期間計算，附議期間應至 {new} 23:59 止，提案已恢復為附議中。"
                               "您的附議仍然有效，目前有 {count} 份有效附議，歡迎轉知同仁。\n"
                               "造成困擾，敬請見諒。\n提案頁面：{link}"),
}


def add_months_before_fix(day: dt.date, n: int) -> dt.date:
    """The old count, kept only to recognise the clocks it dated: `day`'s date N months later, clamped."""
    index = day.year * 12 + (day.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, _stdcal.monthrange(year, month)[1]))


def _old_response_due(notice_day: dt.date) -> dt.date:
    return calendar.next_working_day_on_or_after(add_months_before_fix(notice_day, settings.RESPONSE_MONTHS))


def _old_extension_due(original_due: dt.date) -> dt.date:
    return calendar.next_working_day_on_or_after(add_months_before_fix(original_due, settings.RESPONSE_EXTENSION_MONTHS))


def _fields(proposal: Proposal, old: dt.date, new: dt.date) -> dict:
    return {"number": proposal.number, "title": proposal.title, "old": f"{old:%Y-%m-%d}", "new": f"{new:%Y-%m-%d}",
            "count": proposal.second_count, "link": proposal_link(proposal, public_base_url())}


def correct_seconding_windows(now: dt.datetime, *, everything: bool = True) -> int:
    """R9.3.2: windows of proposals still taking seconds end on their corrected last day. The sweep
    (`everything=False`) looks only at windows ending within `CORRECTION_HORIZON`: one dated too
    early is corrected before it ends, and a sweep does not read every open window each minute."""
    changed = 0
    query = (Proposal.select(Proposal.id, Proposal.seconding_started_at, Proposal.seconding_ends)
             .where(Proposal.state.in_((SECONDING, ESTABLISHED)) & Proposal.seconding_started_at.is_null(False)))
    if not everything:
        query = query.where(Proposal.seconding_ends <= taipei_date(now) + CORRECTION_HORIZON)
    corrected: dict[dt.date, dt.date] = {}  # start day -> its window's last day, computed once per day
    for proposal_id, started_at, old_ends in list(query.tuples()):  # tuples: 1M proposals, ~50k read a minute
        start = taipei_date(started_at)
        ends = corrected.get(start) or corrected.setdefault(start, calendar.due_date("R9.3.2", start))
        if old_ends is None or ends > old_ends:
            Proposal.update(seconding_ends=ends, seconding_ends_at=end_of_day_utc(ends)).where(
                Proposal.id == proposal_id).execute()
            record(ACTOR, "seconding_ends_corrected", "proposal", proposal_id,
                   detail={"from": f"{old_ends}", "to": ends.isoformat()}, now=now)
            changed += 1
    return changed


def reopen_early_lapses(now: dt.datetime, *, everything: bool = False) -> int:
    """Lapsed on an old, too-early day: reopened while the corrected window is open as of `now`.

    The sweep looks only at lapses recent enough to be reopened (`REOPEN_LOOKBACK`); the migration
    (`everything=True`) also reports to the team the early lapses whose corrected window has ended.
    """
    query = (Proposal.select(Proposal.id, Proposal.seconding_started_at, Proposal.seconding_ends)
             .where((Proposal.state == LAPSED) & Proposal.seconding_started_at.is_null(False)))
    if not everything:
        query = query.where(Proposal.seconding_ends >= taipei_date(now) - REOPEN_LOOKBACK)
    corrected: dict[dt.date, dt.date] = {}  # start day -> its window's last day, computed once per day
    early = []
    for proposal_id, started_at, ends in list(query.tuples()):  # no lock for the lapses that stand
        start = taipei_date(started_at)
        new = corrected.get(start) or corrected.setdefault(start, calendar.due_date("R9.3.2", start))
        if ends is not None and new > ends:
            early.append(proposal_id)
    reopened = 0
    for proposal_id in early:
        with unit_of_work():  # the notices go to the worker as soon as this commits
            if _reopen_one(proposal_id, now):  # checks again under the row lock
                reopened += 1
    return reopened


def _reopen_one(proposal_id: int, now: dt.datetime) -> bool:
    proposal = lock(proposal_id)
    if proposal.state != LAPSED:
        return False
    old = proposal.seconding_ends
    new = calendar.due_date("R9.3.2", taipei_date(proposal.seconding_started_at))
    if old is None or new <= old:
        return False
    fields = _fields(proposal, old, new)
    if now > end_of_day_utc(new):  # the corrected window has ended too: the lapse stands
        if queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["ops_early_subject"].format(**fields),
                      MSG["ops_early_body"].format(**fields),
                      dedupe_key=f"proposal:{proposal.id}:lapsed-early:{new:%Y%m%d}", now=now):
            record(ACTOR, "lapsed_early_reported", "proposal", proposal.id,
                   detail={"ends": old.isoformat(), "corrected": new.isoformat()}, now=now)
        return False
    _move(proposal, SECONDING, now, lapsed_at=None, seconding_ends=new, seconding_ends_at=end_of_day_utc(new))
    record(ACTOR, "lapse_reopened", "proposal", proposal.id, reason="R2.3 month counting corrected (Civil Code §120–§123)",
           detail={"ends": old.isoformat(), "corrected": new.isoformat()}, now=now)
    queue_mail(settings.OPS_NOTIFY_EMAIL, MSG["ops_reopened_subject"].format(**fields), MSG["ops_reopened_body"].format(**fields),
               dedupe_key=f"proposal:{proposal.id}:reopened:{new:%Y%m%d}:ops", now=now)
    notify_official(proposal.proposer, subject=MSG["proposer_reopened_subject"].format(**fields),
                    body=MSG["proposer_reopened_body"].format(**fields),
                    key=f"proposal:{proposal.id}:reopened:{new:%Y%m%d}", now=now)
    for second in Second.select(Second, Official).join(Official).where(Second.proposal == proposal.id):
        if second.official_id != proposal.proposer_id:
            notify_official(second.official, subject=MSG["seconder_reopened_subject"].format(**fields),
                            body=MSG["seconder_reopened_body"].format(**fields), mail=second.notify_result,
                            key=f"proposal:{proposal.id}:reopened:{new:%Y%m%d}:seconder:{second.official_id}", now=now)
    return True


def correct_response_clocks(now: dt.datetime, *, everything: bool = True) -> int:
    """R9.4.4: unanswered response clocks (and their extension) the old count dated end on the corrected day.
    The sweep (`everything=False`) looks only at clocks ending within `CORRECTION_HORIZON` (or past)."""
    changed = 0
    query = (Proposal.select(Proposal.id, Proposal.notified_at, Proposal.response_due, Proposal.response_extended_due)
             .where((Proposal.state == ESTABLISHED) & Proposal.notified_at.is_null(False)
                    & Proposal.response_due.is_null(False)))
    if not everything:
        query = query.where(Proposal.response_due <= taipei_date(now) + CORRECTION_HORIZON)
    bases: dict[dt.date, tuple[dt.date, dt.date]] = {}  # notice day -> (corrected, old count's) last day
    for proposal in list(query.namedtuples()):  # plain rows, four columns: no model per row
        notice_day = taipei_date(proposal.notified_at)
        base, old_base = bases.get(notice_day) or bases.setdefault(
            notice_day, (calendar.due_date("R9.4.4", notice_day), _old_response_due(notice_day)))
        changes: dict[str, dt.date] = {}
        if base > proposal.response_due and old_base != base:
            changes["response_due"] = base
        base = changes.get("response_due", proposal.response_due)
        extension = extension_of(proposal.id) if proposal.response_extended_due else None
        if extension is not None:
            extended = calendar.extension_due("R9.4.4", base)
            dated_by_old_count = "response_due" in changes or _old_extension_due(base) != extended
            if extended > proposal.response_extended_due and dated_by_old_count:
                changes["response_extended_due"] = extended
                Extension.update(original_due=base, new_due=extended).where(Extension.id == extension.id).execute()
        if changes:
            Proposal.update(**changes).where(Proposal.id == proposal.id).execute()
            record(ACTOR, "response_due_corrected", "proposal", proposal.id,
                   detail={k: v.isoformat() for k, v in changes.items()}, now=now)
            changed += 1
    return changed


def correct_month_clocks(now: dt.datetime, *, everything: bool = False) -> dict[str, int]:
    """Every correction above, as of `now` (idempotent); the counts of what changed."""
    return {"seconding_windows": correct_seconding_windows(now, everything=everything),
            "lapses_reopened": reopen_early_lapses(now, everything=everything),
            "response_clocks": correct_response_clocks(now, everything=everything)}

