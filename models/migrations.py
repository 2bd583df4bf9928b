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
    ("agency", "contact_confirmed_at", "TIMESTAMP", "DATETIME"),
    ("staff", "invited_at", "TIMESTAMP", "DATETIME"),
    ("staff", "password_set_at", "TIMESTAMP", "DATETIME"),
    ("staff", "disabled_at", "TIMESTAMP", "DATETIME"),
    ("staff", "totp_secret", "VARCHAR(64)", "VARCHAR(64)"),
    ("staff", "totp_enabled_at", "TIMESTAMP", "DATETIME"),
    ("staff", "totp_last_step", "BIGINT", "INTEGER"),
    ("staff", "totp_failures", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("staff", "totp_failed_at", "TIMESTAMP", "DATETIME"),
    ("outbox", "sent_via", "VARCHAR(8)", "VARCHAR(8)"),  # a LINE push sent as email (quota, 429)
]


def apply_upgrades() -> None:
    for table, column, pg_type, sqlite_type in ADDED_COLUMNS:
        existing = {c.name for c in db.get_columns(table)}
        if column not in existing:
            db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "{column}" {pg_type if is_postgres() else sqlite_type}')
