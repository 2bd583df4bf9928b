"""In-place schema upgrades that `create_tables(safe=True)` cannot express (idempotent)."""
from __future__ import annotations

from .base import db, is_postgres

# (table, column, SQL type for PostgreSQL, SQL type for SQLite); add rows as the schema grows.
ADDED_COLUMNS: list[tuple[str, str, str, str]] = [
    ("line_event", "claimed_at", "TIMESTAMP", "DATETIME"),
    # R8.1: consultations are reviewed before they open
    ("consultation", "submitted_at", "TIMESTAMP", "DATETIME"),
    ("consultation", "review_due", "DATE", "DATE"),
    ("consultation", "review_reminded_at", "TIMESTAMP", "DATETIME"),
    ("consultation", "reviewed_at", "TIMESTAMP", "DATETIME"),
    ("consultation", "reviewed_by", "VARCHAR(128)", "VARCHAR(128)"),
    ("consultation", "return_reasons", "TEXT", "TEXT"),
    ("agency", "contact_confirmed_email", "VARCHAR(254)", "VARCHAR(254)"),
    # R9.2.5(2): a subordinate agency as the handling unit; R9.1.3: a withdrawn request
    ("agency_assignment", "handling_unit_code", "VARCHAR(32)", "VARCHAR(32)"),
    ("agency_assignment", "handling_unit_name", "VARCHAR(100)", "VARCHAR(100)"),
    ("agency_assignment", "withdrawn_at", "TIMESTAMP", "DATETIME"),
    ("agency", "contact_confirmed_at", "TIMESTAMP", "DATETIME"),
    ("staff", "invited_at", "TIMESTAMP", "DATETIME"),
    ("staff", "password_set_at", "TIMESTAMP", "DATETIME"),
    ("staff", "disabled_at", "TIMESTAMP", "DATETIME"),
    ("staff", "totp_secret", "VARCHAR(64)", "VARCHAR(64)"),
    ("staff", "totp_enabled_at", "TIMESTAMP", "DATETIME"),
    ("staff", "totp_last_step", "BIGINT", "INTEGER"),
    ("staff", "totp_failures", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("staff", "totp_failed_at", "TIMESTAMP", "DATETIME"),
]


# (table, index, columns) of indexes that were unique and no longer are; `create_tables` adds the new ones.
RELAXED_UNIQUE_INDEXES: list[tuple[str, str, tuple[str, ...]]] = [
    # R9.4.3: with several leads each publishes its own response (unique per proposal and agency now)
    ("agency_response", "agency_response_proposal_id", ("proposal_id",)),
]


def apply_upgrades() -> None:
    for table, index, columns in RELAXED_UNIQUE_INDEXES:
        if any(i.name == index and i.unique for i in db.get_indexes(table)):
            db.execute_sql(f'DROP INDEX "{index}"')
            db.execute_sql(f'CREATE INDEX "{index}" ON "{table}" ({", ".join(columns)})')
    for table, column, pg_type, sqlite_type in ADDED_COLUMNS:
        existing = {c.name for c in db.get_columns(table)}
        if column not in existing:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {pg_type if is_postgres() else sqlite_type}')
