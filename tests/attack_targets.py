"""Small targets the attack tests build for themselves: each has a known way to be fooled (or none), so a
test can say exactly what an attack must find, and what it must never report."""

from __future__ import annotations

import numpy as np
import torch

from fasrobust.attacks.starts import StartPool
from fasrobust.targets.base import Target

SIZE = 12
SECRET_XY = (5, 7)  # x (column), y (row)
SECRET_RGB = torch.tensor([255.0, 0.0, 255.0])
MAGENTA = torch.tensor([255.0, 0.0, 255.0])


class SecretPixelTarget(Target):
    """Called live only when pixel (x=5, y=7) is near magenta (within 110 in RGB distance). Elsewhere
    P(live) < 0.5, rising smoothly as any pixel gets closer to magenta and to (5, 7), so DE has a slope
    to follow. The images it is given are flat grey (128) with a little noise."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        h, w = x.shape[1:3]
        colour = 1 - (x - SECRET_RGB).norm(dim=-1) / 442.0  # (n, H, W)
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        place = torch.exp(-((xs - SECRET_XY[0]) ** 2 + (ys - SECRET_XY[1]) ** 2) / 18.0)
        slope = 0.45 * (colour * place).flatten(1).max(dim=1).values
        hit = (x[:, SECRET_XY[1], SECRET_XY[0]] - SECRET_RGB).norm(dim=-1) < 110
        return torch.where(hit, 0.9, slope)


class MagentaTarget(Target):
    """Called `live` (default 0.9) when any pixel of the top-left `region` x `region` corner (default: the
    whole image) is within 110 of magenta; otherwise P(live) rises with how close the closest pixel
    anywhere is to magenta (at most 0.45). Every attack here can fool it within a small budget, so the
    contract tests see successes as well as failures; a small region makes successes come later."""

    def __init__(self, live: float = 0.9, region: int | None = None, **kw):
        super().__init__(**kw)
        self.live, self.region = float(live), region

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        distance = (images.float() - MAGENTA).norm(dim=-1)  # (n, H, W)
        inside = distance[:, :self.region, :self.region].flatten(1).min(dim=1).values
        closest = distance.flatten(1).min(dim=1).values
        return torch.where(inside < 110, self.live, 0.45 * (1 - closest / 442.0))


class PlantedPixelsTarget(Target):
    """Live only when every one of `secrets` (x, y, (r, g, b)) pixels holds its corner colour; P(live)
    grows by a step per secret pixel set, so a random search is rewarded for each one it finds."""

    def __init__(self, secrets, **kw):
        super().__init__(**kw)
        self.secrets = [(int(x), int(y), torch.tensor(rgb, dtype=torch.uint8)) for x, y, rgb in secrets]

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        found = sum((images[:, y, x] == rgb).all(dim=-1).double() for x, y, rgb in self.secrets)
        return 0.1 + 0.45 * found / (len(self.secrets) - 0.5)  # all set: >= 0.55; one short: < 0.5


class BrightnessTarget(Target):
    """P(live) = sigmoid((mean pixel value - `bright`) / 2): an image needs its mean to reach `bright`, so
    each image's fewest changed pixels is known (`fewest_pixels`)."""

    def __init__(self, bright: float = 131.0, **kw):
        super().__init__(**kw)
        self.bright = float(bright)

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((images.double().mean(dim=(1, 2, 3)) - self.bright) / 2)

    def fewest_pixels(self, image: np.ndarray) -> int:
        """Pixels set to white, the darkest first, until the mean reaches `bright`."""
        gain = np.sort((255 - image.astype(np.float64)).sum(axis=-1).ravel())[::-1]
        missing = (self.bright - image.astype(np.float64).mean()) * image.size
        return int(np.searchsorted(np.cumsum(gain), missing) + 1)


class UnfoolableTarget(Target):
    """P(live) = 0.45 * mean brightness: no few-pixel change gets it to 0.5 on a mid-grey image."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return 0.45 * images.float().mean(dim=(1, 2, 3)) / 255.0


class LiarTarget(Target):
    """Answers as `base` does, but 0.2 the second time it is shown an image it called live: a re-check
    through the PNG must catch it."""

    def __init__(self, base: Target | None = None):
        super().__init__()
        self.base = base or SecretPixelTarget()
        self.live_seen: set[bytes] = set()

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        scores = torch.as_tensor(self.base._predict(images)).double().clone()
        for i in (scores >= 0.5).nonzero().flatten().tolist():
            key = images[i].cpu().numpy().tobytes()
            if key in self.live_seen:
                scores[i] = 0.2
            self.live_seen.add(key)
        return scores


def grey_images(n: int, seed: int = 0, size: int = SIZE) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-8, 9, (n, size, size, 3))
    return (128 + noise).astype(np.uint8)


def magenta_starts(n: int = 25, size: int = SIZE) -> StartPool:
    """Start images for the decision-based attacks that every magenta target calls live: grey noise with
    the top-left 3 x 3 corner and a few other pixels magenta."""
    images = grey_images(n, seed=99, size=size)
    images[:, :3, :3] = (255, 0, 255)
    images[:, size - 2, 1::3] = (255, 0, 255)
    return StartPool.of(images, ids=[1000 + i for i in range(n)])


def magenta_scores(batch: np.ndarray) -> np.ndarray:
    """MagentaTarget's P(live) as a plain function of a uint8 (N, H, W, 3) batch, for `--python` targets."""
    return MagentaTarget()(np.ascontiguousarray(batch)).astype(np.float64)
