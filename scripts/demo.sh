#!/usr/bin/env bash
# The main job on the embedded (synthetic) sample database: prepare, train, evaluate, attack, report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh   # the base install: the demo needs no extra (no TensorFlow)
exec .venv/bin/fasrobust demo "$@"
