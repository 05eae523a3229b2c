"""Checkpoint I/O: run_dir/model.safetensors (weights, no pickle) + run_dir/model.json (what built them).

model.json holds the model's registered name and constructor kwargs, freeze policy, input size, the
preprocessing applied to uint8 RGB input, `output: "logit"` (P(live) = sigmoid), the sha256 and tensor
shapes of the weights file, package versions, plus what the caller adds (training data hash, steps,
seed, ImageNet source or "none (trained from scratch)"). Both files are written atomically, weights
first; the sha256 in model.json ties the pair together, so a pair from two different saves is refused."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from ..errors import FasrobustError, ModelError
from ..paths import resolve_recorded
from ..provenance import bytes_sha256, versions, write_bytes_atomic, write_json_atomic
from ..settings import describe_validation_error
from .preprocessing import PRESETS, Preprocessing, PreprocessingPreset
from .registry import create_model, model_spec

WEIGHTS_FILE = "model.safetensors"
INFO_FILE = "model.json"
FORMAT = "fasrobust-checkpoint"
FORMAT_VERSION = 1
#: What the model computes; Targets read it to know how to turn outputs into P(live).
IO_CONTRACT = {
    "input": "float32 (N, 3, S, S) RGB, uint8 pixels after `preprocessing`: (x * scale - mean) / std",
    "output": "logit of live, shape (N,); P(live) = sigmoid(logit)",
}
_SHOW = 3
#: The single key of the weights file's safetensors metadata (see `weights_metadata`).
METADATA_KEY = "fasrobust"


@dataclass(frozen=True)
class Checkpoint:
    """A loaded model (eval mode) and its model.json record."""

    model: nn.Module
    info: dict[str, Any]
    path: Path  # the run directory

    @property
    def preprocessing(self) -> Preprocessing:
        return Preprocessing.from_dict(self.info["preprocessing"], str(self.path / INFO_FILE))

    @property
    def input_size(self) -> int:
        return int(self.info["input_size"])


def save_checkpoint(run_dir: str | Path, model: nn.Module, info: Mapping[str, Any] | None = None) -> Path:
    """Write the model's weights and record; returns the weights path. `info` adds fields (and may set
    `preprocessing`, a dict or Preprocessing; default Lucena's)."""
    run_dir = Path(run_dir)
    spec = model_spec(model)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    blob = save_safetensors(tensors, metadata=weights_metadata(spec.name))
    extra = dict(info or {})
    preprocessing = extra.pop("preprocessing", PRESETS[PreprocessingPreset.LUCENA])
    if isinstance(preprocessing, Mapping):
        preprocessing = Preprocessing.from_dict(preprocessing)
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": spec.name,
        "model_kwargs": _json_kwargs(model, spec.kwargs),
        "input_size": int(model.input_size),
        "freeze": str(getattr(model, "freeze", "none")),
        "output": "logit",
        "preprocessing": preprocessing.to_dict(),
        "io": IO_CONTRACT,
        **extra,
        "weights": {"file": WEIGHTS_FILE, "sha256": bytes_sha256(blob),
                    "tensors": {k: list(v.shape) for k, v in tensors.items()}},
        "versions": versions(),
    }
    write_bytes_atomic(run_dir / WEIGHTS_FILE, blob)
    write_json_atomic(run_dir / INFO_FILE, record)
    return run_dir / WEIGHTS_FILE


def weights_metadata(model_name: str) -> dict[str, str]:
    """The safetensors header's `__metadata__`: ONE key holding sorted JSON. The writer keeps metadata in
    a Rust hash map whose order is randomised per process, so two keys came out in either order and two
    saves of equal weights differed in their bytes (and their sha256); one key has a single order."""
    return {METADATA_KEY: json.dumps({"format": FORMAT, "model": model_name}, sort_keys=True)}


