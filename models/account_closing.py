"""An official closes their own account (R4, 個人資料保護法 §11: deletion on request).

What was published stays, under the name that was shown (R3.0): proposals, seconds and opinions
are the city's record and the public's (terms of use). Everything that reaches or identifies the
person is erased at once: real name, phone, email, address and the link to the LINE account. A
name shown as the real name stays as the shown name (it was public already); the real-name field
itself is emptied. The status becomes closed, for good: a person who comes back registers anew.

Left behind for a while: the verification codes that confirmed seconds (the proof of a count,
without their address), deleted `RETENTION_DAYS["closed_accounts"]` days after closing by the R4
sweep step (models/retention.py); notices already queued, whose address the sweep blanks with all
others after `RETENTION_DAYS["notice_recipient"]` days.
"""
from __future__ import annotations

import datetime as dt

from .base import DomainError, is_postgres, utcnow
from .events import record
from .notify import MAIL_FOOTER
from .officials import DISPLAY_NICKNAME, OFFICIAL_STATES, STATUS_CLOSED, STATUS_VERIFIED, Official, require_verified
from .outbox import queue_mail, queue_rich_menu, transaction
from .verification import CODE_STATES, PENDING, SUPERSEDED, VerificationCode

MSG = {
    "not_verified": "只有已完成認證的帳號可以在這裡關閉。",
    "subject": "【政策參與平臺】您的帳號已關閉",
    "body": ("{name} 您好：\n\n"
             "您已在 LINE 關閉「臺中市政府公務人員政策參與平臺」的帳號。您的真實姓名、電話、電子郵件、地址"
             "及與 LINE 帳號的連結已刪除；您已發表的提案、附議與意見依使用條款保留，以「{name}」顯示。\n"
             "這是寄到這個信箱的最後一封通知。日後如要再參與，請在 LINE 重新註冊。{footer}"),
}


@transaction
def close_account(official: Official, now: dt.datetime | None = None) -> str:
    """Close the official's account: erase contact data, keep posts under the shown name. Returns that name."""
    now = now or utcnow()
    require_verified(official)
    query = Official.select().where(Official.id == official.id)
    current = (query.for_update() if is_postgres() else query).get()
    if current.status != STATUS_VERIFIED:
        raise DomainError(MSG["not_verified"], "not_verified")
    OFFICIAL_STATES.check(current.status, STATUS_CLOSED)
    shown = current.display_name
    queue_mail(current.verified_email, MSG["subject"], MSG["body"].format(name=shown, footer=MAIL_FOOTER),
               dedupe_key=f"official:{current.id}:closed", now=now)
    queue_rich_menu(current.line_user_id, now=now)  # the job finds no official on that LINE id: the guest menu
    Official.update(
        status=STATUS_CLOSED, closed_at=now, nickname=shown, display_choice=DISPLAY_NICKNAME, real_name=None,
        phone=None, email=None, verified_email=None, address=None, line_user_id=f"closed:{current.id}",
        following=False, email_bounces=0, email_bounced_at=None, bounce_asked_at=None,
    ).where((Official.id == current.id) & (Official.status == STATUS_VERIFIED)).execute()
    # Codes: none may confirm anything any more, and none keeps the address.
    CODE_STATES.move(VerificationCode, VerificationCode.official == current.id, SUPERSEDED, from_states=[PENDING])
    VerificationCode.update(email="").where(VerificationCode.official == current.id).execute()
    record(current.actor, "account_closed", "official", current.id, now=now)
    return shown
