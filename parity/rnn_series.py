"""PyTorch twin of `cargo run --release --example rnn_series` (src/tasks/series.rs):
the tutorial's section 4.2 script made concrete, on the same data, windows,
split, scaling, initial weights (same torch.manual_seed, same construction
order) and batch order (parity/common.py's permutation) as the Rust run.

    .venv/bin/python parity/rnn_series.py                      # sunspots, tutorial settings
    .venv/bin/python parity/rnn_series.py --cell lstm --json runs/twin-lstm.json
    .venv/bin/python parity/rnn_series.py --device cuda          # model and data sets on the GPU

Prints the test MSE/RMSE/MAE beside the persistence and training-mean
baselines and the seconds per epoch (training only, as the Rust report), and
writes them with the per-epoch losses and the test predictions to --json.
With --device cuda the model and the three window sets are moved to the GPU once,
batches are gathered there, and only the losses and predictions come back.

Every data function mirrors src/data/series.rs line for line; where the
tutorial is silent or wrong, the same choices are made (see build-notes.md, rnn_series):
inputs are [batch, window, 1] (the tutorial's `inputs.unsqueeze(1)` would give
[batch, 1, window], which nn.RNN(input_size=1) rejects), targets [batch, 1].
"""
import argparse
import math
import sys
import time

import torch

from common import load_state_dict, quantize_dynamic, SplitMix64, add_device_flags, add_optim_args, clip_gradients, make_optimizer, epoch_order, step_seed, use_device, write_json
from models import RNN


# ---- src/data/series.rs ------------------------------------------------------

def split_csv_line(line):
    fields, field, quoted, i = [], "", False, 0
    while i < len(line):
        c = line[i]
        if quoted:
            if c == '"' and i + 1 < len(line) and line[i + 1] == '"':
                field += '"'
                i += 1
            elif c == '"':
                quoted = False
            else:
                field += c
        elif c == '"' and field.strip() == "":
            field, quoted = "", True
        elif c == ",":
            fields.append(field.strip())
            field = ""
        else:
            field += c
        i += 1
    if quoted:
        return None
    fields.append(field.strip())
    return fields


def parse_number(cell):
    if cell is None:
        return None
    try:
        v = float(cell)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def interpolate(cells):
    known = [i for i, c in enumerate(cells) if c is not None]
    if not known:
        return [], 0
    first, last = known[0], known[-1]
    out, filled, prev = [], 0, first
    for i in range(first, last + 1):
        if cells[i] is not None:
            out.append(cells[i])
            prev = i
        else:
            nxt = next(j for j in range(i, last + 1) if cells[j] is not None)
            a, b = cells[prev], cells[nxt]
            t = (i - prev) / (nxt - prev)
            out.append(a + (b - a) * t)
            filled += 1
    return out, filled


def load_csv(path, column, missing):
    with open(path) as f:
        lines = [(i + 1, l.rstrip("\n").rstrip("\r")) for i, l in enumerate(f)]
    lines = [(n, l) for n, l in lines if l.strip()]
    names = split_csv_line(lines[0][1])
    if column in names:
        col = names.index(column)
    else:
        col = [n.lower() for n in names].index(column.lower())
    cells = []
    for n, line in lines[1:]:
        fields = split_csv_line(line)
        v = parse_number(fields[col] if col < len(fields) else None)
        if v is None and missing == "error":
            sys.exit(f"{path} line {n}: bad cell in column {column!r}")
        cells.append(v)
    if missing == "interpolate":
        values, _ = interpolate(cells)
    else:
        values = [c for c in cells if c is not None]
    return values


def noisy_sine(n, period, noise, seed):
    rng = SplitMix64(seed)

    def unit():
        return ((rng.next_u64() >> 11) + 1.0) / 9007199254740992.0

    values = []
    for t in range(n):
        u1 = unit()
        u2 = unit()
        normal = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
        values.append(math.sin(2.0 * math.pi * t / period) + noise * normal)
    return values


