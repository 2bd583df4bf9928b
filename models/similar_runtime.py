"""The sentence encoder's transformer layers run by ONNX Runtime (issue 14: the p95 of a search).

`similar_encoder` computes the embeddings (a table lookup) and the pooling itself; the layers, 95 % of the work,
are built here into an ONNX graph from the weights already loaded, and run by ONNX Runtime (Microsoft, MIT; PyPI
wheels for CPython on x86-64 and ARM, no download at run time).  The graph is the same arithmetic as
`similar_encoder.Encoder._forward`, in float32, with ONNX's own LayerNormalization, Softmax and the exact
(erf) GELU: the vectors agree with NumPy's to float32 rounding, so the stored vectors stay valid and the model's
key does not change.  It is faster because one call computes a whole text (NumPy takes the GIL back between some
250 small operations, which the lexicon's search in the other thread also wants) and MLAS's matrix products use
the CPU's widest instructions (bench/README.md, twenty-first round: 22.1 ms to encode a query of 28 tokens with
NumPy, 11.6 ms here, p50 on two cores).

`SIMILAR_MODEL_ENGINE=numpy` keeps NumPy's path (for a comparison, or should the runtime misbehave on some CPU);
without the `onnxruntime` and `onnx` packages, NumPy's path is used and the log says so when the model loads.
"""
from __future__ import annotations

import ctypes
import logging
import math
import os

import numpy as np

log = logging.getLogger(__name__)

ENGINE_SETTING = "SIMILAR_MODEL_ENGINE"
ENGINES = ("onnxruntime", "numpy")
MAX_THREADS = 4  # a text's products are small; the cap keeps each of a large server's workers from a thread a core


def wanted() -> bool:
    """Whether the environment leaves the runtime on (the default)."""
    engine = (os.environ.get(ENGINE_SETTING) or ENGINES[0]).strip().lower()
    if engine not in ENGINES:
        raise ValueError(f"{ENGINE_SETTING} must be one of {', '.join(ENGINES)}, not {engine!r}")
    return engine == "onnxruntime"


def _graph(weights: dict[str, np.ndarray], config: dict):
    """The layers as an ONNX model: inputs `hidden` (batch, length, width) after the embeddings, and `blocked`
    (batch, 1, 1, length: 0 for a token, -1e9 for padding); output `out`, the last layer's states."""
    from onnx import TensorProto, helper, numpy_helper

    eps = float(config.get("layer_norm_eps", 1e-12))
    heads, width = int(config["num_attention_heads"]), int(config["hidden_size"])
    size = width // heads
    nodes, initialisers = [], []

    def constant(name: str, value: np.ndarray) -> str:
        initialisers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attributes) -> str:
        output = f"{op}_{len(nodes)}"
        domain = "com.microsoft" if op == "Gelu" else ""
        nodes.append(helper.make_node(op, inputs, [output], domain=domain, **attributes))
        return output

    def dense(x: str, name: str) -> str:
        return node("Add", [node("MatMul", [x, constant(name + ".weight.T", weights[name + ".weight.T"])]),
                            constant(name + ".bias", weights[name + ".bias"])])

    def norm(x: str, name: str) -> str:
        return node("LayerNormalization", [x, constant(name + ".weight", weights[name + ".weight"]),
                                           constant(name + ".bias", weights[name + ".bias"])], axis=-1, epsilon=eps)

    def heads_of(x: str, perm: list[int]) -> str:  # (batch, length, width) → (batch, heads, ·, ·)
        return node("Transpose", [node("Reshape", [x, "split"])], perm=perm)

    constant("split", np.array([0, 0, heads, size], dtype=np.int64))
    constant("join", np.array([0, 0, width], dtype=np.int64))
    constant("scale", np.array(1.0 / math.sqrt(size), dtype=np.float32))
    x = "hidden"
    for layer in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{layer}."
        q = heads_of(dense(x, p + "attention.self.query"), [0, 2, 1, 3])
        k = heads_of(dense(x, p + "attention.self.key"), [0, 2, 3, 1])
        v = heads_of(dense(x, p + "attention.self.value"), [0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), "scale"]), "blocked"])
        attended = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        attended = node("Reshape", [node("Transpose", [attended], perm=[0, 2, 1, 3]), "join"])
        x = norm(node("Add", [dense(attended, p + "attention.output.dense"), x]), p + "attention.output.LayerNorm")
        inner = node("Gelu", [dense(x, p + "intermediate.dense")])  # the exact GELU, with erf, as BERT's
        x = norm(node("Add", [dense(inner, p + "output.dense"), x]), p + "output.LayerNorm")
    nodes.append(helper.make_node("Identity", [x], ["out"]))
    graph = helper.make_graph(
        nodes, "similar-encoder",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "length", width]),
         helper.make_tensor_value_info("blocked", TensorProto.FLOAT, ["batch", 1, 1, "length"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "length", width])], initialisers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


class Layers:
    """The model's layers in one ONNX Runtime session; `run` is safe from several threads at once."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, min(MAX_THREADS, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        # Threads that wait between calls rather than spin: a worker's other threads (the lexicon's search, the
        # requests) and PostgreSQL on the same cores get the CPU back as soon as a text is computed.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # No arena kept between calls: a backfill's batch of 32 long texts would otherwise keep some 120 MB a
        # process for the rest of its life, to save about half a millisecond a query.
        options.enable_cpu_mem_arena = False
        options.log_severity_level = 3  # errors only
        model = _graph(weights, config).SerializeToString()
        self.session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])

    def run(self, hidden: np.ndarray, blocked: np.ndarray) -> np.ndarray:
        """The last layer's states; `blocked` is the attention's additive mask, as `_graph` says."""
        return self.session.run(["out"], {"hidden": np.ascontiguousarray(hidden, dtype=np.float32),
                                          "blocked": blocked})[0]


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's `malloc_trim`; elsewhere nothing).  Building the
    session passes the weights through three temporary copies (the graph, its bytes, the runtime's own before it
    packs them); freed, they stay in the process's heap, some 180 MB that a worker would otherwise keep."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, macOS): the memory is reused by the process instead
        pass


def layers_for(weights: dict[str, np.ndarray], config: dict) -> Layers | None:
    """The runtime's session for these weights, or None: NumPy's path (the setting says so, or the runtime is not
    installed or cannot build the graph; logged)."""
    if not wanted():
        return None
    try:
        return Layers(weights, config)
    except ImportError:
        log.warning("similar proposals: onnxruntime is not installed; the sentence model runs in NumPy (slower)")
    except Exception:  # a model the graph does not describe: NumPy's path still reads it
        log.exception("similar proposals: the sentence model's layers could not run in onnxruntime; NumPy instead")
    return None