def _json_kwargs(model: nn.Module, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Constructor kwargs as JSON, with the freeze policy always spelled out: a checkpoint must rebuild
    the same model even if a default changes later."""
    out = {k: (v if isinstance(v, int | float | bool | None) else str(v)) for k, v in kwargs.items()}
    if getattr(model, "freeze", None) is not None:
        out["freeze"] = str(model.freeze)
    return out


def _paths(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        return path / WEIGHTS_FILE, path / INFO_FILE
    if path.suffix in (".safetensors", ".json"):
        return path.with_suffix(".safetensors"), path.with_suffix(".json")
    raise ModelError("expected a run directory or a .safetensors checkpoint", path)


class _Record(BaseModel):
    """The fields of model.json that loading reads, checked like any option before they are used (a file is
    input like any other); the rest of the record is kept as it is."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    model: str
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    output: Literal["logit", "probability", "softmax2"] = "logit"
    input_size: int | None = Field(None, ge=1, le=8192)
    preprocessing: dict[str, Any] | None = None
    live_index: int | None = Field(None, ge=0, le=1)


def read_info(path: str | Path) -> dict[str, Any]:
    """model.json of a run directory or checkpoint file, checked to be ours."""
    _, info_path = _paths(Path(path))
    if not info_path.is_file():
        raise ModelError("no model.json here (not a fasrobust checkpoint; run 'fasrobust train')", info_path)
    try:
        info = json.loads(info_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ModelError("model.json is not valid JSON", info_path) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ModelError(f"model.json is not a {FORMAT} record", info_path)
    if info.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"unsupported checkpoint format version {info.get('format_version')!r}", info_path)
    try:
        _Record.model_validate(info)
    except ValidationError as exc:
        raise ModelError(f"model.json {describe_validation_error(exc)}", info_path) from None
    return info


def recorded_faceset(path: str | Path) -> Path | None:
    """The FaceSet a checkpoint was trained on (model.json's training_data, relative to model.json or
    absolute; see `fasrobust.paths`), if it is still on disk."""
    _, info_path = _paths(Path(path))
    recorded = (read_info(info_path).get("training_data") or {}).get("faceset")
    if not recorded:
        return None
    found = resolve_recorded(recorded, base=info_path.parent)
    return found if found.is_dir() else None


def _describe(names, label: str) -> str:
    names = sorted(names)
    more = f" (+{len(names) - _SHOW} more)" if len(names) > _SHOW else ""
    return f"{label} {', '.join(names[:_SHOW])}{more}"


def check_state(model: nn.Module, state: Mapping[str, torch.Tensor], where: Path) -> None:
    """One line naming what does not fit: missing tensors, unexpected tensors, wrong shapes."""
    want = model.state_dict()
    missing, unexpected = set(want) - set(state), set(state) - set(want)
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(want[k].shape)}" for k in set(want) & set(state)
             if state[k].shape != want[k].shape]
    problems = [p for p in (missing and _describe(missing, "missing"),
                            unexpected and _describe(unexpected, "unexpected"),
                            wrong and _describe(wrong, "shape mismatch (file vs model)")) if p]
    if problems:
        raise ModelError(f"weights do not fit the model described in model.json: {'; '.join(problems)}", where)


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from model.json and load model.safetensors into it (eval mode, on `device`)."""
    weights_path, info_path = _paths(Path(path))
    info = read_info(info_path)
    if not weights_path.is_file():
        raise ModelError("model.safetensors is missing next to model.json", weights_path)
    blob = weights_path.read_bytes()
    recorded = info.get("weights", {}).get("sha256")
    if recorded != bytes_sha256(blob):
        raise ModelError("model.json and model.safetensors come from different saves (sha256 differs); "
                         "re-run training or restore the matching pair", weights_path)
    try:
        state = load_safetensors(blob)
    except SafetensorError as exc:
        raise ModelError(f"weights file cannot be read ({exc})", weights_path) from None
    try:
        model = create_model(info["model"], **info.get("model_kwargs", {}))
    except (FasrobustError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"model.json cannot rebuild its model: {exc}", info_path) from None
    check_state(model, state, weights_path)
    model.load_state_dict(state)
    return Checkpoint(model.to(device).eval(), info, weights_path.parent)
