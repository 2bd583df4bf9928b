"""Probe static Chinese word vectors shipped in a wheel on the similar-proposal dev pairs (issue 14; not a test).

`cnsyn` 1.2.0 (PyPI, 42.7 MB wheel) carries 129,691 Simplified-Chinese words with 75-dimensional
vectors (from PaddleNLP's TokenEmbedding, reduced; stored as a pickled scikit-learn BallTree). A
proposal's vector is the idf-weighted mean of its words' vectors (jieba segmentation after OpenCC
Traditional→Simplified; a word without a vector falls back to its characters at half weight),
compared by cosine with 2,000 generated background proposals (bench/similar_search.py's generator,
same seed as bench/similar_meaning.py). Prints recall@5 of the dev queries and the share of
unrelated queries whose best match passes each threshold. No database. None of these packages is a
project dependency: install them into a scratch virtualenv. bench/README.md records what it scored.

    python -m venv /tmp/wv && /tmp/wv/bin/pip install cnsyn jieba opencc-python-reimplemented \\
        'scikit-learn==1.2.2' 'numpy<2' psycopg2-binary
    /tmp/wv/bin/python bench/similar_wordvec_probe.py dev 2000
"""
from __future__ import annotations

import collections
import importlib.util
import math
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import jieba  # noqa: E402
import joblib  # noqa: E402
import numpy as np  # noqa: E402
import opencc  # noqa: E402
import similar_search as gen  # noqa: E402
from similar_meaning import PAIRS, UNRELATED, read_tsv  # noqa: E402

STOP = set("的 了 和 与 及 或 在 是 也 都 就 要 会 能 可以 应该 应 请 希望 建议 建请 提议 拟请 我们 同仁 市府 本府 各 "
           "一直 很 太 好 吗 呢 啊".split())


def load_vectors():
    # cnsyn's own module opens the file with a Windows path separator: read its data directly
    package = os.path.dirname(importlib.util.find_spec("cnsyn").origin)
    tree = joblib.load(os.path.join(package, "query", "words_tree_mini.m"))
    vectors = np.asarray(tree["model"].get_arrays()[0], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-9)
    return {word: i for i, word in enumerate(tree["words"])}, vectors


def main() -> int:
    split, rows = sys.argv[1], int(sys.argv[2])
    jieba.setLogLevel(60)
    to_simplified = opencc.OpenCC("t2s").convert
    index, vectors = load_vectors()

    def words(text):
        return [w for w in (t.strip() for t in jieba.lcut(to_simplified(text)))
                if w and w not in STOP and any("\u4e00" <= c <= "\u9fff" or c.isalnum() for c in w)]

    def embed(tokens, idf):
        total = np.zeros(vectors.shape[1], np.float32)
        for token in tokens:
            if token in index:
                total += idf.get(token, 5.0) * vectors[index[token]]
            else:
                for char in token:
                    if char in index:
                        total += 0.5 * idf.get(char, 5.0) * vectors[index[char]]
        norm = np.linalg.norm(total)
        return total / norm if norm else total

    pairs = [p for p in read_tsv(PAIRS) if p["split"] == split]
    unrelated = read_tsv(UNRELATED)
    rng = random.Random(20261203)
    docs = [p["t_title"] + ("。" + p["t_content"] if p["t_content"] else "") for p in pairs]
    docs += [f"{title}。{content}" for title, content, _ in (gen.make_proposal(rng) for _ in range(rows))]
    tokenised = [words(d) for d in docs]
    df = collections.Counter(t for ts in tokenised for t in set(ts) | {c for w in ts for c in w})
    idf = {t: math.log((len(docs) + 1) / (n + 0.5)) for t, n in df.items()}
    matrix = np.stack([embed(ts, idf) for ts in tokenised])
    scores = np.stack([embed(words(p["q_title"] + p["q_content"]), idf) for p in pairs]) @ matrix.T
    ranks = [int((scores[i] > scores[i, i]).sum()) for i in range(len(pairs))]
    best_unrelated = (np.stack([embed(words(u["title"]), idf) for u in unrelated]) @ matrix.T).max(axis=1)
    print(f"{split}, {rows} background: recall@5 {sum(r < 5 for r in ranks)}/{len(pairs)}, rank 1 "
          f"{sum(r == 0 for r in ranks)}; targets' median score {np.median(np.diag(scores)):.3f}; unrelated "
          f"queries' best score median {np.median(best_unrelated):.3f}")
    for threshold in (0.6, 0.7, 0.75, 0.8):
        shown = sum(r < 5 and scores[i, i] >= threshold for i, r in enumerate(ranks))
        print(f"  shown from {threshold}: recall@5 {shown}/{len(pairs)}, false alarms {(best_unrelated >= threshold).mean():.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