def split(values, train, val, min_train):
    n = len(values)
    n_train = math.floor(n * train)
    n_val = math.floor(n * val)
    parts = values[:n_train], values[n_train:n_train + n_val], values[n_train + n_val:]
    assert len(parts[0]) >= min_train, "too few values for one window"
    assert len(parts[1]) >= 1 and len(parts[2]) >= 1, "empty validation or test part"
    return parts


def target_span(start, end, window, horizon):
    """The values that windows need so that every value of values[start:end]
    is the target of one: the targets preceded by window + horizon - 1
    earlier values, which may lie in earlier parts (split by target time)."""
    reach = window + horizon - 1
    assert start >= reach, "the inputs would reach before the series' first value"
    return start - reach, end


def fit_scaler(values):
    s = 0.0
    for v in values:  # sequential sums, as Rust's iter().sum()
        s += v
    mean = s / len(values)
    s = 0.0
    for v in values:
        s += (v - mean) * (v - mean)  # x * x, as Rust's powi(2)
    std = math.sqrt(s / len(values))
    assert std > 1e-12 * max(abs(mean), 1.0), "constant training part"
    return mean, std


def windows(values, window, horizon):
    span = window + horizon
    count = len(values) - span + 1
    inputs = [values[i:i + window] for i in range(count)]
    targets = [values[i + span - 1] for i in range(count)]
    return inputs, targets


def window_set(values, target_range, scaler, window, horizon):
    """src/tasks/rnn_series.rs WindowSet::for_targets: one window per target
    values[first:end] (target_range = (first, end)), inputs reaching back into
    earlier parts."""
    start, end = target_span(*target_range, window, horizon)
    part = values[start:end]
    mean, std = scaler
    inputs, targets = windows(part, window, horizon)
    s_inputs, s_targets = windows([(v - mean) / std for v in part], window, horizon)
    xs = torch.tensor(s_inputs, dtype=torch.float64).to(torch.float32).view(len(s_targets), window, 1)
    ys = torch.tensor(s_targets, dtype=torch.float64).to(torch.float32).view(len(s_targets), 1)
    return inputs, targets, xs, ys


def scores(truth, pred):
    n = max(len(truth), 1)
    mse = sum((t - p) * (t - p) for t, p in zip(truth, pred)) / n  # x * x, as Rust's powi(2)
    mae = sum(abs(t - p) for t, p in zip(truth, pred)) / n
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": mae}


