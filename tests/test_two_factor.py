"""Issue 11 item 3: TOTP two-factor sign-in, required for ops, with recovery codes and resets."""
from __future__ import annotations

import datetime as dt
import html
import re

import pytest

from models.base import DomainError, utcnow
from models.events import AuditEvent
from models.staff import Staff, create_staff
from models.two_factor import code_at, enrol, new_secret, reset_by_ops, verify
from tests.fixtures_console import console_login, console_post, csrf_token

NOW = dt.datetime(2026, 3, 2, 2, 0, 15)  # UTC; TOTP steps are 30 s, this is mid-step
OPS2 = "ops.wu@taichung.gov.tw"
OPS2_PASSWORD = "another-long-password-9"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def fresh_ops(app):
    return create_staff(OPS2, "ops", OPS2_PASSWORD, display_name="吳專員")


def test_enrol_needs_a_right_code_and_codes_are_never_replayed(fresh_ops):
    secret = new_secret()
    with pytest.raises(DomainError):
        enrol(fresh_ops, secret, "000000" if code_at(secret, NOW) != "000000" else "111111", NOW)
    codes = enrol(fresh_ops, secret, code_at(secret, NOW), NOW)
    assert len(codes) == 10 and len(set(codes)) == 10
    later = NOW + dt.timedelta(seconds=30)
    with pytest.raises(DomainError):  # the enrolment's own code, a step later: already used
        verify(fresh_ops, code_at(secret, NOW), later)
    assert verify(fresh_ops, code_at(secret, later), later).id == fresh_ops.id
    with pytest.raises(DomainError):  # the same code twice
        verify(fresh_ops, code_at(secret, later), later)
    with pytest.raises(DomainError):  # two steps away is outside the drift allowed
        verify(fresh_ops, code_at(secret, NOW + dt.timedelta(seconds=120)), NOW + dt.timedelta(seconds=60))
    assert verify(fresh_ops, codes[0].upper(), later).id == fresh_ops.id  # a recovery code, any case
    with pytest.raises(DomainError):
        verify(fresh_ops, codes[0], later)  # once only
    assert AuditEvent.select().where(AuditEvent.action == "staff_2fa_recovery_used").count() == 1


def test_wrong_codes_pause_the_second_step_for_15_minutes(fresh_ops):
    secret = new_secret()
    enrol(fresh_ops, secret, code_at(secret, NOW), NOW)
    wrong = "123456" if code_at(secret, NOW + dt.timedelta(minutes=1)) != "123456" else "654321"
    for i in range(5):
        with pytest.raises(DomainError) as refused:
            verify(fresh_ops, wrong, NOW + dt.timedelta(seconds=60 + i))
        assert refused.value.code == "wrong_code"
    right_at = NOW + dt.timedelta(minutes=2)
    with pytest.raises(DomainError) as paused:
        verify(fresh_ops, code_at(secret, right_at), right_at)
    assert paused.value.code == "paused" and "15 分鐘" in paused.value.message
    assert AuditEvent.select().where(AuditEvent.action == "staff_2fa_paused").count() == 1
    after = NOW + dt.timedelta(minutes=17)
    assert verify(fresh_ops, code_at(secret, after), after).id == fresh_ops.id


def test_ops_must_enrol_before_using_the_console_and_then_sign_in_with_a_code(app, fresh_ops):
    client = app.test_client()
    assert console_login(client, OPS2, OPS2_PASSWORD).status_code == 302
    blocked = client.get("/console/officials")
    assert blocked.status_code == 302 and blocked.headers["Location"] == "/console/two-factor"
    page = text(client.get("/console/two-factor"))
    assert "<svg" in page and "QR Code" in page and "https://" not in page.split("<svg", 1)[1][:200]
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', page).group(1)
    bad = client.post("/console/two-factor", data={"csrf_token": csrf_token(client, "/console/two-factor"),
                                                    "code": "12345"})
    assert bad.status_code == 400 and Staff.get_by_id(fresh_ops.id).totp_secret is None
    done = client.post("/console/two-factor", data={"csrf_token": csrf_token(client, "/console/two-factor"),
                                                     "code": code_at(secret, utcnow())})
    assert done.status_code == 200 and "只顯示這一次" in text(done)
    recovery = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", text(done))
    assert len(recovery) == 10
    assert client.get("/console/officials").status_code == 200

    other = app.test_client()
    password_only = other.post("/console/login", data={"csrf_token": csrf_token(other), "email": OPS2,
                                                       "password": OPS2_PASSWORD})
    assert password_only.headers["Location"] == "/console/login/code"
    assert other.get("/console/").status_code == 302  # not signed in on the password alone
    wrong = other.post("/console/login/code", data={"csrf_token": csrf_token(other, "/console/login/code"),
                                                    "code": "not-a-code"})
    assert wrong.status_code == 401 and "驗證碼不正確" in text(wrong)
    right = other.post("/console/login/code", data={"csrf_token": csrf_token(other, "/console/login/code"),
                                                    "code": recovery[0]})
    assert right.status_code == 302 and other.get("/console/officials").status_code == 200


def test_agency_staff_are_not_forced_to_enrol(agency_client):
    assert agency_client.get("/console/confirmations").status_code == 200


def test_another_ops_member_resets_a_lost_device_and_it_is_recorded(app, ops_client, ops_staff, fresh_ops):
    secret = new_secret()
    enrol(fresh_ops, secret, code_at(secret, NOW), NOW)
    signed_in = app.test_client()
    console_post(ops_client, f"/console/staff/{fresh_ops.id}/reset-2fa", {"staff-reason": "手機遺失"},
                 token_from="/console/staff")
    assert Staff.get_by_id(fresh_ops.id).totp_secret is None
    event = AuditEvent.get(AuditEvent.action == "staff_2fa_reset")
    assert event.actor == ops_staff.actor and event.reason == "手機遺失" and event.subject_id == fresh_ops.id
    assert console_login(signed_in, OPS2, OPS2_PASSWORD).status_code == 302
    assert signed_in.get("/console/").headers["Location"] == "/console/two-factor"  # enrol again
    with pytest.raises(DomainError):  # agency staff cannot reset anyone
        reset_by_ops(Staff(role="agency", active=True), ops_staff.id, "不應該成功", NOW)


def test_cli_reset_2fa_for_when_no_other_ops_member_exists(app, runner, fresh_ops):
    secret = new_secret()
    enrol(fresh_ops, secret, code_at(secret, NOW), NOW)
    refused = runner.invoke(args=["staff", "reset-2fa", "--email", "nobody@taichung.gov.tw", "--reason", "手機遺失了"])
    assert refused.exit_code != 0 and "找不到這個帳號" in refused.output
    result = runner.invoke(args=["staff", "reset-2fa", "--email", OPS2, "--reason", "手機遺失，無其他成員"])
    assert result.exit_code == 0, result.output
    assert Staff.get_by_id(fresh_ops.id).totp_secret is None
    assert AuditEvent.get(AuditEvent.action == "staff_2fa_reset").actor == "system:cli"
