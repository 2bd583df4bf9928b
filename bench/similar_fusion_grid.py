"""Replay the similar-proposal fusion under other settings, from a capture (issue 14; not a test).

`bench/similar_meaning.py --grid --capture FILE` keeps, for every query, each candidate the fusion could rank
(the lexicon's passing candidates and the model's 100 nearest titles) with the lexicon's cosine `v`, the model's
centred cosine `c` and its rank among the model's extra candidates.  This replays `models.similar._fuse`:

    fused = lexicon × v + weight × max(0, c − beta × r − floor), shown from `min`, best 5, ties to the higher id

where r is the mean of the query's `k` highest centred cosines with any stored title (0 unless --relative):
a query close to everything (a vague one) must stand further out to be shown, as in CSLS (Conneau et al.,
"Word translation without parallel data", 2018, its query-side term).

and prints, for each weight, recall@5 on the pairs and the unrelated queries that show anything, along `min`
(the trade-off curve), then the best settings of a wider search at each number of false alarms.  It searches
nothing: a setting is judged on the same candidates the run found.

    .venv/bin/python bench/similar_fusion_grid.py /tmp/aside.json
    .venv/bin/python bench/similar_fusion_grid.py /tmp/dev.json --setting 2.5,0.45,0.6
    .venv/bin/python bench/similar_fusion_grid.py /tmp/aside.json --joint /tmp/dev.json   # a new model's settings
    .venv/bin/python bench/similar_fusion_grid.py /tmp/aside.json --joint /tmp/dev.json --relative   # and beta, k
    .venv/bin/python bench/similar_fusion_grid.py /tmp/aside.json --joint /tmp/dev.json --second   # a second model

bench/similar_second_offline.py gives a capture a second model's centred cosine `c2` as each row's fifth value
(twenty-second round); with it the model's term becomes

    weight × max(0, (c + mix × c2) / (1 + mix) − floor) + weight2 × max(0, c2 − floor2)

(c alone where a title has no second vector).  --second searches the mix (weight2 = 0) and the sum (mix = 0).

With --content, `c2` is the cosine of each proposal's title-and-content vector (the round's third rule): a
proposal's model cosine is the higher of the two, the model's `nearest` are taken by it (among the title's and
the content's nearest, `bench/similar_meaning.py --extra`), and the given settings are replayed, by kind with
--split.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys

import numpy as np

SHIPPED = (1.0, 0.4, 0.45)  # before the thirteenth round (similar_encoder.json's "fusion")
DEPTH = 100  # the highest cosines a capture keeps for each query (bench/similar_meaning.py's Capture.DEPTH)
RELATIVE = [(0.0, 10)] + [(beta, k) for beta in (0.5, 1.0) for k in (5, 20)]  # --relative: (beta, k) tried


def load(path: str):
    """Padded arrays (queries × candidates): v, c, rank (−1: the lexicon's own), id; each query's target column
    (−1: not among them), whether the query is a pair's (else an unrelated query), and the means of its highest
    cosines with any stored title (column k − 1: of the k highest, up to `DEPTH`; zeros in a capture from before
    the fifteenth round)."""
    with open(path) as handle:
        data = json.load(handle)
    width = max(len(q["rows"]) for q in data) + 1
    shape = (len(data), width)
    v, c, c2 = np.full(shape, -9.0), np.full(shape, -9.0), np.full(shape, np.nan)
    rank, ids = np.full(shape, 10 ** 6), np.zeros(shape)
    target = np.full(len(data), -1)
    near = np.zeros((len(data), DEPTH))
    for i, query in enumerate(data):
        for j, (pid, value, cosine, r, *second) in enumerate(query["rows"]):
            v[i, j], c[i, j], rank[i, j], ids[i, j] = value, cosine, r, pid
            if second and second[0] is not None:
                c2[i, j] = second[0]
            if pid == query["target"]:
                target[i] = j
        found = (query.get("near") or [])[:DEPTH]
        near[i, :len(found)] = found
    is_pair = np.array([q["target"] is not None for q in data])
    return v, c, rank, ids, target, is_pair, np.cumsum(near, axis=1) / np.arange(1, DEPTH + 1), c2


def evaluate(arrays, weight: float, floor: float, minimum: float, nearest: int = 20, lexicon: float = 1.0,
             beta: float = 0.0, k: int = 10, mix: float = 0.0, weight2: float = 0.0, floor2: float = 0.0,
             content: bool = False, per_query: bool = False):
    """(pairs found among the five shown, unrelated queries showing anything, pairs, unrelated queries); with
    `per_query`, each query's hit instead."""
    v, c, rank, ids, target, is_pair, spread, c2 = arrays
    if beta:
        c = c - beta * spread[:, k - 1:k]
    if content:  # the higher of the title's and the content's cosine, the model's nearest taken by it
        c = np.where(np.isnan(c2), c, np.maximum(c, c2))
        key = np.where((rank >= 0) & (v > -5), c, -np.inf)
        place = np.empty_like(rank)
        np.put_along_axis(place, np.argsort(-key, axis=1, kind="stable"), np.arange(rank.shape[1])[None, :], axis=1)
        rank = np.where(rank >= 0, place, rank)
    term = weight * np.maximum(0.0, c - floor)
    if mix or weight2:
        has = ~np.isnan(c2)
        second = np.where(has, c2, 0.0)
        mixed = np.where(has, (c + mix * second) / (1.0 + mix), c)
        term = weight * np.maximum(0.0, mixed - floor) + np.where(has, weight2 * np.maximum(0.0, second - floor2), 0.0)
    fused = np.round(lexicon * v + term, 4)
    return count(fused, (rank < nearest) & (v > -5), ids, target, is_pair, minimum, per_query)


def count(fused, eligible, ids, target, is_pair, minimum: float, per_query: bool = False):
    """`evaluate`'s figures for any score: each query shows its five best `eligible` candidates scoring at least
    `minimum`, ties to the higher id (as `models.similar._fuse` orders them)."""
    shown = eligible & (fused >= minimum)
    fused = np.where(shown, fused, -99.0)
    rows = np.arange(len(target))
    column = np.maximum(target, 0)
    own, own_id = fused[rows, column], ids[rows, column]
    ahead = (((fused > own[:, None]) | ((fused == own[:, None]) & (ids > own_id[:, None]))) & shown).sum(axis=1)
    hit = (target >= 0) & (own >= minimum) & (ahead < 5)
    if per_query:
        return hit
    return int(hit[is_pair].sum()), int(shown.any(axis=1)[~is_pair].sum()), int(is_pair.sum()), int((~is_pair).sum())


def joint(arrays, dev, args) -> int:
    """The rule of the thirteenth and fourteenth rounds, as the service runs (the lexicon's weight 1, the model's
    20 nearest): the most pairs of this capture (the held-aside set) with at most --alarms false alarms, among
    settings that find at least --dev-found of the dev capture's pairs with at most --dev-alarms false alarms.
    With --relative, the same for each (beta, k) of `RELATIVE` (the setting printed as weight, floor, min, beta,
    k); the fifteenth round's rule adopts beta > 0 only for 30 held-aside pairs more than beta = 0 finds.
    With --second, the same for each form of `SECOND_FORMS` (the twenty-second round's rule: 50 pairs more than
    the form without the second model)."""
    if args.second:
        return joint_second(arrays, dev, args)
    rows = []
    pairs, unrelated = evaluate(arrays, *SHIPPED)[2:]
    dev_pairs, dev_unrelated = evaluate(dev, *SHIPPED)[2:]
    grid = [((beta, k), weight, floor, minimum) for beta, k in (RELATIVE if args.relative else RELATIVE[:1])
            for weight in [w / 4 for w in range(2, 17)]
            for floor in [f / 100 for f in (range(0, 70, 5) if beta == 0 else range(-40, 50, 5))]  # c − beta r < c
            for minimum in [m / 100 for m in range(30, 121, 2)]]
    for (beta, k), weight, floor, minimum in grid:
        hits, alarms, _, _ = evaluate(arrays, weight, floor, minimum, beta=beta, k=k)
        if alarms <= args.alarms:
            dev_hits, dev_alarms, _, _ = evaluate(dev, weight, floor, minimum, beta=beta, k=k)
            if dev_hits >= args.dev_found and dev_alarms <= args.dev_alarms:
                setting = (weight, floor, minimum) + ((beta, k) if args.relative else ())
                rows.append((hits, -alarms, dev_hits, -dev_alarms, setting))
    for hits, alarms, dev_hits, dev_alarms, setting in sorted(rows, reverse=True)[:10]:
        print(f"{setting}: {hits}/{pairs} at {-alarms}/{unrelated} false alarms; dev {dev_hits}/{dev_pairs} at "
              f"{-dev_alarms}/{dev_unrelated}")
    if args.relative:
        for beta, k in RELATIVE:
            best = max((r for r in rows if r[4][3:] == (beta, k)), default=None)
            print(f"beta {beta}, k {k}: " + (f"{best[0]}/{pairs} at {best[4][:3]}" if best else "no setting qualifies"))
    return 0 if rows else 1


SECOND_FORMS = ([(0.0, 0.0, 0.0)] + [(mix, 0.0, 0.0) for mix in (0.25, 0.5, 0.75, 1.0)]
                + [(0.0, weight2, floor2) for weight2 in (0.5, 1.0, 1.5, 2.0, 3.0) for floor2 in (0.2, 0.3, 0.4, 0.5)])


def joint_second(arrays, dev, args) -> int:
    """`joint`'s rule for each (mix, weight2, floor2) of `SECOND_FORMS`; the first is the model alone."""
    pairs, unrelated = evaluate(arrays, *SHIPPED)[2:]
    dev_pairs, dev_unrelated = evaluate(dev, *SHIPPED)[2:]
    best = {}
    for form in SECOND_FORMS:
        extra = dict(zip(("mix", "weight2", "floor2"), form, strict=True))
        for weight in [w / 4 for w in range(2, 17)]:
            for floor in [f / 100 for f in range(0, 70, 5)]:
                for minimum in [m / 100 for m in range(30, 121, 2)]:
                    hits, alarms, _, _ = evaluate(arrays, weight, floor, minimum, **extra)
                    if alarms > args.alarms or hits <= best.get(form, (-1,))[0]:
                        continue
                    dev_hits, dev_alarms, _, _ = evaluate(dev, weight, floor, minimum, **extra)
                    if dev_hits >= args.dev_found and dev_alarms <= args.dev_alarms:
                        best[form] = (hits, alarms, dev_hits, dev_alarms, (weight, floor, minimum))
        found = best.get(form)
        print(f"mix {form[0]}, weight2 {form[1]}, floor2 {form[2]}: " + (
            f"{found[0]}/{pairs} at {found[1]}/{unrelated} false alarms with {found[4]}; dev {found[2]}/{dev_pairs} "
            f"at {found[3]}/{dev_unrelated}" if found else "no setting qualifies"), flush=True)
    if best:
        form, found = max(best.items(), key=lambda item: item[1][0])
        print(f"best: mix {form[0]}, weight2 {form[1]}, floor2 {form[2]}, {found[4]}: {found[0]}/{pairs}, "
              f"{found[0] - best.get(SECOND_FORMS[0], (0,))[0]} more than the model alone")
    return 0 if best else 1


def content_report(arrays, args) -> int:
    """Each --setting (default: the shipped model's), with the title's vector alone and with the higher of the
    title's and the content's; by kind when --split names the captured split."""
    kinds = None
    if args.split:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from similar_meaning import PAIRS, read_tsv
        kinds = [p["kind"] for p in read_tsv(PAIRS) if p["split"] == args.split]
    for setting in args.setting or ["3.75,0.5,0.62"]:
        values = [float(x) for x in setting.split(",")]
        for content in (False, True):
            hits, alarms, pairs, unrelated = evaluate(arrays, *values[:3], content=content)
            line = f"{setting}, {'title or content' if content else 'title alone'}: {hits}/{pairs}, " \
                   f"false alarms {alarms}/{unrelated}"
            if kinds:
                hit = evaluate(arrays, *values[:3], content=content, per_query=True)[: len(kinds)]
                by = {k: (sum(h for h, kk in zip(hit, kinds, strict=True) if kk == k), kinds.count(k))
                      for k in sorted(set(kinds))}
                line += "; " + ", ".join(f"{k} {h}/{n}" for k, (h, n) in by.items())
            print(line)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("capture")
    parser.add_argument("--setting", action="append", default=[], help="weight,floor,min[,nearest[,lexicon]]")
    parser.add_argument("--joint", metavar="DEV_CAPTURE", help="choose with the benchmark's dev pairs too (below)")
    parser.add_argument("--alarms", type=int, default=18, help="--joint: at most this many false alarms here")
    parser.add_argument("--dev-found", type=int, default=31, help="--joint: at least this many dev pairs")
    parser.add_argument("--dev-alarms", type=int, default=20, help="--joint: at most this many dev false alarms")
    parser.add_argument("--relative", action="store_true", help="--joint: try the query-side term too (RELATIVE)")
    parser.add_argument("--second", action="store_true", help="--joint: a second model's cosine (SECOND_FORMS)")
    parser.add_argument("--content", action="store_true", help="c2 is the title-and-content vector's (above)")
    parser.add_argument("--split", help="--content: the benchmark split captured, to report by kind")
    args = parser.parse_args()
    arrays = load(args.capture)
    if args.content:
        return content_report(arrays, args)
    if args.joint:
        return joint(arrays, load(args.joint), args)
    _, _, pairs, unrelated = evaluate(arrays, *SHIPPED)
    print(f"{pairs} pairs, {unrelated} unrelated queries")
    for setting in [",".join(map(str, SHIPPED))] + args.setting:
        values = [float(x) for x in setting.split(",")]
        hits, alarms, _, _ = evaluate(arrays, *values[:3], *(int(x) for x in values[3:4]), *values[4:5])
        print(f"setting {setting}: recall@5 {hits}/{pairs} = {100 * hits / pairs:.1f} %, "
              f"false alarms {alarms}/{unrelated} = {100 * alarms / unrelated:.1f} %")
    print("along min (floor 0.45), found/false alarms:")
    for weight in (1.0, 1.5, 2.0, 2.25, 2.5, 2.75, 3.0):
        cells = [f"{m / 100:.2f}:{'/'.join(map(str, evaluate(arrays, weight, 0.45, m / 100)[:2]))}"
                 for m in range(40, 80, 2)]
        print(f"  weight {weight}: " + " ".join(cells))
    results = []
    for lexicon, weight, floor, minimum, nearest in itertools.product(
            (0.5, 0.75, 1.0), (1.0, 1.5, 2.0, 2.5, 3.0), (0.35, 0.4, 0.45), [m / 100 for m in range(30, 100, 5)], (20, 40)):
        hits, alarms, _, _ = evaluate(arrays, weight, floor, minimum, nearest, lexicon)
        results.append((hits, alarms, (weight, floor, minimum, nearest, lexicon)))
    print("wider search (weight, floor, min, nearest, lexicon), best at each number of false alarms:")
    for bound in sorted({a for _, a, _ in results if a <= 0.15 * unrelated}):
        hits, alarms, setting = max((r for r in results if r[1] <= bound), key=lambda r: (r[0], -r[1]))
        if alarms == bound:
            print(f"  <= {bound}: {setting}: {hits}/{pairs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
