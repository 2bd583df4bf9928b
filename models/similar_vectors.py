"""Sentence vectors of proposal titles for the similar-proposal search, optional (issue 14).

On when the `SIMILAR_MODEL_DIR` setting names a model directory `similar_encoder` can read (PostgreSQL
only; off otherwise, and the search is the lexicon's alone).  bench/README.md (eighth round) measured the rule
`models.similar` applies with m3e-small at 100,000 proposals: held-out recall@5 42 % against the lexicon's
34 %, false alarms 6.8 % against 5.8 %.  It is off by default because that model's licence is research only.

- *Stored:* one row a proposal in `proposal_vector` (the title's vector, float32, and the title it was
  computed from, with the model's key), so a title edit or another model is seen and computed again.
- *Kept up:* `catch_up`, run by the deadlines sweep within a time budget and by `flask db reindex-similar`
  for everything, embeds the proposals whose vector is missing or stale.  A proposal without its vector yet
  is still found by the lexicon.
- *Searched:* each process keeps the vectors in memory (`_Matrix`: ids and rows centred on their mean and
  normalised), and loads only the rows written since its last search (the `vector_stamp` sequence).  The
  query's title and content are embedded (about 15 ms) and compared with every row: exact, no index.  Fewer
  than `MIN_ROWS` vectors give no reliable mean, so the model is not asked until there are that many.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref

import numpy as np

from .base import db, is_postgres
from .proposals import Proposal

log = logging.getLogger(__name__)

TABLE = "proposal_vector"
SEQUENCE = "proposal_vector_stamp"
MIN_ROWS = 200  # below this many vectors the corpus mean (centring) is noise: the model is not used
NEAREST = 20  # the model's candidates added to the lexicon's
BATCH = 32  # titles embedded together
SWEEP_SECONDS = 20.0  # the sweep embeds for at most this long a minute

_STATE: dict = {"dir": os.environ.get("SIMILAR_MODEL_DIR") or None, "encoder": None, "key": None, "error": None}
_LOCK = threading.Lock()
_MATRICES: dict = {}  # (database, model key) -> _Matrix
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # database -> the table exists


def configure(directory: str | None) -> None:
    """Use the model in `directory` (None: no model).  The app factory passes SIMILAR_MODEL_DIR; tests
    switch it."""
    with _LOCK:
        _STATE.update({"dir": directory or None, "encoder": None, "key": None, "error": None})
        _MATRICES.clear()


def encoder():
    """The loaded encoder, or None when no model is configured or it cannot be read (logged once)."""
    if not _STATE["dir"] or _STATE["error"]:
        return None
    if _STATE["encoder"] is None:
        with _LOCK:
            if _STATE["encoder"] is None and not _STATE["error"]:
                from . import similar_encoder
                try:
                    loaded = similar_encoder.load(_STATE["dir"])
                except ValueError as error:
                    _STATE["error"] = str(error)
                    log.error("similar proposals: %s; searching with the lexicon only", error)
                    return None
                _STATE["key"] = _model_key(_STATE["dir"])
                _STATE["encoder"] = loaded
    return _STATE["encoder"]


def _model_key(directory: str) -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            digest.update(f"{name}:{os.path.getsize(path)}:".encode())
            if name.endswith(".json"):
                with open(path, "rb") as file:
                    digest.update(file.read())
    return digest.hexdigest()[:16]


def enabled() -> bool:
    return is_postgres() and encoder() is not None and _exists()


def status() -> str | None:
    """What an operator should know when a model was configured and is not in use, else None."""
    return _STATE["error"]


def summary() -> dict | None:
    """For the console: None when no model is configured; else whether it is in use, and then how many
    titles have their vector and how many wait for the sweep, or else why not."""
    if not _STATE["dir"]:
        return None
    if not enabled():
        if status():  # the technical detail is in the log and in `flask db reindex-similar`'s answer
            why = f"無法讀取 SIMILAR_MODEL_DIR 指定的模型（{_STATE['dir']}），詳情請見服務紀錄"
        else:
            why = "需要 PostgreSQL，並先執行 flask db migrate"
        return {"in_use": False, "why": why}
    stored = db.execute_sql(f'SELECT count(*) FROM "{TABLE}" WHERE model = %s', (_STATE["key"],)).fetchone()[0]
    waiting = db.execute_sql(
        f'SELECT count(*) FROM "{Proposal._meta.table_name}" p LEFT JOIN "{TABLE}" v ON v.proposal_id = p.id '
        "WHERE v.proposal_id IS NULL OR v.model <> %s OR v.title <> p.title", (_STATE["key"],)).fetchone()[0]
    return {"in_use": True, "stored": stored, "waiting": waiting}


def _exists() -> bool:
    if _TABLES.get(db.obj):
        return True
    found = db.execute_sql("SELECT to_regclass(%s) IS NOT NULL", (TABLE,)).fetchone()[0]
    if found:
        _TABLES[db.obj] = True
    return found


def ensure_table() -> None:
    """Create the vector table and its stamp sequence (PostgreSQL; idempotent)."""
    if not is_postgres():
        return
    db.execute_sql(f'CREATE SEQUENCE IF NOT EXISTS "{SEQUENCE}"')
    db.execute_sql(f'CREATE TABLE IF NOT EXISTS "{TABLE}" (proposal_id integer PRIMARY KEY '
                   f'REFERENCES "{Proposal._meta.table_name}"(id) ON DELETE CASCADE, model text NOT NULL, '
                   f"title text NOT NULL, vector bytea NOT NULL, stamp bigint NOT NULL DEFAULT nextval('{SEQUENCE}'))")
    db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{TABLE}_stamp" ON "{TABLE}" (stamp)')


def stale(limit: int, after: int = 0) -> list[tuple[int, str]]:
    """Up to `limit` (id, title) of proposals after id `after` whose vector is missing, of another model or
    of another title."""
    return db.execute_sql(
        f'SELECT p.id, p.title FROM "{Proposal._meta.table_name}" p LEFT JOIN "{TABLE}" v ON v.proposal_id = p.id '
        "WHERE p.id > %s AND (v.proposal_id IS NULL OR v.model <> %s OR v.title <> p.title) ORDER BY p.id LIMIT %s",
        (after, _STATE["key"], limit)).fetchall()


def catch_up(seconds: float | None = SWEEP_SECONDS) -> int:
    """Embed stale titles for at most `seconds` (None: until none is left); returns how many."""
    if not enabled():
        return 0
    model, done, started, after = encoder(), 0, time.monotonic(), 0
    while seconds is None or time.monotonic() - started < seconds:
        rows = stale(BATCH, after)  # onwards from the last batch: the rows before it are done
        if not rows:
            break
        after = rows[-1][0]
        vectors = model.encode([title for _, title in rows])
        with db.atomic():
            for (pid, title), vector in zip(rows, vectors, strict=True):
                db.execute_sql(
                    f'INSERT INTO "{TABLE}" (proposal_id, model, title, vector) VALUES (%s, %s, %s, %s) '
                    "ON CONFLICT (proposal_id) DO UPDATE SET model = EXCLUDED.model, title = EXCLUDED.title, "
                    f"vector = EXCLUDED.vector, stamp = nextval('{SEQUENCE}')",
                    (pid, _STATE["key"], title, vector.astype(np.float32).tobytes()))
        done += len(rows)
    return done


class _Matrix:
    """One process's copy of the stored vectors, centred on the mean at first load and normalised."""

    def __init__(self, key: str, dimensions: int):
        self.key, self.dimensions = key, dimensions
        self.stamp, self.size = 0, 0
        self.rows = np.zeros((1024, dimensions), dtype=np.float32)
        self.ids = np.zeros(1024, dtype=np.int64)
        self.position: dict[int, int] = {}
        self.mean: np.ndarray | None = None

    def update(self) -> None:
        fetched = db.execute_sql(f'SELECT proposal_id, vector, stamp FROM "{TABLE}" WHERE stamp > %s AND model = %s '
                                 "ORDER BY stamp", (self.stamp, self.key)).fetchall()
        if not fetched:
            return
        vectors = np.frombuffer(b"".join(bytes(r[1]) for r in fetched), dtype=np.float32).reshape(-1, self.dimensions)
        if self.mean is None:
            if self.size + len(fetched) < MIN_ROWS:
                return  # not yet: read again, all of them, once there are enough
            self.mean = vectors.mean(axis=0)
        self.stamp = fetched[-1][2]
        centred = vectors - self.mean
        centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
        for (pid, _, _), row in zip(fetched, centred, strict=True):
            at = self.position.get(pid)
            if at is None:
                if self.size == len(self.ids):
                    self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
                    self.ids = np.concatenate([self.ids, np.zeros_like(self.ids)])
                at = self.position[pid] = self.size
                self.ids[at] = pid
                self.size += 1
            self.rows[at] = row

    def centre(self, vector: np.ndarray) -> np.ndarray:
        centred = vector - self.mean
        return centred / max(float(np.linalg.norm(centred)), 1e-12)


