"""Issue 10 item 7: login limits per (address, account) and per address, growing, recorded, and
never a lockout of an account for everyone."""
from __future__ import annotations

import json
import os
import uuid

import pytest

from models.events import AuditEvent
from tests.fixtures_console import console_login, console_post

RATE_LIMITED = "登入嘗試次數過多"


@pytest.fixture
def login_redis(app):
    from redis import Redis

    redis = Redis.from_url(os.environ.get("TEST_LOGIN_REDIS_URL", "redis://127.0.0.1:6379/14"))
    prefix = f"console:login:{uuid.uuid4().hex}"
    app.config["LOGIN_LIMIT_KEY_PREFIX"] = prefix
    app.extensions["redis"] = redis
    yield redis, prefix
    for key in redis.scan_iter(f"{prefix}:*"):
        redis.delete(key)


def from_address(app, ip: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def test_strangers_elsewhere_cannot_lock_a_member_out(app, ops_staff, login_redis):
    attacker = from_address(app, "203.0.113.9")
    for _ in range(10):
        assert console_login(attacker, ops_staff.email, "wrong-password-123").status_code == 401
    refused = console_login(attacker, ops_staff.email, ops_staff.password)
    assert refused.status_code == 429 and RATE_LIMITED in refused.get_data(as_text=True)
    office = from_address(app, "10.20.30.40")
    assert console_login(office, ops_staff.email, ops_staff.password).status_code == 302
    event = AuditEvent.get(AuditEvent.action == "staff_login_locked")
    detail = json.loads(event.detail)
    assert event.subject_id == ops_staff.id and event.actor == "ip:203.0.113.9"
    assert detail["scope"] == "pair" and detail["seconds"] == 900 and detail["until"]


def test_each_repeat_lockout_lasts_twice_as_long(app, ops_staff, login_redis):
    redis, prefix = login_redis
    app.config["LOGIN_LIMIT_PER_IP"] = 100  # this test is about the pair's lockouts only
    attacker = from_address(app, "203.0.113.10")
    for minutes in (15, 30, 60):
        for key in redis.scan_iter(f"{prefix}:*:lock"):
            redis.delete(key)  # the previous lockout has run out (no waiting in a test)
        for _ in range(10):
            assert console_login(attacker, ops_staff.email, "wrong-password-123").status_code == 401
        refused = console_login(attacker, ops_staff.email, "wrong-password-123")
        assert refused.status_code == 429 and f"{minutes} 分鐘後再試" in refused.get_data(as_text=True)
    strikes = [json.loads(e.detail)["strike"] for e in AuditEvent.select().where(
        AuditEvent.action == "staff_login_locked").order_by(AuditEvent.id)]
    assert strikes == [1, 2, 3]


def test_one_address_guessing_many_accounts_is_locked_and_recorded(app, ops_staff, login_redis):
    app.config["LOGIN_LIMIT_PER_IP"] = 5
    guesser = from_address(app, "198.51.100.7")
    for n in range(5):
        assert console_login(guesser, f"guess{n}@taichung.gov.tw", "wrong-password-123").status_code == 401
    assert console_login(guesser, ops_staff.email, ops_staff.password).status_code == 429
    event = AuditEvent.get(AuditEvent.action == "staff_login_locked")
    assert json.loads(event.detail)["scope"] == "ip" and event.subject_id is None
    assert console_login(from_address(app, "10.0.0.8"), ops_staff.email, ops_staff.password).status_code == 302


def test_ops_lift_a_lockout_early_and_the_unlock_is_recorded(app, login_redis, agency_staff, ops_client, ops_staff):
    office = from_address(app, "10.1.2.3")
    for _ in range(10):
        assert console_login(office, agency_staff.email, "wrong-password-123").status_code == 401
    assert console_login(office, agency_staff.email, agency_staff.password).status_code == 429
    lockout = AuditEvent.get(AuditEvent.action == "staff_login_locked")

    page = ops_client.get("/console/staff").get_data(as_text=True)
    section = page.split("<h2>登入暫停中</h2>")[1].split("</section>")[0]
    assert 'data-testid="lockout-row" data-ip="10.1.2.3"' in section and agency_staff.email in section
    path = f"/console/staff/lockouts/{lockout.id}/lift"
    refused = console_post(ops_client, path, {"staff-reason": ""}, token_from="/console/staff", follow_redirects=True)
    assert "事由" in refused.get_data(as_text=True)
    assert console_login(office, agency_staff.email, agency_staff.password).status_code == 429  # still locked
    assert not AuditEvent.select().where(AuditEvent.action == "staff_login_unlocked").exists()

    done = console_post(ops_client, path, {"staff-reason": "本人在辦公室輸錯密碼，已電話確認"},
                        token_from="/console/staff", follow_redirects=True)
    assert "已解除來自 10.1.2.3 的登入暫停。" in done.get_data(as_text=True)
    assert 'data-ip="10.1.2.3"' not in done.get_data(as_text=True)
    unlock = AuditEvent.get(AuditEvent.action == "staff_login_unlocked")
    assert unlock.actor == ops_staff.actor and unlock.subject_id == agency_staff.id
    assert unlock.reason == "本人在辦公室輸錯密碼，已電話確認" and json.loads(unlock.detail)["lockout"] == lockout.id
    assert console_login(office, agency_staff.email, agency_staff.password).status_code == 302

    again = console_post(ops_client, path, {"staff-reason": "再解除一次看看"}, token_from="/console/staff",
                         follow_redirects=True)
    assert "已經結束或已解除" in again.get_data(as_text=True)
    assert AuditEvent.select().where(AuditEvent.action == "staff_login_unlocked").count() == 1


def test_agency_staff_cannot_lift_a_lockout(app, login_redis, ops_staff, agency_client):
    stranger = from_address(app, "192.0.2.44")
    for _ in range(11):  # the 11th is over the limit of 10 and locks
        console_login(stranger, ops_staff.email, "wrong-password-123")
    lockout = AuditEvent.get(AuditEvent.action == "staff_login_locked")
    response = console_post(agency_client, f"/console/staff/lockouts/{lockout.id}/lift", {"staff-reason": "我想解除"})
    assert response.status_code in (302, 403) and not AuditEvent.select().where(
        AuditEvent.action == "staff_login_unlocked").exists()
    assert console_login(stranger, ops_staff.email, ops_staff.password).status_code == 429
