#!/usr/bin/env bash
# make bundle-test: the bundle of `make bundle` runs on its own (issue 22, item 4).
#
# 1. Trains a small CNN and a small GPT with the development build; writes one
#    digit PNG (an MNIST test image, black ink on white).
#    Checks that scripts/bundle.sh refuses, in one line, when there is no release build.
# 2. Unpacks dist/tchport-VERSION-x86_64-linux.tar.gz into a temporary folder.
# 3. Cold start, side by side (alternating runs, medians): development build
#    against the bundle, `cnn_mnist --load M --predict digit.png`.
# 4. Hides the project's .venv (renamed; restored on exit, whatever happens) and
#    runs the bundle's `cnn_mnist --load M --predict digit.png` and
#    `transformer_lm --load M --generate 50` under `env -i` (no PATH, no
#    LD_LIBRARY_PATH): the output must equal the development build's, and every
#    library the loader maps must come from the bundle's lib/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name="tchport-$version-$(uname -m)-linux"
tarball="dist/$name.tar.gz"
[ -f "$tarball" ] || { echo "bundle-test: no $tarball; run: make bundle" >&2; exit 1; }
dev=$(readlink -f "${CARGO_TARGET_DIR:-target}/release/examples")

tmp=$(mktemp -d)
hidden="$root/.venv.hidden-by-bundle-test"
cleanup() {
    cleanup_venv_only
    rm -rf "$tmp"
}
trap cleanup EXIT
cleanup_venv_only() { [ -d "$hidden" ] && [ ! -e "$root/.venv" ] && mv "$hidden" "$root/.venv"; true; }
cleanup_venv_only  # a run killed while the .venv was hidden

echo "bundle-test: models and a digit in $tmp"
"$dev/cnn_mnist" --epochs 1 --train-limit 2000 --test-limit 100 --no-logit-relu --normalize \
    --optimizer adam --quiet --device cpu --save "$tmp/cnn/model.safetensors" > "$tmp/train.log"
for _ in $(seq 60); do echo "to be, or not to be, that is the question:"; done > "$tmp/text.txt"
"$dev/transformer_lm" --text "$tmp/text.txt" --max-steps 20 --eval-batches 1 --n-layer 1 \
    --n-embd 16 --n-head 2 --block-size 16 --quiet --device cpu --save "$tmp/lm/model.safetensors" \
    >> "$tmp/train.log"
.venv/bin/python - "$tmp/digit.png" <<'EOF'
import gzip, sys
import numpy as np
from PIL import Image
with gzip.open("data/mnist/t10k-images-idx3-ubyte.gz") as f:
    px = np.frombuffer(f.read(), np.uint8, offset=16)[:784].reshape(28, 28)
Image.fromarray(255 - px).resize((84, 84), Image.BILINEAR).save(sys.argv[1])
EOF

# Bad input: no release build to bundle.
if out=$(CARGO_TARGET_DIR="$tmp/no-build" scripts/bundle.sh 2>&1); then
    echo "bundle-test: FAILED: a bundle was made without a release build" >&2; exit 1
fi
case "$out" in
    "bundle: no release build at $tmp/no-build/release/examples/cnn_mnist; run: cargo build --release --examples")
        echo "bundle-test: without a release build: $out" ;;
    *) echo "bundle-test: FAILED: unexpected message without a release build: $out" >&2; exit 1 ;;
esac

tar -C "$tmp" -xzf "$tarball"
bundle="$tmp/$name"
predict=(--load "$tmp/cnn/model.safetensors" --predict "$tmp/digit.png")
generate=(--load "$tmp/lm/model.safetensors" --generate 50)
"$dev/cnn_mnist" "${predict[@]}" > "$tmp/dev-predict.txt"
"$dev/transformer_lm" "${generate[@]}" > "$tmp/dev-generate.txt"

seconds() {
    local t0=$EPOCHREALTIME
    env -i "$@" > /dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f\n", b - a}'
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
: > "$tmp/dev.s"; : > "$tmp/bundle.s"
for _ in 1 2 3 4 5; do
    seconds "$dev/cnn_mnist" "${predict[@]}" >> "$tmp/dev.s"
    seconds "$bundle/bin/cnn_mnist" "${predict[@]}" >> "$tmp/bundle.s"
done
dev_s=$(median < "$tmp/dev.s"); bundle_s=$(median < "$tmp/bundle.s")

mv "$root/.venv" "$hidden"
echo "bundle-test: .venv hidden; running the bundle under env -i"
env -i "$bundle/bin/cnn_mnist" "${predict[@]}" > "$tmp/bundle-predict.txt"
env -i "$bundle/bin/transformer_lm" "${generate[@]}" > "$tmp/bundle-generate.txt"
outside=$(env -i /usr/bin/ldd "$bundle/bin/cnn_mnist" "$bundle/bin/transformer_lm" |
    awk '$2 == "=>" {print $3}' | xargs -r readlink -f |
    grep -v -e "^$(readlink -f "$bundle/lib")/" -e "^/lib/" -e "^/usr/lib/" || true)
mv "$hidden" "$root/.venv"

status=0
for what in predict generate; do
    if cmp -s "$tmp/dev-$what.txt" "$tmp/bundle-$what.txt"; then
        echo "bundle-test: $what: the bundle's output equals the development build's:"
        sed 's/^/    /' "$tmp/bundle-$what.txt"
    else
        echo "bundle-test: FAILED: $what differs (development, then bundle):" >&2
        diff "$tmp/dev-$what.txt" "$tmp/bundle-$what.txt" >&2 || true
        status=1
    fi
done
if [ -n "$outside" ]; then
    echo "bundle-test: FAILED: libraries from outside the bundle: $outside" >&2
    status=1
fi
echo "bundle-test: bundle $(du -sm "$bundle" | cut -f1) MB unpacked, $(du -sm "$tarball" | cut -f1) MB as $tarball"
echo "bundle-test: cold start of cnn_mnist --predict (1 PNG), median of 5: development build" \
    "$dev_s s, bundle $bundle_s s"
exit $status
