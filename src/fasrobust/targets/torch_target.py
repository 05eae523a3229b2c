"""Target adapter for a PyTorch module: uint8 NHWC images in, P(live) out, on the module's device.

Sits between a trained model (a `fasrobust.models` checkpoint, or any `nn.Module` a user brings) and
the attacks. The target owns the model's input contract, so callers only ever hand over 8-bit pixels:
layout (NHWC -> NCHW), dtype, scaling and normalisation happen here, on the device.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError, TargetError
from ..models.preprocessing import PRESETS, Preprocessing, PreprocessingPreset
from .adapters import register_adapter
from .base import Target

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch
    from torch import nn

#: CPU chunk size. The project's measurement on a small CNN: batches of ~100-130 images ran ~3x faster
#: per image than 720, as a chunk's activations then stay in cache. It depends on the model and the CPU;
#: pass max_batch explicitly after timing your own (a busy 2-core machine gave no clear winner).
CPU_MAX_BATCH = 128
#: CUDA chunk size for 64x64 inputs; scaled by pixel count for larger inputs (see `auto_max_batch`).
CUDA_MAX_BATCH = 4096


class Output(StrEnum):
    """What the module's forward returns."""

    LOGIT = "logit"  # (N,) or (N, 1) logit of live; P(live) = sigmoid
    PROBABILITY = "probability"  # (N,) or (N, 1) P(live) already
    SOFTMAX2 = "softmax2"  # (N, 2) class logits; P(live) = softmax[:, live_index]

    @classmethod
    def parse(cls, value: str | Output) -> Output:
        try:
            return cls(str(value).lower())
        except ValueError:
            choices = ", ".join(o.value for o in cls)
            raise TargetError(f"unknown model output {value!r}; expected one of {choices}") from None


def as_preprocessing(value: Preprocessing | Mapping[str, Any] | None, source: str | None = None) -> Preprocessing:
    """A Preprocessing from an object, a model.json-style dict, or None (the 'lucena' default:
    scale 1/255, mean 0, std 1)."""
    if value is None:
        return PRESETS[PreprocessingPreset.LUCENA]
    if isinstance(value, Preprocessing):
        return value
    try:
        return Preprocessing.from_dict(value, source)
    except ModelError as exc:  # the same problem, seen from the target's side
        raise TargetError(str(exc)) from None


class InputTransform:
    """uint8 (n, H, W, 3) -> float (n, 3, H, W) as (x * scale - mean) / std, with the same float ops as the
    trainer and the ONNX export, so a target's scores equal the evaluation's bit for bit. With mean 0 and
    std 1 (the default) that is a single multiply; otherwise two more in-place passes, which cost little
    next to the first convolution."""

    def __init__(self, preprocessing: Preprocessing, device: torch.device, dtype: torch.dtype,
                 channels_last: bool = True):
        import torch

        self.scale = preprocessing.scale
        self.plain = all(m == 0 for m in preprocessing.mean) and all(s == 1 for s in preprocessing.std)
        self.mean = torch.tensor(preprocessing.mean, dtype=dtype, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(preprocessing.std, dtype=dtype, device=device).view(1, 3, 1, 1)
        self.dtype = dtype
        # The permuted NHWC view already has channels_last strides, so keeping them costs nothing.
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).to(self.dtype, memory_format=self.memory_format)
        x.mul_(self.scale)
        if not self.plain:
            x.sub_(self.mean).div_(self.std)
        return x


def scores_from_output(out: torch.Tensor, output: Output, live_index: int = 1) -> torch.Tensor:
    """Turn a model's raw output into P(live), shape (n,)."""
    import torch

    if output is Output.SOFTMAX2:
        if out.ndim != 2 or out.shape[1] != 2:
            raise TargetError(f"output 'softmax2' needs (N, 2) class scores, the model returned {tuple(out.shape)}")
        return torch.softmax(out.float(), dim=1)[:, live_index]
    if out.ndim == 2 and out.shape[1] == 1:
        out = out[:, 0]
    if out.ndim != 1:
        raise TargetError(f"output {output.value!r} needs (N,) or (N, 1) scores, the model returned "
                          f"{tuple(out.shape)}; use output='softmax2' for two-class outputs")
    return torch.sigmoid(out.float()) if output is Output.LOGIT else out.float()


def auto_max_batch(device: torch.device, input_size: int | None) -> int:
    """CPU: `CPU_MAX_BATCH` (cache-bound). CUDA: `CUDA_MAX_BATCH` at 64x64, shrunk in proportion to the
    pixel count for larger inputs (about 330 at 224x224, which keeps VGG16 activations near 10 GB)."""
    if device.type != "cuda":
        return CPU_MAX_BATCH
    side = input_size or 64
    return int(max(64, min(CUDA_MAX_BATCH, CUDA_MAX_BATCH * (64 * 64) / (side * side))))


def resolve_device(device: str | torch.device, module: nn.Module | None = None) -> torch.device:
    """'auto' means where the module's parameters already are (CPU for a module without any)."""
    import torch

    if str(device) != "auto":
        return torch.device(device)
    if module is not None:
        for tensor in module.parameters():
            return tensor.device
    return torch.device("cpu")


@register_adapter("torch", description="a fasrobust run directory (model.json + model.safetensors)",
                  suffixes=(".json", ".safetensors"), marker="model.json", takes_device=True)
