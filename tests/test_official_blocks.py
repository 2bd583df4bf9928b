"""Blocking an official (R8 with an R7 ground): cited, told with the way to object, recorded, reversible."""
from __future__ import annotations

from models.events import AuditEvent
from models.officials import Official
from models.outbox import Outbox
from tests.factories import verified_official
from tests.fixtures_console import console_post, ensure_agencies
from tests.helpers import page_text

OPS = "rdec-platform@taichung.gov.tw"


def _detail(official: Official) -> str:
    return f"/console/officials/{official.id}"


def test_r8_r7_3_block_cites_the_ground_tells_the_official_how_to_object_and_is_in_the_history(
        ops_client, ops_staff, line, smtp):
    ensure_agencies()
    official = verified_official(nickname="西屯小幫手")
    uid = line.user(official.line_user_id)
    detail = _detail(official)
    response = console_post(ops_client, f"{detail}/block",
                            {"block-ground": "R7.3", "block-reason": "三次張貼人身攻擊內容，均已依第七點移除"},
                            token_from=detail, follow_redirects=True)
    assert response.status_code == 200
    assert Official.get_by_id(official.id).status == "blocked"

    # The official is told in LINE and by email: the ground, the reason, and whom to write to.
    pushed = line.texts(uid)[-1]
    assert "事由：種族歧視、人身攻擊或其他相類行為" in pushed and "第七點" not in pushed  # no clause numbers in chat
    assert "三次張貼人身攻擊內容" in pushed and OPS in pushed and "異議" in pushed and "回覆本郵件" not in pushed
    mail = smtp.last_to(official.verified_email)
    assert mail["Subject"] == "【政策參與平臺】您的帳號已暫停使用"
    assert mail["Reply-To"] == OPS  # replying to the notice reaches the team
    body = smtp.body(mail)
    assert "第七點第3款（種族歧視、人身攻擊或其他相類行為）" in body and "三次張貼人身攻擊內容" in body and OPS in body
    assert "回覆本郵件" in body

    # The console shows the block in force and the history names the ground and the reason.
    page = page_text(ops_client, detail)
    assert "停用事由" in page and "第七點第3款" in page
    assert "停用帳號" in page and "三次張貼人身攻擊內容" in page
    event = AuditEvent.get(AuditEvent.action == "official_blocked")
    assert event.actor == f"staff:{ops_staff.id}" and '"ground": "R7.3"' in event.detail

    # The chat answers a blocked official with whom to write to.
    line.postback(ops_client, uid, "a=prop.start")
    assert "已暫停使用" in line.last(uid)["text"] and OPS in line.last(uid)["text"]


def test_r8_unblock_is_recorded_and_told(ops_client, line, smtp):
    ensure_agencies()
    official = verified_official()
    uid = line.user(official.line_user_id)
    detail = _detail(official)
    console_post(ops_client, f"{detail}/block", {"block-ground": "R7.1", "block-reason": "恐嚇其他同仁"}, token_from=detail)
    console_post(ops_client, f"{detail}/unblock", {"unblock-reason": "經本人說明並道歉後恢復"}, token_from=detail)
    assert Official.get_by_id(official.id).status == "verified"
    assert "您的帳號已恢復使用" in smtp.last_to(official.verified_email)["Subject"]
    assert "經本人說明並道歉後恢復" in line.texts(uid)[-1]
    page = page_text(ops_client, detail)
    assert "恢復帳號" in page and "經本人說明並道歉後恢復" in page and "第七點第1款" in page
    # Two menu changes went through the outbox: one for the block, one for the unblock.
    assert Outbox.select().where((Outbox.channel == "richmenu") & (Outbox.recipient == uid)).count() == 2


def test_r8_a_block_without_a_ground_gets_a_form_error_and_changes_nothing(ops_client, line, smtp):
    ensure_agencies()
    official = verified_official()
    detail = _detail(official)
    for ground in ("", "R9.9", "R7.8"):
        response = console_post(ops_client, f"{detail}/block", {"block-ground": ground, "block-reason": "不當發言"},
                                token_from=detail)
        assert response.status_code == 400
        assert "請選擇停用所依據的第七點事由" in response.get_data(as_text=True)
    assert Official.get_by_id(official.id).status == "verified"
    assert not AuditEvent.select().where(AuditEvent.action == "official_blocked").exists()
    assert Outbox.select().count() == 0
    assert smtp.to(official.verified_email) == []
