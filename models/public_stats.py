"""The public dashboard's figures (/stats; issue 12 item 7), aggregated from the open-data records
themselves (models.open_data), so every number can be recomputed from the published files.

- Proposals per month by outcome: the month a proposal became public (its seconding start, or its
  submission for one removed before), and where it stands now.
- The seconding funnel: passed review → established (R9.3.2) → responded (R9.4.3) → adopted
  (同意參採 or 部分參採).
- Per lead agency: proposals handled (notified, R9.3.3), responses on time (R9.4.4: published on or
  before the last day, extended or not), responses late, answers overdue now, the median number of
  working days from the notice to the response (models.calendar: R2.3 working days), extensions
  used, consultations held and their summaries on time (R10.2).

The result is cached per data version (models.open_data.version) and day, so the dashboard reads
the data again only after it changed, and (in production) at most once per `max_age` seconds.
"""
from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable

from .base import utcnow
from .calendar import is_working_day
from .open_data import consultation_records, proposal_records, version
from .proposals import ESTABLISHED, LAPSED, REMOVED, SECONDING
from .responses import ADOPT, PARTIAL, REJECT

OUTCOMES = [  # (key, label): the stacked series of the monthly chart, in this order
    (SECONDING, "附議中"), (LAPSED, "未成案"), (ESTABLISHED, "已成案待回應"), (ADOPT, "同意參採"),
    (PARTIAL, "部分參採"), (REJECT, "不予採納"), (REMOVED, "已移除"),
]
FUNNEL = [("passed", "通過檢核進入附議"), ("established", "成案"), ("responded", "機關已回應"),
          ("adopted", "同意或部分參採")]
_cache: dict[str, tuple] = {}
_lock = threading.Lock()


def _day(value: str | None) -> dt.date | None:
    """The Taipei day of an open-data date or time (its first ten characters)."""
    return dt.date.fromisoformat(value[:10]) if value else None


class _WorkingDays:
    """Working days in (start, end], counted once per day across a whole aggregation."""

    def __init__(self) -> None:
        self._known: dict[dt.date, bool] = {}

    def between(self, start: dt.date, end: dt.date) -> int:
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            known = self._known.get(day)
            if known is None:
                known = self._known[day] = is_working_day(day)
            count += known
        return count


def outcome_of(record: dict) -> str:
    if record["state"] == REMOVED:
        return REMOVED
    return record["response_decision"] or record["state"]


def _agency_row() -> dict:
    return {"handled": 0, "responded": 0, "on_time": 0, "late": 0, "overdue": 0, "extensions": 0, "days": [],
            "consultations": 0, "summaries_due": 0, "summaries_on_time": 0}


def _response_for(record: dict, lead: str) -> dict | None:
    """This lead's own response; a response by no lead (the team, or through a merge) answers for all."""
    responses = record["responses"]
    own = [r for r in responses if r["agency"] == lead]
    if own:
        return own[0]
    leads = set(record["lead_agencies"])
    shared = [r for r in responses if r["agency"] not in leads]
    return shared[0] if shared else None


def _add_proposal(record: dict, agencies: dict, today: dt.date, days: _WorkingDays) -> None:
    notice = _day(record["notice_at"])
    if notice is None:
        return
    due = _day(record["response_extended_due"] or record["response_due"])
    for lead in record["lead_agencies"]:
        row = agencies[lead]
        row["handled"] += 1
        row["extensions"] += record["response_extended_due"] is not None
        response = _response_for(record, lead)
        answered = _day(response["published_at"]) if response else _day(record["responded_at"])
        if answered is None:
            row["overdue"] += record["state"] == ESTABLISHED and due is not None and due < today
            continue
        row["responded"] += 1
        on_time = due is None or answered <= due
        row["on_time" if on_time else "late"] += 1
        row["days"].append(days.between(notice, answered))


def _add_consultation(record: dict, agencies: dict, today: dt.date) -> None:
    if not record["opens_at"]:
        return
    row = agencies[record["agency"]]
    row["consultations"] += 1
    due = _day(record["summary_extended_due"] or record["summary_due"])
    published = _day(record["summary_published_at"])
    if due is None or (published is None and due >= today):
        return  # not yet due
    row["summaries_due"] += 1
    row["summaries_on_time"] += published is not None and published <= due


def aggregate(proposals: Iterable[dict], consultations: Iterable[dict], today: dt.date) -> dict:
    """The dashboard's figures from open-data records (see the module docstring)."""
    months: dict[str, Counter] = defaultdict(Counter)
    funnel: Counter = Counter()
    agencies: dict[str, dict] = defaultdict(_agency_row)
    days = _WorkingDays()
    total = 0
    for record in proposals:
        total += 1
        month = (record["seconding_start"] or record["submitted_at"] or "")[:7]
        months[month][outcome_of(record)] += 1
        funnel["passed"] += record["seconding_start"] is not None
        funnel["established"] += record["established_at"] is not None
        funnel["responded"] += record["responded_at"] is not None
        funnel["adopted"] += record["response_decision"] in (ADOPT, PARTIAL)
        _add_proposal(record, agencies, today, days)
    for record in consultations:
        _add_consultation(record, agencies, today)
    for row in agencies.values():
        found = row.pop("days")
        row["median_days"] = statistics.median(found) if found else None
    return {
        "total": total,
        "months": [{"month": m, "counts": [months[m][key] for key, _ in OUTCOMES], "total": sum(months[m].values())}
                   for m in sorted(months) if m],
        "funnel": [{"key": key, "label": label, "count": funnel[key]} for key, label in FUNNEL],
        "agencies": [{"agency": name, **agencies[name]} for name in sorted(agencies)],
    }


def dashboard(base_url: str, today: dt.date, max_age: float = 0.0) -> tuple[dict, dt.datetime]:
    """(aggregate() over the current open data, when it was computed), once per data version and day.

    Aggregating 100,000 records takes seconds, so a result younger than `max_age` seconds is served
    even after the data changed (the page shows when it was computed)."""
    key = (version("stats")[0], version("consultations")[0], today)
    with _lock:
        cached = _cache.get("last")
        if cached and (cached[0] == key or time.monotonic() - cached[1] < max_age):
            return cached[2], cached[3]
    figures = aggregate(proposal_records(with_text=False), consultation_records(base_url), today)
    computed_at = utcnow()
    with _lock:
        _cache["last"] = (key, time.monotonic(), figures, computed_at)
    return figures, computed_at
