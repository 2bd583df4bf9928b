"""The training triples of the similar-proposal model (devtools/similar_train/*.tsv), without those close to a
benchmark pair.  No PyTorch here: the tests read it too."""
from __future__ import annotations

import csv
import glob
import os
from collections import Counter

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "devtools", "similar_train")
PAIRS = os.path.join(ROOT, "bench", "data", "similar_pairs.tsv")
HELD_ASIDE = os.path.join(ROOT, "devtools", "similar_validation")
LEAK = 0.5  # a triple with a text sharing more than half its character bigrams with a benchmark pair's is dropped


def read_tsv(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t",
                                   quoting=csv.QUOTE_NONE))


def bigrams(text: str) -> set[str]:
    text = "".join(ch for ch in text if ch.isalnum())
    return {text[i:i + 2] for i in range(len(text) - 1)}


def near_texts(reference: list[str], threshold: float):
    """A test of whether a text shares more than `threshold` of its character bigrams (Jaccard) with one of
    `reference`.  The reference texts are indexed by bigram: only those sharing one with the text are compared
    (the others' Jaccard is 0)."""
    grams = [g for g in map(bigrams, reference) if g]
    posting: dict[str, list[int]] = {}
    for at, each in enumerate(grams):
        for gram in each:
            posting.setdefault(gram, []).append(at)

    def near(text: str) -> bool:
        own = bigrams(text)
        shared = Counter(at for gram in own for at in posting.get(gram, ()))
        return any(n / (len(own) + len(grams[at]) - n) > threshold for at, n in shared.items())
    return near


def without_leaks(triples: list[dict], threshold: float) -> tuple[list[dict], int]:
    """The triples none of whose texts shares more than `threshold` of its bigrams (Jaccard) with a benchmark
    pair's text; the count dropped."""
    pairs = read_tsv(PAIRS)
    near = near_texts([p[k] for p in pairs for k in ("q_title", "t_title", "q_content", "t_content") if p[k]],
                      threshold)
    kept = [row for row in triples if not any(near(row[k]) for k in ("query", "positive", "negative"))]
    return kept, len(triples) - len(kept)


def triples(threshold: float = LEAK) -> tuple[list[dict], int]:
    """Every file's triples, in file order, without the leaks; and how many were dropped."""
    return without_leaks(folder_rows(TRAIN), threshold)


def folder_rows(folder: str) -> list[dict]:
    """Every triple of the folder's .tsv files, in file order."""
    return [row for path in sorted(glob.glob(os.path.join(folder, "*.tsv"))) for row in read_tsv(path)]


def held_aside_by_file(folder: str, training: list[dict]) -> list[tuple[str, int, dict]]:
    """(file name, row number in it, triple) of each triple of `folder` (devtools/similar_validation: never trained
    on) none of whose texts is word for word a text of `training`."""
    seen = {text for row in training for text in row.values()}
    return [(os.path.basename(path), n, row) for path in sorted(glob.glob(os.path.join(folder, "*.tsv")))
            for n, row in enumerate(read_tsv(path)) if not seen & set(row.values())]


def held_aside_triples(folder: str, training: list[dict]) -> list[dict]:
    """The triples of `held_aside_by_file`, in file order."""
    return [row for _, _, row in held_aside_by_file(folder, training)]


def mined_negatives(vectors: dict[str, np.ndarray], triples: list[dict], keep: float | None = 0.95) -> list[str]:
    """For each triple, the training text nearest its query, other than its own three, among those whose cosine
    with the query is under `keep` times its positive's: a hard negative that is unlikely to be another writer's
    paraphrase of the same request (the positive-aware mining of NV-Retriever, arXiv:2407.15831).  `keep` None:
    the nearest of all (the distillation's extra candidates, `finetune_similar.py --neighbours`)."""
    texts = sorted(vectors)
    index = {t: i for i, t in enumerate(texts)}
    pool = np.stack([vectors[t] for t in texts])
    found = []
    for row in triples:
        query = vectors[row["query"]]
        scores = pool @ query
        scores[[index[row[k]] for k in ("query", "positive", "negative")]] = -2.0
        if keep is not None:
            scores[scores >= keep * float(vectors[row["positive"]] @ query)] = -2.0
        found.append(texts[int(scores.argmax())])
    return found
