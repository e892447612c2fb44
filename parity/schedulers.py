"""Prints the learning rate PyTorch's schedulers set for each epoch, as JSON:
what the Rust `LrSchedule::lrs` must reproduce bit for bit.

    .venv/bin/python parity/schedulers.py --lr 0.1 --epochs 12 step --step-size 3 --gamma 0.5
    .venv/bin/python parity/schedulers.py --lr 0.1 --epochs 12 cosine --t-max 5 --eta-min 0.001
"""
import argparse
import json
import warnings

import torch

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--epochs", type=int, required=True)
sub = p.add_subparsers(dest="kind", required=True)
s = sub.add_parser("step")
s.add_argument("--step-size", type=int, required=True)
s.add_argument("--gamma", type=float, required=True)
c = sub.add_parser("cosine")
c.add_argument("--t-max", type=int, required=True)
c.add_argument("--eta-min", type=float, required=True)
a = p.parse_args()

opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=a.lr)
if a.kind == "step":
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=a.step_size, gamma=a.gamma)
else:
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.t_max, eta_min=a.eta_min)
lrs = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": no training here
    for _ in range(a.epochs):
        lrs.append(opt.param_groups[0]["lr"])  # the rate this epoch trains with
        opt.step()
        sched.step()
# repr() keeps every bit of the doubles
print(json.dumps([repr(float(x)) for x in lrs]))
