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

    def load(self, slots: torch.Tensor, problems: torch.Tensor) -> None:
        """Fill the slots' candidate copies with their (newly admitted) images."""
        self.buffer[slots] = self.originals[problems].unsqueeze(1).expand(-1, self.population, -1, -1, -1)

    def paint(self, slots: torch.Tensor, pixels: torch.Tensor, *, dense: bool) -> torch.Tensor:
        """Write (k, P, d, 5) pixels into the slots' candidates; returns (k*P, H, W, 3) to score.

        When the active slots are 0..k-1 (`dense`: always, except in a run's tail) the buffer is
        painted in place and `restore` must follow; otherwise the slots are gathered into a copy."""
        k = len(slots)
        images = self.buffer[:k] if dense else self.buffer[slots]
        flat = images.view(k * self.population, self.height, self.width, CHANNELS)
        rows = flat.view(-1, CHANNELS)  # one row per pixel of every candidate
        where = self._rows(k, pixels)  # (k*P, d)
        colours = pixels[..., 2:].to(torch.uint8).reshape(k * self.population, -1, CHANNELS)
        # One index_copy_ per pixel index j, in order: a later pixel at the same place wins, exactly as
        # `apply_perturbation` does (one copy with duplicate indices has no defined winner). index_copy_
        # on whole 3-byte rows is the fastest indexed write torch offers on a CPU.
        for j in range(where.shape[1]):
            rows.index_copy_(0, where[:, j], colours[:, j])
        return flat

    def restore(self, slots: torch.Tensor, problems: torch.Tensor, pixels: torch.Tensor, *, dense: bool) -> None:
        """Undo `paint` on the in-place buffer (a no-op for a gathered copy). Repeated places all get
        the same original value, so one copy for all pixels is safe."""
        k = len(slots)
        if not dense:
            return
        rows = self.buffer[:k].view(-1, CHANNELS)
        where = self._rows(k, pixels).flatten()
        source = (problems.view(k, 1, 1) * (self.height * self.width)
                  + pixels[..., 1] * self.width + pixels[..., 0]).flatten()
        rows.index_copy_(0, where, self.originals.view(-1, CHANNELS).index_select(0, source))

    def _rows(self, k: int, pixels: torch.Tensor) -> torch.Tensor:
        """(k*P, d) row numbers, in the (k*P*H*W, 3) view of the buffer, of each candidate's pixels."""
        candidate = torch.arange(k * self.population, device=pixels.device).view(k, self.population, 1)
        return ((candidate * self.height + pixels[..., 1]) * self.width + pixels[..., 0]).view(k * self.population, -1)
