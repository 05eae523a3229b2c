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
stamp="$venv/.fasrobust-setup"  # "<hash of pyproject.toml and this script> <extras installed>"
hash="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
# Extras already installed for this hash count too, so the demo and the tests (different extras) do not
# reinstall each other's; a new install takes the union, since pip never removes an extra anyway.
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$hash" ]; then
  installed="$(cut -d' ' -f2 "$stamp")"
  missing="$(comm -23 <(tr ',' '\n' <<<"$extras" | sort -u) <(tr ',' '\n' <<<"$installed" | sort -u))"
  if [ -z "$missing" ]; then
    exit 0
  fi
  extras="$(printf '%s\n%s\n' "$extras" "$installed" | tr ',' '\n' | grep -v '^$' | sort -u | paste -sd, -)"
fi
want="$hash $extras"
echo "fasrobust: installing into $venv (extras: $extras) ..." >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch first and pinned: on a machine with a local wheel cache pip takes it from there; elsewhere the
# ordinary wheel for the platform. Installing it first keeps a later range from pulling another build.
"$venv/bin/python" -m pip install --quiet "torch==${FASROBUST_TORCH:-2.13.0}"
"$venv/bin/python" -m pip install --quiet -e ".[$extras]"
echo "$want" > "$stamp"
