"""Writes, from one safetensors file of the tutorial's CNN, the PyTorch
checkpoints users have, for tests/checkpoint_formats.rs:

  python parity/write_torch_checkpoints.py SRC.safetensors OUT_DIR

Readable: plain.pt (torch.save(model.state_dict())), train.pth (a training
checkpoint dict), module.bin (nn.DataParallel), orig_mod.pt (torch.compile),
both.pt (DataParallel around torch.compile), legacy.pt (the pre-1.6 format),
f16.pt, bf16.pt, f64.pt (other dtypes) with expected_f16/bf16.safetensors
(PyTorch's .to(dtype).float() of the same weights).
Refused: whole_module.pt (torch.save(model)), script.pt (torch.jit.save),
int_weight.pt, bool_weight.pt, nan_weight.pt, inf_weight.pt, ema_only.pt
(a dict with no state_dict key), tensor.pt (one tensor).
"""
import collections
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
    torch.save(nn.DataParallel(model).state_dict(), path("module.bin"))
    torch.save(torch.compile(model).state_dict(), path("orig_mod.pt"))
    torch.save(nn.DataParallel(torch.compile(model)).state_dict(), path("both.pt"))
    torch.save(sd, path("legacy.pt"), _use_new_zipfile_serialization=False)

    for name, dtype in [("f16", torch.float16), ("bf16", torch.bfloat16), ("f64", torch.float64)]:
        torch.save(collections.OrderedDict((k, v.to(dtype)) for k, v in sd.items()),
                   path(f"{name}.pt"))
        save_file({k: v.to(dtype).float().contiguous() for k, v in sd.items()},
                  path(f"expected_{name}.safetensors"))

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


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
