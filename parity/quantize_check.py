"""int8 weights (issue 22, item 3) in PyTorch, for tests/it/quantize.rs: the weights a Rust
test wrote, quantized by gpt-fast's formula, and the int8 matmul of libtorch's
`torch._weight_int8pack_mm` on the Rust side's own int8 weights, scales and inputs.

    .venv/bin/python parity/quantize_check.py --inputs in.safetensors --out out.safetensors

For every tensor `w.NAME` of --inputs, --out gets `q.NAME` (int8) and `s.NAME` (float32
scales) from `quantize_per_channel` below; for every `x.NAME` (input `[..., K]`) with
`q.NAME`, `s.NAME` and `b.NAME` (int8 `[N, K]`, scales `[N]`, bias `[N]`), --out gets
`y.NAME` = `_weight_int8pack_mm(x, q, s) + b`, the leading dimensions of x flattened.
"""
import argparse

import torch
from safetensors.torch import load_file, save_file


def quantize_per_channel(w):
    """gpt-fast's quantize.py, `dynamically_quantize_per_channel(w.float(), -128, 127,
    torch.int8)` line for line (a weight of more than 2 dimensions by its rows)."""
    x = w.float().reshape(w.shape[0], -1)
    quant_min, quant_max = -128, 127
    eps = torch.finfo(torch.float32).eps
    min_val, max_val = torch.aminmax(x, dim=1)
    min_val_neg = torch.min(min_val, torch.zeros_like(min_val))
    max_val_pos = torch.max(max_val, torch.zeros_like(max_val))
    max_val_pos = torch.max(-min_val_neg, max_val_pos)
    scales = max_val_pos / (float(quant_max - quant_min) / 2)
    scales = torch.clamp(scales, min=eps).to(x.dtype)
    zero_points = torch.zeros(min_val_neg.size(), dtype=torch.int64)
    x_div = x / scales.unsqueeze(-1)
    x_round = torch.round(x_div)
    x_zp = x_round + zero_points.unsqueeze(-1)
    quant = torch.clamp(x_zp, quant_min, quant_max).to(torch.int8)
    return quant.reshape(w.shape), scales


def int8_linear(x, q, s, b):
    """The int8 Linear of torchao/gpt-fast on the CPU: `_weight_int8pack_mm` on 2-D rows."""
    y = torch._weight_int8pack_mm(x.reshape(-1, x.shape[-1]).contiguous(), q, s)
    return y.reshape(*x.shape[:-1], q.shape[0]) + b


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    t = load_file(a.inputs)
    out = {}
    for key in t:
        kind, _, name = key.partition(".")
        if kind == "w":
            out[f"q.{name}"], out[f"s.{name}"] = quantize_per_channel(t[key])
        elif kind == "x":
            with torch.no_grad():
                out[f"y.{name}"] = int8_linear(t[key], t[f"q.{name}"], t[f"s.{name}"], t[f"b.{name}"])
    save_file({k: v.contiguous() for k, v in out.items()}, a.out)
    print(f"wrote {len(out)} tensors to {a.out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
