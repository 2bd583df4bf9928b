"""The staff password policy (NIST SP 800-63B 5.1.1.2): length, and no password that is known to be common.

No composition rules (they make passwords harder to remember, not to guess) and no periodic
change. A password is refused when it is too short or too long, blank, one character repeated,
on the shipped list of common passwords (`models/data/common_passwords.txt`), such a password
with digits or symbols only added at the end (``password2026!``), or the account's own email.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from pathlib import Path

from .base import DomainError

MIN_PASSWORD = 12
MAX_PASSWORD = 256  # scrypt hashes any length; the cap only stops absurd inputs
COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common_passwords.txt"

MSG = {
    "short": "密碼至少需要 {n} 個字元。",
    "long": "密碼最多 {n} 個字元。",
    "blank": "密碼不可全為空白。",
    "common": "這個密碼太常見，很容易被猜中，請換一個（可用幾個詞組成的長句）。",
    "repeated": "密碼不可只由同一個字元重複組成。",
    "email": "密碼不可與電子郵件帳號相同。",
}

_TRAILING = re.compile(r"[\d\W_]+$")


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _is_common(password: str) -> bool:
    folded = unicodedata.normalize("NFKC", password).strip().lower()
    listed = common_passwords()
    if folded in listed:
        return True
    stem = _TRAILING.sub("", folded)
    return bool(stem) and stem in listed


def check_password(password: str | None, email: str | None = None) -> str:
    """The password if the policy accepts it; otherwise DomainError with the zh-TW reason."""
    if password is None or len(password) < MIN_PASSWORD:
        raise DomainError(MSG["short"].format(n=MIN_PASSWORD), "password_short")
    if len(password) > MAX_PASSWORD:
        raise DomainError(MSG["long"].format(n=MAX_PASSWORD), "password_long")
    if not password.strip():
        raise DomainError(MSG["blank"], "password_blank")
    if len(set(password)) == 1:
        raise DomainError(MSG["repeated"], "password_repeated")
    if _is_common(password):
        raise DomainError(MSG["common"], "password_common")
    if email:
        local = email.split("@", 1)[0].lower()
        folded = password.strip().lower()
        if folded in (email.lower(), local):
            raise DomainError(MSG["email"], "password_email")
    return password
