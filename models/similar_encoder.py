"""The sentence encoder of the similar-proposal search (issue 14): a BERT-architecture Chinese sentence model
read from a local directory, with no PyTorch and no download.  The tokenizer, the embeddings and the pooling are
computed here in NumPy; the transformer layers run in ONNX Runtime (`similar_runtime`), or here in NumPy when it
is not installed or `SIMILAR_MODEL_ENGINE=numpy` says so.  Both give the same vectors to float32 rounding.

`similar_vectors` loads the model named by `SIMILAR_MODEL_DIR`, by default the one shipped in
data/similar_model (multilingual-e5-small, an XLM-RoBERTa, MIT, fine-tuned here; bench/README.md, fourteenth to
twentieth rounds; SimBERT Tiny, a BERT, before it).
Another model of the family works the same way (m3e-small, once the city holds a licence for it;
bge-small-zh-v1.5; text2vec-base-chinese).

The directory is what Hugging Face's BERT models ship: ``config.json``; the vocabulary as ``vocab.txt`` or in
``tokenizer.json`` (WordPiece, or SentencePiece's unigram for XLM-RoBERTa's family: multilingual-e5, bge-m3);
the weights as ``model.safetensors`` or ``pytorch_model.bin`` (read here without PyTorch: a zip of raw storages
and a pickle, unpickled with only the names listed in `_Unpickler`).  Factorised
embeddings (``encoder.embedding_hidden_mapping_in``, as ALBERT and the tiny SimBERT have) are mapped up to the
hidden size.  Pooling is the mean of the tokens unless a sentence-transformers ``1_Pooling/config.json`` asks
for the [CLS] token.  ``similar_encoder.json`` in the directory may say more:

- ``"convert": "t2s"``: a model trained on Simplified Chinese reads Traditional text better once converted
  (OpenCC, the `opencc-python-reimplemented` package);
- ``"pooling": "pooler-linear"``: the [CLS] token through the pooler's dense layer, no tanh (SimBERT);
- ``"lowercase"``: lowercase Latin letters first (else as ``tokenizer_config.json`` says);
- ``"prefix"``: put before every text (``"query: "`` for the e5 models, both sides being requests);
- ``"fusion": {"weight", "floor", "min"}``: how `models.similar` fuses this model's score with the lexicon's,
  chosen on the benchmark's development pairs for this model (default: m3e-small's).
"""
from __future__ import annotations

import json
import math
import os
import pickle
import struct
import unicodedata
import zipfile
from dataclasses import dataclass, field

import numpy as np

from . import similar_runtime

MAX_TOKENS = 128  # titles and the start of the content; longer texts are cut
CHUNK = 32  # texts computed together (sorted by length first)
FUSION_DEFAULTS = {"weight": 1.0, "floor": 0.2, "min": 0.5}


# --- tokenizer (BERT's basic tokenizer and WordPiece) ---------------------------------------------------

def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF or 0x2F800 <= code <= 0x2FA1F)


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _basic_tokens(text: str, lowercase: bool) -> list[str]:
    words, current = [], []

    def flush():
        if current:
            words.append("".join(current))
            current.clear()

    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD or (unicodedata.category(char).startswith("C") and char not in "\t\n\r"):
            continue
        if char.isspace():
            flush()
        elif _is_cjk(code) or _is_punctuation(char):
            flush()
            words.append(char)
        else:
            current.append(char)
    flush()
    if lowercase:
        words = ["".join(c for c in unicodedata.normalize("NFD", w.lower()) if unicodedata.category(c) != "Mn")
                 for w in words]
    return words


def _wordpiece(word: str, vocab: dict[str, int], unknown: int) -> list[int]:
    if len(word) > 100:
        return [unknown]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                pieces.append(vocab[piece])
                break
            end -= 1
        else:
            return [unknown]
        start = end
    return pieces


