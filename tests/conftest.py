"""Shared fixtures: a fresh PostgreSQL database per test session, tables emptied after each test."""
from __future__ import annotations

import os
import uuid

import psycopg2
import pytest

# The shared helpers assert too (they came out of test modules): keep pytest's assertion messages.
pytest.register_assert_rewrite("tests.helpers")

pytest_plugins = [
    "tests.fixtures_app", "tests.fixtures_line", "tests.fixtures_mail", "tests.fixtures_browser", "tests.fixtures_console",
]

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def database_url():
    name = f"platform_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(ADMIN_URL)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    from models import db

    if db.obj is not None and not db.obj.is_closed():
        db.obj.close()
    admin.cursor().execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (name,),
    )
    admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.close()


@pytest.fixture(scope="session")
def schema(database_url):
    from models.base import connect_database
    from webapp.schema import create_schema

    connect_database(database_url)
    create_schema()
    return database_url


@pytest.fixture
def db(schema):
    """The bound database; every table is emptied after the test."""
    from models import db as database
    from models import services
    from webapp.schema import all_tables

    services.reset()  # collaborators come from this test's app (if it builds one), not the last test's
    yield database
    if database.in_transaction():
        database.rollback()
    tables = ", ".join(f'"{m._meta.table_name}"' for m in all_tables())
    database.execute_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    from models.calendar import invalidate_cache

    invalidate_cache()
    # The sentence model as the service starts with it (the bundled one unless SIMILAR_MODEL_DIR says), and no
    # vectors kept from this test's rows: identities restart, so a kept row would stand for another proposal.
    from models import similar_vectors

    similar_vectors.reset(similar_vectors.directory_for(os.environ.get("SIMILAR_MODEL_DIR")))
