"""The regulation's numbers, in one place, each beside its rule. Environment variables may override
them (e.g. for a pilot), but the defaults are the regulation's values."""
from __future__ import annotations

import os


def _int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


SECONDING_THRESHOLD = _int("SECONDING_THRESHOLD", 200)  # R9.3.2: valid seconds needed to be established
# Durations live in models/calendar.py (REVIEW_WORKING_DAYS R9.2.1, SECONDING_MONTHS R9.3.2, ...).

# Field limits of a proposal (R9.1.2); generous for real policy text, bounded against abuse.
TITLE_MAX = 80
CONTENT_MAX = 6000
BENEFITS_MAX = 3000
EVIDENCE_MAX = 3000
REASON_MAX = 2000

OPS_NOTIFY_EMAIL = os.environ.get("OPS_NOTIFY_EMAIL", "rdec-platform@taichung.gov.tw")
