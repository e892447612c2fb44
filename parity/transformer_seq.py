"""PyTorch twin of `cargo run --release --example transformer_seq`: the same data
(CSV series windows or the seeded delayed-recall set, built by the same
arithmetic), the same model and initial weights (torch.manual_seed(seed) before
construction: bit-identical to the Rust init), the same batch order
(parity/common.py::permutation), MSE + the same optimizer. Dropout masks are
drawn differently (PyTorch's SDPA draws the attention dropout itself), so with
dropout > 0 the two runs agree statistically, not bit for bit.

Prints and writes (--metrics-json) test MSE/RMSE/MAE, the baseline, parameters
and seconds per epoch.

  .venv/bin/python parity/transformer_seq.py --arch lstm --epochs 100
  .venv/bin/python parity/transformer_seq.py --task recall --optimizer adam --lr 0.001 --epochs 30
  .venv/bin/python parity/transformer_seq.py --device cuda      # model and data sets on the GPU

With --device cuda the model and the three data sets are moved to the GPU once, batches
are gathered there, and predictions come back (.cpu()) only for scoring.
"""
import argparse
import csv
import math
import time

import numpy as np
import torch
import torch.nn as nn

from common import add_device_flags, add_optim_args, clip_gradients, make_optimizer, epoch_order, save_state_dict, step_seed, use_device, write_json
from models import SeqLSTM, SeqTransformer

WINDOW = 10
M64 = (1 << 64) - 1

p = argparse.ArgumentParser()
p.add_argument("--arch", choices=["transformer", "lstm"], default="transformer")
p.add_argument("--task", choices=["series", "recall"], default="series")
p.add_argument("--seq-len", type=int)
p.add_argument("--d-model", type=int, default=64)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--ff-dim", type=int, default=128)
p.add_argument("--dropout", type=float, default=0.1)
p.add_argument("--causal", action="store_true")
p.add_argument("--no-causal", action="store_true")
p.add_argument("--hidden", type=int, default=50)
p.add_argument("--epochs", type=int, default=100)
p.add_argument("--batch-size", type=int, default=16)
p.add_argument("--lr", type=float, default=0.01)
p.add_argument("--optimizer", choices=["sgd", "adam", "adamw"], default="sgd")
p.add_argument("--momentum", type=float, default=0.0)
p.add_argument("--weight-decay", type=float, default=None)
add_optim_args(p)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--csv", default="data/series/sunspots.csv")
p.add_argument("--column", default="SUNACTIVITY")
p.add_argument("--delay", type=int, default=32)
p.add_argument("--train-sequences", type=int, default=2000)
p.add_argument("--val-sequences", type=int, default=500)
p.add_argument("--test-sequences", type=int, default=500)
p.add_argument("--data-seed", type=int, default=0)
p.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's)")
p.add_argument("--metrics-json")
p.add_argument("--save", help="write the trained state_dict as safetensors (loads into Rust with --load)")
p.add_argument("--quiet", action="store_true")
add_device_flags(p)
a = p.parse_args()
device = use_device(a.device, a.deterministic)
if a.threads:
    torch.set_num_threads(a.threads)
seq_len = a.seq_len or (32 if a.task == "series" else 2 * a.delay)
causal = a.task == "series"  # the Rust default (see SequenceKind::default_causal)
if a.causal:
    causal = True
if a.no_causal:
    causal = False


# --- data: mirrors src/data/series.rs and src/tasks/sequence.rs -------------------------
def load_csv(path, column):
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if any(c.strip() for c in r)]
    header = [h.strip() for h in rows[0]]
    idx = header.index(column) if column in header else [h.lower() for h in header].index(column.lower())
    return [float(r[idx].strip()) for r in rows[1:]]


def step_sequences(scaled, ends, L):
    xs, ys = [], []
    for end in ends:
        for s in range(end + 1 - L, end + 1):
            xs.extend(scaled[s - WINDOW:s])
            ys.append(scaled[s])
    n = len(ends)
    return (torch.from_numpy(np.array(xs, dtype=np.float32).reshape(n, L, WINDOW)),
            torch.from_numpy(np.array(ys, dtype=np.float32).reshape(n, L, 1)))


def splitmix_block(seed, start, count):
    """Outputs start..start+count of SplitMix64(seed), vectorised."""
    with np.errstate(over="ignore"):
        k = np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = np.uint64(seed) + k * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def recall_set(seed, start, n, L, delay):
    u = splitmix_block(seed, start, n * L * WINDOW) >> np.uint64(40)
    x = (u.astype(np.float32) / np.float32(16777216.0) * np.float32(2.0) - np.float32(1.0)).reshape(n, L, WINDOW)
    y = np.zeros((n, L, 1), dtype=np.float32)
    y[:, delay:, 0] = x[:, : L - delay, 0]
    return torch.from_numpy(x), torch.from_numpy(y), start + n * L * WINDOW


