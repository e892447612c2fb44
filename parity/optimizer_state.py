"""An optimizer state as the Rust checkpoints keep it, to and from PyTorch's
`optimizer.state_dict()`:

  optimizer.safetensors  beside the weights: state.{i}.exp_avg, state.{i}.exp_avg_sq,
                         state.{i}.step, state.{i}.momentum_buffer
  optimizer.json         {"param_groups": [...]} (params: indices in the model's order)

    from optimizer_state import load, save
    opt.load_state_dict(load("runs/cnn_mnist/checkpoint.safetensors"))   # continue in PyTorch
    save(opt.state_dict(), "runs/cnn_mnist/checkpoint.safetensors")      # and back

`check TRAIN.PTH CHECKPOINT STEPS` (tests/checkpoint_formats.rs): continues the CNN
and Adam of a training checkpoint STEPS steps twice, once with the optimizer state of
TRAIN.PTH and once with the converted files beside CHECKPOINT, and exits 1 unless
the weights are identical.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file, save_file


def _paths(checkpoint):
    folder = os.path.dirname(checkpoint)
    return os.path.join(folder, "optimizer.safetensors"), os.path.join(folder, "optimizer.json")


def load(checkpoint):
    """The dict `optimizer.load_state_dict` takes, from the files beside `checkpoint`."""
    tensors_path, json_path = _paths(checkpoint)
    state = {}
    for name, tensor in load_file(tensors_path).items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = tensor
    with open(json_path) as f:
        groups = json.load(f)["param_groups"]
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    return {"state": state, "param_groups": groups}


def save(state_dict, checkpoint):
    """Writes `optimizer.state_dict()` as the two files beside `checkpoint`."""
    tensors_path, json_path = _paths(checkpoint)
    save_file({f"state.{i}.{k}": v.contiguous() for i, s in state_dict["state"].items()
               for k, v in s.items()}, tensors_path)
    with open(json_path, "w") as f:
        json.dump({"param_groups": state_dict["param_groups"]}, f, indent=2)


def _check(train_pth, checkpoint, steps):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from models import CNN
    saved = torch.load(train_pth, weights_only=True)
    finals = []
    for state in (saved["optimizer"], load(checkpoint)):
        model = CNN()
        model.load_state_dict(saved["state_dict"])
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        opt.load_state_dict(state)
        torch.manual_seed(1)
        for _ in range(steps):
            opt.zero_grad()
            model(torch.rand(4, 1, 28, 28)).sum().backward()
            opt.step()
        finals.append(model.state_dict())
    diff = max((finals[0][k] - finals[1][k]).abs().max().item() for k in finals[0])
    print(f"largest weight difference after {steps} steps: {diff}")
    sys.exit(0 if diff == 0 else 1)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "check":
        raise SystemExit("usage: optimizer_state.py check TRAIN.PTH CHECKPOINT STEPS")
    _check(sys.argv[2], sys.argv[3], int(sys.argv[4]))
