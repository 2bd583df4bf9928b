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


# --- the secret stored encrypted; one's own recovery codes and (agency staff) turning it off ---------

def test_totp_secret_is_stored_encrypted_and_migrate_seals_old_ones(app, runner, fresh_ops):
    from models.two_factor import secret_of

    secret = new_secret()
    enrol(fresh_ops, secret, code_at(secret, NOW), NOW)
    stored = Staff.get_by_id(fresh_ops.id).totp_secret
    assert stored.startswith("f1:") and secret not in stored and secret_of(Staff.get_by_id(fresh_ops.id)) == secret
    Staff.update(totp_secret=secret).where(Staff.id == fresh_ops.id).execute()  # as stored before encryption
    result = runner.invoke(args=["db", "migrate"])
    assert result.exit_code == 0 and "two-factor secrets encrypted: 1" in result.output
    sealed = Staff.get_by_id(fresh_ops.id)
    assert sealed.totp_secret.startswith("f1:") and secret_of(sealed) == secret
    later = NOW + dt.timedelta(seconds=30)
    assert verify(sealed, code_at(secret, later), later).id == fresh_ops.id  # still signs in
    assert "encrypted: 0" in runner.invoke(args=["db", "migrate"]).output  # idempotent


def _both(client, path: str, password: str, code: str, prefix: str):
    token = csrf_token(client, "/console/two-factor")
    return client.post(path, data={"csrf_token": token, f"{prefix}-password": password, f"{prefix}-code": code})


def test_own_recovery_codes_regenerated_with_password_and_code(app, agency_staff):
    from models.two_factor import RecoveryCode
    from tests.fixtures_console import RECOVERY_CODES, enrol_two_factor, second_factor_code

    enrol_two_factor(agency_staff)
    client = app.test_client()
    assert console_login(client, agency_staff.email, agency_staff.password).status_code == 302
    old = list(RECOVERY_CODES[agency_staff.email])
    refused = _both(client, "/console/two-factor/recovery-codes", "wrong-password-123", old[0], "recovery")
    assert refused.status_code == 400 and "密碼不正確" in text(refused)
    page = _both(client, "/console/two-factor/recovery-codes", agency_staff.password,
                 second_factor_code(agency_staff.email), "recovery")
    assert page.status_code == 200 and "已產生新的備用碼" in text(page)
    shown = re.findall(r"<code>([0-9a-f]{5}-[0-9a-f]{5})</code>", text(page))
    assert len(shown) == 10 and not set(shown) & set(old)
    assert RecoveryCode.select().where(RecoveryCode.staff == agency_staff.id).count() == 10
    with pytest.raises(DomainError):
        verify(agency_staff, old[-1], utcnow())  # the old codes no longer work
    assert verify(agency_staff, shown[0], utcnow()).id == agency_staff.id
    assert AuditEvent.select().where(AuditEvent.action == "staff_2fa_recovery_regenerated").count() == 1


def test_agency_staff_turn_two_factor_off_ops_cannot(app, agency_staff, ops_staff, ops_client):
    from tests.fixtures_console import enrol_two_factor, second_factor_code

    enrol_two_factor(agency_staff)
    client, other = app.test_client(), app.test_client()
    for c in (client, other):
        assert console_login(c, agency_staff.email, agency_staff.password).status_code == 302
    wrong = "000000" if second_factor_code(agency_staff.email) != "000000" else "111111"
    refused = _both(client, "/console/two-factor/disable", agency_staff.password, wrong, "disable")
    assert refused.status_code == 400 and "驗證碼不正確" in text(refused)
    assert Staff.get_by_id(agency_staff.id).two_factor_enabled
    done = _both(client, "/console/two-factor/disable", agency_staff.password,
                 second_factor_code(agency_staff.email), "disable")
    assert done.status_code == 302
    row = Staff.get_by_id(agency_staff.id)
    assert not row.two_factor_enabled and row.totp_secret is None
    assert AuditEvent.select().where(AuditEvent.action == "staff_2fa_disabled").count() == 1
    assert client.get("/console/").status_code == 200  # this session stays
    assert other.get("/console/").status_code == 302  # the other one has ended
    fresh = app.test_client()  # the password alone signs in again
    assert console_login(fresh, agency_staff.email, agency_staff.password).headers["Location"] != "/console/login/code"

    page = text(ops_client.get("/console/two-factor"))
    assert 'data-testid="disable-form"' not in page
    response = _both(ops_client, "/console/two-factor/disable", ops_staff.password,
                     second_factor_code(ops_staff.email), "disable")
    assert response.status_code == 400 and "必須使用兩步驟驗證" in text(response)
    assert Staff.get_by_id(ops_staff.id).two_factor_enabled
