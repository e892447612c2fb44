#!/usr/bin/env bash
# The CUDA checks of issue 12 in one go, for a machine with a GPU, PyTorch and no Rust.
#
#   scripts/device_check.sh prepare [DIR]   # here (build machine): build, fill DIR (default: device/)
#   DIR/device_check.sh run [DIR]           # there (GPU machine): run everything, results under $OUT
#
# prepare builds (release) the CUDA parity tests and the example binaries, and copies into DIR
# (git-ignored when it is device/): bin/ (tests/it/ test binary as bin/it, run on its cuda_parity:: tests,
# cnn_mnist, rnn_series, transformer_seq, bench), parity/ and data/ of this repository,
# pylib/safetensors (for a GPU machine whose Python lacks it) and this script. DIR is then
# self-contained: copy it to the GPU machine (or hand it to the device runner as one path).
#
# run, from anywhere, with the GPU machine's python3 (or $PYTHON) that has torch (CUDA build),
# numpy and safetensors:
#   1. bin/it cuda_parity:: --test-threads=1 --nocapture     -> $OUT/cuda_parity.log
#   2. parity/side_by_side.py --device cuda --no-build   -> $OUT/side_by_side.{log,json}, $OUT/parity/
#   3. parity/bench.py --device cuda --quick --no-use --no-build -> $OUT/bench.{log,md}, $OUT/bench/
#      (the "use" part is a CPU measurement: its Rust runs take no --device)
# plus $OUT/machine.txt and $OUT/summary.txt (each step's exit status). Each step has a time
# limit (TESTS_S, PARITY_S, BENCH_S seconds; defaults 180/180/220, under 10 minutes in all);
# a step that fails or times out does not stop the next. Exit status 0 only if all three
# passed and the tests really ran on the GPU (a "skipped: no CUDA device" line fails).
# PARITY_ARGS and BENCH_ARGS add flags to steps 2 and 3 (e.g. PARITY_ARGS=--short).
# DEVICE=cpu rehearses the whole run on a machine without a GPU (the tests with
# TCHPORT_CUDA_TESTS_ON_CPU=1, the scripts with --device cpu): it checks the script, the
# folder and the plumbing, not the GPU.
set -uo pipefail

