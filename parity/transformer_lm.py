"""PyTorch twin of `cargo run --example transformer_lm`: the same text, vocabulary, split,
seeded initialisation, training windows, dropout draws, AdamW with warm-up, cosine decay and
clipping, evaluations, baselines and sample, so the two runs print the same numbers.

Mirrors, piece by piece:
  read_corpus()/vocab   <->  src/data/text.rs (files in name order, BOM dropped, CRLF -> LF,
                             sorted characters)
  GPT                   <->  src/models/gpt.rs (parity/models.py::GPT, nanoGPT's model.py)
  lr_at()               <->  src/tasks/transformer_lm/config.rs (nanoGPT's get_lr)
  the loop              <->  src/tasks/transformer_lm/train.rs (torch.manual_seed(step_seed(seed, 0, s))
                             before step s; windows; forward; backward; clip; AdamW step)
  windows_loss() etc.   <->  src/tasks/transformer_lm/eval.rs
  generate()            <->  src/tasks/transformer_lm/generate.rs (nanoGPT's GPT.generate, with the
                             key/value cache of Gpt::forward_cached)

  .venv/bin/python parity/transformer_lm.py --max-steps 100 --metrics-json runs/lm_twin.json
"""
import argparse
import gzip
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

from common import ROOT, quantize_dynamic, step_seed
from models import GPT

EVAL_SEED_TAG = 0x5EED0E7A
FULL_TEXT_BATCH = 64


def text_files(arg):
    if not os.path.isdir(arg):
        return [arg]
    names = sorted(n for n in os.listdir(arg) if n.endswith(".txt") or n.endswith(".txt.gz"))
    return [os.path.join(arg, n) for n in names if os.path.isfile(os.path.join(arg, n))]


def read_text(path):
    data = open(path, "rb").read()
    if path.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n")


def read_corpus(args):
    files = [f for a in args for f in text_files(a)]
    text = ""
    for f in files:
        t = read_text(f)
        text += t if t.endswith("\n") else t + "\n"
    return text, files


def lr_at(a, step):
    if step < a.warmup_steps:
        return a.lr * (step + 1) / (a.warmup_steps + 1)
    if step > a.max_steps or a.max_steps <= a.warmup_steps:
        return a.min_lr
    ratio = (step - a.warmup_steps) / (a.max_steps - a.warmup_steps)
    return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (a.lr - a.min_lr)


def windows(data, block, batch):
    ix = torch.randint(len(data) - block, (batch,))
    x = torch.stack([data[i:i + block] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block] for i in ix])
    return x, y


def lm_loss(logits, y):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1), ignore_index=-1)


@torch.no_grad()
def windows_loss(model, data, a, split):
    model.eval()
    total = 0.0
    for k in range(a.eval_batches):
        torch.manual_seed(step_seed(a.seed ^ EVAL_SEED_TAG, split, k))
        x, y = windows(data, a.block_size, a.batch_size)
        total += lm_loss(model(x), y).item()
    model.train()
    return total / a.eval_batches


@torch.no_grad()
def full_text_loss(model, data, block):
    model.eval()
    targets = len(data) - 1
    full = targets // block
    total = 0.0

    def score(start, rows, length):
        x = data[start:start + rows * length].view(rows, length)
        y = data[start + 1:start + 1 + rows * length].view(rows, length)
        return lm_loss(model(x), y).item() * rows * length

    row = 0
    while row < full:
        rows = min(full - row, FULL_TEXT_BATCH)
        total += score(row * block, rows, block)
        row += rows
    rest = targets - full * block
    if rest > 0:
        total += score(full * block, 1, rest)
    return total / targets


def baselines(train, val, v):
    uni = torch.bincount(train, minlength=v).double() + 1.0
    log_uni = (uni / uni.sum()).log()
    bi = torch.bincount(train[:-1] * v + train[1:], minlength=v * v).double().view(v, v) + 1.0
    log_bi = (bi / bi.sum(1, keepdim=True)).log()
    prev, nxt = val[:-1], val[1:]
    return -log_uni[nxt].mean().item(), -log_bi.view(-1)[prev * v + nxt].mean().item()


