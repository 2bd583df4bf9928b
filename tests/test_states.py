"""Every stateful model has one transition table; an illegal move is refused with a domain error."""
from __future__ import annotations

import pytest

from models.agency_confirmation import ASSIGNMENT_STATES
from models.base import DomainError
from models.consultations import CONSULTATION_STATES
from models.events import DONE, EVENT_STATES, FAILED, PENDING, PROCESSING, LineEvent
from models.officials import OFFICIAL_STATES
from models.outbox import OUTBOX_STATES
from models.proposals import PROPOSAL_STATES
from models.verification import CODE_STATES

TABLES = [PROPOSAL_STATES, CONSULTATION_STATES, ASSIGNMENT_STATES, CODE_STATES, OFFICIAL_STATES, OUTBOX_STATES,
          EVENT_STATES]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_r2_2_a_move_is_allowed_exactly_when_its_table_lists_it(table):
    refused_moves = 0
    for state, targets in table.table.items():
        for target in table.table:
            if target in targets:
                table.check(state, target)
                continue
            with pytest.raises(DomainError) as refused:
                table.check(state, target)
            assert refused.value.code == "bad_transition" and "無法改為" in refused.value.message
            refused_moves += 1
    assert refused_moves  # a table that allows everything guards nothing


def test_r3_0_a_line_event_moves_only_along_its_table(db):
    event = LineEvent.create(webhook_event_id="e1", user_id="U1", event_type="message", body="{}")
    assert EVENT_STATES.move(LineEvent, LineEvent.id == event.id, DONE) == 0  # pending cannot be done unclaimed
    assert EVENT_STATES.move(LineEvent, LineEvent.id == event.id, PROCESSING) == 1
    assert EVENT_STATES.move(LineEvent, LineEvent.id == event.id, PROCESSING) == 0  # a second worker loses
    assert EVENT_STATES.move(LineEvent, LineEvent.id == event.id, DONE) == 1
    assert LineEvent.get_by_id(event.id).status == DONE
    with pytest.raises(DomainError):  # asking for a move the table does not have is refused, not ignored
        EVENT_STATES.move(LineEvent, LineEvent.id == event.id, FAILED, from_states=[DONE])
    assert EVENT_STATES.move(LineEvent, LineEvent.id == event.id, PENDING) == 0


def test_r9_3_2_texts_read_the_threshold_and_periods_from_the_rule_values():
    """Changing a rule value changes every text that mentions it (no re-typed "200" or "3 個工作天")."""
    from bot import texts as bot_texts
    from models import settings

    filled = bot_texts.HELP.format(**settings.periods())
    assert f"{settings.SECONDING_THRESHOLD} 份有效附議" in filled
    assert settings.period_text("R9.2.1") == f"{settings.REVIEW_WORKING_DAYS} 個工作天" and settings.period_text("R9.2.1") in filled
    assert settings.period_text("R9.4.4") in filled and settings.extension_text("R10.2") == "14 日"
    assert settings.fill("以 {response_extension}為限，{title}") == "以 1 個月為限，{title}"
