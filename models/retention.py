"""How long personal data is kept (R4), enforced by the sweep's R4 step; the periods are
`settings.RETENTION_DAYS`, written out in the README ("Retention") and in the privacy notice.

| what | kept | then |
|---|---|---|
| text of LINE events (what people typed) | `chat_text` days after it was received, once handled | blanked |
| LINE event rows (user id, type) | `line_events` days, once handled, ignored or given up | deleted |
| text of sent notices | `notice_text` days after sending | blanked |
| address / LINE user id of sent or given-up notices | `notice_recipient` days after they were queued | blanked |
| verification codes never confirmed | `unconfirmed_codes` days after they expired | deleted |
| a closed account's codes (their address is erased at closing) | `closed_accounts` days after closing | deleted |

Officials' own data is kept while the account is open; closing it erases the contact data at once
(models/account_closing.py). Audit events and staff views of personal data name officials by id only
and are kept as the record of what the platform did.
"""
from __future__ import annotations

import datetime as dt

from . import settings
from .events import DONE, FAILED, IGNORED, LineEvent
from .officials import STATUS_CLOSED, Official
from .outbox import FAILED as NOTICE_FAILED
from .outbox import REROUTED, SENT, Outbox
from .seconds import SecondRequest
from .verification import CONFIRMED, VerificationCode


def _before(now: dt.datetime, key: str) -> dt.datetime:
    return now - dt.timedelta(days=settings.RETENTION_DAYS[key])


def _delete_codes(where) -> int:
    ids = [row.id for row in VerificationCode.select(VerificationCode.id).where(where).limit(5000)]
    if not ids:
        return 0
    SecondRequest.delete().where(SecondRequest.code.in_(ids)).execute()
    return VerificationCode.delete().where(VerificationCode.id.in_(ids)).execute()


def apply_retention(now: dt.datetime) -> int:
    """Sweep step (R4): blank or delete what has been kept as long as the retention table says. Idempotent."""
    done = 0
    done += (LineEvent.update(body="{}")
             .where((LineEvent.status == DONE) & (LineEvent.received_at < _before(now, "chat_text"))
                    & (LineEvent.body != "{}")).execute())
    done += (LineEvent.delete()
             .where(LineEvent.status.in_([DONE, IGNORED, FAILED]) & (LineEvent.received_at < _before(now, "line_events")))
             .execute())
    done += (Outbox.update(payload="{}")
             .where((Outbox.status == SENT) & (Outbox.sent_at < _before(now, "notice_text")) & (Outbox.payload != "{}"))
             .execute())
    done += (Outbox.update(payload="{}")  # a LINE push replaced by its email (R10.2): the email row keeps the text
             .where((Outbox.status == REROUTED) & (Outbox.created_at < _before(now, "notice_text"))
                    & (Outbox.payload != "{}")).execute())
    done += (Outbox.update(recipient="")
             .where(Outbox.status.in_([SENT, NOTICE_FAILED, REROUTED]) & (Outbox.created_at < _before(now, "notice_recipient"))
                    & (Outbox.recipient != "")).execute())
    done += _delete_codes((VerificationCode.status != CONFIRMED)
                          & (VerificationCode.expires_at < _before(now, "unconfirmed_codes")))
    closed = Official.select(Official.id).where((Official.status == STATUS_CLOSED)
                                                & (Official.closed_at < _before(now, "closed_accounts")))
    done += _delete_codes(VerificationCode.official.in_(closed))
    return done
