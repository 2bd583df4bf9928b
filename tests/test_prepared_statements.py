"""Statements a connection runs again are prepared on the PostgreSQL server (models.prepared, issue 13).

What the callers see must not change: the rows, `rowcount`, the exceptions, the transaction around
them. These tests look at the server's own list (`pg_prepared_statements`) to know which path ran.
"""
from __future__ import annotations

import peewee
import psycopg2
import pytest

from models.agencies import Agency
from models.base import connect_database, row_by
from models.prepared import PreparingPostgresqlDatabase, server_text


@pytest.fixture(autouse=True)
def fresh_connection(db):
    """Each test on a connection of its own. The pool hands out connections earlier tests used, and one
    may already hold MAX_PER_CONNECTION prepared statements, after which nothing more is prepared on it:
    these tests, which look at what is prepared, then depended on how many tests ran before them."""
    if not db.is_closed():
        db.obj.manual_close()


def _prepared(database) -> dict[str, str]:
    """The session's prepared statements: name -> statement text."""
    rows = database.cursor()
    rows.execute("SELECT name, statement FROM pg_prepared_statements")
    return dict(rows.fetchall())


def _agency(code: str, name: str) -> Agency:
    return Agency.create(code=code, name=name, short_name=name[:2], kind="first_level")


def test_issue13_server_text_numbers_the_placeholders_and_keeps_literal_percent_signs():
    assert server_text('SELECT "id" FROM "t" WHERE "a" = %s AND "b" LIKE \'x%%\' AND "c" = %s') == (
        'SELECT "id" FROM "t" WHERE "a" = $1 AND "b" LIKE \'x%\' AND "c" = $2')
    assert server_text("BEGIN") is None
    assert server_text("SELECT 1") is None  # no parameters: nothing to gain
    assert server_text("SELECT %(name)s") is None  # another placeholder style: left alone
    assert server_text("  with x AS (SELECT %s) SELECT * FROM x") is not None


def test_issue13_a_statement_run_twice_is_prepared_and_reads_the_same_rows(db):
    assert isinstance(db.obj, PreparingPostgresqlDatabase)
    first = _agency("A01", "環境保護局")
    _agency("A02", "交通局")
    sql = 'SELECT "id", "name" FROM "agency" WHERE "code" = %s -- run twice'  # a text no other test runs
    assert db.execute_sql(sql, ["A01"]).fetchone() == (first.id, "環境保護局")  # first run: as text
    assert not any("-- run twice" in text for text in _prepared(db).values())
    assert db.execute_sql(sql, ["A02"]).fetchone()[1] == "交通局"  # second run: prepared, then executed
    assert [text for text in _prepared(db).values() if "-- run twice" in text] == [
        'PREPARE pw' + str(len(_prepared(db))) + ' AS SELECT "id", "name" FROM "agency" WHERE "code" = $1 -- run twice']
    assert db.execute_sql(sql, ["A01"]).fetchone() == (first.id, "環境保護局")
    assert db.execute_sql(sql, ["none"]).fetchone() is None
    # The kept statements of the hot paths take the same way.
    for code in ("A01", "A02", "A01"):
        assert row_by(Agency.code, code).code == code
    assert any('FROM "agency"' in text and "LIMIT 1" in text for text in _prepared(db).values())


def test_issue13_a_prepared_update_reports_its_rowcount_and_a_prepared_insert_its_integrity_error(db):
    for code in ("B01", "B02", "B03"):
        _agency(code, "舊名")
    for _ in range(3):  # prepared from the second run on
        changed = Agency.update(name="新名").where(Agency.code.in_(["B01", "B02"])).execute()
        assert changed == 2
    assert Agency.select().where(Agency.name == "新名").count() == 2
    with pytest.raises(peewee.IntegrityError):  # the code is unique: the error is peewee's, as before
        with db.atomic():
            _agency("B01", "重複")
    assert Agency.select().count() == 3


def test_issue13_a_statement_the_server_will_not_prepare_runs_as_text_without_aborting_the_transaction(db):
    sql = "SELECT %s + %s"  # as text 1 + 2; prepared, unknown + unknown: the server refuses to PREPARE it
    with db.atomic():
        for value in (1, 2, 3):
            assert db.execute_sql(sql, [value, 2]).fetchone()[0] == value + 2
        _agency("C01", "消防局")  # the transaction still works after the failed PREPARE
    assert Agency.get(Agency.code == "C01").name == "消防局"
    assert not any(text.endswith("AS SELECT $1 + $2") for text in _prepared(db).values())


def test_issue13_a_rollback_keeps_the_prepared_statement_and_a_new_connection_prepares_again(db, schema):
    _agency("D01", "衛生局")
    with db.atomic() as transaction:
        row_by(Agency.code, "D01")
        row_by(Agency.code, "D01")  # prepared inside the transaction
        transaction.rollback()
    assert row_by(Agency.code, "D01").name == "衛生局"  # the server still has it after the rollback
    # The server drops the session (what a PostgreSQL restart does): the next connection has no
    # prepared statements, and the lookup prepares it again instead of failing.
    pid = db.execute_sql("SELECT pg_backend_pid()").fetchone()[0]
    admin = psycopg2.connect(schema)
    admin.autocommit = True
    admin.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    admin.close()
    from models.base import ensure_connection

    ensure_connection()
    assert db.execute_sql("SELECT pg_backend_pid()").fetchone()[0] != pid
    for _ in range(3):
        assert row_by(Agency.code, "D01").name == "衛生局"
    assert any('FROM "agency"' in text for text in _prepared(db).values())


def test_issue13_database_prepare_off_prepares_nothing(schema):
    database = PreparingPostgresqlDatabase(
        schema.rsplit("/", 1)[1], host="127.0.0.1", user="postgres", prepare=False)
    try:
        for _ in range(3):
            assert database.execute_sql("SELECT %s::int + 1", [41]).fetchone()[0] == 42
        assert _prepared(database) == {}
    finally:
        database.close()


def test_issue13_the_setting_reaches_the_database_the_app_opens(monkeypatch, schema):
    monkeypatch.setenv("DATABASE_PREPARE", "0")
    from webapp.config import Config

    assert Config().DATABASE_PREPARE is False
    monkeypatch.setenv("DATABASE_PREPARE", "1")
    assert Config().DATABASE_PREPARE is True
    assert connect_database(schema).prepare is True
