"""Issue 11 item 5: the console home says what is due, per role, with counts and links."""
from __future__ import annotations

import datetime as dt
import html

from models.agency_confirmation import request_confirmation
from models.base import taipei_date, utcnow
from models.proposals import Proposal
from models.worklist import due_counts
from tests.factories import seconding_proposal, submitted_proposal, verified_official
from tests.fixtures_console import ensure_agencies


def counts(agency_code, today):
    return {item.key: item.count for item in due_counts(agency_code, today)}


def setup_work():
    ensure_agencies()
    today = taipei_date(utcnow())
    late = submitted_proposal(verified_official("a@taichung.gov.tw", "甲"), title="逾期未檢核的提案")
    Proposal.update(review_due=today - dt.timedelta(days=1)).where(Proposal.id == late.id).execute()
    submitted_proposal(verified_official("b@taichung.gov.tw", "乙"), title="今天到期的提案")
    Proposal.update(review_due=today).where(Proposal.title == "今天到期的提案").execute()
    asked = seconding_proposal(verified_official("c@taichung.gov.tw", "丙"), title="已請機關確認的提案")
    request_confirmation(asked.id, "staff:1", [("CIVIL", "lead"), ("EDU", "co")], base_url="http://localhost")
    seconding_proposal(verified_official("d@taichung.gov.tw", "丁"), title="尚未請機關確認的提案")
    return today


def test_ops_see_every_agency_and_agency_staff_only_their_own(app):
    today = setup_work()
    ops = counts(None, today)
    assert ops["reviews_overdue"] == 1 and ops["reviews_today"] == 1 and ops["not_asked"] == 1
    assert ops["confirmations_waiting"] == 2 and ops["notices_failed"] == 0
    civil = counts("CIVIL", today)
    assert civil["confirmations_waiting"] == 1
    assert "reviews_overdue" not in civil and "not_asked" not in civil and "notices_failed" not in civil
    assert counts("CULTURE", today)["confirmations_waiting"] == 0
    # Five working days later (at most 9 calendar days) the unanswered requests are overdue.
    later = counts(None, today + dt.timedelta(days=10))
    assert later["confirmations_overdue"] == 2 and later["confirmations_waiting"] == 0


def test_home_page_shows_counts_with_links_and_no_placeholder(app, ops_client, agency_client):
    setup_work()
    ops_page = html.unescape(ops_client.get("/console/").get_data(as_text=True))
    assert "將顯示於此" not in ops_page and "後續功能上線" not in ops_page
    assert "全部機關的待辦" in ops_page
    assert 'data-testid="due-reviews_overdue"' in ops_page and "提案逾期未檢核" in ops_page
    assert 'href="/console/review"' in ops_page and "尚未請機關確認權責" in ops_page
    agency_page = html.unescape(agency_client.get("/console/").get_data(as_text=True))
    assert "民政局的待辦" in agency_page and "機關確認等待回覆" in agency_page
    assert "提案逾期未檢核" not in agency_page and "尚未請機關確認權責" not in agency_page