# ---- the script ------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--csv", default="data/series/sunspots.csv")
    p.add_argument("--column", default="SUNACTIVITY")
    p.add_argument("--missing", choices=["error", "drop", "interpolate"], default="error")
    p.add_argument("--synthetic", choices=["sine"])
    p.add_argument("--sine-len", type=int, default=1000)
    p.add_argument("--sine-period", type=float, default=50.0)
    p.add_argument("--sine-noise", type=float, default=0.1)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--horizon", type=int, default=1)
    p.add_argument("--train-frac", type=float, default=0.70)
    p.add_argument("--val-frac", type=float, default=0.15)
    p.add_argument("--cell", choices=["rnn", "lstm", "gru"], default="rnn")
    p.add_argument("--hidden", type=int, default=10)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--weight-decay", type=float, default=0.0)
    add_optim_args(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json")
    p.add_argument("--load", help="evaluate these weights (safetensors, the Rust --save) instead of training")
    p.add_argument("--quantize-dynamic", action="store_true",
                   help="with --load: torch.ao.quantization.quantize_dynamic (qint8) of the Linear layer")
    p.add_argument("--quiet", action="store_true")
    add_device_flags(p)
    a = p.parse_args()

    device = use_device(a.device, a.deterministic)
    torch.manual_seed(a.seed)
    if a.synthetic == "sine":
        values = noisy_sine(a.sine_len, a.sine_period, a.sine_noise, a.seed)
    else:
        values = load_csv(a.csv, a.column, a.missing)
    train_part, val_part, _ = split(values, a.train_frac, a.val_frac, a.window + a.horizon)
    scaler = fit_scaler(train_part)
    # Split by target time: a window belongs to the part that holds its target.
    reach, val_start = a.window + a.horizon - 1, len(train_part)
    test_start = val_start + len(val_part)
    w, h = a.window, a.horizon
    _, _, train_x, train_y = window_set(values, (reach, val_start), scaler, w, h)
    _, val_t, val_x, val_y = window_set(values, (val_start, test_start), scaler, w, h)
    test_in, test_t, test_x, test_y = window_set(values, (test_start, len(values)), scaler, w, h)
    # Resident on the device once (no-ops on the CPU); batches are gathered there.
    train_x, train_y, val_x, val_y, test_x, test_y = (
        t.to(device) for t in (train_x, train_y, val_x, val_y, test_x, test_y))

    # Built on the CPU right after the seed (the Rust init), then moved.
    model = RNN(input_size=1, hidden_size=a.hidden, output_size=1, cell=a.cell, num_layers=a.layers).to(device)
    if a.load:
        load_state_dict(model, a.load)
        a.epochs = 0
    criterion = torch.nn.MSELoss()
    optimizer = make_optimizer(model.parameters(), a)
    if a.quantize_dynamic:
        if not a.load:
            raise SystemExit("--quantize-dynamic evaluates a loaded model: add --load M")
        model = quantize_dynamic(model)
    eval_bs = max(a.batch_size, 256)
    mean, std = scaler

    def predict(xs, ys):
        model.eval()
        outs, total = [], 0.0
        with torch.no_grad():
            for i in range(0, len(xs), eval_bs):
                out = model(xs[i:i + eval_bs])
                total += criterion(out, ys[i:i + eval_bs]).item() * len(out)
                outs.append(out)
        model.train()
        pred = torch.cat(outs).cpu().to(torch.float64).flatten().tolist()
        return total / len(xs), [v * std + mean for v in pred]

    n = len(train_x)
    epochs, seconds = [], []
    for epoch in range(a.epochs):
        start = time.perf_counter()
        order = epoch_order(n, a.seed, epoch).to(device)
        total = 0.0
        for step, i in enumerate(range(0, n, a.batch_size)):
            torch.manual_seed(step_seed(a.seed, epoch, step))
            idx = order[i:i + a.batch_size]
            inputs, labels = train_x.index_select(0, idx), train_y.index_select(0, idx)
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            clip_gradients(model, a)
            optimizer.step()
            total += loss.item() * len(idx)
        seconds.append(time.perf_counter() - start)
        val_loss, val_pred = predict(val_x, val_y)
        rec = {"epoch": epoch + 1, "train_loss": total / n, "val_loss": val_loss,
               "val_rmse": scores(val_t, val_pred)["rmse"], "seconds": seconds[-1]}
        epochs.append(rec)
        if not a.quiet:
            print(f"epoch {epoch + 1:>3}/{a.epochs}  train loss {rec['train_loss']:.4f}  "
                  f"val loss {val_loss:.4f}  val rmse {rec['val_rmse']:.4f}  {seconds[-1]:.3f} s")

    test_loss, test_pred = predict(test_x, test_y)
    result = {
        "cell": a.cell,
        "device": str(device),
        "series_points": len(values),
        "windows": [len(train_x), len(val_x), len(test_x)],
        "scaler": {"mean": mean, "std": std},
        "test_loss": test_loss,
        "test": scores(test_t, test_pred),
        "persistence": scores(test_t, [w[-1] for w in test_in]),
        "train_mean": scores(test_t, [mean] * len(test_t)),
        "seconds_per_epoch": sum(seconds) / max(len(seconds), 1),
        "epochs": epochs,
        "test_truth": test_t,
        "test_predictions": test_pred,
    }
    print(f"pytorch twin ({a.cell}): test RMSE {result['test']['rmse']:.4f}  MAE {result['test']['mae']:.4f}  "
          f"persistence RMSE {result['persistence']['rmse']:.4f}  training-mean RMSE "
          f"{result['train_mean']['rmse']:.4f}  {result['seconds_per_epoch']:.4f} s/epoch")
    write_json(a.json, result)


if __name__ == "__main__":
    main()
