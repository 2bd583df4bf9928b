"""How many SQL statements a tap (附議 → code email queued and sent) and a confirmation (the code
typed → the second counted) run in the worker: issue 13 item 1 (the domain's SQL is most of a
worker's CPU). A budget, not a timing: fewer statements is less work whatever the machine's load."""
from __future__ import annotations

import logging

import pytest

from jobs import line_events
from models.proposals import Proposal
from models.seconds import Second
from tests.factories import seconding_proposal, verified_official
from tests.helpers import load_agencies


class _Statements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record):
        self.sql.append(str(record.msg[0]) if isinstance(record.msg, tuple) else record.getMessage())


@pytest.fixture
def statements(monkeypatch):
    """The statements the event job runs for one event (`process_line_event`), its notices' send included."""
    handler, peewee_log = _Statements(), logging.getLogger("peewee")
    runs: list[list[str]] = []
    real = line_events.process_line_event

    def counted(event_row_id):
        handler.sql = []
        level = peewee_log.level
        peewee_log.addHandler(handler)
        peewee_log.setLevel(logging.DEBUG)
        try:
            return real(event_row_id)
        finally:
            peewee_log.removeHandler(handler)
            peewee_log.setLevel(level)
            runs.append(handler.sql)

    monkeypatch.setattr(line_events, "process_line_event", counted)
    return runs


def test_issue13_a_tap_and_a_confirmation_stay_within_their_statement_budget(client, line, smtp, statements):
    load_agencies()
    prop = seconding_proposal()
    me = verified_official(email="budget@taichung.gov.tw")
    line.postback(client, me.line_user_id, f"a=sec.confirm&p={prop.id}&notify=0")
    tap = statements[-1]
    code = smtp.code_for("budget@taichung.gov.tw")
    line.text(client, me.line_user_id, code)
    confirmation = statements[-1]
    assert "附議完成" in line.texts(me.line_user_id)[-1]
    assert Second.get().official_id == me.id and Proposal.get_by_id(prop.id).second_count == 1
    print(f"tap {len(tap)} statements:", *tap, sep="\n  ")
    print(f"confirmation {len(confirmation)} statements:", *confirmation, sep="\n  ")
    assert len(tap) <= 15 and len(confirmation) <= 15  # 22 and 21 before issue 13 (+2 per code email sent)