def _matrix():
    model = encoder()
    key = (db.obj, _STATE["key"])
    matrix = _MATRICES.get(key)
    if matrix is None:
        matrix = _MATRICES[key] = _Matrix(_STATE["key"], model.dimensions)
    matrix.update()
    return matrix if matrix.mean is not None else None


def scores(title: str, content: str, ids, nearest: int = NEAREST) -> dict[int, float] | None:
    """Centred cosine of the query with the `nearest` closest titles and with each of `ids` (those that have a
    vector); None when the model is not in use or too few vectors exist yet."""
    if not enabled():
        return None
    matrix = _matrix()
    if matrix is None:
        return None
    text = title + ("。" + content if content else "")
    query = matrix.centre(encoder().encode([text])[0])
    values = matrix.rows[: matrix.size] @ query
    found = {}
    if nearest > 0 and matrix.size:
        top = np.argpartition(-values, min(nearest, matrix.size) - 1)[:nearest]
        found = {int(matrix.ids[i]): float(values[i]) for i in top}
    for pid in ids:
        at = matrix.position.get(pid)
        if at is not None:
            found[pid] = float(values[at])
    return found


def memory_bytes() -> int:
    """What this process holds for the vectors (for bench/README.md's memory per worker)."""
    return sum(m.rows.nbytes + m.ids.nbytes for m in _MATRICES.values())
