#!/usr/bin/env bash
# Measures build-notes.md's rnn_series table: for each cell, the Rust run and its PyTorch
# twin on sunspots with the defaults (100 epochs, SGD lr 0.01, batch 16,
# window 20), one after the other (never in parallel), on the CPU.
# Results: runs/measure/<cell>-{rust,torch}.json, a summary table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
# One intra-op thread for both Rust's libtorch and PyTorch: these models are tiny,
# and on a busy 2-core machine OpenMP's spinning threads make a 2-thread run up
# to 60x slower (LSTM: 0.03 s/epoch with 1 thread, 1.95 s with 2, same load).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
echo "OMP_NUM_THREADS=$OMP_NUM_THREADS"
# The same LIBTORCH as your other builds, or cargo rebuilds torch-sys and tch.
export LIBTORCH=${LIBTORCH:-$PWD/.venv/libtorch}
cargo build --release --example rnn_series
uptime  # the machine's load: seconds per epoch mean little on a busy machine
out=runs/measure
mkdir -p "$out"
for cell in rnn lstm gru; do
    ./target/release/examples/rnn_series --device cpu --quiet --cell "$cell" \
        --metrics-json "$out/$cell-rust.json" --plot "$out/$cell.svg" > "$out/$cell-rust.txt"
    .venv/bin/python parity/rnn_series.py --quiet --cell "$cell" --json "$out/$cell-torch.json" > "$out/$cell-torch.txt"
done
.venv/bin/python - "$out" <<'PYEOF'
import json, sys
out = sys.argv[1]
def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]
print("| cell | Rust test RMSE | persistence RMSE | training-mean RMSE | PyTorch twin test RMSE | Rust s/epoch mean (median) | PyTorch s/epoch mean (median) |")
print("|---|---|---|---|---|---|---|")
for cell in ["rnn", "lstm", "gru"]:
    r = json.load(open(f"{out}/{cell}-rust.json"))
    t = json.load(open(f"{out}/{cell}-torch.json"))
    print(f"| {cell} | {r['test']['rmse']:.3f} | {r['persistence']['rmse']:.3f} | {r['train_mean']['rmse']:.3f} "
          f"| {t['test']['rmse']:.3f} | {r['seconds_per_epoch']:.4f} ({median(e['train_seconds'] for e in r['epochs']):.4f}) "
          f"| {t['seconds_per_epoch']:.4f} ({median(e['seconds'] for e in t['epochs']):.4f}) |")
PYEOF
