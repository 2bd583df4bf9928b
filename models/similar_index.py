"""The similar-proposal index on PostgreSQL (R9.1.4): each proposal's features in a GIN-indexed array,
kept up to date through a queue that a trigger fills in the proposal's own transaction.

- ``proposal_similar(proposal_id, features text[])``: the features of `similar_lexicon.proposal_features`
  in their stored form (content-only features prefixed with '+'), a GIN index on `index_terms` of them
  (``similar_terms``), statistics target 1000 so that ANALYZE's most-common-elements give each feature's
  document frequency (`feature_rows`).
- ``proposal_similar_queue(proposal_id)``: filled by the trigger ``proposal_similar_queue_trg`` on every
  insert of a proposal and every update of its title or content, in the same transaction.  A removed
  proposal's row goes with it (ON DELETE CASCADE).  `refresh` drains the queue in batches: every
  search drains up to `REFRESH_PER_SEARCH` rows first, so a search always sees what was written
  before it; `flask db reindex-similar` drains everything.
- ``similar_meta``: the lexicon version the stored features were built with.  When data/similar_lexicon.tsv
  or the analysis code changes, `ensure_search_index` queues every proposal again (the backfill); when
  the operations team changes its words in the console, `similar_lexicon_edits` does (`requeue_all`),
  in the same transaction as the change (`similar_team_words`).

SQLite keeps no index: `models.similar` scans and analyses the recent proposals in Python instead.
"""
from __future__ import annotations

import logging
import time
import weakref

from . import similar_lexicon as lexicon_mod
from . import similar_team_words as team_words
from . import similar_vectors as vectors
from .base import db, is_postgres
from .proposals import Proposal

log = logging.getLogger(__name__)

TABLE = "proposal_similar"
QUEUE = "proposal_similar_queue"
META = "similar_meta"
INDEX_NAME = "proposal_similar_terms_gin"
COLUMN_STATISTICS = 1000
REFRESH_BATCH = 500
REFRESH_PER_SEARCH = 500
STATS_TTL = 600  # seconds a process keeps the feature frequencies read from pg_stats

_READY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # database -> (monotonic time, bool)
_STATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # database -> (monotonic time, rows)


def _exists(kind: str, name: str) -> bool:
    return bool(db.execute_sql(f"SELECT {kind}(%s) IS NOT NULL", (name,)).fetchone()[0])


def _drop_bigram_index(table: str) -> None:
    """The first version (a generated bigram column on proposal) is no longer used."""
    columns = {column.name for column in db.get_columns(table)}
    if _exists("to_regclass", "proposal_similar_title_grams_v1_gin"):
        db.execute_sql('DROP INDEX "proposal_similar_title_grams_v1_gin"')
    if "similar_title_grams_v1" in columns:
        db.execute_sql(f'ALTER TABLE "{table}" DROP COLUMN "similar_title_grams_v1"')
    if _exists("to_regprocedure", "similar_key_v1(text)"):
        db.execute_sql("DROP FUNCTION similar_key_v1(text)")


def ensure_search_index() -> None:
    """Create the feature table, its index, the queue and its trigger (PostgreSQL; idempotent), and queue
    every proposal when the lexicon changed since the features were built.  Nothing to do on SQLite."""
    if not is_postgres():
        return
    table = Proposal._meta.table_name
    _drop_bigram_index(table)
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (proposal_id integer PRIMARY KEY '
                   f'REFERENCES "{table}"(id) ON DELETE CASCADE, features text[] NOT NULL, '
                   f"similar_terms text[] NOT NULL)")
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "{QUEUE}" (proposal_id integer PRIMARY KEY)')
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "{META}" (key text PRIMARY KEY, value text NOT NULL)')
    if not _exists("to_regclass", INDEX_NAME):
        db.execute_sql(f'ALTER TABLE "{TABLE}" ALTER COLUMN similar_terms SET STATISTICS {COLUMN_STATISTICS}')
        db.execute_sql(f'CREATE INDEX "{INDEX_NAME}" ON "{TABLE}" USING gin (similar_terms) WITH (fastupdate = off)')
    db.execute_sql(f"""CREATE OR REPLACE FUNCTION proposal_similar_enqueue() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO "{QUEUE}" (proposal_id) VALUES (NEW.id) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$fn$""")
    db.execute_sql(f'DROP TRIGGER IF EXISTS proposal_similar_queue_trg ON "{table}"')
    db.execute_sql(f'CREATE TRIGGER proposal_similar_queue_trg AFTER INSERT OR UPDATE OF title, content '
                   f'ON "{table}" FOR EACH ROW EXECUTE FUNCTION proposal_similar_enqueue()')
    vectors.ensure_table()
    version = team_words.effective().version  # the file and the team's words (console)
    if team_words.stored_version() != version:
        requeue_all()
        team_words.store_version(version)
    team_words.load(version)
    _READY.pop(db.obj, None)
    _STATS.pop(db.obj, None)


