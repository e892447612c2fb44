"""Writes the PyTorch reference the Rust transformer_seq parity tests compare against.

  --arch transformer: the model of parity/models.py::SeqTransformer (an
  nn.TransformerEncoder of nn.TransformerEncoderLayer, batch_first, post-norm, ReLU)
  --arch lstm:        parity/models.py::SeqLSTM (the tutorial's nn.LSTM(10, 50) + nn.Linear(50, 1))

Files written to --out:
  init.safetensors       state_dict right after torch.manual_seed(seed) and construction
  batches.safetensors    xs [steps, batch, seq, 10], ys [steps, batch, seq, 1] (seeded randn);
                         for the transformer also layer_in [batch, seq, d_model] and
                         layer_gw [batch, seq, d_model] (the weights of the layer-level loss)
  reference.safetensors  eval mode, gradients on (PyTorch's "slow" path, the one that
                         can back-propagate): out, loss = MSE(out, ys[0]), grad.<name>;
                         eval mode under no_grad (the path inference takes; for the
                         transformer nn.TransformerEncoderLayer may take its fused fast
                         path there): out_nograd;
                         transformer only: attn (last layer, per head, eval), and for
                         encoder.layers.0 alone: layer_out, layer_loss = sum(layer_out * layer_gw),
                         layer_grad.<name>, layer_grad_in (gradient w.r.t. its input);
                         after.<name>: weights after `steps` SGD steps in train mode (dropout 0)
  fastpath.txt           how many layers took PyTorch's fused fast path for out_nograd

--device cuda computes the reference on the GPU: the model is built on the CPU right after
the seed, then moved; the inputs are drawn on the CPU (same generator, same order) and
moved; everything is saved from the CPU. The CUDA backend flags are libtorch's defaults,
as the Rust side has them (common.use_device).
"""
import argparse
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

from common import use_device
from models import SeqLSTM, SeqTransformer

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
p.add_argument("--arch", choices=["transformer", "lstm"], default="transformer")
p.add_argument("--causal", action="store_true")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--seq", type=int, default=12)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--momentum", type=float, default=0.9)
p.add_argument("--d-model", type=int, default=64)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--ff-dim", type=int, default=128)
p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
a = p.parse_args()
os.makedirs(a.out, exist_ok=True)
device = use_device(a.device)


def save(tensors, name):
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, os.path.join(a.out, name))


torch.manual_seed(a.seed)
if a.arch == "transformer":
    # dropout 0: the eval-mode results do not depend on it, and the SGD steps
    # run in train mode, where only dropout 0 is deterministic.
    model = SeqTransformer(10, a.d_model, a.heads, a.layers, a.ff_dim, dropout=0.0, causal=a.causal)
else:
    model = SeqLSTM(10, 50, 1)
save(model.state_dict(), "init.safetensors")

g = torch.Generator().manual_seed(1234)
xs = torch.randn(a.steps, a.batch, a.seq, 10, generator=g)
ys = torch.randn(a.steps, a.batch, a.seq, 1, generator=g)
batches = {"xs": xs, "ys": ys}
model, xs, ys = model.to(device), xs.to(device), ys.to(device)  # no-ops on the CPU
ref = {}
criterion = nn.MSELoss()

model.eval()
out = model(xs[0])
loss = criterion(out, ys[0])
loss.backward()
ref["out"] = out
ref["loss"] = loss
for name, prm in model.named_parameters():
    ref["grad." + name] = prm.grad.clone()
model.zero_grad()
# Count calls of the fused kernel nn.TransformerEncoderLayer uses on its fast path.
fused_calls = [0]
_fused = torch._transformer_encoder_layer_fwd


def _counting_fused(*args, **kwargs):
    fused_calls[0] += 1
    return _fused(*args, **kwargs)


torch._transformer_encoder_layer_fwd = _counting_fused
with torch.no_grad():
    ref["out_nograd"] = model(xs[0])
torch._transformer_encoder_layer_fwd = _fused

fast = "n/a (lstm)"
if a.arch == "transformer":
    with torch.no_grad():
        ref["attn"] = model.last_attention(xs[0])
    layer = model.encoder.layers[0]
    mask = model.mask(a.seq, xs.device)
    h = torch.randn(a.batch, a.seq, a.d_model, generator=g).to(device).requires_grad_(True)
    gw = torch.randn(a.batch, a.seq, a.d_model, generator=g).to(device)
    batches["layer_in"], batches["layer_gw"] = h.detach(), gw
    layer_out = layer(h, src_mask=mask)
    layer_loss = (layer_out * gw).sum()
    layer_loss.backward()
    ref["layer_out"], ref["layer_loss"], ref["layer_grad_in"] = layer_out, layer_loss, h.grad
    for name, prm in layer.named_parameters():
        ref["layer_grad." + name] = prm.grad.clone()
    model.zero_grad()
    fast = f"fused fast path taken by {fused_calls[0]} of {len(model.encoder.layers)} layers under no_grad"
with open(os.path.join(a.out, "fastpath.txt"), "w") as f:
    f.write(fast + "\n")

model.train()
opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
for step in range(a.steps):
    opt.zero_grad()
    criterion(model(xs[step]), ys[step]).backward()
    opt.step()
for name, prm in model.named_parameters():
    ref["after." + name] = prm.clone()
save(batches, "batches.safetensors")
save(ref, "reference.safetensors")