class Unigram:
    """SentencePiece's unigram model as Hugging Face's ``tokenizer.json`` holds it (``"model": {"type":
    "Unigram", "vocab": [[piece, score], ...], "unk_id": n}``; XLM-RoBERTa and its descendants: multilingual-e5,
    bge-m3, paraphrase-multilingual-MiniLM).  The text is normalised character by character as SentencePiece's
    ``nmt_nfkc`` does (NFKC; control and format characters dropped; any space one space), a space is put in front,
    spaces become ``▁``, and the most probable cut into pieces is taken (Viterbi); characters no piece covers are
    one unknown piece, as in Hugging Face's tokenizers."""

    def __init__(self, vocab: list, unknown: int):
        self.ids = {piece: i for i, (piece, _) in enumerate(vocab)}
        self.scores = [float(score) for _, score in vocab]
        self.unknown = unknown
        self.unknown_score = min(self.scores) - 10.0  # as SentencePiece scores an unknown character
        self.longest = max(len(piece) for piece, _ in vocab)

    @staticmethod
    def normalise(text: str) -> str:
        chars = []
        for char in text:
            if char.isspace():
                if not chars or chars[-1] != " ":
                    chars.append(" ")
            elif not unicodedata.category(char).startswith(("Cc", "Cf")):
                chars.append(unicodedata.normalize("NFKC", char))
        text = "".join(chars)
        return ("" if text.startswith(" ") else "\u2581") + text.replace(" ", "\u2581")

    def encode(self, text: str, limit: int) -> list[int]:
        """The ids of the first `limit` pieces of `text` (only the start of a long text is cut)."""
        text = self.normalise(text)[: 4 * limit]  # a piece is at least one character; 4x leaves room for the cut
        best = [0.0] + [-math.inf] * len(text)
        back = [(0, self.unknown)] * (len(text) + 1)
        for start in range(len(text)):
            if best[start] == -math.inf:
                continue
            for end in range(start + 1, min(len(text), start + self.longest) + 1):
                piece = self.ids.get(text[start:end])
                if piece is not None and piece != self.unknown and best[start] + self.scores[piece] > best[end]:
                    best[end], back[end] = best[start] + self.scores[piece], (start, piece)
            if best[start] + self.unknown_score > best[start + 1]:
                best[start + 1], back[start + 1] = best[start] + self.unknown_score, (start, self.unknown)
        pieces, at = [], len(text)
        while at > 0:
            at, piece = back[at]
            if not (piece == self.unknown and pieces and pieces[-1] == self.unknown):  # unknowns in a row: one
                pieces.append(piece)
        return pieces[::-1][:limit]


# --- weights -------------------------------------------------------------------------------------------

_TORCH_DTYPES = {"FloatStorage": np.float32, "HalfStorage": np.float16, "DoubleStorage": np.float64,
                 "LongStorage": np.int64, "IntStorage": np.int32, "BFloat16Storage": None}
_SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


class _Unpickler(pickle.Unpickler):
    """Reads a PyTorch state dict's pickle without PyTorch: tensors become NumPy arrays.  Only the names a
    state dict uses are resolved; anything else in the pickle is refused (no code runs from the file)."""

    def __init__(self, file, archive: zipfile.ZipFile, prefix: str):
        super().__init__(file)
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            import collections
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _TORCH_DTYPES and _TORCH_DTYPES[name] is not None:
            return _TORCH_DTYPES[name]
        raise pickle.UnpicklingError(f"refused in a model file: {module}.{name}")

    def persistent_load(self, pid):
        _, dtype, key, _location, _numel = pid
        raw = self.archive.read(f"{self.prefix}/data/{key}")
        return np.frombuffer(raw, dtype=dtype)


def _rebuild_tensor(storage, offset, size, stride, *_):
    # as_strided reads whatever memory the strides point at: a file must stay inside its own storage.
    if (not isinstance(storage, np.ndarray) or len(size) != len(stride) or offset < 0
            or any(n < 0 for n in size) or any(s < 0 for s in stride)
            or (all(size) and offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) >= len(storage))):
        raise pickle.UnpicklingError("a tensor reaches outside its storage")
    item = storage.itemsize
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                           strides=tuple(s * item for s in stride)).copy()


