"""Issue 11 item 7: usable forms. Passing a review asks for confirmation first (R9.2.4); the
co-organiser picker is a searchable checkbox list; the console says 檢核 for proposals."""
from __future__ import annotations

import html

from models.agency_confirmation import assignments_of
from tests.factories import reload, seconding_proposal, submitted_proposal
from tests.fixtures_console import browser_login, ensure_agencies
from tests.test_review import act


def test_r9_2_4_passing_without_the_confirmation_changes_nothing(app, ops_client):
    ensure_agencies()
    proposal = submitted_proposal()
    refused = act(ops_client, proposal.id, "pass", {})
    assert refused.status_code == 400 and "請先勾選確認" in html.unescape(refused.get_data(as_text=True))
    assert reload(proposal).state == "submitted"
    assert act(ops_client, proposal.id, "pass").status_code == 302
    assert reload(proposal).state == "seconding"


def test_console_says_檢核_for_proposals(ops_client):
    page = html.unescape(ops_client.get("/console/review").get_data(as_text=True))
    assert "提案檢核" in page and "審核佇列" not in page


def test_co_organisers_are_ticked_in_a_searchable_list_in_chromium(page, live_server, ops_staff):
    ensure_agencies()
    proposal = seconding_proposal(agency="CIVIL", now=None)
    browser_login(page, live_server, ops_staff.email, ops_staff.password)
    page.goto(f"{live_server.url}/console/review/{proposal.id}")
    page.select_option("select[name=request-lead]", "CIVIL")
    items = page.locator("#request-co li")
    total = items.count()
    page.fill("#co-filter", "教育")
    visible = [items.nth(i) for i in range(total) if items.nth(i).is_visible()]
    assert 1 <= len(visible) < total and all("教育" in item.inner_text() for item in visible)
    visible[0].locator("input[type=checkbox]").check()
    page.fill("#co-filter", "")  # clearing the search shows every agency again, the ticked one still ticked
    assert page.locator("#request-co li:visible").count() == total
    page.get_by_role("button", name="寄送機關確認請求").click()
    roles = {a.agency_code: a.role for a in assignments_of(proposal.id)}
    assert roles["CIVIL"] == "lead" and roles.get("EDU") == "co"
