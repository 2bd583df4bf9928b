"""Issue 11's path in Chromium: the first ops member (made by CLI) enrols TOTP, invites an agency
member, the invitation reaches the SMTP sink, the member sets a password, signs in, sees only
their agency's work, and when ops disables them their open session ends."""
from __future__ import annotations

import re

from models.agency_confirmation import request_confirmation
from models.base import utcnow
from models.two_factor import code_at
from tests.factories import seconding_proposal, verified_official
from tests.fixtures_console import ensure_agencies

OPS = "ops.first@taichung.gov.tw"
OPS_PASSWORD = "first ops member of the platform"
MEMBER = "civil.new@taichung.gov.tw"
MEMBER_PASSWORD = "民政局承辦的長密碼 2026"


def test_ops_brings_an_agency_member_on_board_and_ends_their_session(app, runner, browser, page, live_server, smtp):
    ensure_agencies()
    made = runner.invoke(args=["staff", "create", "--email", OPS, "--role", "ops", "--name", "首位營運",
                               "--password-stdin"], input=OPS_PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    mine = seconding_proposal(verified_official("a@taichung.gov.tw", "甲"), title="民政局主辦的提案")
    request_confirmation(mine.id, "staff:1", [("CIVIL", "lead")], base_url="http://localhost")
    other = seconding_proposal(verified_official("b@taichung.gov.tw", "乙"), title="教育局主辦的提案")
    request_confirmation(other.id, "staff:1", [("EDU", "lead")], base_url="http://localhost")

    # 1. The first ops member signs in and must enrol TOTP before anything else.
    page.goto(f"{live_server.url}/console/login")
    page.fill("input[name=email]", OPS)
    page.fill("input[name=password]", OPS_PASSWORD)
    page.get_by_role("button", name="登入").click()
    page.wait_for_url(f"{live_server.url}/console/two-factor")
    assert page.locator("[data-testid=totp-qr] svg").is_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    page.fill("input[name=code]", code_at(secret, utcnow()))
    page.get_by_role("button", name="驗證").click()
    assert page.get_by_test_id("recovery-codes").locator("li").count() == 10

    # 2. They invite an agency member for 民政局.
    page.goto(f"{live_server.url}/console/staff")
    page.fill("input[name=invite-email]", MEMBER)
    page.fill("input[name=invite-display_name]", "民政局 新承辦")
    page.select_option("select[name=invite-role]", "agency")
    page.select_option("select[name=invite-agency_code]", "CIVIL")
    page.get_by_role("button", name="寄送邀請").click()
    assert f"已寄出邀請給 {MEMBER}" in page.content()

    # 3. The invitation arrives at the SMTP sink.
    body = smtp.body(smtp.last_to(MEMBER))
    path = re.search(r"http://localhost(/console/invitation/\S+)", body).group(1)

    # 4. The member sets a password (a common one is refused first) and signs in, in their own browser.
    member_context = browser.new_context()
    member = member_context.new_page()
    try:
        member.goto(f"{live_server.url}{path}")
        member.fill("input[name=password]", "password2026!")
        member.fill("input[name=confirm]", "password2026!")
        member.get_by_role("button", name="設定密碼").click()
        assert "太常見" in member.content()
        member.fill("input[name=password]", MEMBER_PASSWORD)
        member.fill("input[name=confirm]", MEMBER_PASSWORD)
        member.get_by_role("button", name="設定密碼").click()
        member.wait_for_url(f"{live_server.url}/console/login")
        member.fill("input[name=email]", MEMBER)
        member.fill("input[name=password]", MEMBER_PASSWORD)
        member.get_by_role("button", name="登入").click()
        member.wait_for_url(f"{live_server.url}/console/")

        # 5. The home shows only their agency's work.
        due = member.get_by_test_id("due")
        assert "民政局的待辦" in due.inner_text()
        assert member.get_by_test_id("due-confirmations_waiting").inner_text().startswith("1")
        member.goto(f"{live_server.url}/console/confirmations")
        assert "民政局主辦的提案" in member.content() and "教育局主辦的提案" not in member.content()

        # 6. Ops disables them; their open session ends at the next request.
        page.goto(f"{live_server.url}/console/staff")
        row = page.locator(f"[data-testid=staff-row][data-email='{MEMBER}']")
        row.locator("input[name=staff-reason]").fill("測試帳號，停用")
        row.get_by_role("button", name="停用").click()
        assert f"已停用 {MEMBER}" in page.content()
        member.goto(f"{live_server.url}/console/confirmations")
        assert member.url.startswith(f"{live_server.url}/console/login")
        assert "請先登入工作臺" in member.content()
    finally:
        member_context.close()
