"""Accessible pages (issue 12 item 5): the browser walks every public page, the agency's answer and
response pages, the draft form and every console page, including their error states. The `page`
fixture runs axe-core (WCAG 2.1 A and AA) on each document it loads and fails on any violation
(tests/axe_audit.py); these tests make sure each page is visited and shows what it should."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from bot.proposal_cards import draft_token
from models.agencies import get_agency
from models.agency_admin import contact_token
from models.agency_confirmation import answer_token, request_confirmation
from models.base import taipei_date, utcnow
from models.calendar import due_date, today_taipei
from models.consultations import Consultation
from models.officials import Official
from models.opinions import give_opinion
from models.proposals import ESTABLISHED, Proposal, remove, return_for_revision, set_field, start_draft
from models.response_links import response_link
from models.response_publishing import publish_response, record_meeting_summary, schedule_meeting
from models.responses import extend_deadline
from models.staff_accounts import invite_staff, request_password_reset
from tests.factories import reload, seconding_proposal, submitted_proposal, verified_official
from tests.fixtures_console import browser_login
from tests.helpers import load_agencies


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def established_now(title: str = "推動公文線上簽核全面無紙化") -> Proposal:
    proposal = seconding_proposal(agency="CIVIL", title=title)
    now = utcnow()
    Proposal.update(state=ESTABLISHED, second_count=200, established_at=now - dt.timedelta(days=1),
                    notice_due=taipei_date(now), notified_at=now,
                    response_due=due_date("R9.4.4", taipei_date(now))).where(Proposal.id == proposal.id).execute()
    return reload(proposal)


def open_consultation(title: str = "里長聯繫窗口制度調整") -> Consultation:
    now = utcnow()
    return Consultation.create(agency_code="CIVIL", title=title, background="本局擬調整各區公所里長聯繫窗口的分工方式。",
                               questions="一、現行窗口分工有哪些困難？", scope="internal", basis="R10.1.3",
                               stage="execution", state="open", created_by="staff:1", opens_at=now,
                               closes_on=taipei_date(now) + dt.timedelta(days=30),
                               closes_at=now + dt.timedelta(days=30), reviewed_at=now)


def visit(page, url: str, heading: str, status: int = 200) -> None:
    response = page.goto(url)
    assert response.status == status, (url, response.status)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant-TW")
    expect(page.locator("h1").first).to_contain_text(heading)


def submit_to_server(page, form: str) -> None:
    """Submit a form past the browser's own checks, so that the page shows the server's errors."""
    page.locator(form).evaluate("form => { form.noValidate = true; }")
    with page.expect_navigation():
        page.locator(f"{form} [type=submit]").first.click()


def test_public_pages_pass_axe(app, page, live_server, ops_staff):
    base = live_server.url
    seconding = seconding_proposal(title="推動彈性上班時間")
    answered = established_now()
    meeting = schedule_meeting(answered.id, ops_staff, today_taipei(), "14:00 市政大樓501會議室", "提案人、民政局")
    record_meeting_summary(meeting.id, ops_staff, "與會機關同意先行試辦半年。")
    extend_deadline(answered.id, ops_staff, "需會同人事處研議經費來源，延長一次。")
    publish_response(answered.id, ops_staff, "partial", "本府已編列相關經費，並會同人事處研議實施方式。",
                     "自明年七月起於民政局試辦半年，試辦結束後檢討推廣。")
    removed = seconding_proposal(title="某某長官是騙子")
    remove(removed.id, "staff:1", "R7.1", "內容涉及誹謗特定人士")
    consultation = open_consultation()
    give_opinion(verified_official(), consultation.id, "建議以區為單位設置單一窗口。")

    visit(page, base + "/", "政策提案")
    page.fill("input[name=q]", "彈性")
    with page.expect_navigation():
        page.press("input[name=q]", "Enter")  # the search works from the keyboard
    expect(page.locator(".cards")).to_contain_text("推動彈性上班時間")
    visit(page, f"{base}/proposals/{seconding.id}", "推動彈性上班時間")
    visit(page, f"{base}/proposals/{answered.id}", "推動公文線上簽核全面無紙化")
    expect(page.locator("[data-testid=decision]")).to_have_text("部分參採")
    visit(page, f"{base}/proposals/{removed.id}", removed.number)
    visit(page, base + "/consultations", "政策諮詢")
    visit(page, f"{base}/consultations/{consultation.id}", "里長聯繫窗口制度調整")
    visit(page, base + "/open-data", "開放資料")
    expect(page.locator("[data-testid=licence] a")).to_have_text("政府資料開放授權條款－第1版")
    visit(page, base + "/stats", "統計儀表板")
    expect(page.locator("[data-testid=funnel-chart]")).to_have_attribute("role", "img")
    visit(page, base + "/proposals/99999999", "找不到", status=404)
    visit(page, base + "/?page=2", "政策提案")  # the pager (a page past the end still links back)
    expect(page.locator("nav.pager a[rel=prev]")).to_have_text("上一頁")
    page.goto(base + "/")
    assert {"/", "/consultations", "/open-data", "/stats", f"/proposals/{answered.id}", f"/proposals/{removed.id}",
            f"/consultations/{consultation.id}", "/proposals/99999999"} <= set(page.axe_audited)


def test_agency_answer_and_response_pages_pass_axe_with_their_errors(app, page, live_server):
    base = live_server.url
    proposal = seconding_proposal(agency="CIVIL", title="區公所夜間服務時段試辦")
    [assignment] = request_confirmation(proposal.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost",
                                        secret_key=app.config["SECRET_KEY"])
    visit(page, f"{base}/agency/answer/{answer_token(assignment, app.config['SECRET_KEY'])}", "區公所夜間服務時段試辦")
    with page.expect_navigation():
        page.click("button[value=decline]")  # declining needs a note: refused, and the reason announced
    expect(page.locator("[role=alert]").first).to_be_visible()
    visit(page, f"{base}/agency/answer/not-a-token", "權責機關確認", status=400)
    expect(page.locator("[role=alert]")).to_contain_text("連結無效")

    established = established_now(title="推動彈性上班時間")
    with app.app_context():
        link = response_link(established.id, "CIVIL", "civil@taichung.gov.tw")
    path = link.split("/agency/respond/", 1)[1]
    visit(page, f"{base}/agency/respond/{path}", "推動彈性上班時間")
    submit_to_server(page, "[data-testid=publish-form]")
    expect(page.locator("[role=alert]").first).to_be_visible()
    visit(page, f"{base}/agency/respond/not-a-token", "機關回應", status=400)
    expect(page.locator("[role=alert]")).to_contain_text("連結")


def test_draft_form_passes_axe_with_its_errors(app, page, live_server):
    official = verified_official()
    draft = start_draft(official)
    set_field(official, draft.id, "title", "推動公文線上簽核")
    token = draft_token(app.config["SECRET_KEY"], official.id, draft.id)
    visit(page, f"{live_server.url}/drafts/{token}", "提案")
    page.fill("textarea[name=content]", "太短")
    with page.expect_navigation():
        page.click("button[type=submit]")
    expect(page.locator("[role=alert]").first).to_be_visible()
    assert Official.get_by_id(official.id).id == official.id


CONSOLE_PAGES = [  # path, heading
    ("/console/", "工作臺首頁"), ("/console/review", "提案檢核"), ("/console/confirmations", "機關確認"),
    ("/console/responses", "機關回應"), ("/console/consultations", "政策諮詢"),
    ("/console/consultations/new", "新增政策諮詢"), ("/console/officials", "公務人員"), ("/console/operations", "系統狀態"),
    ("/console/recognition", "獎勵參考"), ("/console/calendar", "行事曆"), ("/console/agencies", "機關與聯絡信箱"),
    ("/console/agencies/CIVIL", "臺中市政府民政局"), ("/console/agencies/import", "匯入機關資料"),
    ("/console/staff", "工作臺帳號"), ("/console/password", "變更密碼"), ("/console/two-factor", "兩步驟驗證"),
    ("/console/similar-lexicon", "相似提案詞庫"),
]


def test_every_console_page_passes_axe_as_ops(app, page, live_server, ops_staff):
    base = live_server.url
    visit(page, base + "/console/password/forgot", "忘記密碼")
    submitted = submitted_proposal(title="推動公文線上簽核全面無紙化")
    established = established_now(title="推動彈性上班時間")
    consultation = open_consultation()
    browser_login(page, live_server, ops_staff.email, ops_staff.password)
    for path, heading in CONSOLE_PAGES:
        visit(page, base + path, heading)
    page.goto(base + "/console/")
    assert {path for path, _ in CONSOLE_PAGES} <= set(page.axe_audited)
    visit(page, f"{base}/console/review/{submitted.id}", "推動公文線上簽核全面無紙化")
    visit(page, f"{base}/console/responses/{established.id}", "推動彈性上班時間")
    visit(page, f"{base}/console/consultations/{consultation.id}", "里長聯繫窗口制度調整")
    visit(page, f"{base}/console/officials/{submitted.proposer_id}", submitted.proposer.nickname)
    # an error state: returning without reasons is refused with the reason announced
    page.goto(f"{base}/console/review/{submitted.id}")
    submit_to_server(page, "[data-testid=return-form]")
    expect(page.locator("[role=alert]").first).to_be_visible()


def test_console_login_errors_are_announced_and_pass_axe(app, page, live_server):
    visit(page, live_server.url + "/console/login", "工作臺登入")
    page.fill("input[name=email]", "nobody@taichung.gov.tw")
    page.fill("input[name=password]", "wrong-password-123")
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    expect(page.locator("[role=alert]").first).to_be_visible()


def test_console_pages_of_an_agency_pass_axe_with_their_forms(app, page, live_server, agency_staff):
    base = live_server.url
    established = established_now(title="推動彈性上班時間")
    browser_login(page, live_server, agency_staff.email, agency_staff.password)
    for path, heading in [("/console/responses", "機關回應"), ("/console/confirmations", "機關確認"),
                          ("/console/consultations", "政策諮詢"), ("/console/consultations/new", "新增政策諮詢"),
                          ("/console/password", "變更密碼")]:
        visit(page, base + path, heading)
    visit(page, f"{base}/console/responses/{established.id}", "推動彈性上班時間")
    expect(page.locator("form").filter(has=page.locator("textarea")).first).to_be_visible()
    submit_to_server(page, "form:has(input[name$=decision])")
    expect(page.locator("[role=alert]").first).to_be_visible()


def _link_path(smtp, address: str, prefix: str) -> str:
    """The path of the link in the newest email to `address` (the live server has its own host)."""
    match = re.search(rf"({re.escape(prefix)}\S+)", smtp.body(smtp.last_to(address)))
    assert match, prefix
    return match.group(1)


def test_account_links_and_the_consultation_draft_pass_axe(app, page, live_server, smtp, ops_staff, agency_staff):
    """The pages reached from emails (invitation, password reset, an agency's address check) and the
    consultation draft form are audited like the rest of the console."""
    base, now = live_server.url, utcnow()
    invite_staff(ops_staff, "new.colleague@taichung.gov.tw", "ops", None, "新同事", now)
    invitation = _link_path(smtp, "new.colleague@taichung.gov.tw", "/console/invitation/")
    visit(page, base + invitation, "設定工作臺密碼")
    submit_to_server(page, "form")  # no password: the error is announced
    expect(page.locator("[role=alert]").first).to_be_visible()
    request_password_reset(agency_staff.email, now)
    visit(page, base + _link_path(smtp, agency_staff.email, "/console/password/reset/"), "密碼")
    visit(page, f"{base}/console/agencies/confirm/{contact_token(get_agency('CIVIL'), now)}", "信箱已確認")
    visit(page, f"{base}/console/agencies/confirm/forged-token", "無法確認", status=400)

    draft = Consultation.create(agency_code="CIVIL", title="公文用語淺白化", background="本局擬推動公文用語淺白化。",
                                questions="一、哪些用語最難懂？", scope="internal", basis="R10.1.3",
                                stage="planning", state="draft", created_by=agency_staff.actor)
    browser_login(page, live_server, agency_staff.email, agency_staff.password)
    visit(page, f"{base}/console/consultations/{draft.id}/edit", "")
    expect(page.locator("input[value='公文用語淺白化'], textarea").first).to_be_visible()
    audited = set(page.axe_audited)
    assert invitation in audited and f"/console/consultations/{draft.id}/edit" in audited


def test_similar_lexicon_page_passes_axe_with_its_error_trial_and_team_words(app, page, live_server, ops_staff):
    """R9.1.4 (issue 14): the team tries a title, is refused a bad word (announced), adds the missing word
    and tries again; screenshots of each state are kept under /tmp/lex-shots/ for people to look at."""
    import os

    shots = "/tmp/lex-shots"
    os.makedirs(shots, exist_ok=True)
    base = live_server.url
    target = seconding_proposal(title="基層天天爆肝沒人管")
    Proposal.update(content="基層天天爆肝沒人管。").where(Proposal.id == target.id).execute()  # not the factory's 減少紙張
    repeat = submitted_proposal(title="減少同仁超時工作")  # found by hand in review: a duplicate of the target
    Proposal.update(content="減少同仁超時工作。").where(Proposal.id == repeat.id).execute()
    return_for_revision(repeat.id, "staff:test", "請改為附議原提案。", duplicate_of=target.id)
    browser_login(page, live_server, ops_staff.email, ops_staff.password)
    visit(page, base + "/console/similar-lexicon", "相似提案詞庫")
    expect(page.locator("[data-testid=duplicate-status] strong")).to_have_text("找不到")
    expect(page.locator("[data-testid=duplicate-status]")).to_contain_text("原提案讀到：沒有詞庫中的詞；其餘「基層爆肝沒人管」")
    page.locator("#duplicates").screenshot(path=f"{shots}/0-duplicate-missed.png")
    with page.expect_navigation():
        page.get_by_role("link", name="試算此標題").click()  # the row's title goes to the trial panel
    expect(page.locator("#trial-title")).to_have_value("減少同仁超時工作")
    page.fill("#trial-title", "減少同仁超時工作")
    with page.expect_navigation():
        page.press("#trial-title", "Enter")  # the trial works from the keyboard
    expect(page.locator("[data-testid=trial-matches]")).to_have_text("沒有找到相似的提案。")
    expect(page.locator("[data-testid=trial-concepts]")).to_contain_text("超時工作")
    page.screenshot(path=f"{shots}/1-trial-miss.png", full_page=False)

    page.fill("input[name=word]", "國旅卡")
    page.select_option("select[name=concept]", "加班")
    with page.expect_navigation():
        page.click("[data-testid=add-form] [type=submit]")
    expect(page.locator("[role=alert]").first).to_contain_text("屬於「國民旅遊卡」概念")
    expect(page.locator("input[name=word]")).to_have_value("國旅卡")  # what was typed stays
    page.screenshot(path=f"{shots}/2-refused.png", full_page=False)

    page.fill("input[name=word]", "爆肝")
    with page.expect_navigation():
        page.click("[data-testid=add-form] [type=submit]")
    expect(page.locator("[role=status]").first).to_contain_text("已將「爆肝」加入「加班」概念")
    expect(page.locator("[data-testid=trial-matches]")).to_contain_text("基層天天爆肝沒人管")  # tried again at once
    page.locator("#trial").screenshot(path=f"{shots}/3-trial-found.png")
    expect(page.locator("[data-testid=duplicate-status]")).to_contain_text("找得到（第 1 位")
    expect(page.locator("[data-testid=duplicates-summary]")).to_contain_text("目前的搜尋找得到 1 件")
    page.locator("#duplicates").screenshot(path=f"{shots}/3b-duplicate-found.png")
    page.set_viewport_size({"width": 1280, "height": 860})  # a desk: the same rows as a table
    page.locator("#duplicates").screenshot(path=f"{shots}/3c-desk-duplicates.png")
    page.set_viewport_size({"width": 420, "height": 860})

    page.fill("#filter-q", "加班")
    with page.expect_navigation():
        page.press("#filter-q", "Enter")
    expect(page.locator("[data-testid=team-word]")).to_contain_text("爆肝")
    page.locator("#lexicon").screenshot(path=f"{shots}/4-filtered-team-word.png")
    desktop = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: each row a block, nothing sideways
    visit(page, base + "/console/similar-lexicon?q=加班", "相似提案詞庫")
    for table in page.locator(".table-wrap").all():  # the duplicates and the lexicon
        assert table.evaluate("el => el.scrollWidth <= el.clientWidth + 1")
    page.locator("#duplicates").screenshot(path=f"{shots}/4c-phone-duplicates.png")
    expect(page.locator("[data-testid=team-word]")).to_contain_text("爆肝")
    page.locator("#lexicon").screenshot(path=f"{shots}/4b-phone.png")
    page.set_viewport_size(desktop)
    with page.expect_navigation():
        page.click("[data-testid=team-word] button")
    expect(page.locator("[role=status]").first).to_contain_text("已移除「爆肝」")
    expect(page.locator("[data-testid=team-word]")).to_have_count(0)
    page.screenshot(path=f"{shots}/5-full-page.png", full_page=True)
