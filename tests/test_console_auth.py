"""The staff console: accounts and login (R8), officials' personal data seen only with a reason (R4)."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
import uuid

import pytest
from werkzeug.security import check_password_hash

from models import settings
from models.events import AuditEvent
from models.officials import Official
from models.staff import PersonalDataAccess, Staff, can_access_agency, create_staff
from tests.fixtures_console import (
    AGENCY_CODE,
    OPS_PASSWORD,
    browser_login,
    console_login,
    console_post,
    ensure_agencies,
)
from webapp.console.auth import agency_scope

RATE_LIMITED = "登入嘗試次數過多"
LOGIN_FAILED = "電子郵件或密碼不正確"

PHONE, EMAIL, ADDRESS = "0912-345-678", "wang.secret@taichung.gov.tw", "臺中市西屯區臺灣大道三段99號"


@pytest.fixture
def login_redis(app):
    """The login limiter on its own real Redis database: other test runs flush db 15 at any moment."""
    from redis import Redis

    redis = Redis.from_url(os.environ.get("TEST_LOGIN_REDIS_URL", "redis://127.0.0.1:6379/14"))
    prefix = f"console:login:{uuid.uuid4().hex}"
    app.config["LOGIN_LIMIT_KEY_PREFIX"] = prefix
    app.extensions["redis"] = redis
    yield redis
    for key in redis.scan_iter(f"{prefix}:*"):
        redis.delete(key)


def make_official(**overrides) -> Official:
    fields = dict(
        line_user_id="U" + "a" * 32, status="verified", real_name="王秘密", nickname="西屯小幫手",
        display_choice="nickname", phone=PHONE, email=EMAIL, verified_email=EMAIL, address=ADDRESS,
        agency_code="CIVIL", verified_at=dt.datetime(2026, 1, 5, 2, 0), terms_version=settings.TERMS_VERSION,
    )
    fields.update(overrides)
    ensure_agencies()
    return Official.create(**fields)


def page_text(response) -> str:
    return response.get_data(as_text=True)


# --- R8: accounts from the command line -----------------------------------------------------------

def test_r8_cli_staff_create_prompts_for_password_twice(runner):
    result = runner.invoke(args=["staff", "create", "--email", " Chen@Taichung.GOV.tw ", "--role", "ops",
                                 "--name", "陳專員"], input=f"{OPS_PASSWORD}\n{OPS_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "已建立工作臺帳號 chen@taichung.gov.tw" in result.output
    assert OPS_PASSWORD not in result.output  # hidden input is not echoed
    staff = Staff.get(Staff.email == "chen@taichung.gov.tw")
    assert (staff.role, staff.display_name, staff.active, staff.agency_code) == ("ops", "陳專員", True, None)
    assert staff.password_hash != OPS_PASSWORD and check_password_hash(staff.password_hash, OPS_PASSWORD)
    assert AuditEvent.get(AuditEvent.action == "staff_created").subject_id == staff.id


def test_r8_cli_staff_create_agency_account_from_stdin(runner):
    ensure_agencies()
    result = runner.invoke(args=["staff", "create", "--email", "lin@taichung.gov.tw", "--role", "agency",
                                 "--agency", "civil", "--password-stdin"], input="a-long-enough-password\n")
    assert result.exit_code == 0, result.output
    staff = Staff.get(Staff.email == "lin@taichung.gov.tw")
    assert (staff.role, staff.agency_code) == ("agency", AGENCY_CODE)
    assert check_password_hash(staff.password_hash, "a-long-enough-password")


@pytest.mark.parametrize("args, password, message", [
    (["--email", "a@taichung.gov.tw", "--role", "ops"], "short-pw", "至少需要 12 個字元"),
    (["--email", "not-an-email", "--role", "ops"], "a-long-enough-password", "電子郵件格式不正確"),
    (["--email", "a@taichung.gov.tw", "--role", "agency"], "a-long-enough-password", "必須指定機關代碼"),
    (["--email", "a@taichung.gov.tw", "--role", "agency", "--agency", "NOPE"], "a-long-enough-password",
     "找不到機關代碼「NOPE」"),
])
def test_r8_cli_staff_create_refuses_bad_input(runner, args, password, message):
    ensure_agencies()
    result = runner.invoke(args=["staff", "create", *args, "--password-stdin"], input=password + "\n")
    assert result.exit_code == 1
    assert message in result.output
    assert Staff.select().count() == 0


def test_r8_cli_staff_create_refuses_mismatch_unknown_role_and_duplicates(runner, ops_staff):
    mismatch = runner.invoke(args=["staff", "create", "--email", "b@taichung.gov.tw", "--role", "ops"],
                             input="first-password-1\nsecond-password-2\n")
    assert mismatch.exit_code != 0
    assert runner.invoke(args=["staff", "create", "--email", "b@taichung.gov.tw", "--role", "admin",
                               "--password-stdin"], input="a-long-enough-password\n").exit_code == 2
    duplicate = runner.invoke(args=["staff", "create", "--email", ops_staff.email.upper(), "--role", "ops",
                                    "--password-stdin"], input="a-long-enough-password\n")
    assert duplicate.exit_code == 1 and "已有工作臺帳號" in duplicate.output
    assert Staff.select().count() == 1


# --- R8: login, logout, CSRF ------------------------------------------------------------------------

def test_r8_console_requires_login(client):
    response = client.get("/console/officials")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/console/login?next=")
    assert "請先登入工作臺" in page_text(client.get(response.headers["Location"]))


def test_r8_login_success_shows_dashboard_with_existing_links_only(client, ops_staff):
    response = console_login(client, ops_staff.email.upper(), ops_staff.password)
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    home = client.get("/console/")
    text = page_text(home)
    assert home.status_code == 200
    assert "陳專員" in text and "歡迎登入" in text
    assert 'href="/console/officials"' in text and "公務人員" in text
    assert "審核佇列" not in text or "console.review_queue" in client.application.view_functions
    assert home.headers["Cache-Control"] == "no-store"
    staff = Staff.get_by_id(ops_staff.id)
    assert staff.last_login_at is not None and staff.failed_logins == 0
    assert AuditEvent.select().where(AuditEvent.action == "staff_login").count() == 1


def test_r8_login_failure_is_generic_and_does_not_enumerate(client, ops_staff):
    wrong = console_login(client, ops_staff.email, "wrong-password-123")
    unknown = console_login(client, "nobody@taichung.gov.tw", "wrong-password-123")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert LOGIN_FAILED in page_text(response)
        assert "wrong-password-123" not in page_text(response)
    def comparable(response, email):
        # The CSRF token carries a timestamp in whole seconds: two pages a second apart differ there only.
        return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "csrf", page_text(response).replace(email, ""))

    assert comparable(wrong, ops_staff.email) == comparable(unknown, "nobody@taichung.gov.tw")
    assert client.get("/console/").status_code == 302
    assert Staff.get_by_id(ops_staff.id).failed_logins == 1


def test_r8_inactive_account_cannot_log_in_or_keep_its_session(client, app, ops_staff):
    assert console_login(client, ops_staff.email, ops_staff.password).status_code == 302
    Staff.update(active=False).where(Staff.id == ops_staff.id).execute()
    assert client.get("/console/").status_code == 302  # the session no longer loads the account
    response = console_login(client, ops_staff.email, ops_staff.password)
    assert response.status_code == 401 and LOGIN_FAILED in page_text(response)


def test_r8_login_and_logout_need_csrf_token(client, ops_staff):
    response = client.post("/console/login", data={"email": ops_staff.email, "password": ops_staff.password})
    assert response.status_code == 400
    assert "表單已失效" in page_text(response)
    assert client.get("/console/").status_code == 302

    assert console_login(client, ops_staff.email, ops_staff.password).status_code == 302
    assert client.post("/console/logout").status_code == 400
    assert client.get("/console/").status_code == 200  # still logged in
    assert console_post(client, "/console/logout").status_code == 302
    assert client.get("/console/").status_code == 302


@pytest.mark.parametrize("next_url, expected", [
    ("/console/officials", "/console/officials"),
    ("https://evil.example/console/", "/console/"),
    ("//evil.example/console/", "/console/"),
    ("/\\evil.example", "/console/"),
    ("javascript:alert(1)", "/console/"),
])
def test_r8_login_redirects_only_to_local_paths(client, ops_staff, next_url, expected):
    response = console_login(client, ops_staff.email, ops_staff.password, next=next_url)
    assert response.status_code == 302
    assert response.headers["Location"] == expected


# --- R8: rate limits --------------------------------------------------------------------------------

def test_r8_login_rate_limited_per_email_with_clear_message(client, ops_staff, login_redis):
    for _ in range(10):
        assert console_login(client, ops_staff.email, "wrong-password-123").status_code == 401
    refused = console_login(client, ops_staff.email, ops_staff.password)  # even the right password
    assert refused.status_code == 429
    assert RATE_LIMITED in page_text(refused) and "15 分鐘後再試" in page_text(refused)
    assert client.get("/console/").status_code == 302
    # Another account from the same office address is not affected.
    other = create_staff("other@taichung.gov.tw", "ops", "another-password-1")
    assert console_login(client, other.email, "another-password-1").status_code == 302


def test_r8_login_rate_limited_per_ip(app, client, ops_staff, login_redis):
    app.config["LOGIN_LIMIT_PER_IP"] = 3
    for n in range(3):
        assert console_login(client, f"guess{n}@taichung.gov.tw", "wrong-password-123").status_code == 401
    refused = console_login(client, ops_staff.email, ops_staff.password)
    assert refused.status_code == 429 and RATE_LIMITED in page_text(refused)


def test_r8_successful_logins_do_not_use_up_the_ip_limit(app, client, ops_staff, login_redis):
    app.config["LOGIN_LIMIT_PER_IP"] = 2
    for _ in range(4):
        assert console_login(client, ops_staff.email, ops_staff.password).status_code == 302
        assert console_post(client, "/console/logout").status_code == 302


def test_r8_rate_limit_falls_back_to_failed_logins_when_redis_is_down(app, client, ops_staff, caplog):
    from redis import Redis

    app.extensions["redis"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    caplog.set_level(logging.WARNING, logger="webapp.console.auth")
    assert console_login(client, ops_staff.email, ops_staff.password).status_code == 302  # still usable
    assert console_post(client, "/console/logout").status_code == 302
    for _ in range(10):
        assert console_login(client, ops_staff.email, "wrong-password-123").status_code == 401
    assert Staff.get_by_id(ops_staff.id).failed_logins == 10
    refused = console_login(client, ops_staff.email, ops_staff.password)
    assert refused.status_code == 429 and RATE_LIMITED in page_text(refused)
    assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
    # From another address the member can still sign in: the fallback never locks an account for everyone.
    elsewhere = client.application.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.9.9"
    assert console_login(elsewhere, ops_staff.email, ops_staff.password).status_code == 302
    # The window passes: the account can log in again from the first address too.
    from models.login_failures import LoginFailure

    LoginFailure.update(at=LoginFailure.at - dt.timedelta(minutes=16)).execute()
    assert console_login(client, ops_staff.email, ops_staff.password).status_code == 302


# --- R8: roles --------------------------------------------------------------------------------------

def test_r8_agency_staff_cannot_open_ops_only_pages(agency_client):
    official = make_official()
    assert agency_client.get("/console/").status_code == 200
    assert 'href="/console/officials"' not in page_text(agency_client.get("/console/"))
    assert agency_client.get("/console/officials").status_code == 403
    assert agency_client.get(f"/console/officials/{official.id}").status_code == 403
    reveal = console_post(agency_client, f"/console/officials/{official.id}/personal-data",
                          {"reveal-reason": "想看看這個人的資料"})
    assert reveal.status_code == 403
    assert PHONE not in page_text(reveal)
    assert PersonalDataAccess.select().count() == 0
    assert console_post(agency_client, f"/console/officials/{official.id}/block",
                        {"block-reason": "測試停用權限"}).status_code == 403
    assert Official.get_by_id(official.id).status == "verified"


def test_r8_agency_scope_and_access(ops_staff, agency_staff):
    assert agency_scope(ops_staff) is None
    assert agency_scope(agency_staff) == AGENCY_CODE
    assert can_access_agency(ops_staff, "EDU")
    assert can_access_agency(agency_staff, "civil") and not can_access_agency(agency_staff, "EDU")


# --- R4: personal data ------------------------------------------------------------------------------

def test_r4_officials_list_shows_no_personal_data(ops_client):
    make_official()
    make_official(line_user_id="U" + "b" * 32, real_name="李公開", nickname="小李", display_choice="real",
                  phone="04-2228-9111", email="li@taichung.gov.tw", verified_email="li@taichung.gov.tw",
                  address="臺中市北區三民路一段1號", status="registering", verified_at=None)
    text = page_text(ops_client.get("/console/officials"))
    assert "西屯小幫手" in text and "李公開" in text and "民政局" in text and "已認證" in text
    for secret in (PHONE, EMAIL, ADDRESS, "王秘密", "04-2228-9111", "li@taichung.gov.tw", "三民路"):
        assert secret not in text
    # Searching finds the shown name only; a nickname user's real name is not an oracle.
    assert "西屯小幫手" in page_text(ops_client.get("/console/officials?q=小幫手"))
    assert "西屯小幫手" not in page_text(ops_client.get("/console/officials?q=王秘密"))
    assert "沒有符合" in page_text(ops_client.get("/console/officials?q=%25"))


def test_r4_officials_list_is_paginated(ops_client):
    ensure_agencies()
    Official.insert_many([{"line_user_id": f"U{n:032d}", "nickname": f"同仁{n:02d}", "display_choice": "nickname",
                           "status": "verified"} for n in range(30)]).execute()
    first = page_text(ops_client.get("/console/officials"))
    second = page_text(ops_client.get("/console/officials?page=2"))
    assert "共 30 位" in first and "第 1 / 2 頁" in first and "同仁29" in first and "同仁00" not in first
    assert "同仁00" in second and "同仁29" not in second


def test_r4_personal_data_hidden_until_reason_given_and_each_view_recorded(ops_client, ops_staff):
    official = make_official()
    detail = page_text(ops_client.get(f"/console/officials/{official.id}"))
    assert "西屯小幫手" in detail
    for secret in (PHONE, EMAIL, ADDRESS, "王秘密"):
        assert secret not in detail

    path = f"/console/officials/{official.id}/personal-data"
    no_reason = console_post(ops_client, path, {"reveal-reason": ""}, token_from=f"/console/officials/{official.id}")
    assert no_reason.status_code == 400 and PHONE not in page_text(no_reason)
    assert PersonalDataAccess.select().count() == 0

    before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    shown = console_post(ops_client, path, {"reveal-reason": "提案人聯繫：確認提案內容"},
                         token_from=f"/console/officials/{official.id}")
    assert shown.status_code == 200
    assert shown.headers["Cache-Control"] == "no-store"
    for value in (PHONE, EMAIL, ADDRESS, "王秘密"):
        assert value in page_text(shown)
    access = PersonalDataAccess.get()
    assert access.staff_id == ops_staff.id and access.official_id == official.id
    assert access.reason == "提案人聯繫：確認提案內容"
    assert set(access.field_list) == {"real_name", "phone", "email", "address"}
    assert before <= access.at <= dt.datetime.now(dt.UTC).replace(tzinfo=None)
    event = AuditEvent.get(AuditEvent.action == "personal_data_viewed")
    assert (event.actor, event.subject_id, event.reason) == (f"staff:{ops_staff.id}", official.id, access.reason)

    # Shown once: the page again hides it, and lists the view (who, when, why) instead.
    again = page_text(ops_client.get(f"/console/officials/{official.id}"))
    assert PHONE not in again and "陳專員" in again and "提案人聯繫：確認提案內容" in again
    console_post(ops_client, path, {"reveal-reason": "寄送成案通知前確認地址"})
    assert PersonalDataAccess.select().count() == 2


def test_r8_block_and_unblock_official_with_ground_and_reason(ops_client, ops_staff):
    official = make_official()
    detail = f"/console/officials/{official.id}"
    refused = console_post(ops_client, f"{detail}/block", {"block-ground": "R7.3", "block-reason": ""}, token_from=detail)
    assert refused.status_code == 400 and Official.get_by_id(official.id).status == "verified"
    blocked = console_post(ops_client, f"{detail}/block", {"block-ground": "R7.3", "block-reason": "反覆張貼人身攻擊內容"},
                           token_from=detail, follow_redirects=True)
    assert "已停用「西屯小幫手」" in page_text(blocked)
    assert Official.get_by_id(official.id).status == "blocked"
    event = AuditEvent.get(AuditEvent.action == "official_blocked")
    assert (event.actor, event.subject_id, event.reason) == (f"staff:{ops_staff.id}", official.id, "反覆張貼人身攻擊內容")
    console_post(ops_client, f"{detail}/unblock", {"unblock-reason": "經本人說明後恢復"}, token_from=detail)
    assert Official.get_by_id(official.id).status == "verified"
    assert AuditEvent.get(AuditEvent.action == "official_unblocked").reason == "經本人說明後恢復"


# --- R8: the real form in Chromium, at phone width ------------------------------------------------

def test_r8_login_in_chromium_shows_dashboard_at_phone_width(page, live_server, ops_staff):
    page.set_viewport_size({"width": 375, "height": 812})
    browser_login(page, live_server, ops_staff.email, ops_staff.password)
    assert page.url == f"{live_server.url}/console/"
    assert page.get_by_test_id("staff-name").inner_text() == "陳專員"
    dashboard = page.get_by_test_id("dashboard")
    assert dashboard.is_visible()
    assert dashboard.get_by_role("link", name="公務人員").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.get_by_role("button", name="登出").is_visible()
    page.get_by_role("button", name="登出").click()
    page.wait_for_url(f"{live_server.url}/console/login")
    assert "您已登出" in page.content()
