"""Clocks dated by the old month count are corrected (R2.3 §120–§123; R9.3.2, R9.4.4).

The old count is replayed by running the real flows with `calendar.add_months` swapped for the
old rule (`month_clocks.add_months_before_fix`); then the corrected code runs from its edges, the
`deadlines sweep --now` and `db migrate --now` commands, at instants far from the wall clock.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from models import calendar, deadlines, month_clocks, settings
from models.base import end_of_day_utc
from models.events import AuditEvent
from models.proposals import ESTABLISHED, LAPSED, SECONDING, Proposal
from models.responses import Extension
from tests.helpers import load_agencies
from tests.test_seconding import iso_taipei, official, proposal, taipei

D = dt.date.fromisoformat


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()
    calendar.invalidate_cache()


def _sweep(runner, now: dt.datetime) -> dict:
    result = runner.invoke(args=["deadlines", "sweep", "--now", iso_taipei(now)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def _lapsed_under_old_count(runner, monkeypatch, passed: str):
    """A proposal that passed review at `passed` (Taipei) and was lapsed by the old count's sweep."""
    monkeypatch.setattr(calendar, "add_months", month_clocks.add_months_before_fix)
    proposer = official("old")
    prop = proposal(proposer, passed=taipei(passed))
    old_end = prop.seconding_ends
    assert _sweep(runner, taipei(f"{old_end + dt.timedelta(days=1)}T00:05:00"))["lapse_seconding"] == 1
    monkeypatch.undo()
    assert Proposal.get_by_id(prop.id).state == LAPSED
    return prop, proposer, old_end


def _mails(smtp, to: str, word: str) -> list:
    return [m for m in smtp.to(to) if word in str(m["Subject"])]


@pytest.mark.parametrize("passed, old_end, corrected, reopened_at", [
    ("2026-02-28T10:00:00", "2026-03-28", "2026-03-31", "2026-03-30T09:00:00"),
    ("2026-04-30T10:00:00", "2026-05-30", "2026-05-31", "2026-05-31T08:00:00"),
    ("2026-11-30T10:00:00", "2026-12-30", "2026-12-31", "2026-12-31T20:00:00"),
])
def test_r9_3_2_lapse_on_an_old_too_early_day_is_reopened_and_ops_told(runner, smtp, line, monkeypatch,
                                                                      passed, old_end, corrected, reopened_at):
    prop, proposer, stored = _lapsed_under_old_count(runner, monkeypatch, passed)
    assert stored == D(old_end)

    _sweep(runner, taipei(reopened_at))  # the instant given, not the wall clock, decides
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.state == SECONDING and fresh.lapsed_at is None
    assert fresh.seconding_ends == D(corrected) and fresh.seconding_ends_at == end_of_day_utc(D(corrected))
    ops = _mails(smtp, settings.OPS_NOTIFY_EMAIL, "恢復附議")
    assert len(ops) == 1 and corrected in smtp.body(ops[0]) and old_end in smtp.body(ops[0])
    told = _mails(smtp, proposer.verified_email, "恢復附議")
    assert len(told) == 1 and f"{corrected} 23:59" in smtp.body(told[0])
    assert AuditEvent.select().where(AuditEvent.action == "lapse_reopened").count() == 1

    _sweep(runner, taipei(reopened_at) + dt.timedelta(minutes=1))  # idempotent: nothing twice
    assert len(_mails(smtp, settings.OPS_NOTIFY_EMAIL, "恢復附議")) == 1

    # The corrected window ends: lapsed again, and the proposer is told again.
    after = taipei(f"{D(corrected) + dt.timedelta(days=1)}T00:01:00")
    assert _sweep(runner, after)["lapse_seconding"] == 1
    assert Proposal.get_by_id(prop.id).state == LAPSED
    assert len(_mails(smtp, proposer.verified_email, "未成案")) == 2
    assert len(_mails(smtp, settings.OPS_NOTIFY_EMAIL, "恢復附議")) == 1


def test_r9_3_2_early_lapse_whose_corrected_window_ended_stays_lapsed_and_ops_told(runner, smtp, monkeypatch):
    prop, proposer, _ = _lapsed_under_old_count(runner, monkeypatch, "2026-02-28T10:00:00")
    for _ in range(2):  # idempotent
        result = runner.invoke(args=["db", "migrate", "--now", "2026-06-01T09:00:00"])
        assert result.exit_code == 0, result.output
    assert Proposal.get_by_id(prop.id).state == LAPSED
    ops = _mails(smtp, settings.OPS_NOTIFY_EMAIL, "提前列為未成案")
    assert len(ops) == 1 and "2026-03-31" in smtp.body(ops[0])
    assert not _mails(smtp, proposer.verified_email, "恢復附議")


