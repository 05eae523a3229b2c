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
masked off. On a CPU the same bits are computed with numpy's uint64 instead: its shifts are logical
(no masks), and each of the hash's dozen elementwise steps costs ~1 us of dispatch there against
~3 us in torch, which is most of the cost at the DE's small sizes. `uniform_at` is the definition;
`uniform` and `uniform_pairs` compute the same numbers faster.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .counter_layout import _SLOT_BITS, _STREAM_BITS, MAX_GENERATION, MAX_SLOTS  # noqa: F401 (re-exported)

_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB
_U64 = (1 << 64) - 1


#: Elements hashed at a time on a CPU: 64 Ki uint64 = 512 KiB stays in the L2 cache through the hash's
#: dozen passes (2-3x faster than streaming a large array through memory a dozen times).
_CPU_PIECE = 1 << 16


#: The numpy fast paths run only for CPU tensors; tests turn this off to run the torch paths that
#: other devices take on a CPU and check that they draw the same numbers.
NUMPY_FAST_PATHS = True


def numpy_path(tensor: torch.Tensor) -> bool:
    """Whether `tensor`'s draws (and the DE's other small CPU steps) go through numpy."""
    return NUMPY_FAST_PATHS and tensor.device.type == "cpu"


def _signed(value: int) -> int:
    """A uint64 constant as the int64 with the same bits."""
    value &= _U64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN_S, _MIX1_S, _MIX2_S = _signed(_GOLDEN), _signed(_MIX1), _signed(_MIX2)


def _mix_(z: torch.Tensor) -> torch.Tensor:
    """splitmix64's output function (a bijection of 64-bit words), in place on `z`, which it returns."""
    scratch = torch.empty_like(z)
    for shift, multiplier in ((30, _MIX1_S), (27, _MIX2_S), (31, None)):
        torch.bitwise_right_shift(z, shift, out=scratch).bitwise_and_((1 << (64 - shift)) - 1)
        z.bitwise_xor_(scratch)
        if multiplier is not None:
            z.mul_(multiplier)
    return z


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


def image_generator(key: int) -> np.random.Generator:
    """A numpy generator for one image's sequential draws (the decision-based searches, which draw sets of
    varying size): Philox, itself counter-based, keyed with the image's key, so the draws depend on (seed,
    image id) and on nothing else in the batch."""
    return np.random.Generator(np.random.Philox(key=int(key) & _U64))


def _counter(generation: torch.Tensor, stream: int, slot: torch.Tensor) -> torch.Tensor:
    return (generation << (_SLOT_BITS + _STREAM_BITS)) | (stream << _SLOT_BITS) | slot


def _finish_(z: torch.Tensor, out: torch.Tensor) -> None:
    """Hash the counters `z` (in place) and write their float64 uniforms into `out` (same shape)."""
    _mix_(z).bitwise_right_shift_(11).bitwise_and_((1 << 53) - 1)  # the top 53 bits, logically shifted
    out.copy_(z).mul_(1.0 / (1 << 53))  # every double of the [0, 1) grid


def uniform_at(keys: torch.Tensor, generation: torch.Tensor, stream: int, slot: torch.Tensor) -> torch.Tensor:
    """float64 uniforms in [0, 1), elementwise over broadcast (keys, generation, slot) tensors."""
    z = torch.add(_counter(generation, stream, slot).mul_(_GOLDEN_S), keys)  # a fresh contiguous tensor
    out = torch.empty(z.shape, dtype=torch.float64, device=z.device)
    _finish_(z, out)
    return out


def uniform(keys: torch.Tensor, generation: torch.Tensor, stream: int, shape: tuple[int, ...]) -> torch.Tensor:
    """(len(keys), *shape) float64 uniforms; `generation` is (len(keys),). Slot = flat index in `shape`."""
    size = int(np.prod(shape))
    if size > MAX_SLOTS:
        raise ValueError(f"{size} draws per problem and generation exceed {MAX_SLOTS}")
    k = len(keys)
    if not numpy_path(keys):
        start = _start(keys, generation, stream).view(k, 1)
        out = torch.empty(k, size, dtype=torch.float64, device=keys.device)
        _finish_(start + torch.arange(size, device=keys.device).mul_(_GOLDEN_S), out)
        return out.view(k, *shape)
    start, step = _start_np(keys, generation, stream)[:, None], np.arange(size, dtype=np.uint64) * _GOLDEN_U
    out = np.empty((k, size))
    rows = max(1, _CPU_PIECE // size)  # whole problems per piece
    for first in range(0, k, rows):
        _finish_np(start[first:first + rows] + step, out[first:first + rows])
    return torch.from_numpy(out).view(k, *shape)


def uniform_pairs(keys: torch.Tensor, generation: torch.Tensor, stream: int, problem: torch.Tensor,
                  slot: torch.Tensor) -> torch.Tensor:
    """float64 uniforms for (problem[i], slot[i]) pairs; `keys` and `generation` are per problem.
    The same numbers as `uniform_at(keys[problem], generation[problem], stream, slot)`."""
    if not numpy_path(keys):
        z = _start(keys, generation, stream)[problem].add_(slot * _GOLDEN_S)
        out = torch.empty(z.shape, dtype=torch.float64, device=z.device)
        _finish_(z, out)
        return out
    z = _start_np(keys, generation, stream)[problem.numpy()] + slot.numpy().view(np.uint64) * _GOLDEN_U
    out = np.empty(z.shape)
    for first in range(0, len(z), _CPU_PIECE):
        _finish_np(z[first:first + _CPU_PIECE], out[first:first + _CPU_PIECE])
    return torch.from_numpy(out)


# The counter's fields do not overlap, so key + counter * golden = key + (generation * 2**36 + stream * 2**30)
# * golden + slot * golden: a per-problem start plus slot * golden, modulo 2**64 as always.
def _start(keys: torch.Tensor, generation: torch.Tensor, stream: int) -> torch.Tensor:
    return _counter(generation, stream, torch.zeros_like(generation)).mul_(_GOLDEN_S).add_(keys)


_GOLDEN_U = np.uint64(_GOLDEN)
_GEN_STEP_U = np.uint64((_GOLDEN << (_SLOT_BITS + _STREAM_BITS)) & _U64)
_MIX1_U, _MIX2_U = np.uint64(_MIX1), np.uint64(_MIX2)


def _start_np(keys: torch.Tensor, generation: torch.Tensor, stream: int) -> np.ndarray:
    stream_part = np.uint64(((stream << _SLOT_BITS) * _GOLDEN) & _U64)
    return keys.numpy().view(np.uint64) + generation.numpy().view(np.uint64) * _GEN_STEP_U + stream_part


def _finish_np(z: np.ndarray, out: np.ndarray) -> None:
    """`_finish_` in numpy uint64 (array arithmetic wraps modulo 2**64 silently), in place on `z`."""
    z ^= z >> np.uint64(30)
    z *= _MIX1_U
    z ^= z >> np.uint64(27)
    z *= _MIX2_U
    z ^= z >> np.uint64(31)
    z >>= np.uint64(11)  # the top 53 bits
    np.multiply(z, 1.0 / (1 << 53), out=out)
