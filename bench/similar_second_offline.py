"""A second vector's opinion on a capture's candidates, offline (issue 14, twenty-second round; not a test).

`bench/similar_meaning.py --grid --capture FILE` keeps, for every query, the candidates the fusion could rank.
This adds, to each of them, a second centred cosine `c2` with the query, as the service would compute it: the
query's title and content cut at `QUERY_TOKENS`, and each proposal's vector centred on the mean of all the
database's.  The proposals' vectors are computed once and kept in CACHE (.npz).  Two kinds of second vector:

- another model's vector of each title (SimBERT Tiny tuned, the round's first rule):
      bench/similar_second_offline.py CAPTURE DB MODEL_DIR CACHE.npz OUT.json
- the shipped model's vector of each proposal's title and content, `title。content` cut at `CONTENT_TOKENS`
  (the round's third rule), with --content; and with --nearest, instead of a capture, a file for
  `bench/similar_meaning.py --extra`: each query's `NEAREST` nearest proposals by that vector:
      bench/similar_second_offline.py --content --nearest DB data/similar_model CACHE.npz EXTRA.json
      bench/similar_second_offline.py --content CAPTURE DB data/similar_model CACHE.npz OUT.json

`bench/similar_fusion_grid.py --second` (another model) or `--content` (the title and content) replays it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import similar_encoder  # noqa: E402
from models.similar_vectors import QUERY_TOKENS, centred, content_vectors, query_text  # noqa: E402

BATCH = 64
NEAREST = 100


def embedded(database: str, model, cache: str, content: bool) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every proposal in `database` (its title, or its title and content), from `cache` when
    it exists."""
    if os.path.exists(cache):
        kept = np.load(cache)
        return kept["ids"], kept["vectors"]
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=database)
    rows = connection.cursor()
    rows.execute("SELECT id, title, content FROM proposal ORDER BY id")
    fetched = rows.fetchall()
    connection.close()
    started, parts = time.perf_counter(), []
    for at in range(0, len(fetched), BATCH):
        batch = fetched[at:at + BATCH]
        if content:
            parts.append(content_vectors(model, batch))
        else:
            parts.append(model.encode([t for _, t, _ in batch]))
        if at % (200 * BATCH) == 0:
            print(f"{at} proposals in {time.perf_counter() - started:.0f} s", flush=True)
    ids, vectors = np.array([pid for pid, _, _ in fetched]), np.concatenate(parts).astype(np.float32)
    np.savez(cache, ids=ids, vectors=vectors)
    return ids, vectors


def query_texts() -> list[str]:
    """Every benchmark query's text as the model reads it (pairs of every split, then the unrelated queries)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import similar_meaning as bench
    pairs, unrelated = bench.read_tsv(bench.PAIRS), bench.read_tsv(bench.UNRELATED)
    return [query_text(p["q_title"], p["q_content"]) for p in pairs] + [row["title"] for row in unrelated]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--content", action="store_true", help="each proposal's title and content, not its title")
    parser.add_argument("--nearest", action="store_true", help="write each query's nearest proposals instead")
    parser.add_argument("paths", nargs="+", help="[CAPTURE] DB MODEL_DIR CACHE OUT")
    args = parser.parse_args()
    if len(args.paths) != (4 if args.nearest else 5):
        parser.error("CAPTURE DB MODEL_DIR CACHE OUT, or with --nearest DB MODEL_DIR CACHE OUT")
    capture = None if args.nearest else args.paths[0]
    database, directory, cache, out = args.paths[-4:]
    model = similar_encoder.load(directory)
    ids, vectors = embedded(database, model, cache, args.content)
    mean = vectors.mean(axis=0)
    rows, at = centred(vectors, mean), {int(pid): i for i, pid in enumerate(ids)}
    data = None
    if capture:
        with open(capture) as handle:
            data = json.load(handle)
    texts = [query["text"] for query in data] if data else query_texts()
    queries = centred(np.concatenate([model.encode(texts[i:i + 32], max_tokens=QUERY_TOKENS)
                                      for i in range(0, len(texts), 32)]), mean)
    if data is None:
        nearest = {}
        for text, vector in zip(texts, queries, strict=True):
            values = rows @ vector
            top = np.argsort(-values)[:NEAREST]
            nearest[text] = [[int(ids[i]), round(float(values[i]), 4)] for i in top]
        with open(out, "w") as handle:
            json.dump(nearest, handle, ensure_ascii=False)
        print(f"{len(texts)} queries: their {NEAREST} nearest proposals")
        return 0
    for query, vector in zip(data, queries, strict=True):
        query["rows"] = [row[:4] + [round(float(rows[at[row[0]]] @ vector), 4)] for row in query["rows"]]
    with open(out, "w") as handle:
        json.dump(data, handle)
    print(f"{len(data)} queries: the second cosine added to {sum(len(q['rows']) for q in data)} candidates")
    return 0


if __name__ == "__main__":
    sys.exit(main())
