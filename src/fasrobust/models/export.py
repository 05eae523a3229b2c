"""ONNX export of a checkpoint, for serving or attacking the model outside PyTorch.

Contract of the exported file (also in its metadata_props under `fasrobust`, a JSON object that
`targets.onnx_target.OnnxTarget` reads, and in the run's
model.json under `onnx`): input `images`, uint8 (N, S, S, 3) RGB, the same layout every Target takes;
output `p_live`, float32 (N,), P(live). Preprocessing and the sigmoid are folded into the graph, so a
caller feeds raw pixels and reads probabilities. The batch axis is dynamic. Export is verified: the
file is run with onnxruntime on random and extreme images and must agree with PyTorch within 1e-5,
otherwise nothing is written and a ModelError says by how much it differed."""

from __future__ import annotations

import copy
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..errors import ModelError, require
from ..provenance import file_sha256, write_json_atomic
from .checkpoint import INFO_FILE, Checkpoint, load_checkpoint, read_info
from .preprocessing import Preprocessing

INPUT_NAME = "images"
OUTPUT_NAME = "p_live"
TOLERANCE = 1e-5
#: The oldest opset torch's exporter and onnxruntime both handle for these graphs (torch refuses older
#: ones deep in the exporter; at 6 the graph has a Mul onnxruntime cannot run). The newest is what the
#: installed torch can write.
MIN_OPSET = 7


def max_opset() -> int:
    """The newest opset the installed torch exports (its constant is private: 20 if it moves)."""
    try:
        from torch.onnx._constants import ONNX_MAX_OPSET
    except ImportError:
        return 20
    return int(ONNX_MAX_OPSET)


def check_opset(opset: int) -> int:
    """A one-line error for an opset out of range, before torch raises its own deep in the exporter."""
    newest = max_opset()
    if not MIN_OPSET <= opset <= newest:
        raise ModelError(f"opset {opset} is not supported: choose {MIN_OPSET} to {newest} (default 17)")
    return opset


class PixelsToProbability(nn.Module):
    """uint8 (N, S, S, 3) RGB -> P(live) (N,): layout, preprocessing, model, sigmoid in one module."""

    def __init__(self, model: nn.Module, preprocessing: Preprocessing):
        super().__init__()
        self.model = model
        self.scale = float(preprocessing.scale)
        self.register_buffer("mean", torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).to(torch.float32)
        return torch.sigmoid(self.model((x * self.scale - self.mean) / self.std))


def onnx_contract(size: int, preprocessing: Preprocessing, opset: int) -> dict[str, Any]:
    """The metadata `OnnxTarget` reads (`output`, `input_size`) plus a description for people."""
    return {
        "output": "probability",
        "input_size": size,
        "input_tensor": {"name": INPUT_NAME, "dtype": "uint8", "shape": ["N", size, size, 3],
                         "layout": "NHWC, RGB"},
        "output_tensor": {"name": OUTPUT_NAME, "dtype": "float32", "shape": ["N"], "meaning": "P(live)"},
        "folded_in": {"preprocessing": preprocessing.to_dict(), "sigmoid": True},
        "opset": opset,
    }


def _verification_images(size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (5, size, size, 3), dtype=np.uint8)
    images[0], images[1] = 0, 255  # the extremes the attack can write
    return images


def _to_onnx_bytes(module: nn.Module, size: int, opset: int) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter is deprecated but needs no onnxscript
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.zeros(2, size, size, 3, dtype=torch.uint8),), buffer,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], opset_version=opset,
                          dynamic_axes={INPUT_NAME: {0: "N"}, OUTPUT_NAME: {0: "N"}}, dynamo=False)
    return buffer.getvalue()


def _max_difference(path: Path, module: nn.Module, size: int) -> float:
    ort = require("onnxruntime", "onnx", "verifying an ONNX export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = _verification_images(size)
    got = session.run([OUTPUT_NAME], {INPUT_NAME: images})[0]
    with torch.no_grad():
        want = module(torch.from_numpy(images)).numpy()
    if got.shape != want.shape:
        raise ModelError(f"exported model returns shape {got.shape}, PyTorch {want.shape}", path)
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))


def export_onnx(checkpoint: Checkpoint | str | Path, path: str | Path, *, opset: int = 17) -> Path:
    """Export a checkpoint (or run directory) to `path`, verify it with onnxruntime, record it in model.json."""
    onnx = require("onnx", "onnx", "ONNX export")
    check_opset(opset)
    if not isinstance(checkpoint, Checkpoint):
        checkpoint = load_checkpoint(checkpoint)
    path, size = Path(path), checkpoint.input_size
    module = PixelsToProbability(copy.deepcopy(checkpoint.model).cpu().float(), checkpoint.preprocessing).eval()
    proto = onnx.load_from_string(_to_onnx_bytes(module, size, opset))
    contract = onnx_contract(size, checkpoint.preprocessing, opset)
    record = {k: checkpoint.info.get(k) for k in ("model", "model_kwargs", "freeze", "steps", "seed",
                                                  "imagenet_weights", "training_data")}
    for key, value in {"fasrobust": contract, "fasrobust.checkpoint": record,
                       "fasrobust.version": __version__}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value, default=str)
    onnx.checker.check_model(proto)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        onnx.save(proto, str(tmp))
        difference = _max_difference(tmp, module, size)
        if not difference < TOLERANCE:  # also catches NaN
            raise ModelError(f"ONNX export disagrees with PyTorch by {difference:.3g} (> {TOLERANCE}); "
                             "nothing was written", path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _record_export(checkpoint, path, contract, difference)
    return path


def _record_export(checkpoint: Checkpoint, path: Path, contract: dict, difference: float) -> None:
    """Add the contract and the file's hash to the run's model.json, so the run says what was exported."""
    info_path = checkpoint.path / INFO_FILE
    if not info_path.is_file():
        return
    info = read_info(info_path)
    info["onnx"] = {"file": str(path.resolve()), "sha256": file_sha256(path),
                    "verified_max_abs_diff": difference, **contract}
    write_json_atomic(info_path, info)
