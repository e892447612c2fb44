"""Writes the PyTorch reference the Rust RNN/LSTM/GRU parity test compares against.

  init.safetensors       the model's initial state_dict after torch.manual_seed(seed)
  batches.safetensors    xs [steps, batch, time, 1], ys [steps, batch, 1]
                         (random normal sequences and targets, seeded)
  reference.safetensors  outputs and loss of batch 0, grad.<name> of every parameter,
                         after.<name>: weights after `steps` SGD steps, one per batch

--device cuda computes the reference on the GPU (cuDNN's RNN kernels): the model is built
on the CPU right after the seed, then moved, the batches are drawn on the CPU and moved
once; everything is saved from the CPU. The CUDA backend flags are libtorch's defaults,
as the Rust side has them (common.use_device).
"""
import argparse
import os

import torch
from safetensors.torch import save_file

from common import use_device
from models import RNN

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn")
p.add_argument("--hidden", type=int, default=10)
p.add_argument("--layers", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--time", type=int, default=20)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
device = use_device(a.device)

torch.manual_seed(a.seed)
model = RNN(1, a.hidden, 1, cell=a.cell, num_layers=a.layers)
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(a.out, "init.safetensors"))

g = torch.Generator().manual_seed(1000 + a.seed)
xs = torch.randn(a.steps, a.batch, a.time, 1, generator=g)
ys = torch.randn(a.steps, a.batch, 1, generator=g)
save_file({"xs": xs.contiguous(), "ys": ys.contiguous()}, os.path.join(a.out, "batches.safetensors"))
model, xs, ys = model.to(device), xs.to(device), ys.to(device)  # no-ops on the CPU

ref = {}
criterion = torch.nn.MSELoss()
outputs = model(xs[0])
loss = criterion(outputs, ys[0])
loss.backward()
ref["outputs"] = outputs.detach()
ref["loss"] = loss.detach()
for name, prm in model.named_parameters():
    ref["grad." + name] = prm.grad.detach().clone()

model.zero_grad()
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
for step in range(a.steps):
    opt.zero_grad()
    criterion(model(xs[step]), ys[step]).backward()
    opt.step()
for name, prm in model.named_parameters():
    ref["after." + name] = prm.detach().clone()
save_file({k: v.cpu().contiguous() for k, v in ref.items()}, os.path.join(a.out, "reference.safetensors"))
