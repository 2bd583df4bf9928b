"""Opinions on policy consultations (R5.2, R10.1, R7): give, edit, hide, list.

The rules are in `models/consultations.py`'s docstring: verified officials only, at most
`MAX_OPINIONS_PER_OFFICIAL` each, editable by the author while the consultation is open, hidden by
staff on an R7 ground with a reason, shown under the author's display name only. Each change takes
the consultation's row lock (`consultations.lock`) and writes its audit row in the same transaction.
"""
from __future__ import annotations

import datetime as dt

from .base import DomainError, format_taipei, utcnow
from .consultations import (
    CLOSED,
    MAX_OPINIONS_PER_OFFICIAL,
    MSG,
    OPEN,
    OPINION_MAX,
    OPINION_MIN,
    PUBLISHED_STATES,
    SUMMARISED,
    Consultation,
    Opinion,
    _require_agency,
    lock,
    window_open,
)
from .events import record
from .notify import notify_official
from .officials import Official, clean_text, require_verified
from .outbox import unit_of_work
from .proposals import REMOVAL_GROUNDS
from .staff import Staff, clean_reason
from .terms import require_participant

# --- officials give and edit, staff hide ----------------------------------------------------

def refusal(consultation: Consultation, now: dt.datetime) -> tuple[str, str] | None:
    """Why no opinion can be given now, as (code, zh-TW message); None while it is open."""
    if consultation.state in (CLOSED, SUMMARISED) or (consultation.state == OPEN and not window_open(consultation, now)):
        ends = consultation.closed_at if consultation.closed_at else consultation.closes_at
        return "ended", MSG["ended"].format(ends=format_taipei(ends) if ends else "")
    if consultation.state != OPEN:
        return "not_open", MSG["not_open"].format(state=consultation.state_label)
    return None


def clean_opinion(text: str) -> str:
    """The opinion as it will be saved, or DomainError with the limit (zh-TW)."""
    return clean_text(text, field="意見", max_len=OPINION_MAX, min_len=OPINION_MIN, multiline=True)


def give_opinion(official: Official, consultation_id: int, text: str, notify: bool = False,
                 now: dt.datetime | None = None) -> Opinion:
    """A verified official's opinion, while the consultation is open (R5.2, R10.1)."""
    now = now or utcnow()
    require_participant(official)  # R4: the terms of use accepted before giving an opinion
    cleaned = clean_opinion(text)
    with unit_of_work():
        consultation = lock(consultation_id)  # serialises one official's count
        if consultation.state not in PUBLISHED_STATES:
            raise DomainError(MSG["not_found"], "not_found")
        refused = refusal(consultation, now)
        if refused:
            raise DomainError(refused[1], refused[0])
        if own_opinion_count(official, consultation.id) >= MAX_OPINIONS_PER_OFFICIAL:
            raise DomainError(MSG["too_many"].format(n=MAX_OPINIONS_PER_OFFICIAL), "too_many")
        opinion = Opinion.create(consultation=consultation.id, official=official.id, text=cleaned,
                                 notify=bool(notify), created_at=now)
        record(official.actor, "opinion_given", "consultation", consultation.id, detail={"opinion": opinion.id}, now=now)
    return opinion


def edit_opinion(official: Official, opinion_id: int, text: str, now: dt.datetime | None = None) -> Opinion:
    """The author changes their opinion while the consultation is open; never after it closes."""
    now = now or utcnow()
    require_verified(official)
    cleaned = clean_opinion(text)
    with unit_of_work():
        opinion = Opinion.get_or_none(Opinion.id == opinion_id)
        if opinion is None:
            raise DomainError(MSG["opinion_not_found"], "not_found")
        if opinion.official_id != official.id:
            raise DomainError(MSG["not_own"], "not_owner")
        consultation = lock(opinion.consultation_id)
        opinion = Opinion.get_by_id(opinion_id)  # re-read under the lock
        refused = refusal(consultation, now)
        if refused:
            raise DomainError(refused[1], refused[0])
        if opinion.is_hidden:
            raise DomainError(MSG["opinion_hidden"], "hidden")
        previous = opinion.text
        Opinion.update(text=cleaned, edited_at=now).where(Opinion.id == opinion.id).execute()
        opinion.text, opinion.edited_at = cleaned, now
        record(official.actor, "opinion_edited", "consultation", consultation.id,
               detail={"opinion": opinion.id, "previous": previous}, now=now)
    return opinion


def hide_opinion(staff: Staff, opinion_id: int, ground: str, reason: str, now: dt.datetime | None = None) -> Opinion:
    """Staff hide an abusive opinion on an R7 ground, with a reason (recorded); the author is told."""
    now = now or utcnow()
    if ground not in REMOVAL_GROUNDS:
        raise DomainError(MSG["bad_ground"], "bad_ground")
    if not staff.is_ops:  # R8: the operations team moderates; an agency does not judge its own critics
        raise DomainError("只有營運小組可以依第七點隱藏意見；如發現不當意見，請通知營運小組。", "forbidden")
    reason = clean_reason(reason)
    with unit_of_work():
        opinion = Opinion.get_or_none(Opinion.id == opinion_id)
        if opinion is None:
            raise DomainError(MSG["opinion_not_found"], "not_found")
        consultation = lock(opinion.consultation_id)
        _require_agency(staff, consultation.agency_code)
        claimed = (Opinion.update(hidden_at=now, hidden_by=staff.actor, hidden_ground=ground, hidden_reason=reason)
                   .where((Opinion.id == opinion.id) & Opinion.hidden_at.is_null()).execute())
        if not claimed:
            raise DomainError(MSG["already_hidden"].format(when=format_taipei(Opinion.get_by_id(opinion.id).hidden_at)),
                              "already_hidden")
        record(staff.actor, "opinion_hidden", "consultation", consultation.id, reason=f"{ground} {reason}",
               detail={"opinion": opinion.id, "ground": ground}, now=now)
        notify_official(opinion.official, subject=MSG["hidden_subject"].format(title=consultation.title),
                        body=MSG["hidden_body"].format(title=consultation.title, ground=ground,
                                                       ground_label=REMOVAL_GROUNDS[ground], reason=reason),
                        key=f"consultation:{consultation.id}:opinion:{opinion.id}:hidden", now=now)
    return Opinion.get_by_id(opinion_id)


# --- reading -----------------------------------------------------------------------------------

def own_opinion_count(official: Official, consultation_id: int) -> int:
    return Opinion.select().where((Opinion.official == official) & (Opinion.consultation == consultation_id)).count()


def own_opinions(official: Official, consultation_id: int) -> list[Opinion]:
    return list(Opinion.select().where((Opinion.official == official) & (Opinion.consultation == consultation_id))
                .order_by(Opinion.created_at, Opinion.id))


def opinions_of(consultation: Consultation, *, page: int | None = None, per_page: int = 100) -> list[Opinion]:
    """The opinions (hidden ones included) with their authors, for display names only; oldest first."""
    query = (Opinion.select(Opinion, Official).join(Official).where(Opinion.consultation == consultation.id)
             .order_by(Opinion.created_at, Opinion.id))
    if page is not None:
        query = query.paginate(page, per_page)
    return list(query)
