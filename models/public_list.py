"""The public list of proposals (`/`): one page of published proposals, newest seconding first, with an
optional state filter and a title search, and how many there are (issue 13 item 3).

At 100,000 proposals the page must stay cheap whatever its number:
- Order and filters are answered by two partial indexes on PostgreSQL that carry the title and the
  state (`models.migrations.POSTGRES_INDEXES`), so a page's ids come from an index-only scan and only
  its twenty rows are read from the table; a deep page skips index entries, never whole rows.
- A search uses LIKE when the words have no letter case (Chinese: the same result as ILIKE, five
  times cheaper per title), which the title's trigram index answers for three characters or more;
  shorter words walk the ordered index, stopping once the page and the count are known.
- Counts: per state, one grouped index-only count, kept per process while the proposals' version
  (newest `updated_at`, newest id) is unchanged and for at most `max_age` seconds; a search counts
  its matches up to `SEARCH_COUNT_CAP` ("200 件以上" beyond).
SQLite (development) runs the same queries without those indexes.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import peewee

from .base import db, is_postgres
from .proposals import PUBLISHED_STATES, REMOVED, Proposal

PAGE_SIZE = 20
MAX_PAGE = 10_000
SEARCH_COUNT_CAP = 200  # a search counts its matches up to here (10 pages), then says "200 件以上"
ORDER = (Proposal.seconding_started_at.desc(nulls="LAST"), Proposal.id.desc())
# what a card shows (public/index.html): never the long texts
CARD_FIELDS = (Proposal.id, Proposal.state, Proposal.title, Proposal.scope, Proposal.agency_code, Proposal.second_count,
               Proposal.seconding_started_at, Proposal.seconding_ends)

_counts: dict[str, tuple] = {}  # "states" -> (version, monotonic time, {state: count})
_lock = threading.Lock()


@dataclass
class Page:
    proposals: list[Proposal]
    number: int
    total: int  # every match, or SEARCH_COUNT_CAP when `capped`
    capped: bool  # a search with more than SEARCH_COUNT_CAP matches
    has_next: bool

    @property
    def pages(self) -> int:
        return max(1, (self.total + PAGE_SIZE - 1) // PAGE_SIZE)


def published_states() -> list[str]:
    return sorted(PUBLISHED_STATES)  # one order, so that the partial indexes' predicate always matches


def _matching(state: str, text: str) -> peewee.ModelSelect:
    """The ids of the published proposals with this state ("" for any) whose title holds `text`."""
    query = Proposal.select(Proposal.id).where(Proposal.state.in_(published_states()))
    if state:
        query = query.where(Proposal.state == state)
    if text:
        like = f"%{text}%"
        if is_postgres() and text.lower() == text.upper():  # no letter case: LIKE matches what ILIKE would
            matches = peewee.Expression(Proposal.title, "LIKE", like)
        else:
            matches = Proposal.title ** like  # ILIKE on PostgreSQL, LIKE (ASCII case-insensitive) on SQLite
        query = query.where(matches & (Proposal.state != REMOVED))
    return query.order_by(*ORDER)


def _cards(ids) -> list[Proposal]:
    """The cards of these ids (a list, or a query of ids), in the list's order: one statement."""
    if isinstance(ids, list) and not ids:
        return []
    return list(Proposal.select(*CARD_FIELDS).where(Proposal.id.in_(ids)).order_by(*ORDER))


def _version() -> tuple:
    """Changes with every state change (each bumps updated_at) and every new proposal; two index lookups."""
    table = Proposal._meta.table_name
    return tuple(db.execute_sql(f'SELECT (SELECT MAX(updated_at) FROM "{table}"), (SELECT MAX(id) FROM "{table}")').fetchone())


def state_counts(max_age: float = 0.0) -> dict[str, int]:
    """{state: published proposals in it}, from a cache while the version is the same and younger than max_age."""
    version = _version() if max_age > 0 else None
    with _lock:
        cached = _counts.get("states")
        if version is not None and cached and cached[0] == version and time.monotonic() - cached[1] < max_age:
            return cached[2]
    counts = {state: 0 for state in published_states()}
    for state, count in (Proposal.select(Proposal.state, peewee.fn.COUNT(Proposal.id))
                         .where(Proposal.state.in_(published_states())).group_by(Proposal.state).tuples()):
        counts[state] = count
    if version is not None:
        with _lock:
            _counts["states"] = (version, time.monotonic(), counts)
    return counts


def clear_cache() -> None:
    with _lock:
        _counts.clear()


def page_of(state: str, text: str, number: int, max_age: float = 0.0) -> Page:
    """Page `number` (from 1) of the published proposals with this state ("" for any) and title search."""
    state = state if state in PUBLISHED_STATES else ""
    text = text.replace("台", "臺")  # the official form, as titles are written
    number = max(1, min(number, MAX_PAGE))
    offset = (number - 1) * PAGE_SIZE
    if text:
        head = [i for (i,) in _matching(state, text).limit(SEARCH_COUNT_CAP + 1).tuples()]
        capped = len(head) > SEARCH_COUNT_CAP
        total = min(len(head), SEARCH_COUNT_CAP)
        if offset + PAGE_SIZE < len(head):
            ids, has_next = head[offset:offset + PAGE_SIZE], True
        elif not capped:
            ids, has_next = head[offset:offset + PAGE_SIZE], False
        else:
            ids = [i for (i,) in _matching(state, text).offset(offset).limit(PAGE_SIZE + 1).tuples()]
            has_next, ids = len(ids) > PAGE_SIZE, ids[:PAGE_SIZE]
    else:
        counts = state_counts(max_age)
        total, capped = counts[state] if state else sum(counts.values()), False
        ids = _matching(state, "").offset(offset).limit(PAGE_SIZE) if offset < total else []
        has_next = offset + PAGE_SIZE < total
    return Page(_cards(ids), number, total, capped, has_next)
