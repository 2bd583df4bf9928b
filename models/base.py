"""Database handle, base model and the clock every domain function reads."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar
from zoneinfo import ZoneInfo

import peewee
from playhouse.db_url import connect

TAIPEI = ZoneInfo("Asia/Taipei")
UTC = dt.UTC
MAX_ID = 2**31 - 1  # the largest id a row can have (PostgreSQL's integer): a larger one from outside is no row

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


def connect_database(url: str, prepare: bool = True) -> peewee.Database:
    """Open the database named by a peewee db_url and bind the proxy to it (once per URL per process).
    On PostgreSQL, statements a connection runs again are prepared on the server unless `prepare` is
    false (models.prepared; DATABASE_PREPARE=0 behind a pooler in transaction mode)."""
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
            url = url.replace("postgresql://", "postgresprep+pool://", 1)
            sep = "&" if "?" in url else "?"
            url += f"{sep}max_connections=32&stale_timeout=300"
            from . import prepared  # noqa: F401  (registers the postgresprep+pool scheme)

            database = connect(url, prepare=prepare)
        else:
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


_STATEMENTS: dict[tuple, object] = {}
T = TypeVar("T")


def kept_statement(key: tuple, write: Callable[[], T]) -> T:
    """The text of a statement the hot paths run for every event (or the text with what turns values
    into its parameters), written once per shape (`key`, which names the database's placeholder so
    SQLite and PostgreSQL never share one) instead of built by peewee each time: building statements
    was ~45 % of a worker's CPU in a seconding surge (bench/README.md, "Throughput: fourth pass")."""
    kept = _STATEMENTS.get(key)
    if kept is None:
        kept = _STATEMENTS[key] = write()
    return kept


def quoted(field: peewee.Field, table: str = "") -> str:
    return f'{table}"{field.column_name}"'


# The row lock of `row_by` and `rows_where`. NO KEY UPDATE excludes every other locker and writer of
# the row, as FOR UPDATE does; it lets through only a foreign key's FOR KEY SHARE check, so a second
# inserted for a proposal does not wait for the transaction that holds the proposal (a DELETE or a
# change of the key still waits, as it should).
ROW_LOCK = " FOR NO KEY UPDATE"


def row_by(field: peewee.Field, value: object, for_update: bool = False) -> peewee.Model | None:
    """`Model.get_or_none(field == value)` with a kept statement (a proposal by id, an agency by code:
    lookups every seconding event makes). The value goes through the field's `db_value`, the row
    through each column's `python_value`, as with peewee's own query. `for_update`: the row is locked
    for the rest of the transaction (PostgreSQL; SQLite locks the whole database on write anyway)."""
    model = field.model
    database = model._meta.database
    lock = for_update and is_postgres()
    sql = kept_statement(("row_by", model, field.name, lock, database.param), lambda: (
        f'SELECT {", ".join(quoted(f) for f in model._meta.sorted_fields)} FROM "{model._meta.table_name}"'
        f" WHERE {quoted(field)} = {database.param} LIMIT 1" + (ROW_LOCK if lock else "")))
    row = database.execute_sql(sql, [field.db_value(value)]).fetchone()
    return _built(model, row) if row is not None else None


def row_and_joined(field: peewee.Field, joined: peewee.Field, value: object) -> tuple[peewee.Model | None, peewee.Model | None]:
    """The row whose `field` equals `value` and the row of another table whose unique `joined` column
    equals the same value (a LEFT JOIN: None when there is none), in one kept statement. Each row is
    built as peewee builds a selected row: converted by its fields, nothing marked changed."""
    model, other = field.model, joined.model
    database = model._meta.database
    sql = kept_statement(("row_and_joined", model, field.name, other, joined.name, database.param), lambda: (
        f'SELECT {", ".join([quoted(f, "a.") for f in model._meta.sorted_fields] + [quoted(f, "b.") for f in other._meta.sorted_fields])}'
        f' FROM "{model._meta.table_name}" AS a LEFT OUTER JOIN "{other._meta.table_name}" AS b'
        f' ON {quoted(joined, "b.")} = {quoted(field, "a.")} WHERE {quoted(field, "a.")} = {database.param} LIMIT 1'))
    row = database.execute_sql(sql, [field.db_value(value)]).fetchone()
    if row is None:
        return None, None
    split = len(model._meta.sorted_fields)
    found = row[split + other._meta.sorted_fields.index(other._meta.primary_key)] is not None
    return _built(model, row[:split]), (_built(other, row[split:]) if found else None)


