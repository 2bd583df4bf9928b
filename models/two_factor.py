"""Two-factor sign-in with TOTP (RFC 6238, pyotp) and one-time recovery codes (issue 11 item 3).

Required for the operations team, because they can see officials' personal data (R4); optional
for agency staff. A code is accepted one step either side of `now` (clock drift) and never twice:
the last accepted step is kept, so a code seen over someone's shoulder cannot be replayed. Wrong
codes are counted per account: `TWO_FACTOR_MAX_WRONG` within `TWO_FACTOR_PAUSE` pause the account's
second step until the window passes (the password alone never signs anyone in, so this pause only
slows a guesser). Recovery codes are stored as keyed hashes and each works once. A lost device is
reset by another ops member, or by `flask staff reset-2fa` when there is none; it is recorded.
The TOTP secret is stored encrypted (Fernet, keyed from SECRET_KEY; `f1:` marks a sealed value);
`flask db migrate` seals secrets stored before that (`seal_stored_secrets`). A member who proves
both factors (password and a current code) may regenerate their recovery codes, and agency staff
may turn two-factor sign-in off (ops may not: it is required for them).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets

import peewee
import pyotp
from cryptography.fernet import Fernet, InvalidToken
from werkzeug.security import check_password_hash

from . import services
from .base import BaseModel, DomainError, is_postgres, utcnow
from .events import record
from .outbox import transaction, unit_of_work
from .settings import RECOVERY_CODE_COUNT, TWO_FACTOR_MAX_WRONG, TWO_FACTOR_PAUSE
from .staff import Staff, _require_ops, clean_reason, normalize_email
from .staff_sessions import end_sessions

ISSUER = "臺中市公務人員政策參與平臺"
STEP = 30

MSG = {
    "wrong": "驗證碼不正確或已使用過，請輸入驗證器 App 目前顯示的 6 位數字，或一組備用碼。",
    "paused": "驗證碼錯誤次數過多，請 {minutes} 分鐘後再試。遺失手機請洽其他營運小組成員重設。",
    "already": "這個帳號已啟用兩步驟驗證。",
    "not_enrolled": "這個帳號尚未啟用兩步驟驗證。",
    "not_found": "找不到這個帳號。",
    "password": "密碼不正確。",
    "ops_required": "營運小組可查看個人資料，必須使用兩步驟驗證，不能停用；遺失手機請洽其他營運小組成員重設。",
    "unreadable": "兩步驟驗證金鑰無法解讀（系統金鑰可能已更換），請洽營運小組重設兩步驟驗證。",
}
SECRET_PREFIX = "f1:"  # a secret sealed with Fernet; anything else was stored before encryption

RESET_DISABLED = "two_factor_reset"


class RecoveryCode(BaseModel):
    staff = peewee.ForeignKeyField(Staff, backref="recovery_codes", on_delete="CASCADE")
    code_hash = peewee.CharField(max_length=64)
    used_at = peewee.DateTimeField(null=True)


def new_secret() -> str:
    return pyotp.random_base32()


def _fernet() -> Fernet:
    key = hashlib.sha256(b"totp-secret:" + services.secret_key().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str) -> str:
    """The secret as stored: encrypted with a key derived from SECRET_KEY."""
    return SECRET_PREFIX + _fernet().encrypt(secret.encode()).decode()


def secret_of(staff: Staff) -> str | None:
    """The account's TOTP secret in clear (None when not enrolled)."""
    value = staff.totp_secret
    if not value or not value.startswith(SECRET_PREFIX):
        return value or None  # stored before encryption: `db migrate` seals it
    try:
        return _fernet().decrypt(value[len(SECRET_PREFIX):].encode()).decode()
    except InvalidToken:
        raise DomainError(MSG["unreadable"], "unreadable_secret") from None


@transaction
def seal_stored_secrets() -> int:
    """Encrypt every secret stored in clear (the migration; idempotent). Returns how many were sealed."""
    sealed = 0
    for staff in Staff.select().where(Staff.totp_secret.is_null(False) & ~Staff.totp_secret.startswith(SECRET_PREFIX)):
        Staff.update(totp_secret=seal(staff.totp_secret)).where(Staff.id == staff.id).execute()
        sealed += 1
    return sealed


