"""Training batches by steps, not epochs: each pass over the training split is a fresh seeded
permutation cut into full batches (the remainder of a pass is left for the next permutation's luck),
and the stream's position and generator are part of the resume state.

Images stay uint8 until they reach the device: a batch is gathered as uint8 (N, H, W, 3), moved, and
only there turned into float (N, 3, H, W) for augmentation and normalisation."""

from __future__ import annotations

import numpy as np
import torch

from ..data.faceset import FaceSet

#: Largest split kept whole on a GPU; bigger ones stay in pinned host memory and move batch by batch.
DEVICE_RESIDENT_BYTES = 2 << 30


class BatchStream:
    """Endless stream of index batches, reshuffled every pass with its own torch.Generator."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size = n, batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.permutation = torch.randperm(n, generator=self.generator)
        self.position = 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:
            self.permutation = torch.randperm(self.n, generator=self.generator)
            self.position = 0
        batch = self.permutation[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return batch

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, int]]:
        return ({"sampler.permutation": self.permutation, "sampler.generator": self.generator.get_state()},
                {"position": self.position})

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, int]) -> None:
        self.permutation = tensors["sampler.permutation"].clone()
        self.generator.set_state(tensors["sampler.generator"])
        self.position = int(meta["position"])


class DeviceData:
    """A split's uint8 images and float labels (1.0 = live), placed for fast gathering on `device`."""

    def __init__(self, faceset: FaceSet, device: torch.device):
        images = torch.from_numpy(np.ascontiguousarray(faceset.images))
        self.device = device
        self.labels = torch.from_numpy(faceset.is_live.astype(np.float32)).to(device)
        resident = device.type == "cpu" or images.numel() <= DEVICE_RESIDENT_BYTES
        self.images = images.to(device) if resident else images.pin_memory()
        self.resident = resident

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float (N, 3, H, W) pixels 0..255 and labels, on the device."""
        if self.resident:
            pixels = self.images[index.to(self.device)]
        else:
            pixels = self.images[index].to(self.device, non_blocking=True)
        return pixels.permute(0, 3, 1, 2).float(), self.labels[index.to(self.labels.device)]
