"""OnnxTarget: an exported model scores like the PyTorch model it came from, whether preprocessing is in
the graph (fasrobust's export) or given by the caller (a plain float-input graph)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch

from fasrobust.errors import TargetError
from fasrobust.models import PRESETS, PreprocessingPreset, create_model, save_checkpoint
from fasrobust.models.export import export_onnx
from fasrobust.targets import OnnxTarget, TorchTarget, load_target

pytest.importorskip("onnxruntime")

SIZE = 16
IMAGENET = PRESETS[PreprocessingPreset.IMAGENET]


@pytest.fixture
def model():
    torch.manual_seed(3)
    return create_model("tiny-cnn", input_size=SIZE).eval()


@pytest.fixture
def images(rng) -> np.ndarray:
    batch = rng.integers(0, 256, (11, SIZE, SIZE, 3), dtype=np.uint8)
    batch[0], batch[1] = 0, 255
    return batch


def plain_onnx(model, path, *, batch: int | None = None):
    """A float (N, 3, S, S) graph with no metadata, as a user's own exporter would write it."""
    buffer = io.BytesIO()
    dynamic = None if batch else {"x": {0: "N"}, "logit": {0: "N"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(batch or 2, 3, SIZE, SIZE),), buffer, input_names=["x"],
                          output_names=["logit"], dynamic_axes=dynamic, opset_version=17, dynamo=False)
    path.write_bytes(buffer.getvalue())
    return path


def test_exported_checkpoint_scores_like_the_torch_target(model, images, tmp_path):
    save_checkpoint(tmp_path, model, {"preprocessing": IMAGENET})
    onnx_path = export_onnx(tmp_path, tmp_path / "model.onnx")
    target = load_target(onnx_path)
    assert isinstance(target, OnnxTarget)
    assert target.input_size == SIZE and target.output.value == "probability"  # read from the metadata
    want = TorchTarget.from_checkpoint(tmp_path, device="cpu")(images)
    got = target(images)
    assert np.max(np.abs(got - want)) < 1e-5
    assert target.queries == len(images)


def test_float_graph_with_explicit_preprocessing(model, images, tmp_path):
    path = plain_onnx(model, tmp_path / "plain.onnx")
    with pytest.raises(TargetError, match="--scale"):
        OnnxTarget(path)  # float input and no metadata: guessing the normalisation would be wrong
    target = OnnxTarget(path, preprocessing=IMAGENET.to_dict(), output="logit", max_batch=4)
    want = TorchTarget(model, preprocessing=IMAGENET)(images)
    assert np.max(np.abs(target(images) - want)) < 1e-5
    assert target.queries == len(images)


def test_fixed_batch_graph_pads_the_last_chunk(model, images, tmp_path):
    path = plain_onnx(model, tmp_path / "fixed.onnx", batch=4)
    target = OnnxTarget(path, preprocessing=IMAGENET.to_dict())
    assert target.max_batch == 4
    want = TorchTarget(model, preprocessing=IMAGENET)(images[:7])
    assert np.max(np.abs(target(images[:7]) - want)) < 1e-5
    assert target.queries == 7  # the padding is not a query
    with pytest.raises(TargetError, match="exactly 4"):
        OnnxTarget(path, preprocessing=IMAGENET.to_dict(), max_batch=8)


def test_unreadable_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(TargetError, match="onnxruntime cannot load it") as info:
        OnnxTarget(bad)
    assert "\n" not in str(info.value) and "broken.onnx" in str(info.value)
    with pytest.raises(TargetError, match="not found"):
        OnnxTarget(tmp_path / "absent.onnx")
