"""The public dashboard /stats (issue 12 item 7): proposals per month by outcome, the seconding funnel,
per agency the responses on time (R9.4.4), median working days, extensions, consultations and
summaries on time (R10.2); SVG charts whose numbers equal the tables beside them."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models import open_data
from models.consultations import Consultation
from models.proposals import ESTABLISHED, LAPSED, RESPONDED, Proposal, remove
from models.public_stats import aggregate, dashboard
from models.responses import AgencyResponse
from tests.factories import seconding_proposal
from tests.helpers import load_agencies, taipei

CIVIL = "臺中市政府民政局"


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def _proposal(state: str, started: dt.datetime, *, notice: dt.date | None = None, due: dt.date | None = None,
              answered: dt.date | None = None, decision: str | None = None, extended: bool = False) -> Proposal:
    proposal = seconding_proposal(agency="CIVIL")
    changes = {"state": state, "seconding_started_at": started}
    if notice:
        notified = taipei(notice.year, notice.month, notice.day, 9)
        changes.update(established_at=notified - dt.timedelta(days=1), notified_at=notified, second_count=200,
                       response_due=due, response_extended_due=due if extended else None)
    if answered:
        published = taipei(answered.year, answered.month, answered.day, 15)
        changes.update(responded_at=published, response_decision=decision)
        AgencyResponse.create(proposal=proposal.id, decision=decision, reasons="已研議並說明理由如下。", agency_code="CIVIL",
                              responded_by="staff:1", published_at=published)
    Proposal.update(**changes).where(Proposal.id == proposal.id).execute()
    return proposal


def _consultation(state: str, due: dt.date, published: dt.date | None) -> Consultation:
    return Consultation.create(agency_code="CIVIL", title="彈性上班制度意見徵詢", background="背景說明。", questions="您的意見？",
                               scope="internal", basis="R10.1.1", stage="forming", state=state, created_by="staff:1",
                               opens_at=taipei(2026, 1, 2, 9), closes_on=dt.date(2026, 1, 20),
                               closed_at=taipei(2026, 1, 20, 23), summary_due=due,
                               summary_published_at=taipei(published.year, published.month, published.day, 10) if published else None)


@pytest.fixture
def data():
    january, november = taipei(2026, 1, 5, 9), taipei(2025, 11, 3, 9)
    monday = dt.date(2026, 3, 2)
    _proposal(RESPONDED, january, notice=monday, due=dt.date(2026, 5, 4), answered=dt.date(2026, 3, 6), decision="adopt")
    _proposal(RESPONDED, january, notice=monday, due=dt.date(2026, 3, 5), answered=dt.date(2026, 3, 9),
              decision="reject", extended=True)
    _proposal(ESTABLISHED, november, notice=dt.date(2025, 11, 10), due=dt.date(2026, 1, 12))
    _proposal(LAPSED, january)
    removed = _proposal(LAPSED, november)
    remove(removed.id, "staff:1", "R7.5", "違反公共秩序")
    _consultation("summarised", dt.date(2026, 2, 10), dt.date(2026, 2, 9))
    _consultation("closed", dt.date(2026, 2, 1), None)


def test_r9_4_4_r10_2_figures_per_month_funnel_and_agency(app, data):
    figures = aggregate(open_data.proposal_records(with_text=False), open_data.consultation_records(""),
                        today=dt.date(2026, 6, 1))
    assert figures["total"] == 5
    months = {m["month"]: m["counts"] for m in figures["months"]}
    # seconding, lapsed, established, adopt, partial, reject, removed
    assert months == {"2025-11": [0, 0, 1, 0, 0, 0, 1], "2026-01": [0, 1, 0, 1, 0, 1, 0]}
    assert {f["key"]: f["count"] for f in figures["funnel"]} == {"passed": 5, "established": 3, "responded": 2, "adopted": 1}
    [civil] = figures["agencies"]
    assert civil["agency"] == CIVIL
    assert (civil["handled"], civil["responded"], civil["on_time"], civil["late"], civil["overdue"]) == (3, 2, 1, 1, 1)
    assert civil["median_days"] == 4.5  # 3/2 → 3/6 is 4 working days, 3/2 → 3/9 is 5
    assert civil["extensions"] == 1
    assert (civil["consultations"], civil["summaries_due"], civil["summaries_on_time"]) == (2, 2, 1)


def _svg_values(page: str, testid: str) -> dict[str, int]:
    svg = re.search(rf'<svg[^>]*data-testid="{testid}".*?</svg>', page, re.S).group(0)
    assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg
    return {k: int(v) for k, v in re.findall(r'data-key="([^"]+)" data-value="(\d+)"', svg)}


def _table_values(page: str, testid: str) -> dict[str, str]:
    table = re.search(rf'<table[^>]*data-testid="{testid}".*?</table>', page, re.S).group(0)
    return dict(re.findall(r'<td data-key="([^"]+)">([^<]*)</td>', table))


def test_stats_page_draws_svg_charts_whose_numbers_equal_the_tables(client, data):
    page = html.unescape(client.get("/stats").get_data(as_text=True))
    for chart, table in (("monthly-chart", "monthly-table"), ("funnel-chart", "funnel-table"),
                         ("agency-chart", "agency-table")):
        drawn, listed = _svg_values(page, chart), _table_values(page, table)
        assert drawn, chart
        for key, value in drawn.items():
            assert listed[key] == str(value), (chart, key)
    monthly = _table_values(page, "monthly-table")
    assert monthly["2026-01|total"] == "3" and monthly["2025-11|removed"] == "1"
    agency = _table_values(page, "agency-table")
    assert agency[f"{CIVIL}|on_time"] == "1" and agency[f"{CIVIL}|median_days"] == "4.5"
    assert agency[f"{CIVIL}|summaries"] == "1 / 2"
    assert 'href="/stats"' in client.get("/").get_data(as_text=True)


def test_stats_page_without_any_data_says_so(client):
    page = html.unescape(client.get("/stats").get_data(as_text=True))
    assert "尚無公開提案。" in page and "尚無機關資料。" in page


def test_stats_are_recomputed_when_the_data_changes_unless_younger_than_max_age(app, data):
    today = dt.date(2026, 6, 1)
    first, computed_at = dashboard("", today)
    assert first["total"] == 5 and dashboard("", today)[0] is first  # same version: served from the cache
    seconding_proposal(agency="CIVIL")
    assert dashboard("", today, max_age=3600) == (first, computed_at)  # young enough: served as computed
    assert dashboard("", today)[0]["total"] == 6