usage() {
    sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

here="$(cd "$(dirname "$0")" && pwd)"
# The example binaries prepare builds and run needs, and with the test binary all of bin/.
EXAMPLES=(cnn_mnist rnn_series transformer_seq bench)
BINS=(it "${EXAMPLES[@]}")

prepare() {
    local repo dir py
    repo="$(cd "$here/.." && pwd)"
    dir="${1:-$repo/device}"
    py="$repo/.venv/bin/python"
    [ -x "$py" ] || { echo "prepare: $py not found: run scripts/setup.sh first" >&2; exit 1; }
    mkdir -p "$dir/bin" "$dir/pylib" || exit 1
    dir="$(cd "$dir" && pwd)"
    cd "$repo" || exit 1
    echo "building the CUDA parity tests and the examples (release)..."
    # cargo names the built files in its JSON messages: no guessing of hashed names.
    local json name example_args=()
    for name in "${EXAMPLES[@]}"; do example_args+=(--example "$name"); done
    json="$(mktemp)"
    if ! { cargo test --release --test it --no-run --message-format=json \
        && cargo build --release "${example_args[@]}" --message-format=json; } >"$json"; then
        echo "prepare: the build failed" >&2
        exit 1
    fi
    "$py" - "$json" "$dir/bin" "${BINS[@]}" <<'EOF' || exit 1
import json, shutil, sys
want = set(sys.argv[3:])
found = {}
for line in open(sys.argv[1]):
    if not line.startswith("{"):
        continue
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] in want:
        found[m["target"]["name"]] = m["executable"]
missing = want - set(found)
if missing:
    sys.exit(f"prepare: cargo built no executable for {sorted(missing)}")
for name, path in sorted(found.items()):
    shutil.copy2(path, f"{sys.argv[2]}/{name}")
    print(f"  bin/{name:<16} <- {path}")
EOF
    rm -f "$json"
    rm -rf "$dir/parity" "$dir/data" "$dir/pylib/safetensors"
    mkdir -p "$dir/parity"
    cp parity/*.py "$dir/parity/" && cp -r data "$dir/data" || exit 1
    cp -r "$("$py" -c 'import os, safetensors; print(os.path.dirname(safetensors.__file__))')" \
        "$dir/pylib/safetensors" || exit 1
    cp "$here/device_check.sh" "$dir/device_check.sh" || exit 1
    echo "prepared $dir ($(du -sh "$dir" | cut -f1)); on the GPU machine: $dir/device_check.sh run"
}

# Runs "$@" under `timeout LIMIT`, its output in LOG; records the exit status in the summary.
step() {
    local name="$1" limit="$2" log="$3"
    shift 3
    echo "== $name (limit ${limit}s): $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS rc
    timeout "$limit" "$@" >"$log" 2>&1
    rc=$?
    [ "$rc" -eq 124 ] && echo "   timed out after ${limit}s" | tee -a "$OUT/summary.txt"
    echo "   exit $rc after $((SECONDS - start)) s; log: $log" | tee -a "$OUT/summary.txt"
    tail -n 5 "$log" | sed 's/^/   | /'
    return "$rc"
}

run() {
    local dir py failed=0 device="${DEVICE:-cuda}" rehearse=0
    [ "$device" = cpu ] && rehearse=1
    dir="$(cd "${1:-$here}" && pwd)" || exit 1
    for need in "${BINS[@]/#/bin/}" parity/side_by_side.py data/mnist; do
        [ -e "$dir/$need" ] || { echo "run: $dir/$need is missing: run prepare first" >&2; exit 1; }
    done
    cd "$dir" || exit 1
    export OUT="${OUT:-$dir/out}"
    mkdir -p "$OUT" || exit 1
    : >"$OUT/summary.txt"
    py="$(command -v "${PYTHON:-python3}")" || { echo "run: no ${PYTHON:-python3}" >&2; exit 1; }
    if ! "$py" -c 'import safetensors' 2>/dev/null; then
        export PYTHONPATH="$dir/pylib${PYTHONPATH:+:$PYTHONPATH}"
        echo "safetensors not installed: using $dir/pylib" | tee -a "$OUT/summary.txt"
    fi
    "$py" -c 'import torch, numpy, safetensors' || {
        echo "run: $py lacks torch, numpy or safetensors" | tee -a "$OUT/summary.txt"
        exit 1
    }
    # The Rust binaries load libtorch from the Python's torch (same 2.11.0 build).
    local torch_lib
    torch_lib="$("$py" -c 'import torch, os; print(os.path.dirname(torch.__file__))')/lib"
    export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export TCHPORT_ROOT="$dir" TCHPORT_PYTHON="$py"
    {
        date -u
        nvidia-smi -L 2>/dev/null || echo "nvidia-smi: not found"
        "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"available", torch.cuda.is_available(),
torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
        echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
        ldd bin/it | grep -E "^[[:space:]]*(libtorch[a-z_]*|libc10[a-z_]*)\.so |not found"
        echo "CPUs: $(getconf _NPROCESSORS_ONLN)"
    } >"$OUT/machine.txt" 2>&1
    cat "$OUT/machine.txt"

    # TF32 off for cuBLAS and cuDNN in the tests' processes (tests/common/cuda.rs); the
    # parity step sets it itself, the benchmarks keep each framework's defaults.
    NVIDIA_TF32_OVERRIDE=0 TCHPORT_CUDA_TESTS_ON_CPU=$rehearse \
        step "CUDA parity tests" "${TESTS_S:-180}" "$OUT/cuda_parity.log" \
        bin/it cuda_parity:: --test-threads=1 --nocapture || failed=1
    if grep -q "skipped: no CUDA device" "$OUT/cuda_parity.log"; then
        echo "   the tests were skipped: libtorch saw no GPU" | tee -a "$OUT/summary.txt"
        failed=1
    fi
    # shellcheck disable=SC2086 # PARITY_ARGS and BENCH_ARGS are lists of flags
    step "side by side on $device" "${PARITY_S:-180}" "$OUT/side_by_side.log" \
        "$py" parity/side_by_side.py --device "$device" --no-build --bin-dir bin \
        --out "$OUT/parity" --json "$OUT/side_by_side.json" ${PARITY_ARGS:-} || failed=1
    # shellcheck disable=SC2086
    step "benchmarks on $device (--quick)" "${BENCH_S:-220}" "$OUT/bench.log" \
        "$py" parity/bench.py --device "$device" --quick --no-use --no-build --bin-dir bin \
        --out "$OUT/bench" --markdown "$OUT/bench.md" ${BENCH_ARGS:-} || failed=1
    echo "overall: $([ "$failed" -eq 0 ] && echo PASSED || echo FAILED)" | tee -a "$OUT/summary.txt"
    return "$failed"
}

case "${1:-}" in
    prepare) shift; prepare "$@" ;;
    run) shift; run "$@" ;;
    *) usage ;;
esac
