"""The response reminders at scale (R9.4.4, issue 13 item 2): a proposal reminded for its last day is not
read again by the next minute's sweep; a new last day (extension, calendar change) or a new lead makes it
remindable again, and the reminders themselves are exactly those of tests/test_responses.py."""
from __future__ import annotations

import datetime as dt

import pytest

from models.agency_confirmation import mark_disputed, request_confirmation
from models.base import taipei_date
from models.deadlines import add_override
from models.events import AuditEvent
from models.outbox import Outbox
from models.response_clock import remindable
from models.responses import Extension, extend_deadline
from tests.factories import reload
from tests.helpers import load_agencies, sweep, taipei
from tests.test_responses import established, mails


@pytest.fixture(autouse=True)
def agencies(db):
    load_agencies()


def remindable_ids(when: dt.datetime) -> set[int]:
    return {p.id for p in remindable(taipei_date(when))}


def test_r9_4_4_a_reminded_proposal_is_not_read_again_until_its_last_day_changes(app, runner, smtp, ops_staff):
    proposal = established(notified=taipei(2026, 1, 5, 9))  # last day Thursday 2026-03-05, CIVIL leads
    assert sweep(runner, "2026-02-26T09:00")["response_reminders"] == 1
    marked = reload(proposal)
    assert (marked.response_reminded_kind, marked.response_reminded_due) == ("due_soon", dt.date(2026, 3, 5))
    # the next minutes' sweeps do not even read it
    assert proposal.id not in remindable_ids(taipei(2026, 2, 26, 9, 1))
    assert proposal.id not in remindable_ids(taipei(2026, 3, 5, 23, 59))
    assert sweep(runner, "2026-02-27T09:00")["response_reminders"] == 0

    # an extension moves the last day to 2026-04-07: out of the 7-day window, then reminded for it
    extend_deadline(proposal.id, ops_staff, "需會同多個機關研議，延長一次。", now=taipei(2026, 3, 2, 9))
    assert proposal.id not in remindable_ids(taipei(2026, 3, 30, 9))
    assert proposal.id in remindable_ids(taipei(2026, 3, 31, 9))
    assert sweep(runner, "2026-03-31T09:00")["response_reminders"] == 1
    soon = mails(smtp, "civil@taichung.gov.tw", "回應期限將屆")
    assert len(soon) == 2 and "2026-04-07" in smtp.body(soon[1])
    assert proposal.id not in remindable_ids(taipei(2026, 4, 1, 9))

    # the last day passes: read once more for the overdue reminder, then never again
    assert proposal.id in remindable_ids(taipei(2026, 4, 8, 0, 1))
    assert sweep(runner, "2026-04-08T00:01")["response_reminders"] == 1
    assert proposal.id not in remindable_ids(taipei(2026, 4, 8, 0, 2))
    assert sweep(runner, "2026-05-20T09:00")["response_reminders"] == 0
    assert len(mails(smtp, "civil@taichung.gov.tw", "已逾期")) == 1


def test_r9_4_4_a_calendar_change_makes_a_reminded_proposal_remindable_for_the_new_day(app, runner, smtp):
    proposal = established(notified=taipei(2026, 1, 5, 9))  # last day Thursday 2026-03-05
    assert sweep(runner, "2026-02-26T09:00")["response_reminders"] == 1
    assert proposal.id not in remindable_ids(taipei(2026, 2, 27, 9))
    add_override(dt.date(2026, 3, 5), "closed", "颱風停止上班", by="ops", now=taipei(2026, 2, 27, 9))
    moved = reload(proposal)
    assert moved.response_due == dt.date(2026, 3, 6)
    assert proposal.id in remindable_ids(taipei(2026, 2, 27, 9, 5))
    assert sweep(runner, "2026-02-27T09:05")["response_reminders"] == 1
    soon = mails(smtp, "civil@taichung.gov.tw", "回應期限將屆")
    assert len(soon) == 2 and "2026-03-06" in smtp.body(soon[-1])
    assert sweep(runner, "2026-02-27T09:06")["response_reminders"] == 0


def test_r9_4_4_a_lead_added_after_the_reminder_is_reminded_too(app, runner, smtp):
    proposal = established(notified=taipei(2026, 1, 5, 9))
    request_confirmation(proposal.id, "ops", [("CIVIL", "lead"), ("EDU", "co")], now=taipei(2026, 1, 6, 9))
    assert sweep(runner, "2026-02-26T09:00")["response_reminders"] == 1
    assert proposal.id not in remindable_ids(taipei(2026, 2, 26, 9, 1))
    mark_disputed(proposal.id, "ops", now=taipei(2026, 2, 26, 10))  # every agency is a lead now
    assert proposal.id in remindable_ids(taipei(2026, 2, 26, 10, 1))
    assert sweep(runner, "2026-02-26T10:01")["response_reminders"] == 1
    assert len(mails(smtp, "edu@taichung.gov.tw", "回應期限將屆")) == 1
    assert len(mails(smtp, "civil@taichung.gov.tw", "回應期限將屆")) == 1  # not twice (outbox key)
    assert Outbox.select().where(Outbox.dedupe_key.contains(f"proposal:{proposal.id}:response-due_soon")).count() == 2


def test_r2_3_a_closure_moves_many_clocks_in_bulk_each_agency_told_once(app, runner, smtp, ops_staff):
    plain = [established(notified=taipei(2026, 1, 5, 9), title=f"同一天通知的提案之{i}") for i in range(3)]
    extended = established(notified=taipei(2026, 1, 5, 9), title="延長過的提案也跟著移動")
    extend_deadline(extended.id, ops_staff, "需會同多個機關研議，延長一次。", now=taipei(2026, 2, 2, 9))
    old_extended = reload(extended).response_extended_due
    add_override(dt.date(2026, 3, 5), "closed", "颱風停止上班", by="ops", now=taipei(2026, 2, 27, 9))
    for proposal in plain:
        assert reload(proposal).response_due == dt.date(2026, 3, 6)
    moved = reload(extended)
    # 03-06 + 1 month is 04-06, the observed Tomb Sweeping Day: the extended last day stays 04-07
    assert moved.response_due == dt.date(2026, 3, 6) and moved.response_extended_due == old_extended == dt.date(2026, 4, 7)
    extension = Extension.get(Extension.proposal == extended.id)
    assert (extension.original_due, extension.new_due) == (dt.date(2026, 3, 6), moved.response_extended_due)
    events = AuditEvent.select().where(AuditEvent.action == "response_due_recomputed")
    assert sorted(e.subject_id for e in events) == sorted(p.id for p in [*plain, extended])
    corrected = Outbox.select().where(Outbox.dedupe_key.contains(":response-due-corrected:"))
    assert corrected.count() == 4  # one agency (CIVIL) per moved clock
    runner.invoke(args=["deadlines", "sweep", "--now", "2026-02-27T09:01"])  # recomputes again: nothing moves
    assert AuditEvent.select().where(AuditEvent.action == "response_due_recomputed").count() == 4
    assert corrected.count() == 4
    assert len(mails(smtp, "civil@taichung.gov.tw", "回應期限更正為 2026-04-07")) == 1
    mail = mails(smtp, "civil@taichung.gov.tw", "回應期限更正為 2026-03-06")
    assert len(mail) == 3 and "臺中市政府民政局 承辦同仁您好" in smtp.body(mail[0])
