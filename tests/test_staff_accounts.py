"""Issue 11 items 1-2 and issue 10 item 2: staff accounts by invitation, passwords, sessions that end."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.base import DomainError
from models.events import AuditEvent
from models.passwords import check_password
from models.staff import Staff
from models.staff_accounts import INVITE, RESET, accept_invitation, invite_staff, staff_for_link
from models.staff_sessions import StaffSession
from tests.fixtures_console import AGENCY_CODE, console_login, console_post, csrf_token
from tests.helpers import forged

NOW = dt.datetime(2026, 3, 2, 2, 0)  # UTC, a Monday morning in Taipei
NEW_EMAIL = "hsu.civil@taichung.gov.tw"
NEW_PASSWORD = "奶茶半糖少冰 every friday"


@pytest.fixture(autouse=True)
def agencies(app):
    from tests.fixtures_console import ensure_agencies

    ensure_agencies()


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def link_in(smtp, address: str, path: str) -> str:
    match = re.search(rf"http://localhost({re.escape(path)}\S+)", smtp.body(smtp.last_to(address)))
    assert match, smtp.body(smtp.last_to(address))
    return match.group(1)


def invite(client, email=NEW_EMAIL, role="agency", agency=AGENCY_CODE, name="民政局 許承辦", token_from="/console/staff"):
    return console_post(client, "/console/staff/invite", {"invite-email": email, "invite-role": role,
                                                          "invite-agency_code": agency, "invite-display_name": name},
                        token_from=token_from)


def set_password(client, path, password, confirm=None):
    return client.post(path, data={"csrf_token": csrf_token(client, path), "password": password,
                                   "confirm": password if confirm is None else confirm})


@pytest.mark.parametrize("password, code", [
    ("short-pw", "password_short"),
    ("password2026!", "password_common"),
    ("Correcthorsebatterystaple", "password_common"),
    ("qwertyuiop123", "password_common"),
    ("zzzzzzzzzzzzzz", "password_repeated"),
    ("hsu.civil@taichung.gov.tw", "password_email"),
    ("            ", "password_blank"),
])
def test_nist_password_policy_refuses_short_common_and_own_email(password, code):
    with pytest.raises(DomainError) as refused:
        check_password(password, NEW_EMAIL)
    assert refused.value.code == code


def test_nist_password_policy_accepts_a_long_passphrase_without_symbols():
    assert check_password("the river by the old bridge", NEW_EMAIL)
    assert check_password(NEW_PASSWORD, NEW_EMAIL)


def test_ops_invites_agency_member_who_sets_a_password_and_signs_in(app, ops_client, ops_staff, smtp):
    response = invite(ops_client)
    assert response.status_code == 302
    staff = Staff.get(Staff.email == NEW_EMAIL)
    assert staff.invitation_pending and staff.agency_code == AGENCY_CODE and staff.role == "agency"
    assert console_login(app.test_client(), NEW_EMAIL, NEW_PASSWORD).status_code == 401  # no password yet
    mail = smtp.last_to(NEW_EMAIL)
    assert "工作臺帳號邀請" in str(mail["Subject"]) and "陳專員" in smtp.body(mail)
    path = link_in(smtp, NEW_EMAIL, "/console/invitation/")

    visitor = app.test_client()
    assert NEW_EMAIL in text(visitor.get(path))
    weak = set_password(visitor, path, "password2026!")
    assert weak.status_code == 400 and "太常見" in text(weak)
    mismatch = set_password(visitor, path, NEW_PASSWORD, "something else entirely")
    assert mismatch.status_code == 400 and "不一致" in text(mismatch)
    assert Staff.get_by_id(staff.id).invitation_pending  # nothing changed

    done = set_password(visitor, path, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/console/login"
    again = visitor.get(path)
    assert again.status_code == 410 and "已經使用過" in text(again)
    assert console_login(visitor, NEW_EMAIL, NEW_PASSWORD).status_code == 302

    listing = text(ops_client.get("/console/staff"))
    assert "民政局" in listing and NEW_EMAIL in listing and "使用中" in listing
    actions = [(e.actor, e.action) for e in AuditEvent.select().where(
        (AuditEvent.subject_type == "staff") & (AuditEvent.subject_id == staff.id)).order_by(AuditEvent.id)]
    assert (ops_staff.actor, "staff_invited") in actions and (staff.actor, "staff_invitation_accepted") in actions


def test_invitation_link_expires_after_72_hours_and_forged_links_are_refused(app, ops_staff):
    staff = invite_staff(ops_staff, NEW_EMAIL, "agency", AGENCY_CODE, None, NOW)
    token = re.search(r"/console/invitation/(\S+)", _last_body(staff.email)).group(1)
    assert staff_for_link(token, INVITE, NOW + dt.timedelta(hours=71, minutes=59)).id == staff.id
    with pytest.raises(DomainError) as expired:
        accept_invitation(token, NEW_PASSWORD, NOW + dt.timedelta(hours=72))
    assert expired.value.code == "expired_link" and "重新寄送邀請" in expired.value.message
    for bad_token in (forged(token), token.replace(".", "..", 1), "abc"):
        with pytest.raises(DomainError) as bad:
            staff_for_link(bad_token, INVITE, NOW)
        assert bad.value.code == "bad_link"
    with pytest.raises(DomainError):  # an invitation link is not a reset link
        staff_for_link(token, RESET, NOW)
    assert Staff.get_by_id(staff.id).invitation_pending


def _last_body(address: str) -> str:
    from models.outbox import Outbox

    row = Outbox.select().where(Outbox.recipient == address).order_by(Outbox.id.desc()).first()
    return row.data["body"]


def test_resend_replaces_the_old_link(app, ops_client, smtp):
    invite(ops_client)
    first = link_in(smtp, NEW_EMAIL, "/console/invitation/")
    staff = Staff.get(Staff.email == NEW_EMAIL)
    assert console_post(ops_client, f"/console/staff/{staff.id}/resend", token_from="/console/staff").status_code == 302
    second = link_in(smtp, NEW_EMAIL, "/console/invitation/")
    assert first != second
    visitor = app.test_client()
    assert visitor.get(first).status_code == 410
    assert visitor.get(second).status_code == 200


def test_invite_refuses_duplicates_and_agency_without_agency(ops_client, agency_staff):
    duplicate = invite(ops_client, email=agency_staff.email)
    assert duplicate.status_code == 400 and "已有工作臺帳號" in text(duplicate)
    missing = invite(ops_client, agency="")
    assert missing.status_code == 400 and "必須指定機關" in text(missing)
    assert not Staff.select().where(Staff.email == NEW_EMAIL).exists()


def test_agency_staff_cannot_reach_the_staff_pages(agency_client, agency_staff):
    assert agency_client.get("/console/staff").status_code == 403
    assert invite(agency_client, token_from="/console/").status_code == 403
    assert console_post(agency_client, f"/console/staff/{agency_staff.id}/disable",
                        {"staff-reason": "測試停用"}).status_code == 403


def test_disabling_ends_every_session_and_re_enabling_lets_them_sign_in(app, ops_client, agency_staff, agency_client):
    second_device = app.test_client()
    assert console_login(second_device, agency_staff.email, agency_staff.password).status_code == 302
    refused = console_post(ops_client, f"/console/staff/{agency_staff.id}/disable", {"staff-reason": ""},
                           token_from="/console/staff")
    assert refused.status_code == 302 and Staff.get_by_id(agency_staff.id).active
    done = console_post(ops_client, f"/console/staff/{agency_staff.id}/disable", {"staff-reason": "調離民政局"},
                        token_from="/console/staff")
    assert done.status_code == 302
    for client in (agency_client, second_device):
        assert client.get("/console/").status_code == 302  # the open sessions ended
    assert console_login(app.test_client(), agency_staff.email, agency_staff.password).status_code == 401
    event = AuditEvent.get(AuditEvent.action == "staff_disabled")
    assert event.reason == "調離民政局" and event.subject_id == agency_staff.id
    assert StaffSession.select().where((StaffSession.staff == agency_staff.id)
                                       & StaffSession.ended_at.is_null()).count() == 0

    console_post(ops_client, f"/console/staff/{agency_staff.id}/enable", {"staff-reason": "回任民政局"},
                 token_from="/console/staff")
    assert console_login(app.test_client(), agency_staff.email, agency_staff.password).status_code == 302
    assert AuditEvent.get(AuditEvent.action == "staff_enabled").reason == "回任民政局"


def test_ops_cannot_disable_themselves(ops_client, ops_staff):
    console_post(ops_client, f"/console/staff/{ops_staff.id}/disable", {"staff-reason": "測試自己"},
                 token_from="/console/staff")
    assert Staff.get_by_id(ops_staff.id).active
    assert ops_client.get("/console/").status_code == 200


def test_logout_ends_the_session_so_a_copied_cookie_is_refused(app, ops_client):
    cookie = ops_client.get_cookie("session").value
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/console/").status_code == 200
    console_post(ops_client, "/console/logout")
    assert thief.get("/console/").status_code == 302


def test_a_session_ends_after_8_hours_without_a_request(ops_client, ops_staff):
    assert ops_client.get("/console/").status_code == 200
    row = StaffSession.get(StaffSession.staff == ops_staff.id)
    StaffSession.update(last_seen_at=row.last_seen_at - dt.timedelta(hours=8)).execute()
    assert ops_client.get("/console/").status_code == 302
    assert StaffSession.get_by_id(row.id).end_reason == "idle"


def test_changing_own_password_ends_the_other_sessions_only(app, ops_staff, ops_client):
    other = app.test_client()
    assert console_login(other, ops_staff.email, ops_staff.password).status_code == 302
    wrong = console_post(ops_client, "/console/password", {"current": "not-my-password", "password": NEW_PASSWORD,
                                                          "confirm": NEW_PASSWORD}, token_from="/console/password")
    assert wrong.status_code == 400 and "目前的密碼不正確" in text(wrong)
    done = console_post(ops_client, "/console/password", {"current": ops_staff.password, "password": NEW_PASSWORD,
                                                         "confirm": NEW_PASSWORD}, token_from="/console/password")
    assert done.status_code == 302
    assert ops_client.get("/console/").status_code == 200
    assert other.get("/console/").status_code == 302
    assert console_login(app.test_client(), ops_staff.email, NEW_PASSWORD).status_code == 302


def test_forgot_password_answers_the_same_and_mails_a_single_use_link(app, client, ops_staff, smtp):
    def ask(email):
        response = client.post("/console/password/forgot",
                               data={"csrf_token": csrf_token(client, "/console/password/forgot"), "email": email},
                               follow_redirects=True)
        return re.sub(r'name="csrf_token"[^>]*value="[^"]*"', "", text(response))

    assert ask(ops_staff.email) == ask("nobody@taichung.gov.tw")
    assert not smtp.to("nobody@taichung.gov.tw")
    path = link_in(smtp, ops_staff.email, "/console/password/reset/")
    signed_in = app.test_client()
    assert console_login(signed_in, ops_staff.email, ops_staff.password).status_code == 302
    assert set_password(client, path, "letmein12345").status_code == 400
    assert set_password(client, path, NEW_PASSWORD).status_code == 302
    assert signed_in.get("/console/").status_code == 302  # a reset ends every session
    assert client.get(path).status_code == 410
    assert console_login(app.test_client(), ops_staff.email, NEW_PASSWORD).status_code == 302


def test_reset_link_expires_after_an_hour(app, ops_staff):
    from models.staff_accounts import request_password_reset, reset_password

    request_password_reset(ops_staff.email, NOW)
    token = re.search(r"/console/password/reset/(\S+)", _last_body(ops_staff.email)).group(1)
    with pytest.raises(DomainError) as expired:
        reset_password(token, NEW_PASSWORD, NOW + dt.timedelta(hours=1))
    assert expired.value.code == "expired_link"
    assert reset_password(token, NEW_PASSWORD, NOW + dt.timedelta(minutes=59)).id == ops_staff.id
