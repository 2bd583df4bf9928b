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
    # The proposal's row lock serialises its seconds until the commit: it is the confirmation's last
    # read, after the second's own row; only the count follows it (and the unit of work's end).
    lock = next(i for i, sql in enumerate(confirmation) if sql.startswith('SELECT "id", "proposer_id"') and "FOR NO KEY UPDATE" in sql)
    assert any(sql.startswith('INSERT INTO "second"') for sql in confirmation[:lock])
    after = [sql for sql in confirmation[lock + 1:] if not sql.startswith("RELEASE SAVEPOINT")]
    assert [sql.split(" SET ")[0] for sql in after] == ['UPDATE "proposal"']


def test_r9_3_4_row_by_reads_the_same_row_as_peewee(db, tmp_path):
    """`row_by` (the hot paths' lookup with its statement text kept) answers as `get_or_none` does, on
    PostgreSQL and on SQLite (development), values and columns converted by their fields."""
    import peewee

    from models.agencies import Agency
    from models.base import row_by

    load_agencies()
    prop = seconding_proposal(title="以固定語句讀取的提案")
    found = row_by(Proposal.id, str(prop.id))  # converted by the field, as peewee's own query does
    expected = Proposal.get_or_none(Proposal.id == prop.id)
    assert found.__data__ == expected.__data__ and found.seconding_ends == expected.seconding_ends
    assert row_by(Proposal.id, prop.id + 1000) is None
    agency = Agency.select().first()
    assert row_by(Agency.code, agency.code).__data__ == agency.__data__

    sqlite = peewee.SqliteDatabase(str(tmp_path / "dev.db"))
    with sqlite.bind_ctx([Agency]):
        sqlite.create_tables([Agency])
        Agency.insert(**{k: v for k, v in agency.__data__.items()}).execute()
        assert row_by(Agency.code, agency.code).__data__ == agency.__data__
        assert row_by(Agency.code, "NOPE") is None


def test_r9_3_4_row_and_joined_reads_the_official_and_their_conversation(db):
    """`row_and_joined` (one statement for every event's official and conversation) builds the rows
    peewee would, unchanged (nothing marked dirty), and None where the join finds nothing."""
    from bot.conversation import ConversationState, load_official_and_state, set_state
    from models.base import row_and_joined
    from models.officials import Official

    load_agencies()
    official = verified_official()
    found, state = row_and_joined(Official.line_user_id, ConversationState.line_user_id, official.line_user_id)
    assert found.__data__ == Official.get_by_id(official.id).__data__ and not found._dirty
    assert state is None  # no conversation yet
    loaded, created = load_official_and_state(official.line_user_id)
    set_state(created, "seconding", "ask", p=7)
    found, state = row_and_joined(Official.line_user_id, ConversationState.line_user_id, official.line_user_id)
    assert state.__data__ == ConversationState.get_by_id(created.id).__data__ and not state._dirty
    assert state.values == {"p": 7}
    assert row_and_joined(Official.line_user_id, ConversationState.line_user_id, "U-nobody") == (None, None)


def test_r9_3_4_create_row_writes_what_model_create_writes(db, tmp_path, monkeypatch):
    """`create_row` (the hot paths' INSERT with its text kept) stores the row `Model.create` would,
    defaults included, returns it with its id, and a duplicate still fails as an IntegrityError."""
    import peewee

    from models import base
    from models.base import create_row
    from models.outbox import Outbox

    fast = create_row(Outbox, channel="mail", recipient="a@taichung.gov.tw", payload='{"subject": "主旨"}',
                      dedupe_key="k1")
    slow = Outbox.create(channel="mail", recipient="a@taichung.gov.tw", payload='{"subject": "主旨"}', dedupe_key="k2")
    stored = Outbox.get_by_id(fast.id)
    assert fast.id and not fast._dirty and stored.data == {"subject": "主旨"}
    same = {k: v for k, v in stored.__data__.items() if k not in ("id", "dedupe_key", "created_at", "next_attempt_at")}
    assert same == {k: v for k, v in Outbox.get_by_id(slow.id).__data__.items()
                    if k not in ("id", "dedupe_key", "created_at", "next_attempt_at")}
    assert (stored.status, stored.attempts) == ("pending", 0)  # the model's defaults
    with pytest.raises(peewee.IntegrityError), db.atomic():
        create_row(Outbox, channel="mail", recipient="b@taichung.gov.tw", payload="{}", dedupe_key="k1")
    # if_new: a conflict is no error and no row (a second confirmed twice), and needs no savepoint.
    assert create_row(Outbox, if_new=True, channel="mail", recipient="b@taichung.gov.tw", payload="{}", dedupe_key="k1") is None
    added = create_row(Outbox, if_new=True, channel="mail", recipient="b@taichung.gov.tw", payload="{}", dedupe_key="k3")
    assert Outbox.get_by_id(added.id).dedupe_key == "k3"
    assert Outbox.select().where(Outbox.dedupe_key == "k1").get().recipient == "a@taichung.gov.tw"

    sqlite = peewee.SqliteDatabase(str(tmp_path / "dev.db"))
    with sqlite.bind_ctx([Outbox]):
        sqlite.create_tables([Outbox])
        first = create_row(Outbox, channel="mail", recipient="c@taichung.gov.tw", payload="{}")
        second = create_row(Outbox, channel="mail", recipient="d@taichung.gov.tw", payload="{}")
        assert (first.id, second.id) == (1, 2) and Outbox.get_by_id(2).recipient == "d@taichung.gov.tw"
        with monkeypatch.context() as patched:  # the development path: no RETURNING, the row count says
            patched.setattr(base, "is_postgres", lambda: False)
            create_row(Outbox, channel="mail", recipient="e@taichung.gov.tw", payload="{}", dedupe_key="k1")
            assert create_row(Outbox, if_new=True, channel="mail", recipient="f@taichung.gov.tw", payload="{}",
                              dedupe_key="k1") is None
            assert create_row(Outbox, if_new=True, channel="mail", recipient="g@taichung.gov.tw", payload="{}").id == 4


