"""Prints the learning rate PyTorch's schedulers set for each epoch, as JSON:
what the Rust `LrSchedule::lrs` must reproduce bit for bit.

    .venv/bin/python parity/schedulers.py --lr 0.1 --epochs 12 step --step-size 3 --gamma 0.5
    .venv/bin/python parity/schedulers.py --lr 0.1 --epochs 12 cosine --t-max 5 --eta-min 0.001

With --warmup-steps N --steps-per-epoch K: the rate of every optimizer step instead (epochs·K
of them), from the LambdaLR of parity/common.py's warmup_scheduler over those epoch rates
(`constant` for no epoch schedule), stepped after every step as a training loop does.
"""
import argparse
import json
import warnings

import torch

from common import warmup_scheduler

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--epochs", type=int, required=True)
p.add_argument("--warmup-steps", type=int, default=0)
p.add_argument("--steps-per-epoch", type=int, default=1)
sub = p.add_subparsers(dest="kind", required=True)
sub.add_parser("constant")
s = sub.add_parser("step")
s.add_argument("--step-size", type=int, required=True)
s.add_argument("--gamma", type=float, required=True)
c = sub.add_parser("cosine")
c.add_argument("--t-max", type=int, required=True)
c.add_argument("--eta-min", type=float, required=True)
a = p.parse_args()

opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=a.lr)
if a.kind == "constant":
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
elif a.kind == "step":
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
if a.warmup_steps:
    # The rates of every optimizer step under the warm-up, over those epoch rates.
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=a.lr)
    warm = warmup_scheduler(opt, a.warmup_steps, a.steps_per_epoch,
                            None if a.kind == "constant" else lrs)
    lrs = []
    for _ in range(a.epochs * a.steps_per_epoch):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        warm.step()
# repr() keeps every bit of the doubles
print(json.dumps([repr(float(x)) for x in lrs]))