def test_r9_3_2_lapse_on_the_corrected_day_is_left_alone(runner, smtp):
    prop = proposal(passed=taipei("2026-02-28T10:00:00"))
    assert prop.seconding_ends == D("2026-03-31")
    assert _sweep(runner, taipei("2026-04-01T00:05:00"))["lapse_seconding"] == 1
    _sweep(runner, taipei("2026-04-01T09:00:00"))
    assert Proposal.get_by_id(prop.id).state == LAPSED
    # nothing about month clocks (the daily R9.2.5 reminder of proposals no agency was asked about aside)
    assert not [m for m in smtp.to(settings.OPS_NOTIFY_EMAIL) if "尚未請機關確認" not in str(m["Subject"])]


def test_r9_3_2_open_window_dated_by_the_old_count_is_extended_before_lapse(runner, monkeypatch):
    monkeypatch.setattr(calendar, "add_months", month_clocks.add_months_before_fix)
    prop = proposal(passed=taipei("2026-04-30T10:00:00"))
    monkeypatch.undo()
    assert prop.seconding_ends == D("2026-05-30")
    # The old count would lapse it now; the corrected window runs to the end of 05-31.
    assert _sweep(runner, taipei("2026-05-31T00:05:00"))["lapse_seconding"] == 0
    fresh = Proposal.get_by_id(prop.id)
    assert fresh.state == SECONDING and fresh.seconding_ends == D("2026-05-31")


def _established(notified: str, response_due: str) -> Proposal:
    prop = proposal(passed=taipei("2026-01-05T10:00:00"))
    Proposal.update(state=ESTABLISHED, established_at=taipei(notified) - dt.timedelta(days=1),
                    notified_at=taipei(notified), response_due=D(response_due)).where(Proposal.id == prop.id).execute()
    return Proposal.get_by_id(prop.id)


def test_r9_4_4_response_clock_dated_by_the_old_count_is_corrected(runner):
    # Notice 2026-02-28: the old count said 04-28; two months from 03-01 end on 04-30.
    prop = _established("2026-02-28T09:00:00", "2026-04-28")
    _sweep(runner, taipei("2026-04-29T09:00:00"))  # past the old day, before the corrected one
    assert Proposal.get_by_id(prop.id).response_due == D("2026-04-30")
    assert AuditEvent.select().where(AuditEvent.action == "response_due_corrected").count() == 1
    _sweep(runner, taipei("2026-04-29T10:00:00"))
    assert AuditEvent.select().where(AuditEvent.action == "response_due_corrected").count() == 1


def test_r9_4_4_extension_dated_by_the_old_count_is_corrected(runner):
    # Notice 2026-04-30: due 06-30 either way; the extension from 06-30 is 07-31, not 07-30.
    prop = _established("2026-04-30T09:00:00", "2026-06-30")
    Proposal.update(response_extended_due=D("2026-07-30")).where(Proposal.id == prop.id).execute()
    Extension.create(proposal=prop, original_due=D("2026-06-30"), new_due=D("2026-07-30"), reason="需跨機關研商",
                     agency_code="PERSONNEL", granted_by="agency:PERSONNEL")
    _sweep(runner, taipei("2026-07-31T09:00:00"))
    fresh = Proposal.get_by_id(prop.id)
    assert (fresh.response_due, fresh.response_extended_due) == (D("2026-06-30"), D("2026-07-31"))
    assert Extension.get(Extension.proposal == prop.id).new_due == D("2026-07-31")


def test_r2_3_override_listeners_judge_clocks_at_the_given_now(runner, monkeypatch):
    """A closure added with an explicit `now` recomputes clocks as of that instant, not the wall clock."""
    seen: list[dt.datetime] = []
    monkeypatch.setattr(deadlines, "RECOMPUTATIONS", [("test", seen.append)])
    deadlines.add_override(D("2026-03-02"), "closed", "颱風停止上班", by="staff:1", now=taipei("2026-03-01T08:00:00"))
    _sweep(runner, taipei("2031-01-01T00:00:00"))
    assert seen == [taipei("2026-03-01T08:00:00"), taipei("2031-01-01T00:00:00")]