def requeue_all() -> int:
    """Queue every proposal for analysis (the lexicon changed); the searches and the sweep drain the
    queue.  Nothing to do on SQLite: its scan analyses again whatever the lexicon version changed."""
    if not is_postgres() or not _exists("to_regclass", QUEUE):
        return 0
    cursor = db.execute_sql(f'INSERT INTO "{QUEUE}" (proposal_id) SELECT id FROM "{Proposal._meta.table_name}" '
                            "ON CONFLICT DO NOTHING")
    return cursor.rowcount


def pending() -> int:
    """Proposals queued for analysis (0 on SQLite, which keeps no index)."""
    if not search_ready():
        return 0
    return db.execute_sql(f'SELECT count(*) FROM "{QUEUE}"').fetchone()[0]


def search_ready() -> bool:
    """True when the indexed PostgreSQL path can be used; a "no" is looked at again after STATS_TTL."""
    if not is_postgres():
        return False
    database = db.obj
    cached = _READY.get(database)
    if cached and (cached[1] or time.monotonic() - cached[0] < STATS_TTL):
        return cached[1]
    ready = _exists("to_regclass", INDEX_NAME) and _exists("to_regclass", QUEUE)
    if not ready:
        log.warning("similar-proposal index %s missing: using the slow portable search", INDEX_NAME)
    _READY[database] = (time.monotonic(), ready)
    return ready


def refresh(limit: int | None = None) -> int:
    """Analyse queued proposals with the lexicon in use (`similar_team_words.current`) and store their
    features; returns how many (all of them when no limit).  Concurrent callers take disjoint rows
    (SKIP LOCKED).  Nothing to do on SQLite (no index)."""
    if not search_ready():
        return 0
    done = 0
    while limit is None or done < limit:
        batch = REFRESH_BATCH if limit is None else min(REFRESH_BATCH, limit - done)
        with db.atomic():
            ids = [r[0] for r in db.execute_sql(
                f'DELETE FROM "{QUEUE}" WHERE proposal_id IN (SELECT proposal_id FROM "{QUEUE}" '
                f"ORDER BY proposal_id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING proposal_id", (batch,))]
            if not ids:
                break
            # The lexicon as of now, read after the rows were taken: a change that queued them has
            # committed its version too, so they are never analysed with the lexicon it replaced.
            team_words.current()
            rows = (Proposal.select(Proposal.id, Proposal.title, Proposal.content)
                    .where(Proposal.id.in_(ids)).tuples())
            values, params = [], []
            for pid, title, content in rows:
                stored = lexicon_mod.encode(lexicon_mod.proposal_features(title, content))
                values.append("(%s, %s::text[], %s::text[])")
                params += [pid, stored, sorted(set(lexicon_mod.index_terms(stored)))]
            if values:
                db.execute_sql(
                    f'INSERT INTO "{TABLE}" (proposal_id, features, similar_terms) VALUES {", ".join(values)} '
                    "ON CONFLICT (proposal_id) DO UPDATE SET features = EXCLUDED.features, "
                    "similar_terms = EXCLUDED.similar_terms", params)
        done += len(ids)
    return done


def feature_rows() -> tuple[dict[str, float], float] | None:
    """(estimated number of proposals containing each common feature, number of proposals), from
    ANALYZE's statistics (None before the first ANALYZE).  A feature not listed is rarer than every
    listed one; its estimate is under the "" key."""
    database = db.obj
    cached = _STATS.get(database)
    if cached and time.monotonic() - cached[0] < STATS_TTL:
        return cached[1]
    row = db.execute_sql(
        "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples "
        "FROM pg_stats s, pg_class c WHERE s.schemaname = current_schema() AND s.tablename = %s "
        "AND s.attname = 'similar_terms' AND c.oid = to_regclass(%s)", (TABLE, TABLE)).fetchone()
    result = None
    if row and row[0] and row[1] and row[2] and row[2] > 0:
        elems, freqs, total = row
        rows = {elem: freq * total for elem, freq in zip(elems, freqs[:len(elems)], strict=True)}
        rows[""] = max(freqs[len(elems)] * total / 2, 1.0)  # after the per-element list: min, max, nulls
        result = (rows, float(total))
    _STATS[database] = (time.monotonic(), result)
    return result


def clear_caches() -> None:
    _READY.pop(db.obj, None)
    _STATS.pop(db.obj, None)
