"""Where and how training runs: device choice (CPU default, CUDA when present), mixed precision,
thread count and deterministic algorithms, each restored when training ends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..errors import ConfigError
from .train_settings import AmpChoice, DeviceChoice


def resolve_device(choice: DeviceChoice) -> torch.device:
    if choice is DeviceChoice.CUDA and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' asked for but PyTorch sees no CUDA device")
    if choice is DeviceChoice.CPU or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (None: full float32) and whether fp16's loss scaling is needed."""

    dtype: torch.dtype | None
    scaled: bool

    @property
    def name(self) -> str:
        return {None: "float32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]


def resolve_precision(choice: AmpChoice, device: torch.device) -> Precision:
    cuda = device.type == "cuda"
    if choice is AmpChoice.OFF or (choice is AmpChoice.AUTO and not cuda):
        return Precision(None, False)  # CPU autocast is slower than float32 on most CPUs
    if choice is AmpChoice.FP16 and not cuda:
        raise ConfigError("amp: 'fp16' needs a CUDA device (use 'bf16' or 'off' on CPU)")
    if choice is AmpChoice.BF16 or (choice is AmpChoice.AUTO and torch.cuda.is_bf16_supported()):
        return Precision(torch.bfloat16, False)
    return Precision(torch.float16, True)


@contextmanager
def run_environment(device: torch.device, *, deterministic: bool, threads: int | None) -> Iterator[None]:
    """Threads and determinism for the duration of a run; the caller's settings come back afterwards."""
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        # cuBLAS needs this before its first use to be deterministic; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.use_deterministic_algorithms(saved[1], warn_only=saved[2])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[3], saved[4]
