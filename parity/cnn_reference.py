"""Writes the PyTorch reference the Rust CNN parity test compares against.

  init.safetensors       the model's initial state_dict after torch.manual_seed(seed)
  batches.safetensors    xs [steps, batch, 1, 28, 28], ys [steps, batch] (real MNIST)
  reference.safetensors  logits and loss of batch 0, grad.<name> of every parameter,
                         after.<name>: weights after `steps` SGD steps, one per batch

--device cuda computes the reference on the GPU (the model is built on the CPU right
after the seed, then moved; the batches are moved once); everything is saved from the
CPU. The CUDA backend flags are libtorch's defaults, as the Rust side has them
(common.use_device; cuDNN deterministic stays off, as tch cannot turn it on).
"""
import argparse
import os

import torch
from safetensors.torch import save_file

from common import load_mnist, use_device
from models import CNN

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--weight-decay", type=float, default=0.0)
p.add_argument("--no-logit-relu", action="store_true")
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
device = use_device(a.device)

torch.manual_seed(a.seed)
model = CNN(logit_relu=not a.no_logit_relu)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(a.out, "init.safetensors"))

train_x, train_y, _, _ = load_mnist(train_limit=a.batch * a.steps, test_limit=1)
xs = train_x.view(a.steps, a.batch, 1, 28, 28)
ys = train_y.view(a.steps, a.batch)
save_file({"xs": xs.contiguous(), "ys": ys.contiguous()}, os.path.join(a.out, "batches.safetensors"))
model, xs, ys = model.to(device), xs.to(device), ys.to(device)  # no-ops on the CPU

ref = {}
criterion = torch.nn.CrossEntropyLoss()
logits = model(xs[0])
loss = criterion(logits, ys[0])
loss.backward()
ref["logits"] = logits.detach()
ref["loss"] = loss.detach()
for name, prm in model.named_parameters():
    ref["grad." + name] = prm.grad.detach().clone()

model.zero_grad()
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)
for step in range(a.steps):
    opt.zero_grad()
    criterion(model(xs[step]), ys[step]).backward()
    opt.step()
for name, prm in model.named_parameters():
    ref["after." + name] = prm.detach().clone()
save_file({k: v.cpu().contiguous() for k, v in ref.items()}, os.path.join(a.out, "reference.safetensors"))
