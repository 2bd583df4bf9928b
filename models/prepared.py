"""PostgreSQL server-side prepared statements for every statement a connection runs again.

psycopg2 sends each statement as text with its values written in, so PostgreSQL parses, analyses
and plans it every time. For the short statements of a seconding event that is most of the
server's work: the official-and-conversation lookup costs 0.29 ms of backend CPU as text and 0.10 ms
as ``EXECUTE`` of a prepared statement (bench/README.md, "Throughput: fifth pass"). psycopg 3 does
this by itself (``prepare_threshold``); with psycopg2 it is done here, the same way:

- a statement text (with ``%s`` placeholders, as peewee writes it) seen for the second time on a
  connection is prepared there (``PREPARE pwN AS ...`` with ``$1..$n``) and from then on run as
  ``EXECUTE pwN (%s, ...)``: the driver still writes the values in, the server skips the parse and,
  once it finds the generic plan no worse, the planning;
- prepared statements belong to the server session, not to a transaction (a ``ROLLBACK`` keeps
  them), so they are remembered per connection object; a new connection (a pool refill, a
  PostgreSQL restart) starts with none;
- a statement the server will not prepare (a parameter whose type it cannot infer, several
  statements in one text) is run as text from then on. Inside a transaction the ``PREPARE`` runs
  under a savepoint, so its failure never aborts the caller's transaction;
- at most `MAX_PER_CONNECTION` statements are prepared on one connection (statements whose text
  varies, such as ``IN`` lists of every length, would otherwise grow the server's memory).

Only ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE`` and ``WITH`` statements with parameters are
prepared. What the caller sees does not change: the cursor, its rows, ``description`` and
``rowcount``, the exceptions (peewee's), and peewee's statement log (the statement's own text).
Behind a pooler in transaction mode (PgBouncer), where a session's prepared statements may not be
there on the next transaction, set ``DATABASE_PREPARE=0``.
"""
from __future__ import annotations

import re
import weakref

import peewee
from playhouse.db_url import register_database
from playhouse.pool import PooledPostgresqlExtDatabase

THRESHOLD = 2  # runs of one text on one connection before it is prepared
MAX_PER_CONNECTION = 400
MAX_SEEN = 4000  # texts counted per connection before the count starts again
_PREPARABLE = re.compile(r"\s*(select|insert|update|delete|with)\b", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"%(.)", re.DOTALL)
_SERVER_TEXT: dict[str, str | None] = {}  # statement text -> the text to PREPARE (None: never)
_REFUSED: set[str] = set()  # texts the server would not prepare


class _Session:
    """What one connection's server session has prepared."""

    __slots__ = ("names", "seen")

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.seen: dict[str, int] = {}


def server_text(sql: str) -> str | None:
    """`sql` with ``$1..$n`` for peewee's ``%s`` and ``%`` for ``%%``; None when it is not a statement
    that can be prepared (or uses another placeholder style)."""
    if sql in _SERVER_TEXT:
        return _SERVER_TEXT[sql]
    text = None
    if _PREPARABLE.match(sql):
        count = 0
        unsupported = False

        def placeholder(match: re.Match) -> str:
            nonlocal count, unsupported
            if match.group(1) == "%":
                return "%"
            if match.group(1) == "s":
                count += 1
                return f"${count}"
            unsupported = True
            return match.group(0)

        converted = _PLACEHOLDER.sub(placeholder, sql)
        text = None if unsupported or count == 0 else converted
    if len(_SERVER_TEXT) < 20000:
        _SERVER_TEXT[sql] = text
    return text


class PreparingPostgresqlDatabase(PooledPostgresqlExtDatabase):
    """The pooled PostgreSQL database (``postgresext+pool``) that prepares repeated statements."""

    def __init__(self, *args, prepare: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prepare = prepare
        self._sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def execute_sql(self, sql, params=None, commit=None, named_cursor=None):
        if self.prepare and params and not named_cursor:
            name = self._prepared_name(sql, len(params))
            if name is not None:
                peewee.logger.debug((sql, params))
                with peewee.__exception_wrapper__:
                    cursor = self.cursor()
                    cursor.execute(f"EXECUTE {name} ({', '.join(['%s'] * len(params))})", params)
                return cursor
        return super().execute_sql(sql, params, commit, named_cursor=named_cursor)

    def _prepared_name(self, sql: str, nparams: int) -> str | None:
        """The name `sql` is prepared under on this connection, preparing it on its second run."""
        if self.is_closed():
            self.connect()
        conn = self._state.conn
        session = self._sessions.get(conn)
        if session is None:
            session = self._sessions[conn] = _Session()
        name = session.names.get(sql)
        if name is not None:
            return name
        seen = session.seen.get(sql, 0) + 1
        if seen < THRESHOLD:
            if len(session.seen) >= MAX_SEEN:
                session.seen.clear()
            session.seen[sql] = seen
            return None
        if sql in _REFUSED or len(session.names) >= MAX_PER_CONNECTION:
            return None
        text = server_text(sql)
        if text is None or text.count("$") < nparams:
            return None
        name = f"pw{len(session.names) + 1}"
        if not self._prepare(conn, name, text):
            _REFUSED.add(sql)
            return None
        session.seen.pop(sql, None)
        session.names[sql] = name
        return name

    @staticmethod
    def _prepare(conn, name: str, text: str) -> bool:
        import psycopg2
        from psycopg2 import extensions

        status = conn.get_transaction_status()
        if status not in (extensions.TRANSACTION_STATUS_IDLE, extensions.TRANSACTION_STATUS_INTRANS):
            return False  # a failed transaction (the statement fails anyway) or a lost connection
        in_transaction = status == extensions.TRANSACTION_STATUS_INTRANS
        cursor = conn.cursor()
        try:
            if in_transaction:
                cursor.execute("SAVEPOINT platform_prepare")
            try:
                cursor.execute(f"PREPARE {name} AS {text}")
            except psycopg2.Error:
                if in_transaction:
                    cursor.execute("ROLLBACK TO SAVEPOINT platform_prepare")
                    cursor.execute("RELEASE SAVEPOINT platform_prepare")
                return False
            if in_transaction:
                cursor.execute("RELEASE SAVEPOINT platform_prepare")
            return True
        finally:
            cursor.close()


register_database(PreparingPostgresqlDatabase, "postgresprep+pool")
