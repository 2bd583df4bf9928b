"""Seed a benchmark database's proposal vectors from the offline caches, then check them against the service
(issue 14, twenty-third round; not a test).

The service now stores two vectors a proposal: its title's and its title and content's
(`models/similar_vectors.py`).  A benchmark database built before keeps only the titles' vectors, under the
model's former key, and computing both again for 100,000 proposals takes some 50 minutes on two cores.  The
titles-and-contents' vectors were already computed, by the same model on the same text cut at the same length,
for the round's offline rule (`bench/similar_second_offline.py --content`, its CACHE.npz).  This writes them
beside the stored titles' vectors under the service's current key, as `catch_up` would have, and then checks a
random sample of rows against what the service itself computes for them (`similar_vectors.embedded`, the code
`catch_up` runs): every vector within `TOLERANCE`, or it fails and the database is not to be measured.

    .venv/bin/python bench/similar_seed_vectors.py sim_test /tmp/tc/CONTENT.npz
"""
from __future__ import annotations

import argparse
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SAMPLE = 300  # rows computed again by the service's code
TOLERANCE = 1e-3  # largest difference of any component (batches pad differently: float32 noise is 1e-6)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("cache", help="bench/similar_second_offline.py --content's CACHE.npz for this database")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from models import db
    from models import similar_vectors as vectors
    from models.base import connect_database

    connect_database(f"{args.admin_url.rsplit('/', 1)[0]}/{args.database}")
    vectors.configure(vectors.BUNDLED)
    vectors.ensure_table()
    model = vectors.encoder()
    key = vectors._STATE["key"]
    kept = np.load(args.cache)
    contents = dict(zip((int(i) for i in kept["ids"]), kept["vectors"], strict=True))
    rows = db.execute_sql(f'SELECT v.proposal_id FROM "{vectors.TABLE}" v JOIN proposal p ON p.id = v.proposal_id '
                          "WHERE v.title = p.title").fetchall()
    missing = [pid for (pid,) in rows if pid not in contents]
    if missing:
        raise SystemExit(f"{len(missing)} stored rows have no vector in {args.cache} (another database?)")
    with db.atomic():
        for (pid,) in rows:
            db.execute_sql(f'UPDATE "{vectors.TABLE}" v SET model = %s, content_digest = md5(coalesce(p.content, \'\')), '
                           f"content_vector = %s, stamp = nextval('{vectors.SEQUENCE}') FROM proposal p "
                           "WHERE p.id = v.proposal_id AND v.proposal_id = %s",
                           (key, contents[pid].astype(np.float32).tobytes(), pid))
    print(f"{len(rows)} rows seeded under the key {key}; still stale for the service: "
          f"{db.execute_sql(vectors._stale_sql('count(*)'), (key,)).fetchone()[0]}")
    sample = random.Random(0).sample([pid for (pid,) in rows], min(SAMPLE, len(rows)))
    stored = {pid: (bytes(v), bytes(c), title, content) for pid, v, c, title, content in db.execute_sql(
        f'SELECT v.proposal_id, v.vector, v.content_vector, p.title, coalesce(p.content, \'\') FROM "{vectors.TABLE}" v '
        f"JOIN proposal p ON p.id = v.proposal_id WHERE v.proposal_id IN ({', '.join(['%s'] * len(sample))})",
        sample).fetchall()}
    titles, both = vectors.embedded(model, [(pid, stored[pid][2], stored[pid][3]) for pid in sample])
    worst = 0.0
    for at, pid in enumerate(sample):
        worst = max(worst, float(np.abs(np.frombuffer(stored[pid][0], dtype=np.float32) - titles[at]).max()),
                    float(np.abs(np.frombuffer(stored[pid][1], dtype=np.float32) - both[at]).max()))
    print(f"checked {len(sample)} rows against the service's own vectors: largest difference {worst:.2e}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
