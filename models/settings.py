"""The regulation's numbers, in one place, each beside its rule (e-petitions' "site settings").

Environment variables may override the threshold (e.g. for a pilot), but the defaults are the
regulation's values. Texts for people never re-type a number or a period: they format it from
here (`PERIODS`, `period_text`), so changing a value changes every message that mentions it.
"""
from __future__ import annotations

import datetime as dt
import os


def _int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


# --- thresholds -------------------------------------------------------------------------------
SECONDING_THRESHOLD = _int("SECONDING_THRESHOLD", 200)  # R9.3.2: valid seconds needed to be established

# --- periods (counted by models/calendar.py, R2.3) ----------------------------------------------
REVIEW_WORKING_DAYS = 3  # R9.2.1 review by the operations team
CONSULTATION_REVIEW_WORKING_DAYS = 3  # R8.1 review of a consultation (a platform guideline, like R9.2.1)
AGENCY_CONFIRM_WORKING_DAYS = 5  # R9.2.5 agency confirms it is responsible
SECONDING_MONTHS = 1  # R9.3.2 seconding window (never moved)
NOTICE_DAYS = 1  # R9.3.3 establishment notice: the next calendar day
RESPONSE_MONTHS = 2  # R9.4.4 agency response (moved to a working day)
RESPONSE_EXTENSION_MONTHS = 1  # R9.4.4 one extension of at most 1 month
CONSULTATION_MAX_MONTHS = 2  # R10.1.4 consultation length (never moved)
SUMMARY_DAYS = 14  # R10.2 summary response after a consultation closes (moved)
SUMMARY_EXTENSION_DAYS = 14  # R10.2 one extension of at most 14 days

RECOGNITION_REMINDER_WORKING_DAYS = 5  # R11: a proposer who has not answered the consent question is asked once more

# rule -> (unit, length, moved to the next working day when the last day is not one)
PERIOD_RULES: dict[str, tuple[str, int, bool]] = {
    "R8.1": ("working_days", CONSULTATION_REVIEW_WORKING_DAYS, False),
    "R9.2.1": ("working_days", REVIEW_WORKING_DAYS, False),
    "R9.2.5": ("working_days", AGENCY_CONFIRM_WORKING_DAYS, False),
    "R9.3.2": ("months", SECONDING_MONTHS, False),
    "R9.3.3": ("days", NOTICE_DAYS, False),
    "R9.4.4": ("months", RESPONSE_MONTHS, True),
    "R10.1.4": ("months", CONSULTATION_MAX_MONTHS, False),
    "R10.2": ("days", SUMMARY_DAYS, True),
}
# rule -> (unit, length) of the one extension it allows
EXTENSION_RULES: dict[str, tuple[str, int]] = {
    "R9.4.4": ("months", RESPONSE_EXTENSION_MONTHS),
    "R10.2": ("days", SUMMARY_EXTENSION_DAYS),
}

# --- emailed codes (R3.2 registration, R9.3.4 seconding) ----------------------------------------
CODE_TTL = dt.timedelta(minutes=30)
CODE_RESEND_COOLDOWN = dt.timedelta(seconds=60)
CODE_MAX_WRONG_TRIES = 5

# --- field limits of a proposal (R9.1.2); generous for real policy text, bounded against abuse ----
TITLE_MAX = 80
CONTENT_MAX = 6000
BENEFITS_MAX = 3000
EVIDENCE_MAX = 3000
REASON_MAX = 2000

OPS_NOTIFY_EMAIL = os.environ.get("OPS_NOTIFY_EMAIL", "rdec-platform@taichung.gov.tw")

_UNITS = {"working_days": "個工作天", "days": "日", "months": "個月"}


def _length_text(unit: str, length: int) -> str:
    return f"{length} {_UNITS[unit]}"


def period_text(rule: str) -> str:
    """The period of RULE as people read it: "3 個工作天", "1 個月", "14 日"."""
    unit, length, _moved = PERIOD_RULES[rule]
    return _length_text(unit, length)


def extension_text(rule: str) -> str:
    """The one extension RULE allows, as people read it: "1 個月", "14 日"."""
    return _length_text(*EXTENSION_RULES[rule])


def code_minutes() -> int:
    return int(CODE_TTL.total_seconds() // 60)


def fill(text: str) -> str:
    """`text` with the rule placeholders of `periods()` filled in; other {placeholders} are left for later."""
    for name, value in periods().items():
        text = text.replace("{" + name + "}", str(value))
    return text


def periods() -> dict[str, object]:
    """The placeholders every text may use: {review}, {consultation_review}, {confirm}, {seconding}, {response},
    {response_extension}, {consultation}, {summary}, {summary_extension}, {threshold}, {code_minutes}."""
    return {
        "review": period_text("R9.2.1"), "consultation_review": period_text("R8.1"), "confirm": period_text("R9.2.5"), "seconding": period_text("R9.3.2"),
        "response": period_text("R9.4.4"), "response_extension": extension_text("R9.4.4"),
        "consultation": period_text("R10.1.4"), "summary": period_text("R10.2"),
        "summary_extension": extension_text("R10.2"), "threshold": SECONDING_THRESHOLD,
        "code_minutes": code_minutes(),
    }

# --- console accounts (issue 11, issue 10 item 2) -------------------------------------------------
STAFF_INVITATION_TTL = dt.timedelta(hours=72)  # an invitation link sets the first password
STAFF_RESET_TTL = dt.timedelta(hours=1)  # a forgotten-password link
STAFF_RESETS_PER_HOUR = 3  # reset links mailed per account per hour (more are silently not sent)
STAFF_SESSION_IDLE = dt.timedelta(hours=8)  # a console session ends after this long without a request
TWO_FACTOR_MAX_WRONG = 5  # wrong sign-in codes per account before a pause (issue 11 item 3)
TWO_FACTOR_PAUSE = dt.timedelta(minutes=15)  # the pause after TWO_FACTOR_MAX_WRONG wrong codes
RECOVERY_CODE_COUNT = 10
AGENCY_CONTACT_LINK_TTL = dt.timedelta(days=7)  # a test email's confirm link (issue 11 item 4)

# --- terms of use and personal data (R4, issue 9 item 12) ------------------------------------------
TERMS_VERSION = "2026-12"  # raise it when the terms or the privacy notice change: everyone accepts again
# How long personal data is kept (README "Retention"); the sweep's R4 step (models/retention.py) enforces it.
RETENTION_DAYS = {
    "chat_text": 7,  # the text of LINE events (what people typed: phones, addresses while registering)
    "line_events": 90,  # the LINE event rows themselves (LINE user id, type), once handled
    "notice_text": 30,  # the text of sent notices (codes, names)
    "notice_recipient": 90,  # the address or LINE user id a sent notice went to
    "unconfirmed_codes": 30,  # verification codes never confirmed, after they expired
    "closed_accounts": 30,  # a closed account's last traces (its confirmed codes) after closing
}
BOUNCES_BEFORE_ASKING = 3  # permanent delivery failures to one address before the official is asked for a new one
