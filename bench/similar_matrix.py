"""The similar search's comparison of a query with every stored title vector, alone (issue 14; not a test).

`models.similar_vectors` compares the query with all N rows of its matrix each search.  This times that step
the way the service runs it (SimSIMD's float16 dot products, `_cosines`) against NumPy's float32 product (what
the service ran before the fifteenth round), on N random unit vectors: the cost is reading the matrix, which
does not depend on what the vectors mean.  Whether the ranking survives float16 is measured on the real vectors
by bench/similar_meaning.py (held-out recall, and the largest difference printed here).

    .venv/bin/python bench/similar_matrix.py                 # 100,000 rows of 384 (e5-small) and 312 (SimBERT)
    .venv/bin/python bench/similar_matrix.py --rows 1000000 --dims 384
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from models.similar_vectors import KEPT, _cosines  # noqa: E402


def timed(function, matrix: np.ndarray, queries: list[np.ndarray], repeats: int) -> tuple[float, float]:
    """p50 and p95 in ms of `function(matrix, query)`, the queries in turn."""
    times = []
    for n in range(repeats):
        started = time.perf_counter()
        function(matrix, queries[n % len(queries)])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 50)), float(np.percentile(times, 95))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--dims", type=int, action="append", help="default: 384 and 312")
    parser.add_argument("--repeats", type=int, default=100)
    args = parser.parse_args()
    rng = np.random.default_rng(20261205)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    for dims in args.dims or [384, 312]:
        rows = rng.standard_normal((args.rows, dims)).astype(np.float32)
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        kept = rows.astype(KEPT)
        queries = [rows[i] + 0.5 * rng.standard_normal(dims).astype(np.float32) for i in range(8)]
        queries = [q / np.linalg.norm(q) for q in queries]
        error = max(float(np.abs(_cosines(kept, q) - rows @ q).max()) for q in queries)
        before = timed(np.matmul, rows, queries, args.repeats)
        now = timed(_cosines, kept, queries, args.repeats)
        print(f"{args.rows:,} x {dims}: NumPy float32 {rows.nbytes / 1e6:.0f} MB, p50 {before[0]:.1f} ms, p95 "
              f"{before[1]:.1f} ms; SimSIMD float16 {kept.nbytes / 1e6:.0f} MB, p50 {now[0]:.1f} ms, p95 {now[1]:.1f} ms; "
              f"largest difference {error:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
