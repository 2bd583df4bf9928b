"""Blocking an official (R8): the one measure the regulation does not give, so it rests on R7.

The regulation lets the operations team remove *content* on the grounds of 第七點 (R7.1–R7.7); it
gives no power to bar a person. A block is therefore allowed only as a measure against repeated
content of that kind: it cites one of the same grounds the removal of proposals uses
(`proposals.REMOVAL_GROUNDS`), carries a reason, is recorded in the official's history, tells the
official why and how to object (LINE and email, replies to the email reach the team), and is
reversible: an unblock is recorded and told the same way. The LINE rich menu follows both through
the outbox (`queue_rich_menu`): the job reads the status when it runs.
"""
from __future__ import annotations

import datetime as dt
import json

from . import settings
from .base import DomainError, is_postgres, utcnow
from .events import AuditEvent, record
from .notify import notify_official
from .officials import OFFICIAL_STATES, STATUS_BLOCKED, STATUS_REGISTERING, STATUS_VERIFIED, Official
from .outbox import queue_rich_menu, unit_of_work
from .proposals import REMOVAL_GROUNDS, removal_ground_label
from .staff import Staff, _require_ops, clean_reason

BLOCKED_EVENT, UNBLOCKED_EVENT = "official_blocked", "official_unblocked"

MSG = {
    "ground_required": "請選擇停用所依據的第七點事由；本平臺不能在沒有事由的情況下停用帳號。",
    "already_blocked": "這位公務人員已經是停用狀態。",
    "not_blocked": "這位公務人員目前沒有被停用。",
    "blocked_subject": "【政策參與平臺】您的帳號已暫停使用",
    "blocked_body": ("營運小組已暫停您在「臺中市政府公務人員政策參與平臺」的帳號，暫停期間不能提案、附議或提供意見；"
                     "您已發表的內容不受影響。\n\n"
                     "事由：{ground}\n說明：{reason}\n\n"
                     "如有異議，請{reply}寫信到營運小組（臺中市政府研究發展考核委員會）{ops}，"
                     "說明您的理由；營運小組會重新審視並回覆您。審視後恢復帳號時，我們也會通知您。"),
    "unblocked_subject": "【政策參與平臺】您的帳號已恢復使用",
    "unblocked_body": ("營運小組已恢復您在「臺中市政府公務人員政策參與平臺」的帳號，您可以再提案、附議與提供意見。\n\n"
                       "說明：{reason}"),
}


def _locked(official_id: int) -> Official:
    query = Official.select().where(Official.id == official_id)
    return (query.for_update() if is_postgres() else query).get()


def block_official(staff: Staff, official: Official, ground: str, reason: str,
                   now: dt.datetime | None = None) -> Official:
    """Stop an official from participating on an R7 ground, with a reason; the official is told. Ops only."""
    now = now or utcnow()
    _require_ops(staff)
    if ground not in REMOVAL_GROUNDS:
        raise DomainError(MSG["ground_required"], "bad_ground")
    reason = clean_reason(reason)
    with unit_of_work():  # the notice and the menu change are sent once the status change has committed
        current = _locked(official.id)
        if current.status == STATUS_BLOCKED:
            raise DomainError(MSG["already_blocked"], "already_blocked")
        OFFICIAL_STATES.check(current.status, STATUS_BLOCKED)  # a closed account cannot be blocked
        OFFICIAL_STATES.move(Official, Official.id == official.id, STATUS_BLOCKED)
        event = record(staff.actor, BLOCKED_EVENT, "official", official.id, reason=reason,
                       detail={"ground": ground, "previous_status": current.status}, now=now)
        fields = {"ground": removal_ground_label(ground), "reason": reason, "ops": settings.OPS_NOTIFY_EMAIL}
        chat = MSG["blocked_body"].format(reply="", **fields)  # the chat is not an email: no "reply to this"
        notify_official(current, subject=MSG["blocked_subject"], body=MSG["blocked_body"].format(reply="回覆本郵件，或", **fields),
                        line_messages=[{"type": "text", "text": chat}], key=f"official:{official.id}:block:{event.id}",
                        reply_to=settings.OPS_NOTIFY_EMAIL, now=now)
        queue_rich_menu(current.line_user_id, now=now)  # back to the menu that offers only registration
    return Official.get_by_id(official.id)


def unblock_official(staff: Staff, official: Official, reason: str, now: dt.datetime | None = None) -> Official:
    """Lift a block: verified again if the email was verified, otherwise back to registering; the official
    is told. Ops only."""
    now = now or utcnow()
    _require_ops(staff)
    reason = clean_reason(reason)
    with unit_of_work():
        current = _locked(official.id)
        if current.status != STATUS_BLOCKED:
            raise DomainError(MSG["not_blocked"], "not_blocked")
        status = STATUS_VERIFIED if current.verified_email else STATUS_REGISTERING
        OFFICIAL_STATES.move(Official, Official.id == official.id, status, from_states=[STATUS_BLOCKED])
        event = record(staff.actor, UNBLOCKED_EVENT, "official", official.id, reason=reason,
                       detail={"status": status}, now=now)
        notify_official(current, subject=MSG["unblocked_subject"], body=MSG["unblocked_body"].format(reason=reason),
                        key=f"official:{official.id}:unblock:{event.id}", reply_to=settings.OPS_NOTIFY_EMAIL, now=now)
        queue_rich_menu(current.line_user_id, now=now)
    return Official.get_by_id(official.id)


def current_block(official: Official) -> dict | None:
    """The ground and reason of the block in force (the latest block event), or None if not blocked."""
    if official.status != STATUS_BLOCKED:
        return None
    event = (AuditEvent.select().where((AuditEvent.subject_type == "official") & (AuditEvent.subject_id == official.id)
                                       & (AuditEvent.action == BLOCKED_EVENT))
             .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc()).first())
    if event is None:
        return None
    ground = (json.loads(event.detail) if event.detail else {}).get("ground")
    return {"ground": ground, "ground_label": removal_ground_label(ground), "reason": event.reason,
            "at": event.created_at}
