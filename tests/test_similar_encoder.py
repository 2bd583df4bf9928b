"""The sentence encoder (models.similar_encoder, issue 14) against Hugging Face transformers.

tests/data/tiny_bert is a 2-layer BERT with random weights, its vocabulary, and the token ids and mean-pooled
vectors that transformers 5.25 (PyTorch 2.13) computed for a few texts (devtools/make_tiny_bert.py; the
weights are saved both as safetensors and as PyTorch's zip, the two formats models ship in).  Nothing here
needs PyTorch or a download.  The real model (m3e-small) was checked the same way by hand: largest difference
1e-7, identical token ids (bench/README.md).  The tests run twice, the layers in ONNX Runtime (the default) and
in NumPy (`SIMILAR_MODEL_ENGINE=numpy`), but for the one that compares the two on the shipped model.
"""
import json
import os
import pickle
import shutil
import sys
import zipfile

import numpy as np
import pytest

from devtools.convert_simbert import write_safetensors
from models import similar_encoder

TINY = os.path.join(os.path.dirname(__file__), "data", "tiny_bert")

with open(os.path.join(TINY, "reference.json"), encoding="utf-8") as _file:
    REFERENCE = json.load(_file)


@pytest.fixture(autouse=True, params=["onnxruntime", "numpy"])
def engine(request, monkeypatch):
    monkeypatch.setenv("SIMILAR_MODEL_ENGINE", request.param)
    return request.param


def _copy_without(tmp_path, *left_out):
    target = tmp_path / "model"
    shutil.copytree(TINY, target, ignore=lambda _dir, names: [n for n in names if n in left_out])
    return str(target)


@pytest.mark.parametrize("weights", ["model.safetensors", "pytorch_model.bin"])
def test_vectors_match_transformers_from_either_weights_file(tmp_path, weights, engine):
    other = {"model.safetensors": "pytorch_model.bin", "pytorch_model.bin": "model.safetensors"}[weights]
    encoder = similar_encoder.load(_copy_without(tmp_path, other))
    assert encoder.engine == engine
    vectors = encoder.encode(REFERENCE["texts"])
    assert vectors.shape == (len(REFERENCE["texts"]), 32)
    assert np.abs(vectors - np.array(REFERENCE["vectors"], dtype=np.float32)).max() < 1e-5
    one_by_one = np.stack([encoder.encode([t])[0] for t in REFERENCE["texts"]])
    assert np.abs(one_by_one - vectors).max() < 1e-5  # padding in a batch changes nothing


def test_many_texts_are_computed_in_chunks_of_similar_length_in_their_order():
    encoder = similar_encoder.load(TINY)
    texts = REFERENCE["texts"] * 6  # 48 texts: more than one chunk
    assert len(texts) > similar_encoder.CHUNK
    expected = np.array(REFERENCE["vectors"] * 6, dtype=np.float32)
    assert np.abs(encoder.encode(texts) - expected).max() < 1e-5


@pytest.mark.parametrize("vocabulary", ["vocab.txt", "tokenizer.json"])  # m3e-small ships tokenizer.json only
def test_token_ids_match_the_bert_tokenizer(tmp_path, vocabulary):
    other = {"vocab.txt": "tokenizer.json", "tokenizer.json": "vocab.txt"}[vocabulary]
    encoder = similar_encoder.load(_copy_without(tmp_path, other))
    assert [encoder.token_ids(t) for t in REFERENCE["texts"]] == REFERENCE["token_ids"]


