"""Runs K steps of torch.optim (foreach=False: the single-tensor path) on given
parameters and gradients, optionally clipping the gradients first with
torch.nn.utils.clip_grad_norm_(foreach=False), and writes the parameters and the
optimizer's state_dict: what tests/optim_parity.rs compares Rust's run with.

    .venv/bin/python parity/optim_steps.py --input in.safetensors --out out.safetensors \
        --steps 6 --optimizer adam --lr 0.01 --weight-decay 0.1 --clip-grad-norm 0.5

in.safetensors holds `param.{i}` (i = 0..) and `grad.{k}.{i}` (step k = 0..steps-1).
out.safetensors: `param.{i}` after the steps, `state.{i}.{key}` (optimizer.state_dict()),
`total_norm.{k}` (with clipping), and `__param_groups` is printed as JSON on stdout.
"""
import argparse
import json

import torch
from safetensors.torch import load_file, save_file

p = argparse.ArgumentParser()
p.add_argument("--input", required=True)
p.add_argument("--out", required=True)
p.add_argument("--steps", type=int, required=True)
p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.0)
p.add_argument("--dampening", type=float, default=0.0)
p.add_argument("--nesterov", action="store_true")
p.add_argument("--weight-decay", type=float, default=None)
p.add_argument("--beta1", type=float, default=0.9)
p.add_argument("--beta2", type=float, default=0.999)
p.add_argument("--eps", type=float, default=1e-8)
p.add_argument("--clip-grad-norm", type=float, default=None)
a = p.parse_args()

t = load_file(a.input)
n = sum(1 for k in t if k.startswith("param."))
params = [torch.nn.Parameter(t[f"param.{i}"].clone()) for i in range(n)]
if a.optimizer == "sgd":
    opt = torch.optim.SGD(params, lr=a.lr, momentum=a.momentum, dampening=a.dampening,
                          nesterov=a.nesterov, weight_decay=a.weight_decay or 0.0, foreach=False)
else:
    cls = torch.optim.Adam if a.optimizer == "adam" else torch.optim.AdamW
    extra = {} if a.weight_decay is None else {"weight_decay": a.weight_decay}
    opt = cls(params, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps, foreach=False, **extra)
out = {}
for k in range(a.steps):
    opt.zero_grad()
    for i, q in enumerate(params):
        q.grad = t[f"grad.{k}.{i}"].clone()
    if a.clip_grad_norm is not None:
        total = torch.nn.utils.clip_grad_norm_(params, a.clip_grad_norm, foreach=False)
        out[f"total_norm.{k}"] = total.reshape(1)
    opt.step()
for i, q in enumerate(params):
    out[f"param.{i}"] = q.detach().clone()
sd = opt.state_dict()
for i, st in sd["state"].items():
    for key, v in st.items():
        out[f"state.{i}.{key}"] = v.detach().clone().reshape(v.shape)
save_file(out, a.out)
print(json.dumps(sd["param_groups"]))
