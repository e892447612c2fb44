"""Writes, from one safetensors file of the tutorial's CNN, the PyTorch
checkpoints users have, for tests/checkpoint_formats.rs:

  python parity/write_torch_checkpoints.py SRC.safetensors OUT_DIR

Readable: plain.pt (torch.save(model.state_dict())), train.pth (a training
checkpoint dict), module.bin (nn.DataParallel), orig_mod.pt (torch.compile),
both.pt (DataParallel around torch.compile), legacy.pt (the pre-1.6 format),
f16.pt, bf16.pt, f64.pt (other dtypes), lightning.ckpt (a PyTorch Lightning
checkpoint of a LightningModule holding the CNN as self.model: keys `model.*`),
net.pt (keys `net.*`), backbone.pt (keys `backbone.*` plus a `criterion.weight`) with expected_f16/bf16.safetensors
(PyTorch's .to(dtype).float() of the same weights).
train_adam.pth: the short spelling ("state_dict", "optimizer") of an Adam run's
checkpoint after 3 steps, with adam_state.safetensors (its optimizer tensors by
the names state.{i}.{name}) and adam_param_groups.json (param_groups as JSON).
Refused as training checkpoints: plain.pt (no optimizer), no_epoch.pth.
Refused: whole_module.pt (torch.save(model)), script.pt (torch.jit.save),
int_weight.pt, bool_weight.pt, nan_weight.pt, inf_weight.pt, ema_only.pt
(a dict with no state_dict key), tensor.pt (one tensor).
"""
import collections
import json
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import CNN  # noqa: E402


def main(src, out):
    os.makedirs(out, exist_ok=True)
    path = lambda name: os.path.join(out, name)  # noqa: E731
    model = CNN()
    model.load_state_dict(load_file(src))
    sd = model.state_dict()  # an OrderedDict with _metadata, as users save it

    torch.save(sd, path("plain.pt"))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(torch.zeros(2, 1, 28, 28)).sum().backward()
    opt.step()  # momentum buffers: the optimizer state holds tensors too
    model.load_state_dict(load_file(src))  # back to the source weights
    torch.save(
        {"epoch": 3, "model_state_dict": model.state_dict(),
         "optimizer_state_dict": opt.state_dict(), "loss": 0.1},
        path("train.pth"))
    write_adam_checkpoint(model, path)
    model.load_state_dict(load_file(src))
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               path("no_epoch.pth"))
    torch.save(nn.DataParallel(model).state_dict(), path("module.bin"))
    torch.save(torch.compile(model).state_dict(), path("orig_mod.pt"))
    torch.save(nn.DataParallel(torch.compile(model)).state_dict(), path("both.pt"))
    torch.save(sd, path("legacy.pt"), _use_new_zipfile_serialization=False)

    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        torch.save(collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items()),
                   path(f"{name}.pt"))
        save_file({k: v.to(dtype).float().contiguous() for k, v in sd.items()},
                  path(f"expected_{name}.safetensors"))

    torch.save(
        {"epoch": 2, "global_step": 120, "pytorch-lightning_version": "2.4.0",
         "state_dict": collections.OrderedDict(("model." + k, v) for k, v in sd.items()),
         "loops": {}, "callbacks": {}, "optimizer_states": [opt.state_dict()],
         "lr_schedulers": [], "hparams_name": "kwargs", "hyper_parameters": {"lr": 0.01}},
        path("lightning.ckpt"))
    torch.save(collections.OrderedDict(("net." + k, v) for k, v in sd.items()), path("net.pt"))
    backbone = collections.OrderedDict(("backbone." + k, v) for k, v in sd.items())
    backbone["criterion.weight"] = torch.ones(10)
    torch.save(backbone, path("backbone.pt"))

    torch.save(model, path("whole_module.pt"))
    torch.jit.script(model).save(path("script.pt"))
    broken = {
        "int_weight.pt": lambda t: t.to(torch.int32),
        "bool_weight.pt": lambda t: t > 0,
        "nan_weight.pt": lambda t: t.index_fill(0, torch.tensor([0, 5, 7]), float("nan")),
        "inf_weight.pt": lambda t: t.index_fill(0, torch.tensor([2]), float("inf")),
    }
    for name, spoil in broken.items():
        spoiled = collections.OrderedDict(sd)
        spoiled["conv1.weight"] = spoil(sd["conv1.weight"]).contiguous()
        torch.save(spoiled, path(name))
    torch.save({"ema": sd, "step": 10}, path("ema_only.pt"))
    torch.save(sd["fc.bias"], path("tensor.pt"))


def write_adam_checkpoint(model, path):
    """train_adam.pth after 3 Adam steps, and what its optimizer state holds."""
    adam = torch.optim.Adam(model.parameters(), lr=0.001)
    torch.manual_seed(0)
    for _ in range(3):
        adam.zero_grad()
        model(torch.rand(4, 1, 28, 28)).sum().backward()
        adam.step()
    state = adam.state_dict()
    torch.save({"state_dict": model.state_dict(), "optimizer": state, "epoch": 1}, path("train_adam.pth"))
    save_file({f"state.{i}.{k}": v.contiguous() for i, s in state["state"].items() for k, v in s.items()},
              path("adam_state.safetensors"))
    with open(path("adam_param_groups.json"), "w") as f:
        json.dump(state["param_groups"], f)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
