#!/usr/bin/env bash
# The experiment the tutorial only asserts (issue 20), rerunnable with one command:
#   scripts/pretrain_experiment.sh            (or: make pretrain-experiment)
# 1. Pre-trains the character GPT on unlabelled text only: the sentences of the other three
#    VADER sets (data/text/vader: tweets, NYT editorial snippets, Amazon review snippets) and the
#    training split of the movie reviews (--text-train-split: labels never read, no validation
#    or test sentence in the text; src/tasks/transformer_lm/corpus.rs and its test check it).
# 2. Trains a classifier on 100, 1,000 and all 8,454 labelled training sentences, 3 seeds each,
#    on the frozen features of (a) the pre-trained model and (b) the same model (vocabulary,
#    shape, head) with every backbone tensor re-initialised (--reset transformer): the mean of
#    the final hidden states (--pooling mean) into a linear head, --freeze transformer.
# 3. Reports the test accuracy (1,057 sentences) as mean ± std, beside the majority class and
#    the bag-of-words logistic regression fitted on the same labelled sentences.
# Results: runs/pretrain/*.json and the table runs/pretrain/table.md. Rerunning keeps the
# pre-trained model and every finished run (delete runs/pretrain/ to start over).
# Environment: BIN (a built transformer_lm; default: cargo build --release), SEEDS (default
# "1 2 3"), SIZES (default "100 1000 all"), PRE_STEPS (pre-training steps, default 2000),
# BLOCK (context, default 128: 64 % of the sentences fit whole, the rest keep their first 128
# characters), LR (the head's, default 1e-2), FREEZE (default "transformer"; empty: full
# fine-tuning of every tensor at LR).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/pretrain}
mkdir -p "$OUT"
if [[ -z "${BIN:-}" ]]; then
  cargo build --release --example transformer_lm
  BIN=target/release/examples/transformer_lm
fi
SEEDS=${SEEDS:-1 2 3}
SIZES=${SIZES:-100 1000 all}
PRE_STEPS=${PRE_STEPS:-2000}
BLOCK=${BLOCK:-128}
LR=${LR:-1e-2}
FREEZE=${FREEZE-transformer}
LM=$OUT/lm/model.safetensors

if [[ ! -f $LM ]]; then
  echo "== pre-training on unlabelled text ($PRE_STEPS steps, block $BLOCK)"
  "$BIN" --text-sentences data/text/vader --text-train-split --block-size "$BLOCK" \
    --max-steps "$PRE_STEPS" --save "$LM" --metrics-json "$OUT/lm.json" --quiet
fi

epochs_for() { # epochs by training-set size: about 120, 250 and 800 steps of 32
  case $1 in 100) echo 30 ;; 1000) echo 8 ;; *) echo 3 ;; esac
}

# One run unless its report exists (written atomically): an interrupted experiment continues.
fine_tune() { # report.json [extra flags]
  local json=$1
  shift
  if [[ -f $json ]]; then echo "   kept $json"; return; fi
  "$BIN" "${FT[@]}" "$@" --metrics-json "$json" | grep "GPT"
}

for n in $SIZES; do
  for seed in $SEEDS; do
    FT=(--task classify --init-from "$LM" --epochs "$(epochs_for "$n")" --batch-size 32
        --lr "$LR" --warmup-steps 10 --pooling mean --seed "$seed" --quiet)
    [[ -n $FREEZE ]] && FT+=(--freeze "$FREEZE")
    [[ $n != all ]] && FT+=(--train-limit "$n")
    echo "== $n labelled sentences, seed $seed"
    fine_tune "$OUT/pretrained-$n-s$seed.json"
    fine_tune "$OUT/random-$n-s$seed.json" --reset transformer
  done
done

python3 scripts/pretrain_table.py "$OUT" "$SIZES" "$SEEDS" | tee "$OUT/table.md"
