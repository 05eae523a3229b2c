"""`fasrobust serve`: a checkpoint served by the real command answers health and score on 127.0.0.1,
with the scores of the model in process; an ONNX file can be served too; bad arguments are one line."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from fasrobust.cli import app, main
from fasrobust.models import create_model, save_checkpoint
from fasrobust.targets import HttpTarget, TorchTarget
from fasrobust.targets.server import start_server_in_thread

SIZE = 16


@pytest.fixture
def run_dir(tmp_path):
    torch.manual_seed(5)
    save_checkpoint(tmp_path / "run", create_model("tiny-cnn", input_size=SIZE))
    return tmp_path / "run"


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The first stdout line, or fail with what the process said on stderr."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=0.2):
            line = proc.stdout.readline()
            if line:
                return line.strip()
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail(f"serve printed no URL; stderr: {proc.communicate()[1][-2000:]}")


def test_serve_command_answers_health_and_score(run_dir, rng):
    env = {**os.environ, "FASROBUST_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fasrobust", "serve", str(run_dir), "--port", "0",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        url = read_line(proc, timeout=120)
        assert url.startswith("http://127.0.0.1:")
        images = rng.integers(0, 256, (5, SIZE, SIZE, 3), dtype=np.uint8)
        with HttpTarget(url, timeout=30) as remote:
            health = remote.health()
            scores = remote(images)
        assert health["status"] == "ok" and health["model"]["input_size"] == SIZE
        local = TorchTarget.from_checkpoint(run_dir, device="cpu")(images)
        np.testing.assert_allclose(scores, local, atol=1e-6)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_onnx_file_can_be_served(run_dir, rng):
    pytest.importorskip("onnxruntime")
    from fasrobust.models.export import export_onnx

    path = export_onnx(run_dir, run_dir / "model.onnx")
    images = rng.integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    url, stop = start_server_in_thread(path)
    try:
        with HttpTarget(url) as remote:
            model = remote.health()["model"]
            assert "onnx" in (model.get("adapter"), model.get("kind"))  # the target's describe() names it
            got = remote(images)
    finally:
        stop()
    assert np.max(np.abs(got - TorchTarget.from_checkpoint(run_dir, device="cpu")(images))) < 1e-5


def test_help_says_it_binds_loopback_only():
    result = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "network" in result.output


def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["serve", str(tmp_path / "nowhere"), "--port", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fasrobust: error:") and "not found" in err and "\n" not in err


@pytest.mark.parametrize("module", ["uvicorn", "starlette"])
def test_serving_without_the_http_extra_is_a_one_line_error_naming_it(run_dir, capsys, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # what an environment without the package gives import
    with pytest.raises(SystemExit) as info:
        main(["serve", str(run_dir), "--port", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"'{module}'" in err and "fasrobust[http]" in err
