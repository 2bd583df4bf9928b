"""Database handle, base model and the clock every domain function reads."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import peewee
from playhouse.db_url import connect

TAIPEI = ZoneInfo("Asia/Taipei")
UTC = dt.UTC

db = peewee.DatabaseProxy()


class DomainError(Exception):
    """A rule refused an action; `message` is zh-TW text safe to show the official or staff."""

    def __init__(self, message: str, code: str = "refused"):
        super().__init__(message)
        self.message = message
        self.code = code


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


def utcnow() -> dt.datetime:
    """Naive UTC: every DateTimeField stores naive UTC."""
    return dt.datetime.now(UTC).replace(tzinfo=None)


def to_utc_naive(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def taipei_date(value: dt.datetime) -> dt.date:
    """The Asia/Taipei calendar day of a naive-UTC (or aware) instant."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TAIPEI).date()


def end_of_day_utc(day: dt.date) -> dt.datetime:
    """23:59:59.999999 Asia/Taipei of `day`, as naive UTC (R2.3: a period ends at the end of its last day)."""
    local = dt.datetime.combine(day, dt.time.max, tzinfo=TAIPEI)
    return local.astimezone(UTC).replace(tzinfo=None)


def start_of_day_utc(day: dt.date) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time.min, tzinfo=TAIPEI)
    return local.astimezone(UTC).replace(tzinfo=None)


def format_taipei(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(TAIPEI).strftime(fmt)


def connect_database(url: str) -> peewee.Database:
    """Open the database named by a peewee db_url and bind the proxy to it (once per URL per process)."""
    if db.obj is not None and getattr(db.obj, "platform_url", None) == url:
        return db.obj
    original = url
    if url.startswith("sqlite:///"):
        import os

        path = url[len("sqlite:///"):]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        database = connect(url, pragmas={"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 5000})
    else:
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        if url.startswith("postgresql://"):
            # A small pool per process: the webhook path must not pay a connection per request.
            url = url.replace("postgresql://", "postgresext+pool://", 1)
            sep = "&" if "?" in url else "?"
            url += f"{sep}max_connections=32&stale_timeout=300"
        database = connect(url)
    database.platform_url = original
    db.initialize(database)
    return database


def ensure_connection() -> None:
    """Called by long-running processes (RQ workers, the scheduler) between units of work: a
    connection the database server dropped (a restart, a failover) is discarded, so the next query
    opens a fresh one instead of failing with "connection already closed" for ever."""
    if db.obj is None or db.is_closed() or db.in_transaction():
        return
    try:
        db.execute_sql("SELECT 1")
    except (peewee.OperationalError, peewee.InterfaceError):
        try:
            db.close()
        except peewee.PeeweeException:
            db._state.reset()  # the pool could not take it back: forget it


def among(field, ids) -> peewee.Expression:
    """`field IN ids` for a long list of ids: on PostgreSQL one array parameter (`= ANY(%s)`), which the
    driver adapts in C, instead of one placeholder per id that peewee builds in Python (the open-data
    export and /stats read 100,000 proposals 500 at a time: most of their SQL-building time)."""
    ids = list(ids)
    if is_postgres():
        return field == peewee.fn.ANY(peewee.Value(ids, converter=list, unpack=False))
    return field.in_(ids)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)