def top_p_filter(logits, p):
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, descending=True)
    remove = F.softmax(sorted_logits, dim=-1).cumsum(dim=-1) > p
    remove = torch.cat([torch.zeros(1, 1, dtype=torch.bool), remove[:, :-1]], dim=1)
    mask = remove.scatter(1, order, remove)
    return logits.masked_fill(mask, -float("Inf"))


def attention_cached(attn, x, kv):
    """src/models/gpt.rs CausalSelfAttention::forward_cached: the new positions' attention
    over the cached keys/values and themselves (causal among themselves when nothing is cached)."""
    B, T, C = x.size()
    q, k, v = attn.c_attn(x).split(attn.n_embd, dim=2)
    k = k.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2)
    q = q.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2)
    v = v.view(B, T, attn.n_head, C // attn.n_head).transpose(1, 2)
    causal = kv[0] is None
    if not causal:
        k, v = torch.cat([kv[0], k], 2), torch.cat([kv[1], v], 2)
    y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0, is_causal=causal)
    kv[0], kv[1] = k, v
    return attn.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def forward_cached(model, idx, cache):
    """Gpt::forward_cached: logits of the new tokens at positions cache['len']..."""
    t = idx.size(1)
    if not cache:
        cache.update(len=0, layers=[[None, None] for _ in model.transformer.h])
    pos = torch.arange(cache["len"], cache["len"] + t, dtype=torch.long)
    x = model.transformer.wte(idx) + model.transformer.wpe(pos)
    for block, kv in zip(model.transformer.h, cache["layers"]):
        x = x + attention_cached(block.attn, block.ln_1(x), kv)
        x = x + block.mlp(block.ln_2(x))
    cache["len"] += t
    return model.lm_head(model.transformer.ln_f(x))


@torch.no_grad()
def generate(model, prompt, n, a, each=None):
    """generate.rs continue_prompt: nanoGPT's generate with the context cropped to the block, a
    key/value cache until the context fills the block, then the cropped context rerun each step;
    `each(id)` is called on every token as it is drawn."""
    model.eval()
    tokens, out, cache, pending = list(prompt), [], {}, []
    for _ in range(n):
        if not cache or cache["len"] + 1 > a.block_size:
            cache = {}
            pending = tokens[-a.block_size:]
        logits = forward_cached(model, torch.tensor(pending, dtype=torch.long).unsqueeze(0), cache)[:, -1, :]
        if a.temperature == 0:
            nxt = torch.argmax(logits, dim=-1, keepdim=True)
        else:
            logits = logits / a.temperature
            if a.top_k < logits.size(-1):
                v, _ = torch.topk(logits, a.top_k)
                logits[logits < v[:, [-1]]] = -float("Inf")
            logits = top_p_filter(logits, a.top_p)
            nxt = torch.multinomial(F.softmax(logits, dim=-1), num_samples=1)
        out.append(nxt.item())
        if each:
            each(out[-1])
        tokens.append(out[-1])
        pending = [out[-1]]
    return out


