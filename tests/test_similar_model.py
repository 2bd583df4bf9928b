"""R9.1.4: the sentence model shipped in data/similar_model (multilingual-e5-small, fine-tuned; issue 14), on a small
fixed set of pairs.

No download and no randomness: the model is a file of the repository, and the pairs are the benchmark's 34
development pairs (bench/data/similar_pairs.tsv), colloquial against formal and in other words.  The held-out
pairs are not read here.
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

from devtools import similar_training_data as training
from models import similar, similar_encoder
from models import similar_vectors as vectors
from tests.test_similar import proposal


def _dev_pairs() -> list[dict]:
    return [row for row in training.read_tsv(training.PAIRS) if row["split"] == "dev"]


@pytest.fixture(scope="module")
def kept_triples() -> list[dict]:
    """What the shipped model was trained on (read and filtered once: about 7 s)."""
    kept, dropped = training.triples()
    assert (len(kept), dropped) == (4549, 74)  # as the shipped model was trained (bench/README.md)
    return kept


@pytest.fixture(scope="module")
def bundled():
    return similar_encoder.load(vectors.BUNDLED)


def test_r9_1_4_the_bundled_model_is_licensed_and_configured_as_measured(bundled):
    with open(os.path.join(vectors.BUNDLED, "LICENSE"), encoding="utf-8") as file:
        assert file.read(400).startswith("MIT License")
    with open(os.path.join(vectors.BUNDLED, "README.md"), encoding="utf-8") as file:
        assert "intfloat/multilingual-e5-small" in file.read()
    assert bundled.pooling == "mean" and bundled.prefix == "query: " and bundled.convert is None
    assert bundled.unigram is not None and not bundled.lowercase
    assert bundled.fusion == {"weight": 3.75, "floor": 0.5, "min": 0.62}  # bench/README.md, nineteenth round
    assert bundled.dimensions == 384 and bundled.config["num_hidden_layers"] == 12


def _first(model, pairs) -> np.ndarray:
    """For each pair: is its own target the query's nearest among all the pairs' targets?"""
    targets = model.encode([p["t_title"] for p in pairs])
    queries = model.encode([p["q_title"] for p in pairs], max_tokens=vectors.QUERY_TOKENS)
    return np.argmax(queries @ targets.T, axis=1) == np.arange(len(pairs))


def test_r9_1_4_the_bundled_model_reads_traditional_chinese_as_written(bundled):
    """XLM-R's pieces cover both scripts: 國 and 国 are different known pieces, and an official's Traditional
    text meets no unknown piece (nothing converted first, unlike the SimBERT model it replaced)."""
    unknown = bundled.unigram.unknown
    traditional, simplified = (bundled.unigram.encode(c, 8) for c in ("國", "国"))
    assert traditional != simplified and unknown not in traditional + simplified
    ids = bundled.token_ids("國民旅遊卡與休假補助、臺中市政府員工協助方案")
    assert ids[0] == bundled.vocab["<s>"] and ids[-1] == bundled.vocab["</s>"]
    assert unknown not in ids


def test_r9_1_4_the_bundled_model_finds_paraphrases_among_the_dev_targets(bundled):
    pairs = _dev_pairs()
    assert len(pairs) == 34
    first = _first(bundled, pairs)
    # 32 of 34 measured (the model whose negatives were mined once: 33, without mined negatives: 32; SimBERT
    # Tiny, tuned: 29); ranking the 34 targets alone is not the search, which finds 31 of them at 100,000
    assert first.sum() >= 32
    found = {p["q_title"] for p, hit in zip(pairs, first, strict=True) if hit}
    assert {"年終獎金可以早點發嗎", "新人進來都沒人教", "公文用印", "屋頂種太陽能板", "退休金怎麼算看不懂",
            "出差去偏遠地區要自己先墊錢", "身障朋友來洽公很不方便"} <= found


def test_r9_1_4_the_bundled_model_scores_a_paraphrase_far_above_an_unrelated_request(bundled):
    a, b, unrelated = bundled.encode(["人事資料每年都要重填", "人事資料線上更新免重複填寫", "增設員工運動會項目"])
    assert float(a @ b) > 0.5 and float(a @ unrelated) < 0.1  # 0.58 and -0.15 measured


def test_r9_1_4_the_service_searches_with_the_bundled_model_by_default(db, monkeypatch):
    similar.ensure_search_index()
    monkeypatch.setattr(vectors, "MIN_ROWS", 20)  # the 34 targets are enough to centre on
    assert vectors.encoder() is not None and vectors.enabled()
    pairs = _dev_pairs()
    items = {p["q_title"]: proposal(p["t_title"]) for p in pairs}
    similar.catch_up()
    stored = dict(db.execute_sql(f"SELECT proposal_id, model FROM {vectors.TABLE}").fetchall())
    assert set(stored) == {p.id for p in items.values()} and set(stored.values()) == {vectors._STATE["key"]}
    assert vectors.start("公文用印") is not None  # the model is asked

    found = similar.find_similar_explained("屋頂種太陽能板")
    assert found and found[0].proposal.id == items["屋頂種太陽能板"].id
    found = similar.find_similar_explained("人事資料每年都要重填")
    assert found[0].proposal.id == items["人事資料每年都要重填"].id
    assert found[0].score <= 1.0


def test_r9_1_4_the_shipped_settings_file_is_what_the_fine_tuning_writes():
    from devtools.e5_settings import SETTINGS, TUNED_FUSION

    with open(os.path.join(vectors.BUNDLED, "similar_encoder.json"), encoding="utf-8") as file:
        assert json.load(file) == {**SETTINGS, "fusion": TUNED_FUSION}


def test_r9_1_4_the_model_was_tuned_on_whole_triples_and_no_benchmark_pair(kept_triples):
    """devtools/similar_train: what the shipped model was tuned on.  Three texts a row; the writers never saw the
    benchmark's pairs, yet five of their 13,869 texts are a pair's title word for word: the fine-tuning drops
    every triple close to a pair (held out or dev), and those with them."""
    files = sorted(glob.glob(os.path.join(training.TRAIN, "*.tsv")))
    assert len(files) == 24  # a_ to h_: 150 rows each (eleventh round); i_ to x_: 200 or more (twelfth)
    every = set()
    for path in files:
        rows = training.read_tsv(path)
        first_round = os.path.basename(path)[0] <= "h"
        assert len(rows) == 150 if first_round else len(rows) >= 200, path
        assert all(len(r) == 3 and all(r.values()) for r in rows), path
        every |= {text for r in rows for text in r.values()}
    pairs = training.read_tsv(training.PAIRS)
    titles = {p[k] for p in pairs for k in ("q_title", "t_title")}
    assert len(pairs) == 238
    assert len(titles & every) == 5  # the coincidences, which the filter must take out
    assert not titles & {text for r in kept_triples for text in r.values()}


def test_r9_1_4_the_held_aside_triples_are_never_trained_on(kept_triples):
    """devtools/similar_validation: eight more writers' triples, for comparing training settings without the
    benchmark.  The fine-tuning reads only devtools/similar_train; a held-aside triple sharing any text with a
    training triple is left out of the report."""
    files = sorted(glob.glob(os.path.join(training.HELD_ASIDE, "*.tsv")))
    assert len(files) == 8 and not {os.path.basename(f) for f in files} & {
        os.path.basename(f) for f in glob.glob(os.path.join(training.TRAIN, "*.tsv"))}
    rows = training.folder_rows(training.HELD_ASIDE)
    assert len(rows) == 1695 and all(len(r) == 3 and all(r.values()) for r in rows)
    held = training.held_aside_triples(training.HELD_ASIDE, kept_triples)
    assert len(held) == 1638  # 57 share a text with a training triple, mostly a plain formal title (「建請增設小型討論室」)
    assert not {t for r in held for t in r.values()} & {t for r in kept_triples for t in r.values()}


def test_r9_1_4_the_eighteenth_rounds_triples_are_kept_apart_and_share_no_text_with_the_held_aside_set(kept_triples):
    """devtools/similar_train_r18: triples a round trained on and did not adopt (bench/README.md, eighteenth round),
    kept for a later one.  Outside the training folder; whole rows; none shares a text with a held-aside triple or
    more than half its bigrams with one, so training on them would leave the held-aside set as it is."""
    folder = os.path.join(training.ROOT, "devtools", "similar_train_r18")
    files = sorted(glob.glob(os.path.join(folder, "*.tsv")))
    assert len(files) == 8 and not {os.path.basename(f) for f in files} & {
        os.path.basename(f) for f in glob.glob(os.path.join(training.TRAIN, "*.tsv"))}
    rows = training.folder_rows(folder)
    assert len(rows) == 1821 and all(len(r) == 3 and all(r.values()) for r in rows)
    queries = {r["query"] for r in rows}
    assert len(queries) == len(rows) and not queries & {r["query"] for r in training.folder_rows(training.TRAIN)}
    held = {t for r in training.folder_rows(training.HELD_ASIDE) for t in r.values()}
    texts = {t for r in rows for t in r.values()}
    assert not texts & held
    near_held = training.near_texts(sorted(held), training.LEAK)
    assert not [text for text in texts if near_held(text)]
    assert len(training.held_aside_triples(training.HELD_ASIDE, kept_triples + rows)) == 1638


def test_r9_1_4_a_mined_negative_is_the_nearest_text_that_is_clearly_not_the_positive():
    """`--mine` (the shipped model's training, seventeenth and nineteenth rounds): the nearest other text, but none
    of the triple's own three and none within 0.95 of the positive's cosine, which may be another writer's
    paraphrase."""
    def at(cosine: float, side: float = 1.0) -> np.ndarray:  # a unit vector at this cosine from (1, 0, 0)
        return np.array([cosine, side * (1 - cosine ** 2) ** 0.5, 0.0])

    vectors = {"query": at(1.0), "positive": at(0.8), "own negative": at(0.75), "a paraphrase": at(0.79, -1),
               "near": at(0.7), "far": at(0.5, -1)}
    triples = [{"query": "query", "positive": "positive", "negative": "own negative"}]
    assert training.mined_negatives(vectors, triples) == ["near"]
    assert training.mined_negatives(vectors, triples, keep=1.0) == ["a paraphrase"]
    assert training.mined_negatives(vectors, triples, keep=None) == ["a paraphrase"]  # never its own three