class TorchTarget(Target):
    """Scores images with a PyTorch module.

    The target takes the module over: it is moved to `device`/`dtype` and put in eval mode once, here,
    with a RuntimeWarning if it was training (so no attack ever flips a user's mode silently). Every call
    checks it is still in eval mode and raises if someone switched it back, since dropout or batch
    statistics would make scores depend on the batch.
    """

    def __init__(self, module: nn.Module, *, preprocessing: Preprocessing | Mapping[str, Any] | None = None,
                 output: Output | str = Output.LOGIT, live_index: int = 1, input_size: int | None = None,
                 device: str | torch.device = "auto", max_batch: int | str = "auto",
                 channels_last: bool = True, dtype: torch.dtype | None = None,
                 query_budget: int | None = None, name: str = "", threshold: float = 0.5):
        import torch
        from torch import nn

        if not isinstance(module, nn.Module):
            raise TargetError(f"TorchTarget needs a torch.nn.Module, got {type(module).__name__}")
        if live_index not in (0, 1):
            raise TargetError(f"live_index must be 0 or 1, got {live_index}")
        device = resolve_device(device, module)
        if max_batch == "auto":
            max_batch = auto_max_batch(device, input_size)
        super().__init__(max_batch=int(max_batch), device=device, input_size=input_size,
                         query_budget=query_budget, name=name or f"torch:{type(module).__name__}",
                         threshold=threshold)
        self.preprocessing = as_preprocessing(preprocessing)
        self.output = Output.parse(output)
        self.live_index = live_index
        dtype = self.dtype = dtype if dtype is not None else torch.float32
        self.source = self.name  # from_checkpoint replaces it with the run directory
        # channels_last weights only pay off with cuDNN; on CPU the input view is channels_last anyway.
        self.channels_last = channels_last
        if _training(module):
            warnings.warn(f"{self.name}: the module was in train mode; TorchTarget put it in eval mode "
                          "(dropout and batch statistics would make scores depend on the batch)",
                          RuntimeWarning, stacklevel=2)
        module = module.to(device=self.device, dtype=dtype).eval()
        if channels_last and self.device.type == "cuda":
            module = module.to(memory_format=torch.channels_last)
        self.module = module
        self._transform = InputTransform(self.preprocessing, self.device, dtype, channels_last)

    @classmethod
    def open(cls, source: str, contract: Any, **options: Any) -> TorchTarget:
        """A run directory: its model.json records its own contract, so only a threshold (and hiding the score,
        `label_only`) may be stated."""
        stated = {k: v for k, v in contract.given().items() if k != "output" or set(v) - {"threshold", "label_only"}}
        if stated:
            named = ", ".join(sorted(f"{part}.{key}" for part, fields in stated.items() for key in fields))
            raise TargetError(f"a fasrobust checkpoint records its own contract in model.json; only --threshold "
                              f"and --label-only apply to it (got {named})", path=source)
        return cls.from_checkpoint(source, threshold=contract.threshold, **options)

    @classmethod
    def fingerprint(cls, source: str) -> str:
        """The weights' hash: the same checkpoint copied elsewhere keeps its results."""
        from ..provenance import file_sha256

        path = Path(source)
        run_dir = path if path.is_dir() else path.parent
        weights = run_dir / "model.safetensors"
        if not weights.is_file():
            raise ModelError("no checkpoint in this run directory (model.safetensors is missing; train first)",
                             run_dir)
        return f"torch:{file_sha256(weights)[:16]}"

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "auto",
                        **kwargs: Any) -> TorchTarget:
        """A target for a fasrobust run directory (or its model.json / model.safetensors).
        `device='auto'` here means CUDA when available, else CPU."""
        import torch

        from ..models.checkpoint import load_checkpoint

        if str(device) == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        checkpoint = load_checkpoint(path, device=device)
        info = checkpoint.info
        kwargs.setdefault("preprocessing", checkpoint.preprocessing)
        kwargs.setdefault("output", info.get("output", Output.LOGIT.value))
        kwargs.setdefault("input_size", info.get("input_size"))
        kwargs.setdefault("name", f"torch:{Path(path).name}")
        target = cls(checkpoint.model, device=device, **kwargs)
        target.source = str(path)
        return target

    def describe(self) -> dict[str, Any]:
        """The input contract, for the server's health answer, `fasrobust probe` and provenance."""
        p = self.preprocessing
        direction = {Output.LOGIT: "P(live) = sigmoid(logit)", Output.PROBABILITY: "P(live) = output",
                     Output.SOFTMAX2: f"P(live) = softmax class {self.live_index} of 2"}[self.output]
        return {"adapter": "torch", "kind": "torch", "name": self.name, "source": self.source,
                "inputs": [{"name": "images", "shape": ["N", 3, self.input_size, self.input_size],
                            "dtype": str(self.dtype).removeprefix("torch.")}],
                "outputs": [{"name": "output", "shape": ["N", 2 if self.output is Output.SOFTMAX2 else 1]}],
                "layout": "nchw", "channels": "rgb",
                "range": f"float (x * {p.scale:.10g} - mean {list(p.mean)}) / std {list(p.std)}",
                "input_size": self.input_size, "output": self.output.value, "output_kind": self.output.value,
                "live_direction": direction, "threshold": self.threshold, "preprocessing": p.to_dict(),
                "device": str(self.device), "max_batch": self.max_batch}

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        import torch

        if _training(self.module):
            raise TargetError(f"{self.name}: the module was switched to train mode after the target was "
                              "built; call module.eval() (scores would depend on the batch)")
        with torch.inference_mode():
            scores = scores_from_output(self.module(self._transform(images)), self.output, self.live_index)
        # Inference tensors refuse in-place updates outside inference mode; n floats are cheap to copy.
        return scores.clone()

    def __repr__(self) -> str:
        return (f"TorchTarget({self.name!r}, output={self.output.value!r}, device={str(self.device)!r}, "
                f"max_batch={self.max_batch}, input_size={self.input_size})")


def _training(module: nn.Module) -> bool:
    """True if the module or any submodule is in train mode (a user may have flipped just one)."""
    return any(m.training for m in module.modules())
