"""How far a learnt fusion could go on the same signals (issue 14, twenty-second round; not a test).

The settings rule (`bench/similar_fusion_grid.py --joint`) searches three numbers of one formula.  This fits
gradient-boosted trees (scikit-learn's HistGradientBoostingClassifier, its defaults) to the held-aside capture's
candidates, over what each has in the service at no extra cost: the lexicon's cosine, the model's centred cosine,
its rank among the model's extra candidates (−1: the lexicon's own), and that cosine less the query's best and
less the mean of its five best with any stored title.  The target is 1, every other candidate 0.  Cross-fitted:
the pairs in blocks by writer (`KINDS`: each pair's file, in capture order), the unrelated queries by position
modulo the number of blocks; each block scored by trees fitted on the others.  Shown: a score of at least `t`,
the best 5; `t` the lowest with at most --alarms false alarms.  Then trees fitted on every held-aside query score
the dev capture at that `t`.

scikit-learn is a developer tool here, not a dependency of the service:

    python3 -m venv /tmp/anaenv && /tmp/anaenv/bin/pip install scikit-learn numpy
    /tmp/anaenv/bin/python bench/similar_fusion_ceiling.py ASIDE.json KINDS.json --dev DEV.json
"""
from __future__ import annotations

import argparse
import json

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier


def features(path: str):
    """(rows × features, labels, query index of each row, candidate id, query has a target)."""
    with open(path) as handle:
        data = json.load(handle)
    x, y, query, ids = [], [], [], []
    for i, q in enumerate(data):
        near = q.get("near") or [0.0]
        best, five = near[0], float(np.mean(near[:5]))
        for pid, value, cosine, rank, *_ in q["rows"]:
            x.append((value, cosine, rank, float(rank < 0), cosine - best, cosine - five))
            y.append(int(pid == q["target"]))
            query.append(i)
            ids.append(pid)
    return (np.array(x), np.array(y), np.array(query), np.array(ids),
            np.array([q["target"] is not None for q in data]), len(data))


def shown_counts(score, query, ids, y, is_pair, queries, t: float, nearest_rank, rank_limit: int = 20):
    """(pairs whose target is among the best 5 shown, unrelated queries showing anything) at threshold t."""
    eligible = (nearest_rank < rank_limit) & (score >= t)
    hits, alarms = 0, 0
    order = np.lexsort((-ids, -score))  # best first, ties to the higher id as the service does
    seen = np.zeros(queries, dtype=int)
    found = np.zeros(queries, dtype=bool)
    for at in order:
        if not eligible[at]:
            continue
        q = query[at]
        if seen[q] < 5:
            seen[q] += 1
            found[q] |= bool(y[at])
    hits = int(found[is_pair].sum())
    alarms = int((seen[~is_pair] > 0).sum())
    return hits, alarms


def threshold(score, query, ids, y, is_pair, queries, rank, alarms_allowed):
    """The lowest t with at most `alarms_allowed` unrelated queries showing anything, and what it finds."""
    unrelated_best = np.full(queries, -np.inf)
    eligible = rank < 20
    np.maximum.at(unrelated_best, query[eligible], score[eligible])
    bests = np.sort(unrelated_best[~is_pair])[::-1]
    t = bests[alarms_allowed] + 1e-9 if alarms_allowed < len(bests) else -np.inf
    return t, shown_counts(score, query, ids, y, is_pair, queries, t, rank)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture")
    parser.add_argument("kinds", help="JSON list: each held-aside pair's file (kind), in capture order")
    parser.add_argument("--dev", help="the dev capture, scored at the chosen t by trees fitted on all of CAPTURE")
    parser.add_argument("--alarms", type=int, default=18)
    args = parser.parse_args()
    x, y, query, ids, is_pair, queries = features(args.capture)
    with open(args.kinds) as handle:
        kinds = json.load(handle)
    blocks = sorted(set(kinds))
    fold_of_query = np.zeros(queries, dtype=int)
    fold_of_query[: len(kinds)] = [blocks.index(k) for k in kinds]
    unrelated = np.flatnonzero(~is_pair)
    fold_of_query[unrelated] = np.arange(len(unrelated)) % len(blocks)
    fold = fold_of_query[query]
    rank = x[:, 2]
    score = np.zeros(len(y))
    for b in range(len(blocks)):
        trees = HistGradientBoostingClassifier(random_state=0).fit(x[fold != b], y[fold != b])
        score[fold == b] = trees.predict_proba(x[fold == b])[:, 1]
    t, (hits, alarms) = threshold(score, query, ids, y, is_pair, queries, rank, args.alarms)
    print(f"cross-fitted: {hits}/{int(is_pair.sum())} held-aside pairs at {alarms}/{int((~is_pair).sum())} "
          f"false alarms (t = {t:.4f})")
    for allowed in (10, 14, 18, 22, 26):
        t_a, (h, a) = threshold(score, query, ids, y, is_pair, queries, rank, allowed)
        print(f"  at most {allowed} false alarms: {h} pairs ({a})")
    if args.dev:
        trees = HistGradientBoostingClassifier(random_state=0).fit(x, y)
        dx, dy, dquery, dids, dpair, dqueries = features(args.dev)
        dscore = trees.predict_proba(dx)[:, 1]
        dh, da = shown_counts(dscore, dquery, dids, dy, dpair, dqueries, t, dx[:, 2])
        print(f"dev at t: {dh}/{int(dpair.sum())} pairs at {da}/{int((~dpair).sum())} false alarms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