def where_clause(conditions: tuple, mark: str) -> tuple[str, Callable[[tuple], list]]:
    """A kept statement's WHERE text for `conditions`, each (field, op) with op one of ``=``, ``>``,
    ``<``, ``is null``, ``not null`` (all joined by AND), and the function that turns the values (one per
    comparison, in order) into its parameters through each field's `db_value`."""
    parts, fields = [], []
    for field, op in conditions:
        if op == "is null":
            parts.append(f"{quoted(field)} IS NULL")
        elif op == "not null":
            parts.append(f"{quoted(field)} IS NOT NULL")
        elif op in ("=", ">", "<"):
            parts.append(f"{quoted(field)} {op} {mark}")
            fields.append(field)
        else:
            raise ValueError(f"unknown comparison {op!r}")
    return " AND ".join(parts), lambda values: [f.db_value(v) for f, v in zip(fields, values, strict=True)]


def rows_where(model: type[peewee.Model], conditions: tuple, values: tuple, order: tuple = (),
               for_update: bool = False) -> list[peewee.Model]:
    """`list(Model.select().where(...).order_by(...))` with a kept statement, for the reads every
    seconding event makes (an official's recent codes). `conditions` as in `where_clause`; `order`:
    (field, "asc" | "desc") pairs; `for_update` as in `row_by`. Rows are built as `row_by` builds them."""
    database = model._meta.database
    lock = for_update and is_postgres()
    key = ("rows_where", model, tuple((f.name, op) for f, op in conditions),
           tuple((f.name, d) for f, d in order), lock, database.param)

    def write() -> tuple[str, Callable[[tuple], list]]:
        where, params = where_clause(conditions, database.param)
        return (f'SELECT {", ".join(quoted(f) for f in model._meta.sorted_fields)} FROM "{model._meta.table_name}"'
                f" WHERE {where}"
                + (f' ORDER BY {", ".join(f"{quoted(f)} {d.upper()}" for f, d in order)}' if order else "")
                + (ROW_LOCK if lock else "")), params

    sql, params = kept_statement(key, write)
    return [_built(model, row) for row in database.execute_sql(sql, params(values)).fetchall()]


def _built(model: type[peewee.Model], values) -> peewee.Model:
    data = {f.name: f.python_value(v) for f, v in zip(model._meta.sorted_fields, values, strict=True)}
    instance = model(__no_default__=1, **data)
    instance._dirty.clear()
    return instance


def create_row(model: type[peewee.Model], *, if_new: bool = False, **values: object) -> peewee.Model | None:
    """`Model.create(**values)` with a kept statement (a code, its request, an outbox notice, a second:
    rows every seconding event writes): the instance is made as peewee makes it (defaults filled in).
    `if_new`: `ON CONFLICT DO NOTHING`, and None when a unique index already holds such a row (no
    savepoint needed to survive the conflict, as with IntegrityError)."""
    instance = model(**values)
    data = instance.__data__
    primary_key = model._meta.primary_key
    fields = [f for f in model._meta.sorted_fields if f.name in data and not (f is primary_key and data[f.name] is None)]
    database = model._meta.database
    postgres = is_postgres()
    sql = kept_statement(("create_row", model, tuple(f.name for f in fields), if_new, database.param), lambda: (
        f'INSERT INTO "{model._meta.table_name}" ({", ".join(quoted(f) for f in fields)})'
        f' VALUES ({", ".join([database.param] * len(fields))})'
        + (" ON CONFLICT DO NOTHING" if if_new else "")
        + (f" RETURNING {quoted(primary_key)}" if postgres else "")))
    cursor = database.execute_sql(sql, [f.db_value(data[f.name]) for f in fields])
    inserted = cursor.fetchone() if postgres else (cursor.lastrowid if cursor.rowcount else None)
    if inserted is None:
        return None
    if data.get(primary_key.name) is None:
        setattr(instance, primary_key.name, inserted[0] if postgres else inserted)
    instance._dirty.clear()
    return instance
