"""The prepared GPU benchmark (benchmarks/gpu.py) runs every part in its smoke mode on the CPU, so the one
call a GPU session makes is known to work before a GPU is lent; it writes every number as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "gpu.py"


def test_gpu_benchmark_smoke_runs_on_cpu(tmp_path):
    env = {**os.environ, "FASROBUST_CACHE": str(tmp_path / "cache"), "FASROBUST_QUIET": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path / "gpu.json")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "gpu.json").read_text())
    assert results["smoke"] is True and results["device"].startswith("CPU")
    assert all(v["target_img_s"] > 0 and v["bare_img_s"] > 0 for v in results["inference"].values())
    assert results["training"]["ours_img_s"] > 0 and results["training"]["bare_img_s"] > 0
    assert set(results["attacks"]) >= {"pixel", "sparse-rs"}
    assert all(v["attack_over_model"] > 0 and v["queries"] > 0 for v in results["attacks"].values())
    assert "summary" in results["peers"]
    study = results["study"]
    assert study["images"] == 4 and study["queries"] <= 4 * study["queries_budget"]
    assert done.stdout.strip().splitlines()[-1].startswith("done in")