def test_r9_3_4_rows_where_and_move_where_do_what_select_and_update_do(db, tmp_path):
    """`rows_where` (an official's recent codes, read on every tap) returns what peewee's select and
    order_by return, and `Transitions.move_where` (the earlier codes superseded) moves the rows the
    peewee update moves, only from the states the table allows; on PostgreSQL and on SQLite."""
    import datetime as dt

    import peewee

    from models.base import rows_where, utcnow
    from models.verification import CODE_STATES, SUPERSEDED, VerificationCode

    load_agencies()
    official, other = verified_official(), verified_official()
    now = utcnow()

    def code(who, token, minutes_ago, status="pending", subject=7):
        return VerificationCode.create(official=who, purpose="second", subject_id=subject, email="x@taichung.gov.tw",
                                       token=token, code_hash="h", status=status,
                                       created_at=now - dt.timedelta(minutes=minutes_ago), expires_at=now)

    def check():
        for token, who, minutes_ago, status, subject in (
                ("a", official, 5, "pending", 7), ("b", official, 1, "pending", 7), ("c", official, 90, "pending", 7),
                ("d", other, 1, "pending", 7), ("e", official, 2, "confirmed", 7), ("f", official, 3, "pending", None)):
            code(who, token, minutes_ago, status, subject)
        since = now - dt.timedelta(minutes=60)
        expected = list(VerificationCode.select().where((VerificationCode.official == official)
                                                        & (VerificationCode.created_at > since))
                        .order_by(VerificationCode.created_at.desc(), VerificationCode.id.desc()))
        found = rows_where(VerificationCode, ((VerificationCode.official, "="), (VerificationCode.created_at, ">")),
                           (official, since), order=((VerificationCode.created_at, "desc"), (VerificationCode.id, "desc")))
        assert [r.token for r in found] == [r.token for r in expected] == ["b", "e", "f", "a"]
        assert [r.__data__ for r in found] == [r.__data__ for r in expected] and not found[0]._dirty
        moved = CODE_STATES.move_where(
            VerificationCode, ((VerificationCode.official, "="), (VerificationCode.purpose, "="),
                               (VerificationCode.subject_id, "=")), (official, "second", 7), SUPERSEDED)
        assert moved == 3  # a, b, c: not the confirmed code, not the other official's, not subject None
        states = {r.token: r.status for r in VerificationCode.select()}
        assert states == {"a": SUPERSEDED, "b": SUPERSEDED, "c": SUPERSEDED, "d": "pending", "e": "confirmed",
                          "f": "pending"}
        assert CODE_STATES.move_where(
            VerificationCode, ((VerificationCode.official, "="), (VerificationCode.purpose, "="),
                               (VerificationCode.subject_id, "is null")), (official, "second"), SUPERSEDED) == 1
        assert VerificationCode.get(VerificationCode.token == "f").status == SUPERSEDED

    check()
    VerificationCode.delete().execute()
    from models.officials import Official

    sqlite = peewee.SqliteDatabase(str(tmp_path / "dev.db"))
    with sqlite.bind_ctx([Official, VerificationCode]):
        sqlite.create_tables([Official, VerificationCode])
        for who in (official, other):
            Official.insert(**who.__data__).execute()
        check()


def test_r9_3_4_a_proposal_closed_between_the_read_and_the_lock_counts_nothing(client, line, smtp, monkeypatch):
    """The confirmation reads the proposal, writes the second's row, and only then takes the
    proposal's lock. If another transaction withdrew or lapsed the proposal in between, the re-check
    under the lock undoes the row: nothing counted, the official told why, the refusal audited."""
    from models import seconds
    from models.events import AuditEvent
    from models.proposals import WITHDRAWN

    load_agencies()
    prop = seconding_proposal()
    me = verified_official(email="late@taichung.gov.tw")
    line.postback(client, me.line_user_id, f"a=sec.confirm&p={prop.id}&notify=0")
    code = smtp.code_for("late@taichung.gov.tw")
    real_lock = seconds.lock

    def withdrawn_meanwhile(proposal_id):
        assert Second.select().count() == 1  # the row is written before the lock is taken
        Proposal.update(state=WITHDRAWN).where(Proposal.id == proposal_id).execute()
        return real_lock(proposal_id)

    monkeypatch.setattr(seconds, "lock", withdrawn_meanwhile)
    line.text(client, me.line_user_id, code)
    assert "您的附議未被計入" in line.texts(me.line_user_id)[-1]
    assert Second.select().count() == 0 and Proposal.get_by_id(prop.id).second_count == 0
    refused = AuditEvent.get(AuditEvent.action == "second_refused")
    assert (refused.subject_id, refused.reason) == (prop.id, "not_open")
