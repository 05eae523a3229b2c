#!/usr/bin/env bash
# One-time (and idempotent) set-up: a virtual environment in .venv with fasrobust and the extras asked for.
# Usage: scripts/setup.sh [EXTRAS]   e.g. scripts/setup.sh onnx,http   (default: none, what the demo uses)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
venv="${FASROBUST_VENV:-.venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; assert sys.version_info >= (3, 11), "fasrobust needs Python >= 3.11"'
  "$python" -m venv "$venv"
fi
# The stamp is "<hash of pyproject.toml and this script> <extras installed>" ("-" for none).
stamp="$venv/.fasrobust-setup"
hash="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
as_lines() { tr ',' '\n' <<<"$1" | grep -v -e '^$' -e '^-$' | sort -u || true; }
# Extras already installed for this hash count too, so the demo and the tests (different extras) do not
# reinstall each other's; a new install takes the union, since pip never removes an extra anyway.
if [ -f "$stamp" ] && [ "$(cut -d' ' -f1 "$stamp")" = "$hash" ]; then
  installed="$(cut -d' ' -f2 "$stamp")"
  if [ -z "$(comm -23 <(as_lines "$extras") <(as_lines "$installed"))" ]; then
    exit 0
  fi
  extras="$(printf '%s\n%s\n' "$(as_lines "$extras")" "$(as_lines "$installed")" | grep -v '^$' | sort -u | paste -sd, -)"
fi
echo "fasrobust: installing into $venv (extras: ${extras:-none}) ..." >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch first and pinned: on a machine with a local wheel cache pip takes it from there; elsewhere the
# ordinary wheel for the platform. Installing it first keeps a later range from pulling another build.
"$venv/bin/python" -m pip install --quiet "torch==${FASROBUST_TORCH:-2.13.0}"
"$venv/bin/python" -m pip install --quiet -e ".${extras:+[$extras]}"
echo "$hash ${extras:--}" > "$stamp"
