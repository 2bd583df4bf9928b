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
    ("staff", "totp_secret", "VARCHAR(255)", "VARCHAR(255)"),
    ("staff", "totp_enabled_at", "TIMESTAMP", "DATETIME"),
    ("staff", "totp_last_step", "BIGINT", "INTEGER"),
    ("staff", "totp_failures", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("staff", "totp_failed_at", "TIMESTAMP", "DATETIME"),
    # issue 9 item 11: the unit as written beside the listed agency (existing officials: empty until they add it)
    ("official", "unit", "VARCHAR(60)", "VARCHAR(60)"),
    # issue 9 item 12 (R4): the terms accepted; existing officials accept at their next participation
    ("official", "terms_version", "VARCHAR(16)", "VARCHAR(16)"),
    ("official", "terms_accepted_at", "TIMESTAMP", "DATETIME"),
    # issue 9 item 12 (R4): accounts closed by their officials, and addresses that bounce
    ("official", "closed_at", "TIMESTAMP", "DATETIME"),
    ("official", "email_bounces", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"),
    ("official", "email_bounced_at", "TIMESTAMP", "DATETIME"),
    ("official", "bounce_asked_at", "TIMESTAMP", "DATETIME"),
    ("agency", "extra_contact_emails", "TEXT", "TEXT"),  # issue 11: more than one contact address
    ("agency", "extra_confirmed_emails", "TEXT", "TEXT"),
    # R11: an unanswered consent question is asked once more
    ("recognition_consent", "remind_due", "DATE", "DATE"),
    ("recognition_consent", "reminded_at", "TIMESTAMP", "DATETIME"),
    ("outbox", "sent_via", "VARCHAR(8)", "VARCHAR(8)"),  # a LINE push sent as email (quota, 429)
    # R9.4.4: the last response reminder queued (existing rows: the next sweep fills it from the outbox keys)
    ("proposal", "response_reminded_kind", "VARCHAR(8)", "VARCHAR(8)"),
    ("proposal", "response_reminded_due", "DATE", "DATE"),
]


# (table, index, columns) of indexes that were unique and no longer are; `create_tables` adds the new ones.
RELAXED_UNIQUE_INDEXES: list[tuple[str, str, tuple[str, ...]]] = [
    # R9.4.3: with several leads each publishes its own response (unique per proposal and agency now)
    ("agency_response", "agency_response_proposal_id", ("proposal_id",)),
]


# (table, column, length): VARCHAR columns that must hold longer values (PostgreSQL enforces lengths).
WIDENED_COLUMNS: list[tuple[str, str, int]] = [
    ("staff", "totp_secret", 255),  # a Fernet-sealed TOTP secret (models/two_factor.py)
]


# (name, definition) of PostgreSQL-only indexes (partial, INCLUDE, operator classes) that peewee's
# models cannot declare; created when missing. Partial predicates list the published states sorted,
# as models.public_list queries them.
_PUBLISHED = "state IN ('established', 'lapsed', 'removed', 'responded', 'seconding')"
POSTGRES_INDEXES: list[tuple[str, str]] = [
    # issue 13 item 3: the public list's order, its state filter and its title search at 100k proposals
    ("proposal_public_order", "proposal (seconding_started_at DESC NULLS LAST, id DESC) INCLUDE (state, title) "
                              f"WHERE {_PUBLISHED}"),
    ("proposal_public_state_order", "proposal (state, seconding_started_at DESC NULLS LAST, id DESC) INCLUDE (title) "
                                    f"WHERE {_PUBLISHED}"),
    ("proposal_public_title_trgm", f"proposal USING gin (title gin_trgm_ops) WHERE {_PUBLISHED}"),
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
    if is_postgres():
        for name, definition in POSTGRES_INDEXES:
            db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{name}" ON {definition}')
        for table, column, length in WIDENED_COLUMNS:
            current = db.execute_sql("SELECT character_maximum_length FROM information_schema.columns "
                                     "WHERE table_name = %s AND column_name = %s", (table, column)).fetchone()
            if current and current[0] is not None and current[0] < length:
                db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE VARCHAR({length})')