def provisioning_uri(email: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def code_at(secret: str, at: dt.datetime) -> str:
    """The code an authenticator shows at `at` (naive UTC)."""
    return pyotp.TOTP(secret).at(at.replace(tzinfo=dt.UTC))


def _step(at: dt.datetime) -> int:
    return int(at.replace(tzinfo=dt.UTC).timestamp()) // STEP


def _matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    code = "".join(ch for ch in code or "" if ch.isdigit())
    if len(code) != 6:
        return None
    for offset in (-1, 0, 1):
        at = now + dt.timedelta(seconds=offset * STEP)
        if hmac.compare_digest(code_at(secret, at), code):
            return _step(at)
    return None


def _hash_recovery(code: str) -> str:
    normal = "".join(ch for ch in (code or "").lower() if ch.isalnum())
    return hmac.new(services.secret_key().encode(), normal.encode(), hashlib.sha256).hexdigest()


def _new_recovery_codes(staff_id: int) -> list[str]:
    RecoveryCode.delete().where(RecoveryCode.staff == staff_id).execute()
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
        codes.append(f"{raw[:5]}-{raw[5:]}")
        RecoveryCode.create(staff=staff_id, code_hash=_hash_recovery(raw))
    return codes


def recovery_codes_left(staff: Staff) -> int:
    return RecoveryCode.select().where((RecoveryCode.staff == staff.id) & RecoveryCode.used_at.is_null()).count()


@transaction
def enrol(staff: Staff, secret: str, code: str, now: dt.datetime) -> list[str]:
    """Turn on two-factor sign-in once the member proves their app shows `secret`'s codes.
    Returns the recovery codes, shown once."""
    fresh = Staff.get_by_id(staff.id)
    if fresh.totp_enabled_at is not None:
        raise DomainError(MSG["already"], "already_enrolled")
    step = _matching_step(secret, code, now)
    if step is None:
        raise DomainError(MSG["wrong"], "wrong_code")
    Staff.update(totp_secret=seal(secret), totp_enabled_at=now, totp_last_step=step, totp_failures=0).where(
        Staff.id == staff.id).execute()
    record(staff.actor, "staff_2fa_enrolled", "staff", staff.id, now=now)
    return _new_recovery_codes(staff.id)


def _paused(staff: Staff, now: dt.datetime) -> bool:
    return (staff.totp_failures >= TWO_FACTOR_MAX_WRONG and staff.totp_failed_at is not None
            and now - staff.totp_failed_at < TWO_FACTOR_PAUSE)


def verify(staff: Staff, code: str, now: dt.datetime) -> Staff:
    """The second step of a sign-in: a fresh TOTP code or an unused recovery code. DomainError otherwise
    (the wrong code is counted first: the count commits, the refusal follows)."""
    refusal = _check(staff, code, now)
    if refusal == "paused":
        raise DomainError(MSG["paused"].format(minutes=int(TWO_FACTOR_PAUSE.total_seconds() // 60)), "paused")
    if refusal is not None:
        raise DomainError(MSG[refusal], refusal if refusal != "wrong" else "wrong_code")
    return Staff.get_by_id(staff.id)


@transaction
def _check(staff: Staff, code: str, now: dt.datetime) -> str | None:
    query = Staff.select().where(Staff.id == staff.id)
    fresh = (query.for_update() if is_postgres() else query).get()  # two tabs cannot both use one code
    if fresh.totp_secret is None:
        return "not_enrolled"
    if _paused(fresh, now):
        return "paused"
    step = _matching_step(secret_of(fresh), code, now)
    if step is not None and step > (fresh.totp_last_step or 0):
        Staff.update(totp_last_step=step, totp_failures=0).where(Staff.id == staff.id).execute()
        return None
    recovery = RecoveryCode.get_or_none((RecoveryCode.staff == staff.id) & RecoveryCode.used_at.is_null()
                                        & (RecoveryCode.code_hash == _hash_recovery(code)))
    if recovery is not None:
        RecoveryCode.update(used_at=now).where(RecoveryCode.id == recovery.id).execute()
        Staff.update(totp_failures=0).where(Staff.id == staff.id).execute()
        record(staff.actor, "staff_2fa_recovery_used", "staff", staff.id,
               detail={"left": recovery_codes_left(fresh)}, now=now)
        return None
    window_open = fresh.totp_failed_at is not None and now - fresh.totp_failed_at < TWO_FACTOR_PAUSE
    failures = (fresh.totp_failures if window_open else 0) + 1
    Staff.update(totp_failures=failures, totp_failed_at=now).where(Staff.id == staff.id).execute()
    if failures == TWO_FACTOR_MAX_WRONG:
        record(staff.actor, "staff_2fa_paused", "staff", staff.id, detail={"failures": failures}, now=now)
    return "wrong"


def _reset(staff: Staff, actor: str, reason: str, now: dt.datetime) -> Staff:
    if staff.totp_enabled_at is None:
        raise DomainError(MSG["not_enrolled"], "not_enrolled")
    Staff.update(totp_secret=None, totp_enabled_at=None, totp_last_step=None, totp_failures=0,
                 totp_failed_at=None).where(Staff.id == staff.id).execute()
    RecoveryCode.delete().where(RecoveryCode.staff == staff.id).execute()
    record(actor, "staff_2fa_reset", "staff", staff.id, reason=reason, now=now)
    end_sessions(staff.id, now, RESET_DISABLED, actor=actor)
    return Staff.get_by_id(staff.id)


@transaction
def reset_by_ops(actor: Staff, staff_id: int, reason: str, now: dt.datetime) -> Staff:
    """Another ops member resets a lost device: the member enrols again at the next sign-in."""
    _require_ops(actor)
    reason = clean_reason(reason)
    staff = Staff.get_or_none(Staff.id == staff_id)
    if staff is None:
        raise DomainError(MSG["not_found"], "not_found")
    return _reset(staff, actor.actor, reason, now)


@transaction
def reset_by_cli(email: str, reason: str, now: dt.datetime | None = None) -> Staff:
    """`flask staff reset-2fa --email E`: for when no other ops member can do it in the console."""
    now = now or utcnow()
    reason = clean_reason(reason)
    staff = Staff.get_or_none(Staff.email == normalize_email(email))
    if staff is None:
        raise DomainError(MSG["not_found"], "not_found")
    return _reset(staff, "system:cli", reason, now)


def _prove_both(staff: Staff, password: str, code: str, now: dt.datetime) -> Staff:
    """The member's password and a current code (or an unused recovery code), else DomainError."""
    fresh = Staff.get_by_id(staff.id)
    if fresh.totp_enabled_at is None:
        raise DomainError(MSG["not_enrolled"], "not_enrolled")
    if not check_password_hash(fresh.password_hash or "", password or ""):
        raise DomainError(MSG["password"], "wrong_password")
    return verify(fresh, code, now)  # counted and paused like a sign-in


def regenerate_recovery_codes(staff: Staff, password: str, code: str, now: dt.datetime) -> list[str]:
    """New recovery codes (the old ones stop working), after password and code; shown once, recorded."""
    _prove_both(staff, password, code, now)
    with unit_of_work():
        codes = _new_recovery_codes(staff.id)
        record(staff.actor, "staff_2fa_recovery_regenerated", "staff", staff.id, now=now)
    return codes


def disable_own(staff: Staff, password: str, code: str, now: dt.datetime, *, keep_session: str | None = None) -> Staff:
    """Agency staff turn two-factor sign-in off, after password and code (never ops: it is required for
    them). Recorded; the member's other sessions end."""
    if staff.is_ops:
        raise DomainError(MSG["ops_required"], "ops_required")
    _prove_both(staff, password, code, now)
    with unit_of_work():
        Staff.update(totp_secret=None, totp_enabled_at=None, totp_last_step=None, totp_failures=0,
                     totp_failed_at=None).where(Staff.id == staff.id).execute()
        RecoveryCode.delete().where(RecoveryCode.staff == staff.id).execute()
        record(staff.actor, "staff_2fa_disabled", "staff", staff.id, now=now)
        end_sessions(staff.id, now, RESET_DISABLED, keep=keep_session, actor=staff.actor)
    return Staff.get_by_id(staff.id)
