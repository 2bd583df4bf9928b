"""Console accounts (R8 operations team, R2.2 agency staff) and staff access to personal data (R4).

Two roles: the operations team (營運小組, 研考會 staff, ``ops``) runs the platform; agency staff
(權責機關, ``agency``) act for one agency. Every time a staff member sees an official's phone,
email or address, a `PersonalDataAccess` row and an audit event say who saw whose data, when and why.
"""
from __future__ import annotations

import datetime as dt
import unicodedata

import peewee
from werkzeug.security import check_password_hash, generate_password_hash

from .agencies import EMAIL_RE, get_agency
from .base import BaseModel, DomainError, db, utcnow
from .events import record
from .officials import Official, clean_text
from .passwords import check_password

ROLE_OPS = "ops"
ROLE_AGENCY = "agency"
ROLES = (ROLE_OPS, ROLE_AGENCY)
ROLE_LABELS = {ROLE_OPS: "營運小組（研考會）", ROLE_AGENCY: "權責機關"}

MAX_EMAIL = 254
MAX_DISPLAY_NAME = 40
LOGIN_WINDOW = dt.timedelta(minutes=15)  # how long failed logins count against an account
MIN_REASON = 4
MAX_REASON = 500

# What R4 protects; `view_personal_data` returns exactly these keys.
PERSONAL_FIELDS = ("real_name", "phone", "email", "address")
PERSONAL_FIELD_LABELS = {"real_name": "真實姓名", "phone": "電話", "email": "電子郵件", "address": "聯絡地址"}

# Text for people (zh-TW), one place.
MSG = {
    "email_invalid": "電子郵件格式不正確。",
    "email_taken": "這個電子郵件已有工作臺帳號。",
    "role_invalid": "角色必須是 ops（營運小組）或 agency（權責機關）。",
    "agency_required": "權責機關帳號必須指定機關代碼（--agency）。",
    "agency_unknown": "找不到機關代碼「{code}」，請先匯入機關資料（flask agencies import）。",
    "name_long": "顯示名稱最多 {n} 個字。",
    "reason_short": "請說明事由（至少 {n} 個字）。",
    "reason_long": "事由最多 {n} 個字，您輸入了 {got} 個字。",
    "reason_invisible": "事由含有控制字元或不可見字元，請重新輸入。",
    "ops_only": "只有營運小組可以執行這項操作。",
}


class Staff(BaseModel):
    """A console account: operations team (ops) or agency staff (agency, bound to one agency)."""

    email = peewee.CharField(max_length=MAX_EMAIL, unique=True)  # always lower-case
    password_hash = peewee.CharField(max_length=255)
    role = peewee.CharField(max_length=16, index=True)
    agency_code = peewee.CharField(max_length=32, null=True, index=True)
    display_name = peewee.CharField(max_length=64, null=True)
    active = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)
    last_login_at = peewee.DateTimeField(null=True)
    # Failed logins in the current window: the rate limit's fallback when Redis is down.
    failed_logins = peewee.IntegerField(default=0)
    last_failed_login_at = peewee.DateTimeField(null=True)
    # Invited in the console (models/staff_accounts.py): no usable password until the invitee sets one.
    invited_at = peewee.DateTimeField(null=True)
    password_set_at = peewee.DateTimeField(null=True)
    disabled_at = peewee.DateTimeField(null=True)
    # Two-factor sign-in (models/two_factor.py): the TOTP secret, the last accepted step, wrong codes.
    totp_secret = peewee.CharField(max_length=255, null=True)  # sealed (models/two_factor.py)
    totp_enabled_at = peewee.DateTimeField(null=True)
    totp_last_step = peewee.BigIntegerField(null=True)
    totp_failures = peewee.IntegerField(default=0)
    totp_failed_at = peewee.DateTimeField(null=True)

    @property
    def is_active(self) -> bool:  # an inactive account cannot sign in
        return bool(self.active)

    @property
    def invitation_pending(self) -> bool:
        return self.invited_at is not None and self.password_set_at is None

    @property
    def state_label(self) -> str:
        if not self.active:
            return "已停用"
        return "邀請中（尚未設定密碼）" if self.invitation_pending else "使用中"

    @property
    def two_factor_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def needs_two_factor_enrolment(self) -> bool:
        """Ops must use two-factor sign-in (they see personal data, R4)."""
        return self.is_ops and not self.two_factor_enabled

    @property
    def is_ops(self) -> bool:
        return self.role == ROLE_OPS

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def name(self) -> str:
        return self.display_name or self.email

    @property
    def actor(self) -> str:
        return f"staff:{self.id}"


