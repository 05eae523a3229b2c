#!/usr/bin/env bash
# The main job on the embedded (synthetic) sample database: prepare, train, evaluate, attack, report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/fasrobust demo "$@"
