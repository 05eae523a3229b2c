"""Where the few-pixel attack builds its candidate images (attack stage, inside `PixelAttack`).

A persistent uint8 buffer of (slots, population, H, W, 3) copies of the images being attacked lives on
the target's device. Each generation writes the candidates' pixels into it (d indexed writes for all
candidates at once), hands it to the target, then writes the original values back. Copying whole
images per generation would move H*W*3 bytes per candidate; this moves d*3, which is what keeps the
attack's own cost small next to the model's at 224x224.
"""

from __future__ import annotations

import torch

CHANNELS = 3
COLOURS = 256


def decode(unit: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Unit-cube candidates (..., 5d) -> integer pixels (..., d, 5) as x, y, r, g, b.

    Each coordinate's interval [0, 1) is cut into equal bins (W columns, H rows, 256 levels) and a
    value maps to its bin by floor; 1.0 itself (reachable through mutation) goes to the last bin.
    Floor on [0, W) keeps every integer equally likely, unlike rounding on [0, W - 1], which gives
    the two edge values half the weight."""
    pixels = unit.reshape(*unit.shape[:-1], -1, 5)
    sizes = torch.tensor([width, height, COLOURS, COLOURS, COLOURS], device=unit.device, dtype=unit.dtype)
    return torch.minimum((pixels * sizes).floor(), sizes - 1).long()


class Canvas:
    """Candidate images for up to `capacity` images at a time, `population` candidates each."""

    def __init__(self, originals: torch.Tensor, *, capacity: int, population: int):
        self.originals = originals  # (n, H, W, 3) uint8 on the target's device
        n, h, w, _ = originals.shape
        self.height, self.width, self.population = h, w, population
        self.buffer = torch.empty(capacity, population, h, w, CHANNELS, dtype=torch.uint8,
                                  device=originals.device)
        self._problem = torch.full((capacity,), -1, dtype=torch.int64, device=originals.device)  # per slot
        self._painted: torch.Tensor | None = None  # (d, k*P) rows painted in place, to restore

    def load(self, slots: torch.Tensor, problems: torch.Tensor) -> None:
        """Fill the slots' candidate copies with their (newly admitted) images."""
        # One plain broadcast copy per slot: an indexed assignment from an expanded source is ~15x slower.
        for slot, problem in zip(slots.tolist(), problems.tolist(), strict=True):
            self.buffer[slot].copy_(self.originals[problem].expand(self.population, -1, -1, -1))
        self._problem[slots] = problems

    def paint(self, slots: torch.Tensor, pixels: torch.Tensor, *, dense: bool) -> torch.Tensor:
        """Write (k, P, d, 5) pixels into the slots' candidates; returns (k*P, H, W, 3) to score.

        When the active slots are 0..k-1 (`dense`: always, except in a run's tail) the buffer is
        painted in place and `restore` must follow; otherwise the slots are gathered into a copy."""
        k = len(slots)
        images = self.buffer[:k] if dense else self.buffer[slots]
        flat = images.view(k * self.population, self.height, self.width, CHANNELS)
        rows = flat.view(-1, CHANNELS)  # one row per pixel of every candidate
        where = self._rows(k, pixels)  # (d, k*P)
        # (d, k*P, 3): pixel j's colours contiguous, like its rows, for the indexed writes below.
        colours = pixels[..., 2:].permute(2, 0, 1, 3).reshape(where.shape[0], -1, CHANNELS).to(torch.uint8)
        self._painted = where if dense else None
        # One index_copy_ per pixel index j, in order: a later pixel at the same place wins, exactly as
        # `apply_perturbation` does (one copy with duplicate indices has no defined winner). index_copy_
        # on whole 3-byte rows is the fastest indexed write torch offers on a CPU.
        for j in range(where.shape[0]):
            rows.index_copy_(0, where[j], colours[j])
        return flat

    def restore(self) -> None:
        """Undo the last `paint` on the in-place buffer (a no-op after painting a gathered copy).
        Repeated places all get the same original value, so one copy for all pixels is safe."""
        if self._painted is None:
            return
        where, self._painted = self._painted, None
        k, pixels = where.shape[1] // self.population, self.height * self.width
        # Row r of candidate c is pixel r - c*H*W of its image, row + (problem(c) - c) * H*W of the
        # originals; reading those (small, cache-resident) beats saving the overwritten rows of the canvas.
        shift = (self._problem[:k] * pixels).repeat_interleave(self.population) - torch.arange(
            0, k * self.population * pixels, pixels, device=where.device)
        source = (where + shift).view(-1)
        self.buffer.view(-1, CHANNELS).index_copy_(0, where.view(-1),
                                                   self.originals.view(-1, CHANNELS).index_select(0, source))

    def _rows(self, k: int, pixels: torch.Tensor) -> torch.Tensor:
        """(d, k*P) row numbers, in the (k*P*H*W, 3) view of the buffer, of each candidate's pixels."""
        columns = pixels[..., :2].permute(2, 3, 0, 1).reshape(-1, 2, k * self.population)  # (d, [x, y], k*P)
        candidate = torch.arange(k * self.population, device=pixels.device)
        return (candidate * self.height + columns[:, 1]).mul_(self.width).add_(columns[:, 0]).contiguous()
