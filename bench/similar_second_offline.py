"""A second sentence model's opinion on a capture's candidates, offline (issue 14, twenty-second round; not a test).

`bench/similar_meaning.py --grid --capture FILE` keeps, for every query, the candidates the fusion could rank.
This adds, to each of them, a second model's centred cosine with the query (as the service computes it: the
query's title and content cut at `QUERY_TOKENS`, every stored title's vector centred on the mean of all the
database's titles), so that `bench/similar_fusion_grid.py --second` can judge the second model before the
service has it.  The second model's vectors of the database's titles are computed once and kept in CACHE (.npz).

    .venv/bin/python bench/similar_second_offline.py /tmp/aside.json similar_aside DIR CACHE.npz /tmp/aside2.json
"""
from __future__ import annotations

import json
import os
import sys
import time

import numpy as np
import psycopg2

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models import similar_encoder  # noqa: E402
from models.similar_vectors import QUERY_TOKENS  # noqa: E402

BATCH = 64


def titles_embedded(database: str, model, cache: str) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every proposal title in `database`, from `cache` when it exists."""
    if os.path.exists(cache):
        kept = np.load(cache)
        return kept["ids"], kept["vectors"]
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=database)
    rows = connection.cursor()
    rows.execute("SELECT id, title FROM proposal ORDER BY id")
    fetched = rows.fetchall()
    connection.close()
    started, parts = time.perf_counter(), []
    for at in range(0, len(fetched), BATCH):
        parts.append(model.encode([title for _, title in fetched[at:at + BATCH]]))
        if at % (200 * BATCH) == 0:
            print(f"{at} titles in {time.perf_counter() - started:.0f} s", flush=True)
    ids, vectors = np.array([pid for pid, _ in fetched]), np.concatenate(parts).astype(np.float32)
    np.savez(cache, ids=ids, vectors=vectors)
    return ids, vectors


def centred(vectors: np.ndarray, mean: np.ndarray) -> np.ndarray:
    out = vectors - mean
    return out / np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)


def main(capture: str, database: str, directory: str, cache: str, out: str) -> int:
    model = similar_encoder.load(directory)
    ids, vectors = titles_embedded(database, model, cache)
    mean = vectors.mean(axis=0)
    rows, at = centred(vectors, mean), {int(pid): i for i, pid in enumerate(ids)}
    with open(capture) as handle:
        data = json.load(handle)
    texts = [query["text"] for query in data]
    queries = centred(np.concatenate([model.encode(texts[i:i + 32], max_tokens=QUERY_TOKENS)
                                      for i in range(0, len(texts), 32)]), mean)
    for query, vector in zip(data, queries, strict=True):
        query["rows"] = [row[:4] + [round(float(rows[at[row[0]]] @ vector), 4)] for row in query["rows"]]
    with open(out, "w") as handle:
        json.dump(data, handle)
    print(f"{len(data)} queries: the second model's cosine added to {sum(len(q['rows']) for q in data)} candidates")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 6:
        raise SystemExit(__doc__)
    sys.exit(main(*sys.argv[1:]))
