"""The command line of INTERFACES.md: db init/migrate, mail inbound, deadlines sweep --now."""
from __future__ import annotations

import json

from models.events import InboundMail
from models.officials import Official
from tests.fixtures_mail import reply_to_email
from tests.helpers import load_agencies, register


def test_r3_2_db_init_and_migrate_are_idempotent(runner):
    for args in (["db", "init"], ["db", "migrate"], ["db", "migrate"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    from models import db

    assert "proposal_similar" in db.get_tables()  # the similar-proposal index survives repeated migrations
    assert "similar_title_grams_v1" not in {c.name for c in db.get_columns("proposal")}  # the bigram key is gone


def test_r3_2_mail_inbound_cli_confirms_a_reply_from_stdin(runner, client, line, smtp):
    load_agencies()
    uid, official = register(client, line, smtp, verify=False)
    raw = reply_to_email(smtp.last_to("wang@taichung.gov.tw"), "wang@taichung.gov.tw", "確認")
    result = runner.invoke(args=["mail", "inbound"], input=raw)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "confirmed"
    assert Official.get_by_id(official.id).is_verified
    again = runner.invoke(args=["mail", "inbound"], input=raw)
    assert again.output.strip() == "duplicate" and InboundMail.select().count() == 1


def test_r3_2_mail_inbound_cli_refuses_garbage_with_exit_65(runner):
    result = runner.invoke(args=["mail", "inbound"], input=b"\x00\x01 not a message")
    assert result.exit_code == 65
    assert InboundMail.select().count() == 0


def test_r2_3_deadlines_sweep_accepts_now_and_reports(runner):
    result = runner.invoke(args=["deadlines", "sweep", "--now", "2026-12-03T09:00"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert {"review_overdue_reminders", "agency_deemed_confirmations", "outbox_requeued"} <= set(report)
    bad = runner.invoke(args=["deadlines", "sweep", "--now", "next tuesday"])
    assert bad.exit_code == 2


def test_r9_1_4_db_reindex_similar_is_the_one_backfill_command(runner):
    result = runner.invoke(args=["db", "reindex-similar"])
    assert result.exit_code == 0, result.output
    assert "similar-proposal index:" in result.output and "proposals analysed" in result.output