def test_hostile_texts_encode_to_unit_vectors():
    encoder = similar_encoder.load(TINY)
    texts = ["", "😀😀😀", "\x00\u202e提高", "提" * 10_000, "ｅｍａｉｌ　ＯＫ", "\n\t "]
    vectors = encoder.encode(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert max(len(encoder.token_ids(t)) for t in texts) == encoder.max_tokens == 64  # the model's positions
    assert encoder.encode([]).shape == (0, 32)


def test_a_model_file_that_would_run_code_is_refused(tmp_path):
    directory = _copy_without(tmp_path, "model.safetensors")
    path = os.path.join(directory, "pytorch_model.bin")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("pytorch_model/data.pkl", pickle.dumps(os.system))
    with pytest.raises(ValueError, match="refused"):
        similar_encoder.load(directory)


def test_a_directory_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot read the sentence model"):
        similar_encoder.load(str(tmp_path))


def test_a_tensor_reaching_outside_its_storage_is_refused():
    storage = np.zeros(4, dtype=np.float32)
    assert similar_encoder._rebuild_tensor(storage, 0, (2, 2), (2, 1)).shape == (2, 2)
    for offset, size, stride in [(0, (2, 3), (3, 1)), (3, (2,), (1,)), (-1, (1,), (1,)), (0, (2,), (-1,))]:
        with pytest.raises(pickle.UnpicklingError, match="outside its storage"):
            similar_encoder._rebuild_tensor(storage, offset, size, stride)


def _with_settings(tmp_path, settings: dict, extra: dict | None = None) -> str:
    """tiny_bert with a similar_encoder.json, and optionally more tensors in its safetensors file."""
    target = _copy_without(tmp_path, "pytorch_model.bin")
    with open(os.path.join(target, "similar_encoder.json"), "w", encoding="utf-8") as file:
        json.dump(settings, file)
    if extra:
        tensors = similar_encoder._read_safetensors(os.path.join(target, "model.safetensors"))
        tensors.update({name: np.asarray(value, dtype=np.float32) for name, value in extra.items()})
        write_safetensors(os.path.join(target, "model.safetensors"), tensors)
    return target


def test_a_model_brings_its_own_fusion_settings(tmp_path):
    assert similar_encoder.load(TINY).fusion == similar_encoder.FUSION_DEFAULTS
    chosen = similar_encoder.load(_with_settings(tmp_path, {"fusion": {"floor": 0.3, "min": 0.45}}))
    assert chosen.fusion == {"weight": 1.0, "floor": 0.3, "min": 0.45}
    for bad in ({"fusion": {"wieght": 1.0}}, {"fusion": {"min": "high"}}, {"pooling": "max"}):
        shutil.rmtree(tmp_path / "model")
        with pytest.raises(ValueError, match="cannot read the sentence model"):
            similar_encoder.load(_with_settings(tmp_path, bad))


def test_the_pooler_and_factorised_embeddings_take_their_own_path(tmp_path):
    texts = REFERENCE["texts"][:4]
    plain = similar_encoder.load(TINY)
    plain.pooling = "cls"
    cls_vectors = plain.encode(texts)
    width = plain.dimensions
    identity = {"pooler.dense.weight": np.eye(width) * 3.0, "pooler.dense.bias": np.zeros(width),
                "encoder.embedding_hidden_mapping_in.weight": np.eye(width),
                "encoder.embedding_hidden_mapping_in.bias": np.zeros(width)}
    model = similar_encoder.load(_with_settings(tmp_path, {"pooling": "pooler-linear"}, identity))
    assert model.pooling == "pooler-linear" and "encoder.embedding_hidden_mapping_in.weight.T" in model.weights
    np.testing.assert_allclose(model.encode(texts), cls_vectors, atol=1e-6)  # 3 x [CLS], normalised: [CLS]
    identity["pooler.dense.bias"] = np.ones(width)
    shutil.rmtree(tmp_path / "model")
    shifted = similar_encoder.load(_with_settings(tmp_path, {"pooling": "pooler-linear"}, identity))
    assert np.abs(shifted.encode(texts) - cls_vectors).max() > 0.01  # the bias is applied


TINY_XLMR = os.path.join(os.path.dirname(__file__), "data", "tiny_xlmr")  # devtools/make_tiny_bert.py xlmr


def test_a_sentencepiece_model_matches_transformers_token_for_token():
    """multilingual-e5's family: XLM-RoBERTa weights, a unigram tokenizer.json, positions after the padding id,
    and the model's own prefix ("query: ", similar_encoder.json); reference by transformers and tokenizers."""
    with open(os.path.join(TINY_XLMR, "reference.json"), encoding="utf-8") as file:
        reference = json.load(file)
    encoder = similar_encoder.load(TINY_XLMR)
    assert [encoder.token_ids(t) for t in reference["texts"]] == reference["token_ids"]
    vectors = encoder.encode(reference["texts"])
    assert np.abs(vectors - np.array(reference["vectors"], dtype=np.float32)).max() < 1e-5
    one_by_one = np.stack([encoder.encode([t])[0] for t in reference["texts"]])
    assert np.abs(one_by_one - vectors).max() < 1e-5


def test_sentencepiece_normalises_as_nmt_nfkc_and_cuts_long_texts():
    encoder = similar_encoder.load(TINY_XLMR)
    assert encoder.unigram.normalise("ＶＰＮ\t\t連不上\u200b\x07 請") == "\u2581VPN\u2581連不上\u2581請"
    assert encoder.token_ids("加班費\u200b上限") == encoder.token_ids("加班費上限")
    long = encoder.token_ids("加班費" * 10_000)
    assert len(long) == encoder.max_tokens == 64  # 66 positions, the first two unused (after the padding id)
    assert long[0] == encoder.vocab["<s>"] and long[-1] == encoder.vocab["</s>"]
    for text in ("", "🙂🙂🙂", "a", "\x00\x01"):
        vector = encoder.encode([text])[0]
        assert np.isfinite(vector).all() and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_float16_word_embeddings_stay_float16_and_give_the_same_vectors(tmp_path):
    """A float16 model's word embeddings are only looked up: kept as stored (half the memory), they give the
    vectors a float32 copy gives, bit for bit; every other weight is computed in float32."""
    stored = similar_encoder._read_safetensors(os.path.join(TINY, "model.safetensors"))
    target = tmp_path / "half"
    shutil.copytree(TINY, target, ignore=lambda _dir, names: [n for n in names if n.endswith((".safetensors", ".bin"))])
    write_safetensors(str(target / "model.safetensors"), {k: v.astype(np.float16) for k, v in stored.items()})
    half = similar_encoder.load(str(target))
    words = half.weights["embeddings.word_embeddings.weight"]
    assert words.dtype == np.float16
    assert {v.dtype for k, v in half.weights.items() if k != "embeddings.word_embeddings.weight"} == {np.dtype("float32")}
    vectors = half.encode(REFERENCE["texts"])
    half.weights["embeddings.word_embeddings.weight"] = words.astype(np.float32)
    assert np.array_equal(vectors, half.encode(REFERENCE["texts"]))
    assert np.abs(vectors - np.array(REFERENCE["vectors"], dtype=np.float32)).max() < 1e-2  # float16's rounding


def test_the_gelu_s_erf_is_odd_and_within_float32_rounding_of_math_erf():
    """GELU's erf (NumPy has none): a polynomial fit, its sign copied from the input."""
    import math

    x = np.concatenate([np.linspace(-9, 9, 20001), [0.0, -0.0, 1e-30, -1e-30, 40.0, -40.0]]).astype(np.float32)
    got = similar_encoder._erf(x)
    want = np.array([math.erf(float(v)) for v in x])
    assert got.dtype == np.float32 and np.abs(got - want).max() < 5e-7  # 3.8e-7 measured
    assert np.array_equal(similar_encoder._erf(-x), -got)
    assert got[-2] == 1.0 and got[-1] == -1.0


@pytest.mark.parametrize("engine", ["onnxruntime"], indirect=True)  # it loads the model in both itself
def test_the_shipped_model_gives_the_same_vectors_in_either_engine(monkeypatch, engine):
    """The stored vectors were computed by one engine and are searched with queries from the other: the two
    must agree to float32 rounding, for a batch padded to its longest text and for texts one at a time."""
    bundled = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "similar_model")
    fast = similar_encoder.load(bundled)
    monkeypatch.setenv("SIMILAR_MODEL_ENGINE", "numpy")
    plain = similar_encoder.load(bundled)
    assert (fast.engine, plain.engine) == ("onnxruntime", "numpy")
    assert not any(name.startswith("encoder.layer.") for name in fast.weights)  # the session holds them
    texts = ["提高超勤津貼上限", "同事請假時找不到人幫忙處理業務，希望改善職務代理人制度", "🙂", "",
             "臺中市Taichung 2026 政策", "加" * 10_000]
    for limit in (32, None):
        batch_fast, batch_plain = fast.encode(texts, max_tokens=limit), plain.encode(texts, max_tokens=limit)
        assert np.abs(batch_fast - batch_plain).max() < 2e-5
        assert np.abs(np.stack([fast.encode([t], max_tokens=limit)[0] for t in texts]) - batch_plain).max() < 2e-5


def test_an_unknown_engine_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("SIMILAR_MODEL_ENGINE", "tensorflow")
    with pytest.raises(ValueError, match="SIMILAR_MODEL_ENGINE"):
        similar_encoder.load(TINY)


def test_without_the_runtime_installed_numpy_computes_the_layers(monkeypatch, caplog, engine):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    encoder = similar_encoder.load(TINY)
    assert encoder.engine == "numpy"
    assert np.abs(encoder.encode(REFERENCE["texts"]) - np.array(REFERENCE["vectors"], dtype=np.float32)).max() < 1e-5
    warned = [r.getMessage() for r in caplog.records if "onnxruntime is not installed" in r.getMessage()]
    assert len(warned) == (1 if engine == "onnxruntime" else 0)  # asked for NumPy: nothing to warn about