def _read_torch_bin(path: str) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        pickled = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
        prefix = pickled[: -len("/data.pkl")]
        with archive.open(pickled) as file:
            return dict(_Unpickler(file, archive, prefix).load())


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    with open(path, "rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        header = json.loads(file.read(length))
        data = file.read()
    tensors = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(data[start:end], dtype=_SAFETENSORS_DTYPES[meta["dtype"]]).reshape(meta["shape"])
    return tensors


# --- the model -----------------------------------------------------------------------------------------

def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.2e-7 (Numerical Recipes' erfc by Chebyshev fit), vectorised: NumPy has no erf."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    value = 1.0 - t * np.exp(poly)
    return np.copysign(value, x)  # the same values as np.where(x >= 0, value, -value), a tenth of the time


def _layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


@dataclass
class Encoder:
    directory: str
    vocab: dict[str, int]
    weights: dict[str, np.ndarray]
    config: dict
    pooling: str  # "mean", "cls" or "pooler-linear" (the [CLS] token through the pooler's dense layer, no tanh)
    convert: object = None  # Traditional → Simplified, when the model asks for it
    lowercase: bool = False
    # how models.similar fuses this model's centred cosine with the lexicon's (similar_encoder.json "fusion"):
    # weight x (cosine - floor), shown from min; the defaults are m3e-small's, measured in the eighth round
    fusion: dict = field(default_factory=lambda: dict(FUSION_DEFAULTS))
    unigram: Unigram | None = None  # SentencePiece pieces instead of WordPiece (XLM-RoBERTa's family)
    prefix: str = ""  # put before every text ("query: " for the e5 models)
    layers: object = None  # the transformer layers in ONNX Runtime (`similar_runtime.Layers`); None: NumPy's

    @property
    def engine(self) -> str:
        return "onnxruntime" if self.layers is not None else "numpy"

    @property
    def max_tokens(self) -> int:
        positions = int(self.config.get("max_position_embeddings", MAX_TOKENS)) - self._first_position
        return min(MAX_TOKENS, positions)

    @property
    def dimensions(self) -> int:
        return int(self.config["hidden_size"])

    @property
    def _first_position(self) -> int:  # RoBERTa's positions start after the padding id's
        return int(self.config.get("pad_token_id", 1)) + 1 if self.unigram else 0

    def token_ids(self, text: str, max_tokens: int | None = None) -> list[int]:
        limit = min(max_tokens or self.max_tokens, self.max_tokens)
        text = self.prefix + (self.convert(text) if self.convert else text)
        if self.unigram:
            return [self.vocab["<s>"]] + self.unigram.encode(text, limit - 2) + [self.vocab["</s>"]]
        unknown = self.vocab.get("[UNK]", 100)
        ids = [self.vocab["[CLS]"]]
        for word in _basic_tokens(text, self.lowercase):
            ids += _wordpiece(word, self.vocab, unknown)
            if len(ids) >= limit - 1:
                break
        return ids[: limit - 1] + [self.vocab["[SEP]"]]

    def encode(self, texts: list[str], max_tokens: int | None = None) -> np.ndarray:
        """L2-normalised vectors (float32), one row a text, each text cut at `max_tokens` tokens (at most the
        model's positions and `MAX_TOKENS`)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        rows = [self.token_ids(t or "", max_tokens) for t in texts]
        if len(rows) > CHUNK:  # texts of similar length together: less padding to compute
            order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
            out = np.zeros((len(rows), self.dimensions), dtype=np.float32)
            for start in range(0, len(order), CHUNK):
                part = order[start:start + CHUNK]
                out[part] = self._encode_ids([rows[i] for i in part])
            return out
        return self._encode_ids(rows)

    def _encode_ids(self, rows: list[list[int]]) -> np.ndarray:
        width = max(len(r) for r in rows)
        ids = np.full((len(rows), width), int(self.config.get("pad_token_id", 0)), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.float32)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1.0
        hidden = self._forward(ids, mask)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        elif self.pooling == "pooler-linear":  # SimBERT's sentence vector
            pooled = hidden[:, 0] @ self.weights["pooler.dense.weight.T"] + self.weights["pooler.dense.bias"]
        else:
            pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w, c = self.weights, self.config
        eps = float(c.get("layer_norm_eps", 1e-12))
        first = self._first_position
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][first: first + ids.shape[1]]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        if "encoder.embedding_hidden_mapping_in.weight.T" in w:  # factorised embeddings (ALBERT, tiny SimBERT)
            x = x @ w["encoder.embedding_hidden_mapping_in.weight.T"] + w["encoder.embedding_hidden_mapping_in.bias"]
        blocked = ((1.0 - mask)[:, None, None, :] * np.float32(-1e9)).astype(np.float32)  # padding: not attended
        if self.layers is not None:
            return self.layers.run(x, blocked)
        return self._numpy_layers(x, blocked)

    def _numpy_layers(self, x: np.ndarray, blocked: np.ndarray) -> np.ndarray:
        w, c = self.weights, self.config
        eps = float(c.get("layer_norm_eps", 1e-12))
        heads = int(c["num_attention_heads"])
        batch, length, width = x.shape
        size = width // heads
        for layer in range(int(c["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def dense(h, name, p=p):  # one 2-D product with the weight transposed once, at load: BLAS's gemm
                flat = h.reshape(-1, h.shape[-1]) @ w[p + name + ".weight.T"] + w[p + name + ".bias"]
                return flat.reshape(*h.shape[:-1], flat.shape[-1])

            def split(h):
                return h.reshape(batch, length, heads, size).transpose(0, 2, 1, 3)

            q = split(dense(x, "attention.self.query"))
            k = split(dense(x, "attention.self.key"))
            v = split(dense(x, "attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(math.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            attended = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = attended.transpose(0, 2, 1, 3).reshape(batch, length, width)
            x = _layer_norm(dense(attended, "attention.output.dense") + x,
                            w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
            inner = dense(x, "intermediate.dense")
            inner = 0.5 * inner * (1.0 + _erf(inner / np.float32(math.sqrt(2.0))))
            x = _layer_norm(dense(inner, "output.dense") + x,
                            w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        return x


def load(directory: str) -> Encoder:
    """The encoder in `directory` (see the module's docstring); raises ValueError when it cannot be read."""
    def path(*parts):
        return os.path.join(directory, *parts)

    def settings(*parts) -> dict:  # an optional JSON file of the directory ({} when absent)
        if not os.path.exists(path(*parts)):
            return {}
        with open(path(*parts), encoding="utf-8") as file:
            return json.load(file)

    try:
        with open(path("config.json"), encoding="utf-8") as file:
            config = json.load(file)
        if config.get("model_type", "bert") not in ("bert", "xlm-roberta"):
            raise ValueError(f"not a BERT model: {config.get('model_type')}")
        unigram = None
        if os.path.exists(path("vocab.txt")):
            with open(path("vocab.txt"), encoding="utf-8") as file:
                vocab = {line.rstrip("\n"): i for i, line in enumerate(file)}
        else:
            with open(path("tokenizer.json"), encoding="utf-8") as file:
                model = json.load(file)["model"]
            if model.get("type") == "Unigram":
                unigram = Unigram(model["vocab"], int(model["unk_id"]))
                vocab = unigram.ids
            else:
                vocab = model["vocab"]
        if os.path.exists(path("model.safetensors")):
            raw = _read_safetensors(path("model.safetensors"))
        else:
            raw = _read_torch_bin(path("pytorch_model.bin"))
        weights = {}
        for name, value in raw.items():
            name = name.removeprefix("bert.").removeprefix("roberta.")
            name = name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
            if value.dtype.kind == "f":
                # The word embeddings are only looked up: kept as stored (float16 halves e5-small's 62 MB), the
                # rows taken are widened exactly when added to the positions'.
                kept = value.dtype if name == "embeddings.word_embeddings.weight" and value.itemsize < 4 else np.float32
                weights[name] = np.ascontiguousarray(value, dtype=kept)
                if (name.startswith(("encoder.", "pooler.")) and name.endswith(".weight")
                        and value.ndim == 2):
                    weights[name + ".T"] = np.ascontiguousarray(weights.pop(name).T)
        del raw  # the file's arrays: the weights above are copies (float32, transposed)
        own = settings("similar_encoder.json")
        pooling = own.get("pooling") or (
            "cls" if settings("1_Pooling", "config.json").get("pooling_mode_cls_token") else "mean")
        if pooling not in ("mean", "cls", "pooler-linear"):
            raise ValueError(f"unknown pooling: {pooling}")
        lowercase = bool(own.get("lowercase", settings("tokenizer_config.json").get("do_lower_case", False)))
        convert = None
        if own.get("convert") == "t2s":
            from opencc import OpenCC
            convert = OpenCC("t2s").convert
        fusion = dict(FUSION_DEFAULTS)
        for name, value in (own.get("fusion") or {}).items():
            if name not in fusion or not isinstance(value, int | float):
                raise ValueError(f"unknown fusion setting: {name}={value!r}")
            fusion[name] = float(value)
        prefix = own.get("prefix", "")
        if not isinstance(prefix, str):
            raise ValueError(f"the prefix is not text: {prefix!r}")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, pickle.UnpicklingError, ImportError) as error:
        raise ValueError(f"cannot read the sentence model in {directory}: {error}") from error
    layers = similar_runtime.layers_for(weights, config)
    if layers is not None:  # the session holds its own copy of the layers' weights: NumPy's would only take memory
        weights = {name: value for name, value in weights.items() if not name.startswith("encoder.layer.")}
    similar_runtime.release_freed_memory()  # the file's bytes and, with the runtime, the graph's copies
    return Encoder(directory, vocab, weights, config, pooling, convert, lowercase, fusion, unigram, prefix, layers)
