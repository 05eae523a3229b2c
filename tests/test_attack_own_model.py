"""The first thing a team does with fasrobust, from the command line: a TensorFlow-style liveness model
exported to ONNX (float NHWC input in 0..1, a 2-class softmax whose live class is index 0) is probed, then
attacked by every registered attack, and its adversarial PNGs re-verify through the same ONNX model."""

from __future__ import annotations

import numpy as np
import pytest

from fasrobust.attacks import ATTACKS, list_attacks
from fasrobust.attacks.verify import decode_png
from fasrobust.cli import main
from fasrobust.experiments.store import ResultsStore
from fasrobust.targets import load_target
from target_models import tensorflow_style_model

CONTRACT = ["--layout", "nhwc", "--channels", "rgb", "--scale", "0.00392156862745098", "--output", "softmax",
            "--live-index", "0"]
#: Each registered attack's declared smoke settings as options, with 6 pixels (every attack's size field).
SMALL = {e.name: [arg for field, value in {**e.smoke, e.target.Settings.size_field: 8}.items()
                  for arg in (f"--{field.replace('_', '-')}", str(value))] for e in ATTACKS.entries()}


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code or 0, out, err


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    path, faces = tensorflow_style_model(root)
    return root, path, faces


@pytest.mark.parametrize("attack", list_attacks())
def test_probe_then_attack_a_tensorflow_style_onnx_model(model, capsys, tmp_path, attack):
    root, path, faces = model
    code, out, err = run_cli(capsys, "probe", path, "--faceset", faces, *CONTRACT)
    assert code == 0, err
    assert "nhwc" in out.lower() and "inverted" not in err.lower()
    code, out, err = run_cli(capsys, "attack", "--onnx", path, "--faceset", faces, "--out", tmp_path,
                             "--attack", attack, *SMALL[attack], *CONTRACT)
    assert code == 0, err
    assert "recall before" in out
    with ResultsStore(tmp_path / "results.sqlite") as store:
        rows = store.attacks()
    assert len(rows) and (rows["attack"] == attack).all() and (rows["queries"] <= rows["query_budget"]).all()
    assert (rows["threshold"] == 0.5).all() and not rows["already_live"].any()
    wins = rows[rows["success"]]
    assert len(wins) >= 2, "spoofs just below the threshold: a few pixels flip some"
    target = load_target(path, {"input": {"layout": "nhwc", "scale": 1 / 255},
                                "output": {"kind": "softmax", "live_index": 0}})
    adversarial = np.stack([decode_png((tmp_path / png).read_bytes()) for png in wins["png"]])
    assert (target(adversarial) >= 0.5).all(), "every stored PNG is still called live by the ONNX model"


def test_a_stated_threshold_is_the_criterion_recorded_with_every_row(model, capsys, tmp_path):
    _, path, faces = model
    code, out, err = run_cli(capsys, "attack", "--onnx", path, "--faceset", faces, "--out", tmp_path,
                             "--attack", "sparse-rs", "--pixels", "1", "--queries", "2", *CONTRACT,
                             "--threshold", "0.45")
    assert code == 0, err
    with ResultsStore(tmp_path / "results.sqlite") as store:
        rows = store.attacks()
    assert (rows["threshold"] == 0.45).all()
    assert (rows["already_live"] == (rows["p_live_before"] >= 0.45)).all(), "spoofs at 0.45-0.5 are live here"
    assert "P(live) >= 0.45" in out


def test_a_missing_contract_is_one_line_naming_the_option(model, capsys, tmp_path):
    _, path, faces = model
    code, _, err = run_cli(capsys, "attack", "--onnx", path, "--faceset", faces, "--out", tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--" in err
