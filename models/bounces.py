"""Addresses that bounce (R3.2, R4: contact data kept correct): recorded, and the official asked for a new one.

Bounces are not reported to us by inbound mail (delivery reports to the reply domain are ignored as
auto-replies, webapp/mailparse.py); what we know is the mail server's own answer when the outbox job
hands it a message. A permanent refusal (5xx for the recipient) is a bounce: `record_bounce` counts
it on the official whose verified address it is. After `settings.BOUNCES_BEFORE_ASKING` of them the
official is asked once, in LINE, to verify a new address (我的資料 → 修改電子郵件); verifying one
resets the count (models/officials.complete_email_verification).
"""
from __future__ import annotations

import datetime as dt

from . import settings
from .base import utcnow
from .events import record
from .officials import STATUS_VERIFIED, Official
from .outbox import queue_line, transaction

ASK_TEXT = ("寄到您登記的電子郵件 {email} 的通知已連續 {n} 次被退回，之後的提案、附議通知可能收不到。\n"
            "請點選「修改電子郵件」，輸入您目前使用的公務信箱並完成認證。")


@transaction
def record_bounce(address: str, outbox_id: int, now: dt.datetime | None = None) -> Official | None:
    """Count a permanent delivery failure to `address`; ask the official for a new address once there are enough."""
    now = now or utcnow()
    official = Official.get_or_none((Official.verified_email == address) & (Official.status == STATUS_VERIFIED))
    if official is None:
        return None  # an agency's or the team's address, or an account since changed or closed
    Official.update(email_bounces=Official.email_bounces + 1, email_bounced_at=now).where(
        Official.id == official.id).execute()
    official = Official.get_by_id(official.id)
    record("system:outbox", "email_bounced", "official", official.id, detail={"outbox": outbox_id,
                                                                               "count": official.email_bounces}, now=now)
    if official.email_bounces >= settings.BOUNCES_BEFORE_ASKING and official.bounce_asked_at is None \
            and official.following:
        quick = [{"type": "action", "action": {"type": "postback", "label": "修改電子郵件",
                                               "data": "a=profile.edit&f=email", "displayText": "修改電子郵件"}}]
        queue_line(official.line_user_id, [{"type": "text", "text": ASK_TEXT.format(email=address, n=official.email_bounces),
                                            "quickReply": {"items": quick}}],
                   dedupe_key=f"official:{official.id}:bounces:{outbox_id}", now=now)
        Official.update(bounce_asked_at=now).where(Official.id == official.id).execute()
        record("system:outbox", "email_change_asked", "official", official.id, now=now)
    return official