class PersonalDataAccess(BaseModel):
    """One staff view of an official's personal data (R4): who, whose, which fields, why, when."""

    staff = peewee.ForeignKeyField(Staff, backref="personal_data_accesses", on_delete="RESTRICT")
    official = peewee.ForeignKeyField(Official, backref="personal_data_accesses", on_delete="CASCADE")
    fields = peewee.CharField(max_length=200)  # comma-separated PERSONAL_FIELDS
    reason = peewee.TextField()
    ip_address = peewee.CharField(max_length=64, null=True)
    at = peewee.DateTimeField(default=utcnow, index=True)

    @property
    def field_list(self) -> list[str]:
        return [f for f in self.fields.split(",") if f]




# --- validation -------------------------------------------------------------------------------

def normalize_email(email: str) -> str:
    """The stored form of a staff email: NFKC, stripped, lower-case."""
    return unicodedata.normalize("NFKC", email or "").strip().lower()


def _clean_staff_email(email: str) -> str:
    value = normalize_email(email)
    if len(value) > MAX_EMAIL or not EMAIL_RE.match(value):
        raise DomainError(MSG["email_invalid"], "bad_email")
    return value


_INVISIBLE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def clean_reason(reason: str) -> str:
    """A reason for an audited staff action: 4–500 characters, kept as typed (no NFKC: 「：」 stays full-width)."""
    value = (reason or "").replace("\r\n", "\n").strip()
    if any(unicodedata.category(ch) in _INVISIBLE and ch not in "\n\t" for ch in value):
        raise DomainError(MSG["reason_invisible"], "invalid_chars")
    if len(value) < MIN_REASON:
        raise DomainError(MSG["reason_short"].format(n=MIN_REASON), "too_short")
    if len(value) > MAX_REASON:
        raise DomainError(MSG["reason_long"].format(n=MAX_REASON, got=len(value)), "too_long")
    return value


def _require_ops(staff: Staff) -> None:
    if staff is None or not staff.is_active or not staff.is_ops:
        raise DomainError(MSG["ops_only"], "forbidden")


# --- accounts ---------------------------------------------------------------------------------

def create_staff(email: str, role: str, password: str, agency_code: str | None = None,
                 display_name: str | None = None, *, actor: str = "system:cli",
                 now: dt.datetime | None = None) -> Staff:
    """Create a console account; agency staff must name an existing agency. Raises DomainError (zh-TW)."""
    now = now or utcnow()
    email = _clean_staff_email(email)
    role = (role or "").strip().lower()
    if role not in ROLES:
        raise DomainError(MSG["role_invalid"], "bad_role")
    code = None
    if agency_code and agency_code.strip():
        agency = get_agency(agency_code)
        if agency is None:
            raise DomainError(MSG["agency_unknown"].format(code=agency_code.strip()[:40]), "unknown_agency")
        code = agency.code
    elif role == ROLE_AGENCY:
        raise DomainError(MSG["agency_required"], "agency_required")
    password = check_password(password, email)
    name = None
    if display_name and display_name.strip():
        name = clean_text(display_name, field="顯示名稱", max_len=MAX_DISPLAY_NAME)
    try:
        with db.atomic():
            staff = Staff.create(email=email, password_hash=generate_password_hash(password), role=role,
                                 agency_code=code, display_name=name, created_at=now, password_set_at=now)
            record(actor, "staff_created", "staff", staff.id, detail={"role": role, "agency": code}, now=now)
    except peewee.IntegrityError:
        raise DomainError(MSG["email_taken"], "email_taken") from None
    return staff


_DUMMY_HASH: str | None = None


