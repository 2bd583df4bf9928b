"""The deadlines, as two tables read top to bottom.

- `SWEEP_STEPS`: what the sweep applies once a minute, in this order, each with its rule. Every
  step takes `now`, is idempotent and takes row locks, so two sweeps at once never double an action.
- `RECOMPUTATIONS`: the open clocks moved when the office calendar changes (R2.3: an operator's
  closure or make-up day counts at once for every clock not yet expired).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from . import (
    agency_confirmation,
    calendar,
    consultation_deadlines,
    consultation_review,
    month_clocks,
    proposals,
    response_clock,
    seconds,
    similar,
)
from .base import utcnow
from .calendar import CalendarOverride
from .outbox import unit_of_work

# (rule, recompute(now)) — run in the transaction of every calendar change, and by the sweep. Each
# judges "not yet expired" as of the `now` it is given, never the wall clock (`sweep --now`).
RECOMPUTATIONS: list[tuple[str, Callable[[dt.datetime], object]]] = [
    ("R8.1", consultation_review.recompute_review_due),  # review of a consultation by the operations team
    ("R9.2.1", proposals.recompute_review_clocks),  # review by the operations team
    ("R9.2.5", agency_confirmation.recompute_due),  # agency confirmation
    ("R9.4.4", response_clock.recompute_due),  # agency response and its extension
    ("R10.2", consultation_deadlines.recompute_due),  # consultation summary and its extension
    ("R2.3", month_clocks.correct_month_clocks),  # month clocks dated by the old, too-early count
]


def recompute_open_clocks(now: dt.datetime | None = None) -> int:
    """Every recomputation again as of `now`: a clock computed in another process in the seconds
    before it saw a new override is corrected too. Returns how many recomputations ran."""
    now = now or utcnow()
    for _rule, recompute in RECOMPUTATIONS:
        recompute(now)
    return len(RECOMPUTATIONS)


# (rule, step name, step(now) -> number of actions taken), in the order the sweep runs them.
SWEEP_STEPS: list[tuple[str, str, Callable[[dt.datetime], int]]] = [
    ("R2.3", "recompute_open_clocks", recompute_open_clocks),
    ("R8.1", "consultation_review_reminders", consultation_review.remind_overdue_reviews),
    ("R9.2.1", "review_overdue_reminders", proposals.remind_overdue_reviews),
    ("R9.2.5", "agency_deemed_confirmations", agency_confirmation.deem_confirmed),
    ("R9.2.5", "unasked_confirmation_reminders", agency_confirmation.remind_unasked),  # each working day
    ("R9.3.3", "establishment_notices", seconds.send_establishment_notices),
    ("R9.3.2", "lapse_seconding", seconds.lapse_seconding),
    ("R9.4.4", "response_reminders", response_clock.remind_responses),
    ("R10.1.4", "consultations_close", consultation_deadlines.close_due),
    ("R10.2", "consultation_summary_reminders", consultation_deadlines.remind_overdue_summaries),
    ("R9.1.4", "similar_index", similar.catch_up),  # the similar-proposal index catches up with edits
]


def add_override(day: dt.date, kind: str, reason: str, by: str | None = None,
                 now: dt.datetime | None = None) -> CalendarOverride:
    """An operator closes a day or adds a working day (R2.3); every open clock moves in the same transaction."""
    with unit_of_work():
        return calendar.add_override(day, kind, reason, by, now, recompute=recompute_open_clocks)


def clear_override(day: dt.date, by: str | None = None, now: dt.datetime | None = None) -> bool:
    """An operator withdraws an override (R2.3); every open clock moves back in the same transaction."""
    with unit_of_work():
        return calendar.clear_override(day, by, now, recompute=recompute_open_clocks)
