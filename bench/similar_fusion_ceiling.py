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
import os
import sys

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from similar_fusion_grid import count, load  # noqa: E402  (the capture as padded arrays; what a score shows)

NEAREST = 20  # the model's candidates the service takes (models.similar_vectors.NEAREST)


def features(path: str):
    """The capture's arrays, and its candidates' features (rows × features), labels and query (row) index."""
    arrays = load(path)
    v, c, rank, ids, target, is_pair, spread, _ = arrays
    real = v > -5  # the padding's cells are not candidates
    best, five = spread[:, :1], spread[:, 4:5]  # the query's best cosine with any stored title, its five best's mean
    columns = (v, c, rank, (rank < 0).astype(float), c - best, c - five)
    x = np.stack([np.broadcast_to(column, v.shape)[real] for column in columns], axis=1)
    labels = (np.arange(v.shape[1])[None, :] == target[:, None])[real].astype(int)
    query = np.broadcast_to(np.arange(len(v))[:, None], v.shape)[real]
    return arrays, real, x, labels, query


def shown(arrays, real, score, t: float) -> tuple[int, int]:
    """(pairs whose target is among the five shown, unrelated queries showing anything) at threshold t."""
    v, c, rank, ids, target, is_pair, _, _ = arrays
    fused = np.full(v.shape, -np.inf)
    fused[real] = score
    return count(fused, real & (rank < NEAREST), ids, target, is_pair, t)[:2]


def threshold(arrays, real, score, alarms_allowed: int) -> tuple[float, tuple[int, int]]:
    """The lowest t with at most `alarms_allowed` unrelated queries showing anything, and what it finds."""
    v, c, rank, ids, target, is_pair, _, _ = arrays
    fused = np.full(v.shape, -np.inf)
    fused[real] = score
    bests = np.sort(np.where(rank < NEAREST, fused, -np.inf).max(axis=1)[~is_pair])[::-1]
    t = bests[alarms_allowed] + 1e-9 if alarms_allowed < len(bests) else -np.inf
    return t, shown(arrays, real, score, t)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture")
    parser.add_argument("kinds", help="JSON list: each held-aside pair's file (kind), in capture order")
    parser.add_argument("--dev", help="the dev capture, scored at the chosen t by trees fitted on all of CAPTURE")
    parser.add_argument("--alarms", type=int, default=18)
    args = parser.parse_args()
    arrays, real, x, y, query = features(args.capture)
    is_pair = arrays[5]
    with open(args.kinds) as handle:
        kinds = json.load(handle)
    blocks = sorted(set(kinds))
    fold_of_query = np.zeros(len(is_pair), dtype=int)
    fold_of_query[: len(kinds)] = [blocks.index(k) for k in kinds]
    unrelated = np.flatnonzero(~is_pair)
    fold_of_query[unrelated] = np.arange(len(unrelated)) % len(blocks)
    fold = fold_of_query[query]
    score = np.zeros(len(y))
    for b in range(len(blocks)):
        trees = HistGradientBoostingClassifier(random_state=0).fit(x[fold != b], y[fold != b])
        score[fold == b] = trees.predict_proba(x[fold == b])[:, 1]
    t, (hits, alarms) = threshold(arrays, real, score, args.alarms)
    print(f"cross-fitted: {hits}/{int(is_pair.sum())} held-aside pairs at {alarms}/{int((~is_pair).sum())} "
          f"false alarms (t = {t:.4f})")
    for allowed in (10, 14, 18, 22, 26):
        _, (h, a) = threshold(arrays, real, score, allowed)
        print(f"  at most {allowed} false alarms: {h} pairs ({a})")
    if args.dev:
        trees = HistGradientBoostingClassifier(random_state=0).fit(x, y)
        dev, dev_real, dev_x, _, _ = features(args.dev)
        dev_hits, dev_alarms = shown(dev, dev_real, trees.predict_proba(dev_x)[:, 1], t)
        dev_pair = dev[5]
        print(f"dev at t: {dev_hits}/{int(dev_pair.sum())} pairs at {dev_alarms}/{int((~dev_pair).sum())} false alarms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