def _dummy_check(password: str) -> None:
    """Spend the time a real check costs, so response time does not tell which emails exist."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = generate_password_hash("not-a-real-password-0000")
    check_password_hash(_DUMMY_HASH, password)


def authenticate(email: str, password: str, now: dt.datetime | None = None, *,
                 failure_window: dt.timedelta = LOGIN_WINDOW) -> Staff | None:
    """The active account with this email and password, or None; counts failures on the account."""
    now = now or utcnow()
    staff = Staff.get_or_none(Staff.email == normalize_email(email))
    if staff is None:
        _dummy_check(password or "")
        return None
    if not check_password_hash(staff.password_hash, password or "") or not staff.active:
        record_failed_login(staff, now, failure_window)
        return None
    with db.atomic():
        Staff.update(last_login_at=now, failed_logins=0, last_failed_login_at=None).where(Staff.id == staff.id).execute()
        record(staff.actor, "staff_login", "staff", staff.id, now=now)
    staff.last_login_at, staff.failed_logins, staff.last_failed_login_at = now, 0, None
    return staff


def record_failed_login(staff: Staff, now: dt.datetime, window: dt.timedelta = LOGIN_WINDOW) -> None:
    """Count one failed login in the current window (a failure after the window starts a new count)."""
    fresh = (Staff.last_failed_login_at.is_null(False)) & (Staff.last_failed_login_at > now - window)
    Staff.update(
        failed_logins=peewee.Case(None, [(fresh, Staff.failed_logins + 1)], 1),
        last_failed_login_at=now,
    ).where(Staff.id == staff.id).execute()


def record_login_lockout(email: str, ip_address: str, scope: str, seconds: int, strike: int,
                         now: dt.datetime | None = None, *, key: str | None = None) -> None:
    """A login lockout (scope "pair": this address for this account; "ip": this address for every
    account) is recorded with when it ends, which is also when it is lifted unless the operations
    team lifts it earlier (`models.login_failures.lift_lockout`). `key` names the limiter's lock
    (address and a hash of the account, no personal data) so that it can be lifted."""
    now = now or utcnow()
    staff = Staff.get_or_none(Staff.email == normalize_email(email)) if scope == "pair" else None
    record(f"ip:{(ip_address or 'unknown')[:64]}", "staff_login_locked", "staff", staff.id if staff else None,
           detail={"scope": scope, "seconds": seconds, "strike": strike, "key": key,
                   "until": (now + dt.timedelta(seconds=seconds)).isoformat(timespec="seconds")}, now=now)


def can_access_agency(staff: Staff, agency_code: str | None) -> bool:
    """Ops may act for every agency; agency staff only for their own."""
    if staff is None or not staff.is_active:
        return False
    if staff.is_ops:
        return True
    return bool(agency_code) and staff.agency_code == agency_code.strip().upper()


# --- personal data (R4) and moderation of officials ---------------------------------------------

def view_personal_data(staff: Staff, official: Official, reason: str, now: dt.datetime | None = None, *,
                       ip_address: str | None = None) -> dict[str, str | None]:
    """An official's personal data for one staff view, recorded with its reason (R4). Ops only, for now.

    Agency staff will later see the proposers of proposals assigned to their agency; until that
    rule exists they are refused like everyone else who is not ops.
    """
    now = now or utcnow()
    _require_ops(staff)
    reason = clean_reason(reason)
    data = {
        "real_name": official.real_name,
        "phone": official.phone,
        "email": official.verified_email or official.email,
        "address": official.address,
    }
    with db.atomic():
        PersonalDataAccess.create(staff=staff, official=official, fields=",".join(PERSONAL_FIELDS), reason=reason,
                                  ip_address=(ip_address or None) and ip_address[:64], at=now)
        record(staff.actor, "personal_data_viewed", "official", official.id, reason=reason,
               detail={"fields": list(PERSONAL_FIELDS)}, now=now)
    return data


def personal_data_log(official: Official, limit: int = 20) -> list[PersonalDataAccess]:
    """The latest staff views of this official's personal data, newest first."""
    return list(PersonalDataAccess.select(PersonalDataAccess, Staff).join(Staff)
                .where(PersonalDataAccess.official == official)
                .order_by(PersonalDataAccess.at.desc(), PersonalDataAccess.id.desc()).limit(limit))
