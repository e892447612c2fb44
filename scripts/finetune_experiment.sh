#!/usr/bin/env bash
# Transfer-learning experiment (issue 7), rerunnable with one command:
#   scripts/finetune_experiment.sh            (or: make finetune-experiment)
# Pre-trains the CNN on MNIST digits 0-4, then fine-tunes on digits 5-9 with
# only N labelled images (N = 100, 1000; 20 % of them held out for validation
# and early stopping), comparing
#   (a) from scratch, (b) frozen convolutions + new head, (c) full fine-tuning
#   with a 10x smaller backbone learning rate,
# and reports the accuracy on all 4861 test images of digits 5-9.
# Results: runs/finetune/*.json and the table runs/finetune/table.md.
# Environment: BIN (a built cnn_mnist binary; default: cargo run --release),
# SEEDS (default "0"), PRE_LIMIT (pre-training images, default 10000),
# PRE_EPOCHS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/finetune
mkdir -p "$OUT"
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --example cnn_mnist
  BIN=target/release/examples/cnn_mnist
fi
SEEDS=${SEEDS:-0}
PRE_LIMIT=${PRE_LIMIT:-10000}
PRE_EPOCHS=${PRE_EPOCHS:-2}
COMMON=(--no-logit-relu --optimizer adam --lr 0.001 --quiet)

PRE=$OUT/pre04.safetensors
echo "== pre-training on digits 0-4 ($PRE_LIMIT images, $PRE_EPOCHS epochs)"
"$BIN" "${COMMON[@]}" --digits 0-4 --train-limit "$PRE_LIMIT" --epochs "$PRE_EPOCHS" \
  --seed 0 --save "$PRE" --metrics-json "$OUT/pre04.json" | grep "test accuracy"

for seed in $SEEDS; do
  for n in 100 1000; do
    if [[ $n == 100 ]]; then epochs=40; else epochs=15; fi
    FT=(--digits 5-9 --train-limit "$n" --val-fraction 0.2 --early-stopping 5
        --epochs "$epochs" --seed "$seed")
    echo "== N=$n seed=$seed"
    "$BIN" "${COMMON[@]}" "${FT[@]}" --metrics-json "$OUT/scratch-$n-s$seed.json" | grep "test accuracy"
    "$BIN" "${COMMON[@]}" "${FT[@]}" --init-from "$PRE" --reset fc --freeze conv \
      --metrics-json "$OUT/frozen-$n-s$seed.json" | grep "test accuracy"
    "$BIN" "${COMMON[@]}" "${FT[@]}" --init-from "$PRE" --reset fc --lr-backbone 0.0001 \
      --metrics-json "$OUT/full-$n-s$seed.json" | grep "test accuracy"
  done
done

python3 - "$OUT" "$SEEDS" <<'PY'
import json, sys, statistics
out, seeds = sys.argv[1], sys.argv[2].split()
pre = json.load(open(f"{out}/pre04.json"))
rows = ["| labelled images (5-9) | (a) from scratch | (b) frozen convs + new head | (c) full fine-tuning, backbone lr/10 |",
        "|---|---|---|---|"]
for n in (100, 1000):
    cells = []
    for kind in ("scratch", "frozen", "full"):
        accs, epochs = [], []
        for s in seeds:
            r = json.load(open(f"{out}/{kind}-{n}-s{s}.json"))
            accs.append(100 * r["test"]["accuracy"])
            epochs.append(str(r["best_epoch"]))
        m = statistics.mean(accs)
        sd = f" ± {statistics.stdev(accs):.2f}" if len(accs) > 1 else ""
        cells.append(f"{m:.2f} %{sd} (best epoch {','.join(epochs)})")
    rows.append(f"| {n} | " + " | ".join(cells) + " |")
table = "\n".join(rows)
head = (f"Pre-training on digits 0-4: {pre['train_images']} images, "
        f"{len(pre['epochs'])} epochs, test accuracy on 0-4: {100 * pre['test']['accuracy']:.2f} %\n\n")
open(f"{out}/table.md", "w").write(head + table + "\n")
print(head + table)
PY
