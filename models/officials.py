"""Officials (公務人員): registration and verified identity (R3.0–R3.2), personal data (R4)."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

import peewee

from . import settings, texts
from .agencies import get_agency
from .base import BaseModel, DomainError, utcnow
from .events import record
from .outbox import queue_rich_menu, transaction
from .states import Transitions

STATUS_REGISTERING = "registering"
STATUS_VERIFIED = "verified"
STATUS_BLOCKED = "blocked"
STATUS_CLOSED = "closed"
OFFICIAL_STATES = Transitions("帳號", {
    STATUS_REGISTERING: {STATUS_VERIFIED, STATUS_BLOCKED},  # R3.2 email verified / blocked by the team
    STATUS_VERIFIED: {STATUS_BLOCKED, STATUS_CLOSED},  # blocked (R8 on an R7 ground) / closed by the official (R4)
    STATUS_BLOCKED: {STATUS_VERIFIED, STATUS_REGISTERING},  # unblocked: back where the email says
    STATUS_CLOSED: set(),  # contact data erased: a person who comes back registers anew
}, {STATUS_REGISTERING: "註冊中", STATUS_VERIFIED: "已認證", STATUS_BLOCKED: "停用", STATUS_CLOSED: "已關閉"})

DISPLAY_REAL = "real"
DISPLAY_NICKNAME = "nickname"

MAX_NAME = 30
MAX_NICKNAME = 20
MAX_ADDRESS = 120
MAX_EMAIL = 254
MAX_UNIT = 40


class Official(BaseModel):
    line_user_id = peewee.CharField(max_length=64, unique=True)
    status = peewee.CharField(max_length=16, default=STATUS_REGISTERING, index=True)
    following = peewee.BooleanField(default=True)
    real_name = peewee.CharField(max_length=64, null=True)
    nickname = peewee.CharField(max_length=64, null=True)
    display_choice = peewee.CharField(max_length=10, null=True)  # real | nickname (R3.0)
    phone = peewee.CharField(max_length=32, null=True)
    email = peewee.CharField(max_length=MAX_EMAIL, null=True)  # address being registered or changed to
    verified_email = peewee.CharField(max_length=MAX_EMAIL, null=True, unique=True)  # one email, one official
    address = peewee.CharField(max_length=200, null=True)
    agency_code = peewee.CharField(max_length=32, null=True)  # first-level agency or district office (R2.2 list)
    unit = peewee.CharField(max_length=60, null=True)  # the unit as the official writes it: 豐原國中, 民政課
    created_at = peewee.DateTimeField(default=utcnow)
    verified_at = peewee.DateTimeField(null=True)
    terms_version = peewee.CharField(max_length=16, null=True)  # the terms of use accepted (R4, models/terms.py)
    terms_accepted_at = peewee.DateTimeField(null=True)
    closed_at = peewee.DateTimeField(null=True)  # closed by the official (R4, models/account_closing.py)
    # Permanent delivery failures to verified_email since it was verified (models/bounces.py)
    email_bounces = peewee.IntegerField(default=0)
    email_bounced_at = peewee.DateTimeField(null=True)
    bounce_asked_at = peewee.DateTimeField(null=True)  # when the official was asked in LINE for a new address

    @property
    def is_verified(self) -> bool:
        return self.status == STATUS_VERIFIED and self.verified_email is not None

    @property
    def display_name(self) -> str:
        """The only name ever shown to others (R3.0)."""
        if self.display_choice == DISPLAY_REAL and self.real_name:
            return self.real_name
        return self.nickname or "匿名公務人員"

    @property
    def greeting_name(self) -> str:
        """The name an email greets the official by: it goes to their own work address, so the real name."""
        return self.real_name or self.display_name

    @property
    def actor(self) -> str:
        return f"official:{self.id}"

    def workplace_label(self, agency_name: str | None = None) -> str:
        """Where the official works, as a letter names it (R11): 臺中市政府教育局（豐原國中）.

        `agency_name` saves a lookup when the caller has the names already."""
        if agency_name is None:
            agency = get_agency(self.agency_code or "")
            agency_name = agency.name if agency else (self.agency_code or "")
        unit = (self.unit or "").strip()
        if not unit or unit in agency_name:
            return agency_name
        return f"{agency_name}（{unit}）" if agency_name else unit


# --- validation -------------------------------------------------------------------------------

_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean_text(value: str, *, field: str, max_len: int, min_len: int = 1, multiline: bool = False) -> str:
    """Normalise, refuse control/format characters (zero-width, bidi overrides) and enforce lengths.

    Short fields use NFKC (full-width letters become ASCII); multi-line prose uses NFC, so Chinese
    full-width punctuation（，：；？！）stays as the author wrote it.
    """
    value = unicodedata.normalize("NFC" if multiline else "NFKC", value or "").strip()
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    for ch in value:
        if multiline and ch in "\n\t":
            continue
        if unicodedata.category(ch) in _INVISIBLE:
            raise DomainError(texts.INVALID_CHARS.format(field=field), "invalid_chars")
    if len(value) < min_len:
        raise DomainError(texts.TOO_SHORT.format(field=field, n=min_len), "too_short")
    if len(value) > max_len:
        raise DomainError(texts.TOO_LONG.format(field=field, n=max_len, got=len(value)), "too_long")
    return value


def clean_name(value: str) -> str:
    value = clean_text(value, field="姓名", max_len=MAX_NAME)
    if re.search(r"[<>\"'`{}\\]|https?://", value):
        raise DomainError(texts.NAME_BAD_SYMBOLS, "bad_name")
    return value


def clean_nickname(value: str) -> str:
    value = clean_text(value, field="暱稱", max_len=MAX_NICKNAME)
    if re.search(r"[<>\"'`{}\\]|https?://", value):
        raise DomainError(texts.NAME_BAD_SYMBOLS, "bad_name")
    return value


_MOBILE = re.compile(r"^09\d{8}$")
_LANDLINE = re.compile(r"^0[2-8]\d{6,8}$")
_EXTENSION = re.compile(r"(?:#|轉|分機|ext\.?|x)(\d{1,6})$", re.IGNORECASE)


def clean_phone(value: str) -> str:
    """Taiwan mobile (09xxxxxxxx) or landline with area code, optional extension; +886 accepted."""
    value = unicodedata.normalize("NFKC", value or "").strip()
    ext = ""
    match = _EXTENSION.search(value.replace(" ", ""))
    compact = value.replace(" ", "")
    if match:
        ext = match.group(1)
        compact = compact[: match.start()]
    digits = re.sub(r"[\-()（）.]", "", compact)
    if digits.startswith("+886"):
        digits = "0" + digits[4:]
    if not digits.isdigit() or not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise DomainError(texts.PHONE_INVALID, "bad_phone")
    if digits.startswith("09"):
        formatted = f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"
    else:
        # Taiwan's area codes: 0826/0836 (Wuqiu, Matsu), 037/049/082/089, else two digits (02, 04 …).
        area = 4 if digits.startswith(("0826", "0836")) else 3 if digits.startswith(("037", "049", "082", "089")) else 2
        rest = digits[area:]
        split = 4 if len(rest) == 8 else 3
        formatted = f"{digits[:area]}-{rest[:split]}-{rest[split:]}"  # as people write it: 04-2228-9111
    return formatted + (f"#{ext}" if ext else "")


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def clean_email(value: str, allowed_domains: list[str]) -> str:
    """A syntactically valid address on an allowed government domain (R3.2), lower-cased."""
    value = unicodedata.normalize("NFKC", value or "").strip().lower()
    if len(value) > MAX_EMAIL or not _EMAIL.match(value) or ".." in value:
        raise DomainError(texts.EMAIL_INVALID, "bad_email")
    domain = value.rsplit("@", 1)[1]
    if not any(domain == d or domain.endswith("." + d) for d in allowed_domains):
        raise DomainError(texts.EMAIL_NOT_GOV.format(domains="、".join(allowed_domains)), "email_domain")
    return value


def clean_unit(value: str) -> str:
    """The unit as written (豐原國中, 民政課, 第三分局): 2–40 characters, no markup or links."""
    value = clean_text(value, field="所屬單位", max_len=MAX_UNIT, min_len=2)
    if re.search(r"[<>\"'`{}\\]|https?://", value):
        raise DomainError(texts.UNIT_BAD_SYMBOLS, "bad_unit")
    return value


def clean_address(value: str) -> str:
    value = clean_text(value, field="聯絡地址", max_len=MAX_ADDRESS, min_len=5)
    return value


# --- domain functions -------------------------------------------------------------------------

def official_for_line_user(line_user_id: str, *, create: bool = True) -> Official | None:
    """The official behind a LINE account, created on first contact."""
    official = Official.get_or_none(Official.line_user_id == line_user_id)
    if official is None and create:
        try:
            official = Official.create(line_user_id=line_user_id)
        except peewee.IntegrityError:
            official = Official.get(Official.line_user_id == line_user_id)
    return official


@transaction
def set_following(official: Official, following: bool) -> None:
    Official.update(following=following).where(Official.id == official.id).execute()


def blocked_message() -> str:
    """What a blocked official is told when trying to act: the notice said why; here is whom to write to."""
    return texts.BLOCKED.format(ops=settings.OPS_NOTIFY_EMAIL)


def require_verified(official: Official | None) -> Official:
    """The guard every participation flow uses (R3.2): only verified, unblocked officials pass."""
    if official is None or official.status == STATUS_REGISTERING or not official.verified_email:
        raise DomainError(texts.NOT_VERIFIED, "not_verified")
    if official.status == STATUS_BLOCKED:
        raise DomainError(blocked_message(), "blocked")
    return official


def email_taken(email: str, official: Official) -> bool:
    """Whether another official has already verified this address (one email, one official)."""
    return Official.select().where(
        (Official.verified_email == email) & (Official.id != official.id)
    ).exists()


def complete_email_verification(official_id: int, email: str, now: dt.datetime) -> str:
    """Mark the address verified for this official; returns the zh-TW message for the chat."""
    official = Official.get_by_id(official_id)
    if email_taken(email, official):
        raise DomainError(texts.EMAIL_TAKEN, "email_taken")
    was_verified = official.is_verified
    official.verified_email = email
    official.email = email
    official.email_bounces, official.email_bounced_at, official.bounce_asked_at = 0, None, None  # a fresh address
    if official.status == STATUS_REGISTERING:  # a verified official changing address stays verified
        OFFICIAL_STATES.check(official.status, STATUS_VERIFIED)
        official.status = STATUS_VERIFIED
    official.verified_at = now
    try:
        official.save()
    except peewee.IntegrityError:
        raise DomainError(texts.EMAIL_TAKEN, "email_taken") from None
    record(official.actor, "email_verified", "official", official.id, now=now)
    if not was_verified and official.is_verified:  # registration complete: the main menu
        queue_rich_menu(official.line_user_id, now=now)
    return texts.EMAIL_CHANGED_DONE if was_verified else texts.REGISTRATION_DONE
