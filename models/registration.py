"""Registration answers and email verification requests (R3.1, R3.2)."""
from __future__ import annotations

import datetime as dt

from . import texts
from .agencies import get_agency
from .base import DomainError, utcnow
from .events import record
from .officials import (
    DISPLAY_NICKNAME,
    DISPLAY_REAL,
    Official,
    clean_address,
    clean_email,
    clean_name,
    clean_nickname,
    clean_phone,
    clean_unit,
    complete_email_verification,
    email_taken,
)
from .outbox import transaction
from .verification import PURPOSE_REGISTER, VerificationCode, issue_code

PROFILE_FIELDS = ("real_name", "nickname", "display_choice", "phone", "email", "address", "agency_code", "unit")
REQUIRED_FIELDS = PROFILE_FIELDS


@transaction
def update_profile(official: Official, field: str, value: str, allowed_domains: list[str]) -> str:
    """Validate and store one registration answer; returns the cleaned value."""
    if field == "real_name":
        cleaned = clean_name(value)
    elif field == "nickname":
        cleaned = clean_nickname(value)
    elif field == "display_choice":
        if value not in (DISPLAY_REAL, DISPLAY_NICKNAME):
            raise DomainError("請點選「以真實姓名顯示」或「以暱稱顯示」。", "bad_display")
        cleaned = value
    elif field == "phone":
        cleaned = clean_phone(value)
    elif field == "email":
        cleaned = clean_email(value, allowed_domains)
        if email_taken(cleaned, official):
            raise DomainError(texts.EMAIL_TAKEN, "email_taken")
    elif field == "address":
        cleaned = clean_address(value)
    elif field == "agency_code":
        agency = get_agency(value)
        if agency is None or not agency.active:
            raise DomainError("請從清單中選擇機關。", "bad_agency")
        cleaned = agency.code
    elif field == "unit":
        cleaned = clean_unit(value)
    else:
        raise DomainError("無法修改這個欄位。", "bad_field")
    Official.update({getattr(Official, field): cleaned}).where(Official.id == official.id).execute()
    setattr(official, field, cleaned)
    if official.is_verified:  # a correction (R4: the official keeps their data right); the value is not logged
        record(official.actor, "profile_updated", "official", official.id, detail={"field": field})
    return cleaned


def missing_fields(official: Official) -> list[str]:
    return [f for f in REQUIRED_FIELDS if not getattr(official, f)]


@transaction
def request_email_verification(official: Official, reply_domain: str, now: dt.datetime | None = None) -> VerificationCode:
    """Send a code to the address the official gave (registration, or a change of address)."""
    now = now or utcnow()
    # A verified official changing address is not held up by a field added since they registered.
    missing = [] if official.is_verified else missing_fields(official)
    if missing:
        raise DomainError("註冊資料尚未填寫完整。", "incomplete")
    if official.verified_email == official.email:
        raise DomainError(f"{official.email} 已完成認證。", "already_verified")
    if email_taken(official.email, official):
        raise DomainError(texts.EMAIL_TAKEN, "email_taken")
    _refuse_if_too_many_codes(official, official.email, now)
    row = issue_code(official, PURPOSE_REGISTER, official.email, describe=_describe, reply_domain=reply_domain, now=now)
    record(official.actor, "verification_requested", "official", official.id, now=now)
    return row


CODES_PER_OFFICIAL_PER_HOUR = 5
CODES_PER_ADDRESS_PER_DAY = 10


def _refuse_if_too_many_codes(official: Official, email: str, now) -> None:
    """Database-backed caps (they hold without Redis): codes per account per hour, and per target
    address per day across accounts, so nobody can flood an inbox or guess codes in parallel."""
    import datetime as dt

    register_codes = VerificationCode.select().where(VerificationCode.purpose == PURPOSE_REGISTER)
    if register_codes.where((VerificationCode.official == official)
                            & (VerificationCode.created_at > now - dt.timedelta(hours=1))).count() \
            >= CODES_PER_OFFICIAL_PER_HOUR:
        raise DomainError("一小時內已寄送多次認證碼，請稍後再試，或查看信箱中最新的一封。", "code_limit")
    if register_codes.where((VerificationCode.email == email)
                            & (VerificationCode.created_at > now - dt.timedelta(days=1))).count() \
            >= CODES_PER_ADDRESS_PER_DAY:
        raise DomainError("這個電子郵件今天已收到太多認證碼，請明天再試；如有疑問請聯絡營運小組。", "address_limit")


def _describe(row: VerificationCode) -> tuple[str, str]:
    return texts.CODE_MAIL_SUBJECT, "您正在「臺中市政府公務人員政策參與平臺」認證這個電子郵件地址。"


def pending_registration_what(row: VerificationCode) -> str:
    """What a pending registration (or change of address) code is for, for the chat's reminder."""
    return texts.CODE_PENDING_REGISTER.format(email=row.email)


def complete_registration_code(row: VerificationCode, now: dt.datetime) -> str:
    """R3.2: a confirmed registration code verifies the address it was sent to."""
    return complete_email_verification(row.official_id, row.email, now)
