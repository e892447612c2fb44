"""Writes the PyTorch reference the Rust GPT of transformer_lm is compared against
(tests/transformer_lm_parity.rs): nanoGPT's model (parity/models.py::GPT).

Files written to --out:
  init.safetensors       state_dict right after torch.manual_seed(seed) and construction,
                         without lm_head.weight (the same tensor as transformer.wte.weight)
  batches.safetensors    idx, targets [steps, batch, t] int64 (a seeded generator)
  reference.safetensors  train mode, dropout 0: logits, loss = cross_entropy (nanoGPT's, mean
                         over tokens), grad.<name>; eval mode under no_grad: logits_nograd;
                         dropout --dropout in train mode after torch.manual_seed(7):
                         logits_dropout; after.<name>: the weights after `steps` AdamW steps
                         (lr 1e-3, betas (0.9, 0.95), weight decay 0.1: nanoGPT's) with
                         clip_grad_norm_(1.0) before each step, dropout 0
"""
import argparse
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from models import GPT

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--vocab", type=int, default=65)
p.add_argument("--block-size", type=int, default=16)
p.add_argument("--n-layer", type=int, default=2)
p.add_argument("--n-head", type=int, default=4)
p.add_argument("--n-embd", type=int, default=32)
p.add_argument("--no-bias", action="store_true")
p.add_argument("--batch", type=int, default=3)
p.add_argument("--steps", type=int, default=4)
p.add_argument("--dropout", type=float, default=0.1)
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)


def save(tensors, name):
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, os.path.join(a.out, name))


shape = dict(vocab_size=a.vocab, block_size=a.block_size, n_layer=a.n_layer, n_head=a.n_head,
             n_embd=a.n_embd, bias=not a.no_bias)
torch.manual_seed(a.seed)
model = GPT(dropout=0.0, **shape)
init = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
save(init, "init.safetensors")

g = torch.Generator().manual_seed(1234)
idx = torch.randint(a.vocab, (a.steps, a.batch, a.block_size), generator=g)
targets = torch.randint(a.vocab, (a.steps, a.batch, a.block_size), generator=g)
save({"idx": idx, "targets": targets}, "batches.safetensors")


def lm_loss(logits, y):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1), ignore_index=-1)


ref = {}
model.train()
logits = model(idx[0])
loss = lm_loss(logits, targets[0])
loss.backward()
ref["logits"], ref["loss"] = logits, loss
for name, prm in model.named_parameters():
    ref["grad." + name] = prm.grad.clone()
model.zero_grad()
model.eval()
with torch.no_grad():
    ref["logits_nograd"] = model(idx[0])

dropped = GPT(dropout=a.dropout, **shape)
dropped.load_state_dict(model.state_dict())
dropped.train()
torch.manual_seed(7)
ref["logits_dropout"] = dropped(idx[0])

model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
for step in range(a.steps):
    opt.zero_grad()
    lm_loss(model(idx[step]), targets[step]).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
for name, prm in model.named_parameters():
    ref["after." + name] = prm.clone()
save(ref, "reference.safetensors")