scaler = None
if a.task == "series":
    values = load_csv(a.csv, a.column)
    n = len(values)
    n_train, n_val = math.floor(n * 0.70), math.floor(n * 0.15)
    train_part = values[:n_train]
    mean = sum(train_part) / len(train_part)
    std = math.sqrt(sum((v - mean) ** 2 for v in train_part) / len(train_part))
    scaler = (mean, std)
    scaled = [(v - mean) / std for v in values]
    train = step_sequences(scaled, range(WINDOW + seq_len - 1, n_train), seq_len)
    val = step_sequences(scaled, range(n_train, n_train + n_val), seq_len)
    test = step_sequences(scaled, range(n_train + n_val, n), seq_len)
else:
    x, y, pos = recall_set(a.data_seed, 0, a.train_sequences, seq_len, a.delay)
    train = (x, y)
    x, y, pos = recall_set(a.data_seed, pos, a.val_sequences, seq_len, a.delay)
    val = (x, y)
    x, y, pos = recall_set(a.data_seed, pos, a.test_sequences, seq_len, a.delay)
    test = (x, y)
# Resident on the device once (no-ops on the CPU); batches are gathered there.
train, val, test = (tuple(t.to(device) for t in part) for part in (train, val, test))


def select(t):
    t = t[:, -1] if a.task == "series" else t
    v = t.reshape(-1).cpu().double()
    return v * scaler[1] + scaler[0] if scaler else v


def score(pred, truth):
    d = select(pred) - select(truth)
    mse = float((d * d).mean())
    return {"mse": mse, "rmse": math.sqrt(mse), "mae": float(d.abs().mean())}


# --- model and training --------------------------------------------------------------------
torch.manual_seed(a.seed)
if a.arch == "transformer":
    model = SeqTransformer(WINDOW, a.d_model, a.heads, a.layers, a.ff_dim, a.dropout, causal)
else:
    model = SeqLSTM(WINDOW, a.hidden, 1)
model = model.to(device)  # built on the CPU right after the seed (the Rust init), then moved
params = sum(p.numel() for p in model.parameters())
opt = make_optimizer(model.parameters(), a)
criterion = nn.MSELoss()


def predict(xs):
    model.eval()
    with torch.no_grad():
        bs = max(a.batch_size, 256)
        return torch.cat([model(xs[i:i + bs]) for i in range(0, len(xs), bs)])


xs, ys = train
epochs = []
for epoch in range(a.epochs):
    model.train()
    order = epoch_order(len(xs), a.seed, epoch).to(device)
    start, total, count = time.perf_counter(), 0.0, 0
    for step, i in enumerate(range(0, len(xs), a.batch_size)):
        torch.manual_seed(step_seed(a.seed, epoch, step))
        idx = order[i:i + a.batch_size]
        loss = criterion(model(xs[idx]), ys[idx])
        opt.zero_grad()
        loss.backward()
        clip_gradients(model, a)
        opt.step()
        total += loss.item() * len(idx)
        count += len(idx)
    secs = time.perf_counter() - start
    val_rmse = score(predict(val[0]), val[1])["rmse"]
    epochs.append({"epoch": epoch + 1, "train_loss": total / count, "train_seconds": secs, "val_rmse": val_rmse})
    if not a.quiet:
        print(f"epoch {epoch + 1:>3}/{a.epochs}  train loss {total / count:.4f}  val rmse {val_rmse:.4f}  {secs:.2f} s")

test_pred = predict(test[0])
if a.task == "series":
    baseline_pred = test[0][:, :, WINDOW - 1:WINDOW]
else:
    baseline_pred = torch.zeros_like(test[1])
report = {
    "arch": a.arch, "task": a.task, "device": str(device), "seq_len": seq_len, "causal": causal,
    "parameters": params,
    "train_sequences": len(xs), "test_sequences": len(test[0]),
    "seconds_per_epoch": sum(e["train_seconds"] for e in epochs) / max(len(epochs), 1),
    "test_loss": float(criterion(test_pred, test[1])),
    "test": score(test_pred, test[1]), "baseline": score(baseline_pred, test[1]),
    "torch_threads": torch.get_num_threads(), "epochs": epochs,
}
print(f"pytorch twin: {a.arch} on {a.task}: {params} parameters, test RMSE {report['test']['rmse']:.4f} "
      f"(baseline {report['baseline']['rmse']:.4f}), MAE {report['test']['mae']:.4f}, "
      f"{report['seconds_per_epoch']:.3f} s/epoch")
write_json(a.metrics_json, report)
if a.save:
    save_state_dict(model, a.save)