def score(loss):
    return {"loss": loss, "perplexity": math.exp(loss), "bits_per_char": loss / math.log(2)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--text", action="append", default=[])
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--eval-batches", type=int, default=20)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--beta2", type=float, default=0.99)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--clip-grad-norm", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1337)
    p.add_argument("--generate", type=int, default=500)
    p.add_argument("--load", help="a model saved by the Rust --save (safetensors + config.json + vocab.json)")
    p.add_argument("--quantize-dynamic", action="store_true",
                   help="with --load: torch.ao.quantization.quantize_dynamic (qint8) of every nn.Linear")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--num-samples", type=int, default=1)
    p.add_argument("--prompt", default="\n")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=200)
    p.add_argument("--threads", type=int)
    p.add_argument("--metrics-json")
    p.add_argument("--save", help="the final weights (safetensors, the Rust names: no lm_head.weight)")
    p.add_argument("--quiet", action="store_true", help="accepted for the side-by-side driver")
    p.add_argument("--device", choices=["cpu"], default="cpu", help="the twin runs on the CPU only (for now)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)

    # --load without --text only generates, as the Rust side (nothing to score).
    score_text = not (a.load and not a.text)
    text, files = read_corpus(a.text or [os.path.join(ROOT, "data/text/shakespeare")]) if score_text else ("", [])
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    cut = int(len(ids) * (1.0 - a.val_fraction))
    train, val = ids[:cut], ids[cut:]
    print(f"text: {len(ids)} characters from {len(files)} file(s), vocabulary of {len(chars)} characters")

    if a.load:
        folder = os.path.dirname(a.load)
        saved = json.load(open(os.path.join(folder, "config.json")))
        chars = json.load(open(os.path.join(folder, "vocab.json")))["chars"]
        stoi = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([stoi[c] for c in text], dtype=torch.long)
        train, val = ids[:cut], ids[cut:]
        m = saved["model"]
        a.block_size, a.n_layer, a.n_head, a.n_embd = m["block_size"], m["n_layer"], m["n_head"], m["n_embd"]
    torch.manual_seed(a.seed)
    model = GPT(vocab_size=len(chars), block_size=a.block_size, n_layer=a.n_layer, n_head=a.n_head,
                n_embd=a.n_embd, dropout=a.dropout)
    if a.load:
        from safetensors.torch import load_file
        state = load_file(a.load)
        state["lm_head.weight"] = state["transformer.wte.weight"]  # the tied head
        model.load_state_dict(state)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, a.beta2), weight_decay=a.weight_decay)
    if a.quantize_dynamic:
        if not a.load:
            raise SystemExit("--quantize-dynamic runs a loaded model: add --load M")
        model = quantize_dynamic(model)
    evals = []

    def evaluate(step, lr):
        e = {"step": step, "train": score(windows_loss(model, train, a, 0)),
             "val": score(windows_loss(model, val, a, 1)), "lr": lr}
        evals.append(e)
        print(f"step {step}: train loss {e['train']['loss']:.4f} · val loss {e['val']['loss']:.4f}")

    clipped, seconds = 0, 0.0
    if a.load:
        a.max_steps = 0
    else:
        evaluate(0, 0.0)
    model.train()
    for step in range(a.max_steps):
        start = time.perf_counter()
        lr = lr_at(a, step)
        for g in opt.param_groups:
            g["lr"] = lr
        torch.manual_seed(step_seed(a.seed, 0, step))
        x, y = windows(train, a.block_size, a.batch_size)
        loss = lm_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        if a.clip_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_grad_norm)
            clipped += int(norm.item() > a.clip_grad_norm)
        opt.step()
        seconds += time.perf_counter() - start
        done = step + 1
        if done % a.eval_every == 0 or done == a.max_steps:
            evaluate(done, lr)
    val_score, base = None, None
    if score_text:
        uni, bi = baselines(train, val, len(chars))
        val_score = score(full_text_loss(model, val, a.block_size))
        base = {"unigram": score(uni), "bigram": score(bi)}
        print(f"validation: GPT {val_score['loss']:.4f}, bigram {bi:.4f}, unigram {uni:.4f}")
    n = a.generate if a.load else 500
    torch.manual_seed(a.seed)

    def stream(i):  # each character as it is drawn, as generate.rs prints it
        sys.stdout.write(chars[i])
        sys.stdout.flush()

    samples = []
    sys.stdout.write("sample:\n")
    for k in range(a.num_samples):
        if k:
            sys.stdout.write("\n---------------\n")
        samples.append("".join(chars[i] for i in generate(model, [stoi[c] for c in a.prompt], n, a, stream)))
    print()
    report = {
        "text_chars": len(ids), "vocab_size": len(chars),
        "parameters": sum(p.numel() for p in model.parameters()),
        "training": None if a.load else
        {"evals": evals, "clipped_steps": clipped, "steps": a.max_steps, "train_seconds": seconds},
        "val": val_score,
        "baselines": base,
        "samples": samples,
    }
    if a.save:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}, a.save)
    if a.metrics_json:
        with open(a.metrics_json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
