"""Writes tests/data/tiny_bert: a 2-layer BERT with random weights (seed 14), its vocabulary, and the token ids
and mean-pooled vectors Hugging Face transformers computes for a few texts, so that tests/test_similar_encoder.py
checks models/similar_encoder.py against the reference implementation without PyTorch.  With `xlmr`, writes
tests/data/tiny_xlmr instead: a 2-layer XLM-RoBERTa (seed 14) with a SentencePiece-unigram vocabulary in
tokenizer.json, and what transformers and tokenizers compute, for the unigram path (multilingual-e5's family).

Not a project dependency; run it in a scratch virtualenv (this machine's PyTorch wheel):
    pip install torch==2.13.0 transformers && python devtools/make_tiny_bert.py [xlmr]
"""
import json
import os
import sys

import torch
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertModel, BertTokenizer, XLMRobertaConfig, XLMRobertaModel

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



XLMR_TEXTS = ["提高超勤津貼上限", "加班費每月上限太低應調整", "同事請假時找不到人幫忙處理業務", "改善職務代理人制度",
         "ＶＰＮ連不上  請協助", "Email 系統 OK！", "國民旅遊卡，休假補助？", "停車費太貴🙂"]
WORDS = {"提高": -4.0, "上限": -4.0, "加班費": -4.5, "加班": -5.0, "請假": -4.5, "職務代理人": -6.0, "代理": -5.5,
         "制度": -4.5, "業務": -4.5, "國民旅遊卡": -7.0, "旅遊": -5.0, "補助": -4.5, "停車": -5.0, "▁Email": -6.0,
         "▁OK": -6.0, "▁系統": -5.5, "VPN": -6.0, "▁請": -6.5, "▁": -3.0, "Em": -7.0, "ail": -7.5}


def write_xlmr(out: str) -> None:
    os.makedirs(out, exist_ok=True)
    chars = sorted({c for t in XLMR_TEXTS for c in t if not c.isspace() and c not in "🙂ＶＰＮ"} - set("EmailOKVPN"))
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += list(WORDS.items()) + [(c, -8.0 - (ord(c) % 7) / 10) for c in chars] + [(c, -9.0) for c in "EmailOKVPN"]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=3))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A </s>",
                                                             special_tokens=[("<s>", 0), ("</s>", 2)])
    tokenizer.save(os.path.join(out, "tokenizer.json"))
    torch.manual_seed(14)
    config = XLMRobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                              intermediate_size=64, max_position_embeddings=66, type_vocab_size=1, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2)
    model = XLMRobertaModel(config, add_pooling_layer=False).eval()
    model.save_pretrained(out, safe_serialization=True)
    with open(os.path.join(out, "similar_encoder.json"), "w", encoding="utf-8") as file:
        json.dump({"prefix": "query: "}, file)
    ids = [tokenizer.encode("query: " + t).ids for t in XLMR_TEXTS]
    width = max(map(len, ids))
    input_ids = torch.tensor([row + [1] * (width - len(row)) for row in ids])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids])
    with torch.no_grad():
        hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
    weights = mask.unsqueeze(-1).float()
    vectors = torch.nn.functional.normalize((hidden * weights).sum(1) / weights.sum(1), dim=-1)
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as file:
        rounded = [[round(float(x), 7) for x in row] for row in vectors]
        json.dump({"texts": XLMR_TEXTS, "token_ids": ids, "vectors": rounded}, file, ensure_ascii=False, indent=0)


if __name__ == "__main__":
    if sys.argv[1:] == ["xlmr"]:
        write_xlmr(os.path.join(os.path.dirname(OUT), "tiny_xlmr"))
    else:
        main()
