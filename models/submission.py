"""Submitting a proposal for review (R9.2.1), once a group proposal's co-proposers have all confirmed (R5.1)."""
from __future__ import annotations

import datetime as dt

from .base import DomainError, utcnow
from .co_proposers import require_co_proposers_confirmed
from .events import record
from .officials import Official
from .outbox import transaction
from .proposals import FIELD_LIMITS, RETURNED, SUBMITTED, Proposal, _move, missing_fields, own_editable, review_due_for
from .terms import require_participant


@transaction
def submit(official: Official, proposal_id: int, now: dt.datetime | None = None) -> Proposal:
    """Submit (or resubmit after a return) for review; starts a new 3-working-day clock (R9.2.1)."""
    require_participant(official)  # R4: the terms of use accepted before proposing
    now = now or utcnow()
    proposal = own_editable(official, proposal_id)
    require_co_proposers_confirmed(proposal)  # R5.1: a group proposal needs every co-proposer's consent
    missing = missing_fields(proposal)
    if missing:
        labels = {"scope": "範圍", "agency_code": "權責機關", **{k: v[0] for k, v in FIELD_LIMITS.items()}}
        raise DomainError("還缺少：" + "、".join(labels[f] for f in missing), "incomplete")
    resubmission = proposal.state == RETURNED
    _move(proposal, SUBMITTED, now, submitted_at=now, review_due=review_due_for(now),
          first_submitted_at=proposal.first_submitted_at or now, review_reminded_at=None)
    record(official.actor, "resubmitted" if resubmission else "submitted", "proposal", proposal.id, now=now)
    return proposal
