"""Resume state of a training run: run_dir/train_state.safetensors, one atomically written file
holding the model weights, optimizer tensors, sampler permutation and every RNG state as tensors, and
the rest (step, resolved settings, data hash, optimizer hyperparameters) as JSON in its metadata.
A copy of that JSON is written to train_state.json for people; only the safetensors file is read back.
Restoring all of it makes an interrupted-and-resumed run give the same weights as one that never
stopped (on CPU with deterministic algorithms)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from ..errors import ModelError
from ..provenance import write_bytes_atomic, write_json_atomic

STATE_FILE = "train_state.safetensors"
STATE_JSON = "train_state.json"


@dataclass
class TrainState:
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])


def optimizer_to_flat(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as flat tensors ('optim.<param>.<key>') plus JSON-able rest."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, entries in state["state"].items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_flat(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None:
    entries: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, index, key = name.split(".", 2)
            entries.setdefault(int(index), {})[key] = value
    for index, values in meta["scalars"].items():
        entries.setdefault(int(index), {}).update(values)
    optimizer.load_state_dict({"state": entries, "param_groups": meta["param_groups"]})


def save_state(run_dir: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    blob = save_safetensors(flat, metadata={"state": json.dumps(meta, default=str)})
    write_bytes_atomic(run_dir / STATE_FILE, blob)
    write_json_atomic(run_dir / STATE_JSON, meta)


def load_state(run_dir: Path) -> TrainState | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = json.loads((handle.metadata() or {})["state"])
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, KeyError, ValueError, OSError) as exc:
        raise ModelError(f"resume state cannot be read ({exc}); delete it to start over", path) from None
    return TrainState(tensors, meta)
