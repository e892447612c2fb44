#!/usr/bin/env bash
# Optimizer comparison (tutorial question 7, issue 7), one command:
#   scripts/optim_compare.sh        (or: make optim-compare)
# The CNN (without the logit ReLU) with SGD, SGD + momentum 0.9 and Adam, same
# budget: the same TRAIN_LIMIT images (20 % held out for validation, stratified),
# EPOCHS epochs, batch 64, seed 0. Validation accuracy per epoch, test accuracy
# at the end. Writes runs/optim/{sgd,momentum,adam}.json, and with the plot_curves
# example table.md and curves.svg (validation accuracy and training loss per epoch).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=runs/optim
mkdir -p "$OUT"
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --example cnn_mnist
  BIN=target/release/examples/cnn_mnist
fi
TRAIN_LIMIT=${TRAIN_LIMIT:-5000}
EPOCHS=${EPOCHS:-5}
COMMON=(--no-logit-relu --train-limit "$TRAIN_LIMIT" --val-fraction 0.2 --epochs "$EPOCHS" --seed 0 --quiet)
"$BIN" "${COMMON[@]}" --optimizer sgd --lr 0.01 --metrics-json "$OUT/sgd.json" | grep "test accuracy"
"$BIN" "${COMMON[@]}" --optimizer sgd --lr 0.01 --momentum 0.9 --metrics-json "$OUT/momentum.json" | grep "test accuracy"
"$BIN" "${COMMON[@]}" --optimizer adam --lr 0.001 --metrics-json "$OUT/adam.json" | grep "test accuracy"
cargo run --release --quiet --example plot_curves -- "$OUT/curves.svg" --table "$OUT/table.md" \
  "SGD lr 0.01=$OUT/sgd.json" "SGD+momentum 0.9, lr 0.01=$OUT/momentum.json" "Adam lr 0.001=$OUT/adam.json"
