"""Counter-based random numbers for the batched DE (attack stage).

Every random number the DE uses is a pure function of (problem key, generation, stream, slot):
the splitmix64 output function applied to `key + counter * golden`, i.e. position `counter` of the
splitmix64 sequence seeded with the problem's key. The key of an image is a hash of (run seed, image
id). Why counter-based rather than one `torch.Generator` per image:
- an image's numbers cannot depend on which other images share its batch or shard, nor on when it
  entered the batch, because nothing is consumed from a shared sequential state;
- a run with fewer iterations is exactly the prefix of a run with more (generation g draws the same
  numbers whatever comes after);
- all images' draws for one generation are one vectorised tensor expression on the model's device
  (no Python loop over images, no per-image generator objects, works the same on CPU and CUDA), and
  only the draws actually needed are computed (e.g. bound resets only where a coordinate left [0, 1]).

torch has no unsigned 64-bit arithmetic on every device, so the hash runs on int64: multiplication
wraps modulo 2**64 like uint64, and logical right shifts are arithmetic shifts with the sign bits
masked off.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_U64 = (1 << 64) - 1

# Counter layout: generation | stream | slot, so no two draws of one problem share a counter.
_SLOT_BITS = 30
_STREAM_BITS = 6
_GEN_BITS = 63 - _SLOT_BITS - _STREAM_BITS
MAX_SLOTS = 1 << _SLOT_BITS
MAX_GENERATION = (1 << _GEN_BITS) - 1


def _signed(value: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN_S, _MIX1_S, _MIX2_S = _signed(_GOLDEN), _signed(_MIX1), _signed(_MIX2)


def _srl(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 bits."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def _mix(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's output function (a bijection of 64-bit words)."""
    z = (z ^ _srl(z, 30)) * _MIX1_S
    z = (z ^ _srl(z, 27)) * _MIX2_S
    return z ^ _srl(z, 31)


def _mix_int(z: int) -> int:
    """The same function on a Python int, for deriving keys."""
    z &= _U64
    z = ((z ^ (z >> 30)) * _MIX1) & _U64
    z = ((z ^ (z >> 27)) * _MIX2) & _U64
    return z ^ (z >> 31)


def problem_keys(seed: int, ids: Sequence[int] | np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """int64 keys, one per problem (image), from the run seed and each image's own id."""
    base = _mix_int(_mix_int(int(seed)) + _GOLDEN)
    keys = [_signed(_mix_int(base ^ _mix_int(int(i) * _GOLDEN + 1))) for i in ids]
    return torch.tensor(keys, dtype=torch.int64, device=device)


def _counter(generation: torch.Tensor, stream: int, slot: torch.Tensor) -> torch.Tensor:
    return (generation << (_SLOT_BITS + _STREAM_BITS)) | (stream << _SLOT_BITS) | slot


def uniform_at(keys: torch.Tensor, generation: torch.Tensor, stream: int, slot: torch.Tensor) -> torch.Tensor:
    """float64 uniforms in [0, 1), elementwise over broadcast (keys, generation, slot) tensors."""
    z = _mix(keys + _counter(generation, stream, slot) * _GOLDEN_S)
    return _srl(z, 11).double() * (1.0 / (1 << 53))  # the top 53 bits: every double in [0, 1) grid


def uniform(keys: torch.Tensor, generation: torch.Tensor, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(len(keys), *shape) float64 uniforms; `generation` is (len(keys),). Slot = flat index in `shape`."""
    size = int(np.prod(shape))
    if size > MAX_SLOTS:
        raise ValueError(f"{size} draws per problem and generation exceed {MAX_SLOTS}")
    lead = (len(keys),) + (1,) * len(shape)
    slot = torch.arange(size, device=keys.device, dtype=torch.int64).view(shape)
    return uniform_at(keys.view(lead), generation.view(lead), stream, slot)
