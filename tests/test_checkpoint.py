"""Checkpoints (model.safetensors + model.json) and the verified ONNX export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fasrobust.errors import ModelError
from fasrobust.models import (
    PRESETS,
    PreprocessingPreset,
    create_model,
    list_models,
    load_checkpoint,
    save_checkpoint,
)
from fasrobust.models import export as export_module
from fasrobust.models.export import export_onnx


def p_live(model, preprocessing, images: np.ndarray) -> np.ndarray:
    """The reference computation: uint8 NHWC -> (x * scale - mean) / std -> model -> sigmoid."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    with torch.no_grad():
        return torch.sigmoid(model(preprocessing.apply(x))).numpy()


@pytest.fixture
def tiny_run(tmp_path):
    model = create_model("tiny-cnn", input_size=16, width=4)
    save_checkpoint(tmp_path / "run", model, {"steps": 7, "seed": 3})
    return tmp_path / "run", model


@pytest.mark.parametrize("name", list_models())
def test_round_trip_gives_the_same_model_in_eval_mode(tmp_path, name):
    model = create_model(name, input_size=32)
    model.train()
    weights = save_checkpoint(tmp_path, model, {"steps": 12, "preprocessing": PRESETS[PreprocessingPreset.IMAGENET]})
    assert weights == tmp_path / "model.safetensors"
    x = torch.rand(2, 3, 32, 32)
    want = model.eval()(x)
    for where in (tmp_path, weights):  # the run directory or the weights file
        checkpoint = load_checkpoint(where)
        assert not checkpoint.model.training
        assert torch.equal(checkpoint.model(x), want)
        assert type(checkpoint.model) is type(model)
    info = checkpoint.info
    assert info["model"] == name and info["output"] == "logit" and info["input_size"] == 32 and info["steps"] == 12
    assert info["preprocessing"]["mean"] == [0.485, 0.456, 0.406] and checkpoint.preprocessing.scale == 1 / 255
    assert info["freeze"] == str(model.freeze) and "torch" in info["versions"]


def test_hand_built_models_cannot_be_saved_by_name(tmp_path):
    with pytest.raises(ValueError, match="create_model"):
        save_checkpoint(tmp_path, torch.nn.Linear(2, 1))


def _one_line(excinfo) -> str:
    text = str(excinfo.value)
    assert "\n" not in text
    return text


def test_json_describing_another_model_is_one_line_error(tiny_run):
    run, _ = tiny_run
    info = json.loads((run / "model.json").read_text())
    info["model_kwargs"]["width"] = 6
    (run / "model.json").write_text(json.dumps(info))
    with pytest.raises(ModelError, match="shape mismatch.*features.0.weight") as caught:
        load_checkpoint(run)
    _one_line(caught)


def test_weights_from_another_save_are_refused(tiny_run, tmp_path):
    run, model = tiny_run
    with torch.no_grad():
        model.head[-1].bias.add_(1.0)
    save_checkpoint(tmp_path / "other", model, {})
    (run / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(ModelError, match="different saves") as caught:
        load_checkpoint(run)
    _one_line(caught)


@pytest.mark.parametrize("damage, message", [
    (lambda run: (run / "model.json").write_text("{not json"), "not valid JSON"),
    (lambda run: (run / "model.json").unlink(), "no model.json"),
    (lambda run: (run / "model.safetensors").unlink(), "missing"),
    (lambda run: (run / "model.json").write_text('{"format": "keras"}'), "not a fasrobust-checkpoint"),
])
def test_broken_checkpoints_are_one_line_errors(tiny_run, damage, message):
    run, _ = tiny_run
    damage(run)
    with pytest.raises(ModelError, match=message) as caught:
        load_checkpoint(run)
    _one_line(caught)


def test_extra_or_missing_tensors_are_named(tiny_run):
    from safetensors.torch import load_file, save_file

    from fasrobust.models.checkpoint import check_state

    run, model = tiny_run
    state = load_file(str(run / "model.safetensors"))
    del state["head.2.weight"]
    state["head.9.weight"] = torch.zeros(1)
    with pytest.raises(ModelError, match=r"missing head.2.weight; unexpected head.9.weight") as caught:
        check_state(model, state, run)
    _one_line(caught)
    save_file(state, str(run / "model.safetensors"))  # and on disk, the hash catches it first
    with pytest.raises(ModelError, match="different saves"):
        load_checkpoint(run)


def test_onnx_export_matches_pytorch_and_records_its_contract(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = create_model("fasnet", input_size=32)
    save_checkpoint(tmp_path, model, {"steps": 1})
    path = export_onnx(tmp_path, tmp_path / "fasnet.onnx")
    checkpoint = load_checkpoint(tmp_path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(uint8)"
    rng = np.random.default_rng(0)
    for n in (1, 7):  # the batch axis is dynamic
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        got = session.run(["p_live"], {"images": images})[0]
        assert got.shape == (n,)
        np.testing.assert_allclose(got, p_live(checkpoint.model, checkpoint.preprocessing, images), atol=1e-5, rtol=0)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    contract = json.loads(meta["fasrobust"])
    assert contract["output"] == "probability" and contract["input_size"] == 32
    assert contract["input_tensor"]["dtype"] == "uint8" and contract["input_tensor"]["layout"].startswith("NHWC")
    recorded = json.loads((tmp_path / "model.json").read_text())["onnx"]
    assert recorded["verified_max_abs_diff"] < 1e-5 and recorded["output"] == "probability"


def test_onnx_file_works_as_an_onnx_target(tiny_run):
    pytest.importorskip("onnxruntime")
    from fasrobust.targets.onnx_target import OnnxTarget

    run, _ = tiny_run
    path = export_onnx(run, run / "tiny.onnx")
    checkpoint = load_checkpoint(run)
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    scores = OnnxTarget(path)(images)
    np.testing.assert_allclose(scores, p_live(checkpoint.model, checkpoint.preprocessing, images), atol=1e-5)


def test_export_that_fails_verification_writes_nothing(tiny_run, monkeypatch):
    pytest.importorskip("onnxruntime")
    run, _ = tiny_run
    monkeypatch.setattr(export_module, "TOLERANCE", -1.0)  # no difference can pass
    with pytest.raises(ModelError, match="disagrees with PyTorch") as caught:
        export_onnx(run, run / "tiny.onnx")
    _one_line(caught)
    assert sorted(p.name for p in run.iterdir()) == ["model.json", "model.safetensors"]


# Saves the same seeded weights to argv[1]; run in fresh interpreters, since the safetensors writer's
# hash-map order is randomised per process (and per map within one).
_SAVE_SEEDED = """
import sys, torch
from fasrobust.models import create_model, save_checkpoint
torch.manual_seed(11)
save_checkpoint(sys.argv[1], create_model("tiny-cnn", input_size=16, width=4), {"seed": 11})
"""


def test_equal_weights_give_equal_bytes_in_one_process_and_across_processes(tmp_path):
    import os
    import subprocess
    import sys

    torch.manual_seed(11)
    model = create_model("tiny-cnn", input_size=16, width=4)
    blobs = {save_checkpoint(tmp_path / f"in-{i}", model, {"seed": 11}).read_bytes() for i in range(24)}
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", _SAVE_SEEDED, str(tmp_path / f"proc-{seed}")], check=True, env=env,
                       timeout=120)
        blobs.add((tmp_path / f"proc-{seed}" / "model.safetensors").read_bytes())
    assert len(blobs) == 1, "equal weights must give byte-identical model.safetensors"
    shas = {json.loads((run / "model.json").read_text())["weights"]["sha256"] for run in tmp_path.iterdir()}
    assert len(shas) == 1
