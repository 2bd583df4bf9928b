"""R9.3.2 lapses in bulk: the sweep locks chunks of ended windows, lapses them in one UPDATE and
writes the audit rows and notices in batches; each proposal lapses once and each notice is queued
once, however many sweeps run at once or re-run after a failure."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest

from models import seconds
from models.events import AuditEvent
from models.officials import Official
from models.outbox import Outbox, queue_mail, unit_of_work
from models.proposals import ESTABLISHED, LAPSED, SECONDING, Proposal, lock
from models.seconds import Second, establish, lapse_seconding
from tests.helpers import at_once, load_agencies, sweep
from tests.test_seconding import official, proposal


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def ended_windows(count: int, *, seconders: int = 2, prefix: str = "lp") -> tuple[list[Proposal], dt.datetime]:
    """`count` seconding proposals with `seconders` seconds each (the first opted in, the others
    not); every window has ended by the instant returned."""
    made = []
    for n in range(count):
        prop = proposal(official(f"{prefix}{n}"))
        for k in range(seconders):
            Second.create(proposal=prop, official=official(f"{prefix}{n}s{k}"), notify_result=k == 0, via="chat")
        Proposal.update(second_count=seconders).where(Proposal.id == prop.id).execute()
        made.append(Proposal.get_by_id(prop.id))
    after = max(p.seconding_ends_at for p in made) + dt.timedelta(minutes=1)
    return made, after


def expected_keys(made: list[Proposal]) -> set[str]:
    """The outbox keys of the lapse notices: proposer and opted-in seconder, by email and LINE."""
    keys = set()
    for prop in made:
        event = f"proposal:{prop.id}:lapsed:{prop.seconding_ends:%Y%m%d}"
        opted = Second.get((Second.proposal == prop.id) & (Second.notify_result == True))  # noqa: E712
        for key in (event, f"{event}:seconder:{opted.official_id}"):
            keys |= {f"{key}:mail", f"{key}:line"}
    return keys


def lapse_rows() -> list[Outbox]:
    return list(Outbox.select().where(Outbox.dedupe_key.contains(":lapsed:")))


def assert_lapsed_once(made: list[Proposal], when: dt.datetime) -> None:
    for prop in made:
        fresh = Proposal.get_by_id(prop.id)
        assert fresh.state == LAPSED and fresh.lapsed_at == when and fresh.version == prop.version + 1
    audits = list(AuditEvent.select().where(AuditEvent.action == "lapsed"))
    assert sorted(a.subject_id for a in audits) == sorted(p.id for p in made)
    assert {json.loads(a.detail)["seconds"] for a in audits} == {2}
    rows = lapse_rows()
    assert sorted(r.dedupe_key for r in rows) == sorted(expected_keys(made))  # each exactly once


def test_r9_3_2_many_lapses_in_one_sweep_each_lapsed_audited_and_told_once(app, runner, smtp, line, monkeypatch):
    monkeypatch.setattr(seconds, "LAPSE_CHUNK", 3)  # several chunks, the last one short
    made, after = ended_windows(7)
    assert sweep(runner, after)["lapse_seconding"] == 7
    assert_lapsed_once(made, after)
    for prop in made:  # delivered, with today's texts, to the proposer and the opted-in seconder
        mails = [m for m in smtp.to(prop.proposer.verified_email) if "未成案" in str(m["Subject"])]
        assert [str(m["Subject"]) for m in mails] == [f"【政策參與平臺】提案未成案：{prop.title}"]
        assert f"附議期間已於 {prop.seconding_ends:%Y-%m-%d} 23:59 結束" in smtp.body(mails[0])
        assert len([t for t in line.texts(prop.proposer.line_user_id) if "未成案" in t]) == 1
        opted = Second.get((Second.proposal == prop.id) & (Second.notify_result == True)).official  # noqa: E712
        assert [str(m["Subject"]) for m in smtp.to(opted.verified_email)] == [
            f"【政策參與平臺】您附議的提案未成案：{prop.title}"]
        opted_out = Second.get((Second.proposal == prop.id) & (Second.notify_result == False)).official  # noqa: E712
        assert not smtp.to(opted_out.verified_email) and not line.texts(opted_out.line_user_id)
    sent = len(smtp.messages)
    assert sweep(runner, after + dt.timedelta(hours=1))["lapse_seconding"] == 0
    assert len(lapse_rows()) == len(expected_keys(made)) and len(smtp.messages) == sent


def test_r9_3_2_an_official_who_does_not_follow_is_mailed_only(app):
    made, after = ended_windows(1, seconders=1)
    Official.update(following=False).where(Official.id == made[0].proposer_id).execute()
    assert lapse_seconding(after) == 1
    keys = {r.dedupe_key for r in lapse_rows() if r.recipient == made[0].proposer.verified_email
            or r.recipient == made[0].proposer.line_user_id}
    assert keys == {f"proposal:{made[0].id}:lapsed:{made[0].seconding_ends:%Y%m%d}:mail"}


def test_r9_3_2_two_sweeps_at_once_lapse_and_tell_each_once(app, monkeypatch):
    monkeypatch.setattr(seconds, "LAPSE_CHUNK", 2)
    made, after = ended_windows(9)
    counts = at_once(app, lambda: lapse_seconding(after), 3)
    assert sum(counts) == 9
    assert_lapsed_once(made, after)


def test_r9_3_2_a_sweep_failing_mid_way_loses_nothing_and_its_rerun_doubles_nothing(app, monkeypatch):
    monkeypatch.setattr(seconds, "LAPSE_CHUNK", 2)
    made, after = ended_windows(5)
    real = seconds.queue_rows
    calls = []

    def crash_on_second_chunk(rows, now=None):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(rows, now=now)

    monkeypatch.setattr(seconds, "queue_rows", crash_on_second_chunk)
    with pytest.raises(RuntimeError):
        lapse_seconding(after)
    states = [Proposal.get_by_id(p.id).state for p in made]
    assert states == [LAPSED, LAPSED, SECONDING, SECONDING, SECONDING]  # the second chunk rolled back whole
    assert len(lapse_rows()) == len(expected_keys(made[:2]))
    # A notice already in the outbox (written before a crash) is not queued a second time.
    third = made[2]
    queue_mail(third.proposer.verified_email, "已寄出", "已寄出",
               dedupe_key=f"proposal:{third.id}:lapsed:{third.seconding_ends:%Y%m%d}:mail")
    monkeypatch.setattr(seconds, "queue_rows", real)
    assert lapse_seconding(after) == 3
    assert_lapsed_once(made, after)


def test_r9_3_2_a_proposal_reaching_the_threshold_while_the_sweep_runs_is_not_lapsed(app, monkeypatch):
    monkeypatch.setattr("models.settings.SECONDING_THRESHOLD", 3)
    made, after = ended_windows(3)
    racing = made[1]
    locked, release, done = threading.Event(), threading.Event(), threading.Event()
    errors = []

    def confirm_last_second():  # the confirmation holds the row while it counts the 3rd second
        try:
            with app.app_context(), unit_of_work():
                prop = lock(racing.id)
                locked.set()
                release.wait(30)
                Proposal.update(second_count=3).where(Proposal.id == prop.id).execute()
                prop.second_count = 3
                establish(prop, "official:test", after - dt.timedelta(minutes=2))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=confirm_last_second)
    thread.start()
    assert locked.wait(30)
    assert lapse_seconding(after) == 2  # the locked row is skipped, not waited for
    release.set()
    thread.join(30)
    assert not errors
    assert Proposal.get_by_id(racing.id).state == ESTABLISHED
    assert lapse_seconding(after) == 0
    assert Proposal.get_by_id(racing.id).state == ESTABLISHED
    assert not [r for r in lapse_rows() if f"proposal:{racing.id}:" in r.dedupe_key]
    assert AuditEvent.select().where((AuditEvent.action == "lapsed") & (AuditEvent.subject_id == racing.id)).count() == 0


def test_r9_3_2_a_window_ended_at_the_threshold_is_established_not_lapsed(app, monkeypatch):
    made, after = ended_windows(2)
    monkeypatch.setattr("models.settings.SECONDING_THRESHOLD", 2)  # lowered during the window
    assert lapse_seconding(after) == 0
    assert {Proposal.get_by_id(p.id).state for p in made} == {ESTABLISHED}
    assert not lapse_rows()
