"""PyTorch twin of `rnn_series --load CKPT --csv ... --forecast N`: the same
checkpoint (safetensors), the same configuration and scaler (its config.json),
the same recursive forecast from the end of a series the model never saw.

    .venv/bin/python parity/forecast_series.py --load runs/m.safetensors \
        --csv data/series/co2.csv --column co2 --missing interpolate --steps 12 --json out.json

Mirrors `tasks::rnn_series::forecast`: the last `window` values are scaled in
float64 with the saved mean and std, fed as float32 `[1, window, 1]`; each
prediction (float32, read as float64) is appended to the window and the oldest
value dropped; the predictions are unscaled at the end.
"""
import argparse

import torch

from common import load_state_dict, read_config, write_json
from models import RNN
from rnn_series import load_csv


def forecast(model, values, window, mean, std, steps):
    recent = [(v - mean) / std for v in values[-window:]]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            xs = torch.tensor(recent, dtype=torch.float32).view(1, len(recent), 1)
            nxt = float(model(xs)[0, 0].double())
            recent = recent[1:] + [nxt]
            out.append(nxt)
    return [v * std + mean for v in out]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--load", required=True, help="safetensors checkpoint with config.json beside it")
    p.add_argument("--csv", required=True)
    p.add_argument("--column", required=True)
    p.add_argument("--missing", choices=["error", "drop", "interpolate"], default="error")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--json")
    a = p.parse_args()
    cfg = read_config(a.load)
    m = cfg["model"]
    model = RNN(m["input_size"], m["hidden"], m["output_size"], m["cell"], m["layers"])
    load_state_dict(model, a.load)
    model.eval()
    values = load_csv(a.csv, a.column, a.missing)
    sc = cfg["scaler"]
    out = forecast(model, values, cfg["window"], sc["mean"], sc["std"], a.steps)
    write_json(a.json, {"forecast": out, "points": len(values)})
    print(" ".join(f"{v:.6f}" for v in out))


if __name__ == "__main__":
    main()
