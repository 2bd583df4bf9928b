"""Review in the console (R9.2.1–R9.2.4), removal (R7), changing the agency (R9.1.3), ops only (R8)."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.base import utcnow
from models.events import AuditEvent
from models.proposals import REMOVAL_GROUNDS, Proposal, withdraw
from models.staff import create_staff
from tests.factories import reload, seconding_proposal, submitted_proposal, verified_official
from tests.fixtures_console import OPS_EMAIL, OPS_PASSWORD, browser_login, csrf_token_from, enrol_two_factor
from tests.helpers import flashes, load_agencies, logged_in, quick_replies, register, taipei


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def detail(client, proposal_id: int) -> str:
    response = client.get(f"/console/review/{proposal_id}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def act(client, proposal_id: int, action: str, data: dict | None = None, *, page: str | None = None):
    """POST one review form as a person would: token and version taken from the detail page they saw."""
    page = page or detail(client, proposal_id)
    prefix = {"pass": "pass", "return": "return", "remove": "remove", "agency": "agency"}[action]
    version = re.search(rf'name="{prefix}-version"[^>]*value="(\d+)"', page) or re.search(
        rf'value="(\d+)"[^>]*name="{prefix}-version"', page)
    assert version, f"no {prefix} form on the page"
    payload = {"csrf_token": csrf_token_from(page), f"{prefix}-version": version.group(1)}
    if action == "pass" and data is None:
        data = {"confirm": "y"}  # the confirmation a person ticks (R9.2.4: passing cannot be undone)
    payload.update({f"{prefix}-{k}": v for k, v in (data or {}).items()})
    return client.post(f"/console/review/{proposal_id}/{action}", data=payload)


# --- R9.2.1 the queue -----------------------------------------------------------------------------

def test_r9_2_1_queue_lists_by_review_due_day_and_marks_overdue(app, ops_client):
    late = submitted_proposal(title="逾期未檢核的舊提案", now=taipei(2024, 3, 1, 9))
    friday = submitted_proposal(title="星期五送出的提案", now=taipei(2026, 11, 27, 16))
    fresh = submitted_proposal(title="剛剛送出的提案")
    assert friday.review_due == dt.date(2026, 12, 2)  # RULES.md example: Friday → Wednesday
    page = html.unescape(ops_client.get("/console/review").get_data(as_text=True))
    rows = page.split('data-testid="review-queue"')[1]
    order = [rows.index(p.title) for p in (late, friday, fresh)]
    assert order == sorted(order)
    late_row = rows[rows.rindex("<tr", 0, rows.index(late.title)):rows.index("</tr>", rows.index(late.title))]
    assert 'data-overdue="1"' in late_row and "已逾期" in late_row
    fresh_row = rows[rows.rindex("<tr", 0, rows.index(fresh.title)):rows.index("</tr>", rows.index(fresh.title))]
    assert "已逾期" not in fresh_row
    assert "2026-12-02" in rows
    assert "已逾期" not in html.unescape(detail(ops_client, fresh.id)).split("提案內容")[0]
    assert "檢核已逾期" in html.unescape(detail(ops_client, late.id))


# --- R8 only the operations team reviews ---------------------------------------------------------

def test_r8_only_ops_may_review(app, client, agency_client, ops_staff):
    proposal = submitted_proposal()
    assert client.get("/console/review").status_code == 302  # not logged in: to the login page
    assert agency_client.get("/console/review").status_code == 403
    assert agency_client.get(f"/console/review/{proposal.id}").status_code == 403
    token = csrf_token_from(agency_client.get("/console/").get_data(as_text=True))
    response = agency_client.post(f"/console/review/{proposal.id}/pass",
                                  data={"csrf_token": token, "pass-version": str(proposal.version)})
    assert response.status_code == 403
    assert reload(proposal).state == "submitted"


def test_r8_forms_need_the_csrf_token(app, ops_client):
    proposal = submitted_proposal()
    response = ops_client.post(f"/console/review/{proposal.id}/pass", data={"pass-version": str(proposal.version)})
    assert response.status_code == 400
    assert reload(proposal).state == "submitted"


# --- R9.2.2 pass ------------------------------------------------------------------------------------

def test_r9_2_2_pass_starts_seconding_and_tells_the_proposer_by_email_and_line(app, client, line, smtp, ops_staff):
    uid, official = register(client, line, smtp)
    proposal = submitted_proposal(official, title="設置員工子女托育中心")
    ops = logged_in(app, ops_staff.email, ops_staff.password)
    response = act(ops, proposal.id, "pass")
    assert response.status_code == 302
    passed = reload(proposal)
    assert passed.state == "seconding" and passed.seconding_ends is not None
    mail = smtp.last_to("wang@taichung.gov.tw")
    assert "通過檢核" in str(mail["Subject"]) and "設置員工子女托育中心" in smtp.body(mail)
    assert "通過檢核" in line.texts(uid)[-1]
    event = AuditEvent.get((AuditEvent.action == "passed_review") & (AuditEvent.subject_id == proposal.id))
    assert event.actor == f"staff:{ops_staff.id}"
    page = html.unescape(detail(ops, proposal.id))
    assert "已通過檢核" in page and "陳專員" in page  # flash, and who did it in the history
    assert "附議中" in page


def test_r9_2_2_detail_shows_fields_escaped_and_only_the_display_name(app, ops_client):
    official = verified_official(nickname="北屯熱心人", real_name="林真名", phone="0933-111-222")
    proposal = submitted_proposal(official, title="<b>粗體</b>主題測試")
    Proposal.update(content="<script>alert('x')</script>\n第二行").where(Proposal.id == proposal.id).execute()
    page = detail(ops_client, proposal.id)
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;粗體&lt;/b&gt;" in page
    assert "北屯熱心人" in page
    for personal in ("林真名", "0933-111-222", official.verified_email, "臺灣大道三段"):
        assert personal not in page
    assert "送出提案" in html.unescape(page)  # the history


def test_r9_2_2_pass_needs_an_agency(app, ops_client):
    proposal = submitted_proposal()
    Proposal.update(agency_code=None, agency_by_ops=True).where(Proposal.id == proposal.id).execute()
    act(ops_client, proposal.id, "pass")
    assert "請先指定權責機關" in flashes(ops_client)
    assert reload(proposal).state == "submitted"


# --- R9.2.3 return --------------------------------------------------------------------------------

def test_r9_2_3_return_as_duplicate_of_a_proposal_in_seconding(app, client, line, smtp, ops_client):
    original = seconding_proposal(title="公文線上簽核第一案")
    uid, official = register(client, line, smtp)
    proposal = submitted_proposal(official, title="公文線上簽核重複案")
    response = act(ops_client, proposal.id, "return", {"reasons": "請改為附議原提案。", "duplicate_of": str(original.id)})
    assert response.status_code == 302
    returned = reload(proposal)
    assert returned.state == "returned" and returned.duplicate_of_id == original.id
    assert "重複" in returned.return_reasons and "請改為附議原提案" in returned.return_reasons
    body = smtp.body(smtp.last_to("wang@taichung.gov.tw"))
    assert "需要修改" in body and "公文線上簽核第一案" in body
    labels = [a["label"] for a in quick_replies(line.last(uid))]
    assert "改為附議該提案" in labels and "修改提案" in labels
    event = AuditEvent.get((AuditEvent.action == "returned") & (AuditEvent.subject_id == proposal.id))
    assert "重複" in event.reason


def test_r9_2_3_duplicate_must_be_in_seconding_and_reasons_are_required(app, ops_client):
    other = submitted_proposal(title="另一個仍在檢核的提案")
    proposal = submitted_proposal()
    act(ops_client, proposal.id, "return", {"reasons": "重複提案", "duplicate_of": str(other.id)})
    assert "重複的提案必須是目前附議中的其他提案" in flashes(ops_client)
    assert reload(proposal).state == "submitted"
    response = act(ops_client, proposal.id, "return", {"reasons": ""})
    assert response.status_code == 400
    assert reload(proposal).state == "submitted"


# --- R9.2.4 withdrawal until passed -----------------------------------------------------------------

def test_r9_2_4_a_withdrawn_proposal_cannot_be_reviewed_and_a_passed_one_cannot_be_withdrawn(app, ops_client):
    official = verified_official()
    proposal = submitted_proposal(official)
    page = detail(ops_client, proposal.id)
    withdraw(official, proposal.id)  # the proposer withdraws while the staff member has the page open
    act(ops_client, proposal.id, "pass", page=page)
    assert "提案目前為「已撤回」，無法通過檢核" in flashes(ops_client)
    assert reload(proposal).state == "withdrawn"

    second = submitted_proposal(official, title="另一個提案內容測試")
    act(ops_client, second.id, "pass")
    from models.base import DomainError

    with pytest.raises(DomainError) as refused:
        withdraw(official, second.id)
    assert refused.value.code == "passed"


# --- R7 removal ----------------------------------------------------------------------------------

def _remove_with_ground(app, client, line, smtp, ops_staff, ground: str) -> None:
    """Remove a proposal on `ground` through the console; the ground and reason are recorded and the proposer told."""
    uid, official = register(client, line, smtp)
    proposal = submitted_proposal(official)
    ops = logged_in(app, ops_staff.email, ops_staff.password)
    reason = f"依{ground}移除。內容經檢核不適合公開。"
    assert act(ops, proposal.id, "remove", {"ground": ground, "reason": reason}).status_code == 302
    assert "已通知提案人。" in flashes(ops)  # not yet past review: no agency was involved
    removed = reload(proposal)
    assert removed.state == "removed" and removed.removal_ground == ground and removed.removal_reason == reason
    event = AuditEvent.get((AuditEvent.action == "removed") & (AuditEvent.subject_id == proposal.id))
    assert event.actor == f"staff:{ops_staff.id}" and ground in event.reason and reason in event.reason
    body = smtp.body(smtp.last_to("wang@taichung.gov.tw"))
    assert f"第七點第{ground.split('.')[1]}款（{REMOVAL_GROUNDS[ground]}）" in body and reason in body
    chat = line.texts(uid)[-1]  # the email cites the clause; the chat gives the ground in words
    assert "已被移除" in chat and "第七點" not in chat and REMOVAL_GROUNDS[ground].split("（")[0] in chat


def test_r7_1_removal_records_ground_and_tells_proposer(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.1")


def test_r7_2_removal_for_infringing_rights(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.2")


def test_r7_3_removal_for_discrimination_or_personal_attacks(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.3")


def test_r7_4_removal_for_liability_or_a_case_in_court(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.4")


def test_r7_5_removal_against_public_order(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.5")


def test_r7_6_removal_for_state_secrets(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.6")


def test_r7_7_removal_outside_scope(app, client, line, smtp, ops_staff):
    _remove_with_ground(app, client, line, smtp, ops_staff, "R7.7")


def test_r7_removal_needs_a_ground_and_a_reason(app, ops_client):
    proposal = submitted_proposal()
    assert act(ops_client, proposal.id, "remove", {"ground": "", "reason": "沒有事由"}).status_code == 400
    assert act(ops_client, proposal.id, "remove", {"ground": "R9.9", "reason": "不存在的事由"}).status_code == 400
    assert act(ops_client, proposal.id, "remove", {"ground": "R7.1", "reason": ""}).status_code == 400
    assert reload(proposal).state == "submitted"


# --- two staff at once ---------------------------------------------------------------------------

def test_r8_two_staff_act_at_once_one_wins_the_other_is_told(app, smtp, ops_staff):
    enrol_two_factor(create_staff("ops.wu@taichung.gov.tw", "ops", "another-long-password-9", display_name="吳專員"))
    first = logged_in(app, ops_staff.email, ops_staff.password)
    second = logged_in(app, "ops.wu@taichung.gov.tw", "another-long-password-9")
    proposal = submitted_proposal()
    page_first, page_second = detail(first, proposal.id), detail(second, proposal.id)
    assert act(first, proposal.id, "pass", page=page_first).status_code == 302
    response = act(second, proposal.id, "remove", {"ground": "R7.5", "reason": "同時移除測試"}, page=page_second)
    assert response.status_code == 302
    assert "剛剛已被其他人處理" in flashes(second)
    final = reload(proposal)
    assert final.state == "seconding" and final.removal_ground is None
    assert AuditEvent.select().where(AuditEvent.action == "removed").count() == 0
    assert not [m for m in smtp.messages if "移除" in str(m["Subject"])]


# --- R9.1.3 change of agency ---------------------------------------------------------------------

def test_r9_1_3_ops_changes_a_wrong_agency_with_a_reason(app, ops_client, ops_staff):
    proposal = submitted_proposal(agency="RDEC")
    page = detail(ops_client, proposal.id)
    assert act(ops_client, proposal.id, "agency", {"agency_code": "EDU", "reason": "屬教育業務"}, page=page).status_code == 302
    assert reload(proposal).agency_code == "EDU"
    event = AuditEvent.get(AuditEvent.action == "agency_changed")
    assert event.actor == f"staff:{ops_staff.id}" and event.reason == "屬教育業務"
    history = html.unescape(detail(ops_client, proposal.id)).split('data-testid="history"')[1]
    assert "臺中市政府研究發展考核委員會 → 臺中市政府教育局" in history
    # the same page again: its version is stale now
    act(ops_client, proposal.id, "agency", {"agency_code": "CIVIL"}, page=page)
    assert "剛剛已被其他人處理" in flashes(ops_client)
    assert reload(proposal).agency_code == "EDU"


# --- the browser ---------------------------------------------------------------------------------

def test_r9_2_2_console_passes_a_proposal_in_chromium(app, page, live_server, ops_staff, smtp):
    official = verified_official()
    proposal = submitted_proposal(official, title="瀏覽器通過檢核測試提案")
    browser_login(page, live_server, OPS_EMAIL, OPS_PASSWORD)
    page.goto(f"{live_server.url}/console/review")
    page.click("text=瀏覽器通過檢核測試提案")
    assert "提案內容" in page.content()
    page.check("input[name=pass-confirm]")  # R9.2.4: passing cannot be undone, so it is confirmed first
    with page.expect_navigation():
        page.get_by_role("button", name="通過檢核，進入附議").click()
    assert "已通過檢核" in page.inner_text(".flashes")
    assert page.inner_text("[data-testid=proposal-state]") == "附議中"
    assert reload(proposal).state == "seconding"
    assert smtp.last_to(official.verified_email)
    reviewed = reload(proposal).reviewed_at  # now, whatever the date (no comparison across midnight)
    assert abs(utcnow() - reviewed) < dt.timedelta(hours=1)


def test_r9_2_3_review_page_offers_similar_proposals_in_seconding_as_duplicates(app, ops_client):
    """Issue 14: the review page uses the proposer's search; the duplicate field lists only those in seconding."""
    in_seconding = seconding_proposal(title="提高加班費每月時數上限")
    still_submitted = submitted_proposal(title="加班費每月時數上限提高")
    proposal = submitted_proposal(title="超勤津貼上限太低應調整")

    page = detail(ops_client, proposal.id)
    similar_list = page.split('data-testid="similar"')[1].split("</ul>")[0]
    assert in_seconding.title in similar_list and still_submitted.title in similar_list
    assert "相似之處：加班費" in similar_list
    candidates = page.split('data-testid="duplicate-candidates"')[1].split("</ul>")[0]
    assert in_seconding.title in candidates and f"{in_seconding.id}：" in candidates
    assert still_submitted.title not in candidates
