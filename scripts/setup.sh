#!/usr/bin/env bash
# One-time (and idempotent) set-up: a virtual environment in .venv with fasrobust and the extras asked for.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh all   (default: mtcnn,onnx,http,parquet)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-mtcnn,onnx,http,parquet}"
venv="${FASROBUST_VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 11), "fasrobust needs Python >= 3.11"'
  "$python" -m venv "$venv"
fi
stamp="$venv/.fasrobust-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16) $extras"
if [ -f "$stamp" ] && grep -qxF "$want" "$stamp"; then
  exit 0
fi
echo "fasrobust: installing into $venv (extras: $extras) ..." >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch first and pinned: on a machine with a local wheel cache pip takes it from there; elsewhere the
# ordinary wheel for the platform. Installing it first keeps a later range from pulling another build.
"$venv/bin/python" -m pip install --quiet "torch==${FASROBUST_TORCH:-2.13.0}"
"$venv/bin/python" -m pip install --quiet -e ".[$extras]"
echo "$want" > "$stamp"
