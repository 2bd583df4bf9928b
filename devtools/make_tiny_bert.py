"""Writes tests/data/tiny_bert: a 2-layer BERT with random weights (seed 14), its vocabulary, and the token ids
and mean-pooled vectors Hugging Face transformers computes for a few texts, so that tests/test_similar_encoder.py
checks models/similar_encoder.py against the reference implementation without PyTorch.

Not a project dependency; run it in a scratch virtualenv (this machine's PyTorch wheel):
    pip install torch==2.13.0 transformers && python devtools/make_tiny_bert.py
"""
import json
import os

import torch
from transformers import BertConfig, BertModel, BertTokenizer

OUT = os.environ.get("TINY_BERT_OUT") or os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                     "tests", "data", "tiny_bert")
TEXTS = ["提高超勤津貼上限", "加班費每月上限太低應調整", "同事請假時找不到人幫忙處理業務", "改善職務代理人制度",
         "員工停車費太貴", "Email 系統 OK！", "國民旅遊卡，休假補助？", "email"]


def main() -> None:
    chars = sorted({c for t in TEXTS[:-1] for c in t if not c.isspace()} - set("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + ["email", "ok", "##ai", "em", "##l"]
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as file:
        file.write("\n".join(vocab) + "\n")
    torch.manual_seed(14)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    model = BertModel(config).eval()
    model.save_pretrained(OUT, safe_serialization=True)
    torch.save(model.state_dict(), os.path.join(OUT, "pytorch_model.bin"))
    tokenizer = BertTokenizer(os.path.join(OUT, "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(OUT)
    batch = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    ids = [[int(i) for i, on in zip(row, keep, strict=True) if on]
           for row, keep in zip(batch["input_ids"], batch["attention_mask"], strict=True)]
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as file:
        json.dump({"texts": TEXTS, "token_ids": ids, "vectors": [[round(float(x), 7) for x in row] for row in vectors]},
                  file, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    main()
