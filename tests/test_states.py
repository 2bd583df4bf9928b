"""Every stateful model has one transition table; an illegal move is refused with a domain error."""
from __future__ import annotations

import datetime as dt

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


def _by_query(new, row_id, **kwargs):
    return EVENT_STATES.move(LineEvent, LineEvent.id == row_id, new, **kwargs)


def _by_id(new, row_id, **kwargs):
    return EVENT_STATES.move_row(LineEvent, row_id, new, **kwargs)


@pytest.mark.parametrize("move", [_by_query, _by_id], ids=["move", "move_row"])
def test_r3_0_a_line_event_moves_only_along_its_table(db, move):
    event = LineEvent.create(webhook_event_id="e1", user_id="U1", event_type="message", body="{}")
    other = LineEvent.create(webhook_event_id="e2", user_id="U1", event_type="message", body="{}")
    assert move(DONE, event.id) == 0  # pending cannot be done unclaimed
    assert move(PROCESSING, event.id) == 1
    assert move(PROCESSING, event.id) == 0  # a second worker loses
    assert move(DONE, event.id, processed_at=dt.datetime(2026, 12, 4, 3, 0), last_error=None) == 1
    done = LineEvent.get_by_id(event.id)
    assert (done.status, done.processed_at, done.last_error) == (DONE, dt.datetime(2026, 12, 4, 3, 0), None)
    assert LineEvent.get_by_id(other.id).status == PENDING  # only the row named
    with pytest.raises(DomainError):  # asking for a move the table does not have is refused, not ignored
        move(FAILED, event.id, from_states=[DONE])
    assert move(PENDING, event.id) == 0
    assert move(PROCESSING, other.id, from_states=[PENDING], attempts=3) == 1
    assert LineEvent.get_by_id(other.id).attempts == 3


def test_r3_0_move_row_writes_each_databases_own_placeholders(tmp_path):
    """The statement text move_row keeps is per database kind: SQLite (development) takes `?`."""
    import peewee

    sqlite = peewee.SqliteDatabase(str(tmp_path / "dev.db"))
    with sqlite.bind_ctx([LineEvent]):
        sqlite.create_tables([LineEvent])
        event = LineEvent.create(webhook_event_id="e1", user_id="U1", event_type="message", body="{}")
        assert EVENT_STATES.move_row(LineEvent, event.id, PROCESSING, attempts=1) == 1
        assert EVENT_STATES.move_row(LineEvent, event.id, PROCESSING, attempts=1) == 0
        assert (LineEvent.get_by_id(event.id).status, LineEvent.get_by_id(event.id).attempts) == (PROCESSING, 1)


def test_r9_3_2_texts_read_the_threshold_and_periods_from_the_rule_values():
    """Changing a rule value changes every text that mentions it (no re-typed "200" or "3 個工作天")."""
    from bot import texts as bot_texts
    from models import settings

    filled = bot_texts.HELP.format(**settings.periods())
    assert f"{settings.SECONDING_THRESHOLD} 份有效附議" in filled
    assert settings.period_text("R9.2.1") == f"{settings.REVIEW_WORKING_DAYS} 個工作天" and settings.period_text("R9.2.1") in filled
    assert settings.period_text("R9.4.4") in filled and settings.extension_text("R10.2") == "14 日"
    assert settings.fill("以 {response_extension}為限，{title}") == "以 1 個月為限，{title}"
