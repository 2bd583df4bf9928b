"""Console fixtures: staff accounts and helpers that log in through the real form (CSRF stays on).

``ops_staff`` / ``agency_staff`` (function): a `models.staff.Staff`; its plain password is on
``.password`` (``OPS_PASSWORD`` / ``AGENCY_PASSWORD``). ``agency_staff`` belongs to ``CIVIL``
(民政局); the shipped agencies are imported first if the table is empty.
``ops_client`` / ``agency_client`` (function): a fresh test client already logged in as that account.

    resp = console_login(client, ops_staff.email, ops_staff.password)   # the POST's response (302 on success)
    resp = console_post(client, "/console/officials/1/block", {"block-reason": "..."})  # token added
    browser_login(page, live_server, ops_staff.email, ops_staff.password)
"""
from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import quote

import pytest

OPS_EMAIL = "ops.chen@taichung.gov.tw"
OPS_PASSWORD = "ops-correct-horse-42"
AGENCY_EMAIL = "civil.lin@taichung.gov.tw"
AGENCY_PASSWORD = "agency-battery-staple-7"
AGENCY_CODE = "CIVIL"

RECOVERY_CODES: dict[str, list[str]] = {}  # per enrolled fixture account, for logins beyond the TOTP drift

_TOKEN_INPUT = re.compile(r"<input[^>]*\bname=\"csrf_token\"[^>]*>")
_VALUE = re.compile(r"\bvalue=\"([^\"]*)\"")


def csrf_token_from(page_html: str) -> str:
    """The CSRF token of the first form in this HTML."""
    tag = _TOKEN_INPUT.search(page_html)
    value = _VALUE.search(tag.group(0)) if tag else None
    if not value:
        raise AssertionError("no csrf_token input in the page")
    return html.unescape(value.group(1))


def csrf_token(client, path: str = "/console/login") -> str:
    """A CSRF token valid for the client's session, read from a page that has a form."""
    response = client.get(path)
    assert response.status_code == 200, f"GET {path}: {response.status_code}"
    return csrf_token_from(response.get_data(as_text=True))


def second_factor_code(email: str) -> str:
    """A code the account has not used yet: a TOTP code one step after the last accepted one while that
    is within the accepted drift, else one of the recovery codes the fixture kept (never a clock race)."""
    from models.base import utcnow
    from models.staff import Staff, normalize_email
    from models.two_factor import STEP, code_at, secret_of

    staff = Staff.get(Staff.email == normalize_email(email))
    now = utcnow()
    step = max(int(now.replace(tzinfo=dt.UTC).timestamp()) // STEP, (staff.totp_last_step or 0) + 1)
    if step <= int(now.replace(tzinfo=dt.UTC).timestamp()) // STEP + 1:
        return code_at(secret_of(staff), dt.datetime.fromtimestamp(step * STEP, dt.UTC).replace(tzinfo=None))
    return RECOVERY_CODES[staff.email].pop()


def console_login(client, email: str, password: str, *, next: str | None = None, follow_redirects: bool = False):
    """Log in through the login form: GET it, take its CSRF token, POST; then the two-factor step if the
    account has one. Returns the last POST's response."""
    token = csrf_token(client, "/console/login")
    data = {"csrf_token": token, "email": email, "password": password}
    if next is not None:
        data["next"] = next
    response = client.post("/console/login", data=data, follow_redirects=follow_redirects)
    if response.status_code == 302 and response.headers["Location"] == "/console/login/code":
        code = {"csrf_token": csrf_token(client, "/console/login/code"), "code": second_factor_code(email)}
        response = client.post("/console/login/code", data=code, follow_redirects=follow_redirects)
    return response


def console_post(client, path: str, data: dict[str, Any] | None = None, *, token_from: str = "/console/",
                 follow_redirects: bool = False):
    """POST a console form with a valid CSRF token (read from `token_from`, any page with a form)."""
    payload = dict(data or {})
    payload.setdefault("csrf_token", csrf_token(client, token_from))
    return client.post(path, data=payload, follow_redirects=follow_redirects)


def console_logout(client):
    return console_post(client, "/console/logout")


def browser_login(page, live_server, email: str, password: str, *, next: str | None = None) -> None:
    """Log in through the real form in Chromium and wait until the console answers."""
    base = getattr(live_server, "url", live_server)
    url = f"{base}/console/login" + (f"?next={quote(next)}" if next else "")
    page.goto(url)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit], input[type=submit]")
    if page.url.endswith("/console/login/code"):
        page.fill("input[name=code]", second_factor_code(email))
        with page.expect_navigation():
            page.click("button[type=submit], input[type=submit]")


def ensure_agencies() -> None:
    """The shipped agency list, imported once per test if the table is empty."""
    from models.agencies import Agency, import_agencies

    if not Agency.select().exists():
        result = import_agencies("data/agencies.csv")
        assert not result.errors, result.errors


@pytest.fixture
def ops_staff(app):
    from models.staff import create_staff

    staff = create_staff(OPS_EMAIL, "ops", OPS_PASSWORD, display_name="陳專員")
    staff.password = OPS_PASSWORD
    enrol_two_factor(staff)
    return staff


def enrol_two_factor(staff, now: dt.datetime | None = None):
    """Enrol the account (ops must) with a fresh secret at `now`; the helpers above sign in with it."""
    from models.base import utcnow
    from models.two_factor import code_at, enrol, new_secret

    now = now or utcnow()
    secret = new_secret()
    RECOVERY_CODES[staff.email] = enrol(staff, secret, code_at(secret, now - dt.timedelta(seconds=30)), now)
    return secret  # the enrolment used the step before `now`, so the first sign-in may use `now`'s own


@pytest.fixture
def agency_staff(app):
    from models.staff import create_staff

    ensure_agencies()
    staff = create_staff(AGENCY_EMAIL, "agency", AGENCY_PASSWORD, agency_code=AGENCY_CODE, display_name="民政局 林承辦")
    staff.password = AGENCY_PASSWORD
    return staff


def _logged_in_client(app, staff):
    client = app.test_client()
    response = console_login(client, staff.email, staff.password)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def ops_client(app, ops_staff):
    return _logged_in_client(app, ops_staff)


@pytest.fixture
def agency_client(app, agency_staff):
    return _logged_in_client(app, agency_staff)
