#!/usr/bin/env bash
# The test suite, with everything it needs: extras, a headless browser for the report page, lint.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh "mtcnn,onnx,http,ray,parquet,test"
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "fasrobust: installing Debian chromium for the report page test ..." >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "fasrobust: could not install chromium; the browser test will say so" >&2
fi
.venv/bin/ruff check src tests benchmarks
# One worker per core; a test file stays on one worker (--dist loadfile), so the shared demo run that
# test_demo.py reads is made once. FASROBUST_TEST_WORKERS=0 runs everything in this process.
exec .venv/bin/python -m pytest -n "${FASROBUST_TEST_WORKERS:-auto}" --dist loadfile "$@"
