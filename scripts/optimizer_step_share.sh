#!/usr/bin/env bash
# The optimizer step's share of a training step (issue 19, item 7; BENCHMARKS.md
# "The optimizer step"): the Rust bench worker with our tensor-program optimizers and
# with libtorch's C++ ones, and PyTorch's torch.optim in parity/bench_torch.py, on the
# CPU at 1 thread, each answer's "phases" (forward / backward / step, ms per step).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --example bench >/dev/null 2>&1
cases=$(mktemp)
trap 'rm -f "$cases"' EXIT
for m in 'cnn","batch":64' 'transformer","batch":32'; do
  for o in '"optimizer":"sgd"' '"optimizer":"adam","lr":0.001'; do
    for lt in false true; do
      echo "{\"model\":\"$m,\"mode\":\"train\",$o,\"libtorch_step\":$lt,\"min_seconds\":3,\"warmup\":5}"
    done
  done
done >"$cases"
./target/release/examples/bench --threads 1 <"$cases" | sed 's/^/rust    /'
grep '"libtorch_step":false' "$cases" | .venv/bin/python parity/bench_torch.py --threads 1 | sed 's/^/pytorch /'
