"""Where a decision-based attack starts (attack stage): an image the target already calls live, from which
it keeps as few pixels as it can. By default a live crop of another subject from the attacked FaceSet.

The rule, for the spoof with FaceSet id i in a run with seed s: the pool's live crops whose subject is not
the spoof's are put in the order of a permutation drawn from image i's own counter-based stream (seed s,
id i: `rng.image_generator`), and the first `tries` of them are asked about one by one, each a query of
the attack's budget; the first called live is the start, and its id is stored with the result. No
candidate called live: the image is a failure after those queries, with a note saying so. A user's own
start images (`StartPool.of`) follow the same rule, without the subject filter unless subjects are given;
`StartPool.paired` gives each image its own start instead (to compare attacks from the same starts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AttackError


@dataclass(frozen=True)
class StartPool:
    images: np.ndarray  # (m, H, W, 3) uint8
    ids: np.ndarray  # (m,) int: FaceSet ids, or positions for a user's images
    subjects: np.ndarray | None = None  # (m,) subject of each, to keep a spoof's own subject out
    for_ids: np.ndarray | None = None  # (m,) paired pools: the id of the image each start is for

    def __post_init__(self) -> None:
        images = np.asarray(self.images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or not len(images):
            raise AttackError(f"start images must be a non-empty uint8 (m, H, W, 3) array, got "
                              f"{images.dtype} {images.shape}")
        if len(self.ids) != len(images) or (self.subjects is not None and len(self.subjects) != len(images)):
            raise AttackError("start images need one id (and one subject, when given) each")

    @classmethod
    def of(cls, images: np.ndarray, ids: Sequence[int] | None = None,
           subjects: Sequence[Any] | None = None) -> StartPool:
        """A pool of the user's own live images."""
        images = np.ascontiguousarray(images)
        if images.ndim == 3:
            images = images[None]
        return cls(images, np.arange(len(images)) if ids is None else np.asarray(ids, dtype=np.int64),
                   None if subjects is None else np.asarray([str(s) for s in subjects]))

    @classmethod
    def paired(cls, images: np.ndarray, image_ids: Sequence[int]) -> StartPool:
        """Image `image_ids[j]` starts from `images[j]`, and from nothing else."""
        images = np.ascontiguousarray(images)
        return cls(images, np.arange(len(images)), None, np.asarray(image_ids, dtype=np.int64))

    @classmethod
    def from_faceset(cls, faceset: Any, split: str | None = None) -> StartPool:
        """The FaceSet's live crops (of `split`, when given)."""
        meta = faceset.meta
        mask = (meta["label"] == "live").to_numpy().copy()
        if split is not None:
            mask &= (meta["split"] == split).to_numpy()
        if not mask.any():
            raise AttackError(f"the FaceSet has no live crops{f' in its {split} split' if split else ''} to start "
                              "a decision-based attack from; give start images (--starts)")
        rows = np.flatnonzero(mask)
        return cls(np.asarray(faceset.images[rows]), meta["id"].to_numpy()[rows].astype(np.int64),
                   meta["subject"].astype(str).to_numpy()[rows])

    def candidates(self, generator: np.random.Generator, subject: Any, tries: int, image_id: int) -> np.ndarray:
        """Row indices to try, in order: other subjects' images in a permutation from `generator` (a paired
        pool: the image's own start)."""
        if self.for_ids is not None:
            rows = np.flatnonzero(self.for_ids == image_id)
            if not len(rows):
                raise AttackError(f"the paired start images have none for image {image_id}")
            return rows[:1]
        rows = np.arange(len(self.ids))
        if self.subjects is not None and subject is not None:
            rows = rows[self.subjects != str(subject)]
        return rows[generator.permutation(len(rows))[:tries]]

    def fingerprint(self) -> str:
        """Identifies the pool in job ids: the hash of its images and ids."""
        import hashlib

        digest = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        digest.update(np.asarray(self.ids, dtype=np.int64).tobytes())
        return digest.hexdigest()[:16]

    def check_size(self, height: int, width: int) -> None:
        if self.images.shape[1:3] != (height, width):
            raise AttackError(f"start images are {self.images.shape[2]}x{self.images.shape[1]}, the attacked "
                              f"images {width}x{height}; give start images of the same size")


#: Image files a folder of start images may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def load_starts(path: str | Path) -> StartPool:
    """A user's start images: a FaceSet folder (its live crops, every split) or a folder of image files (all
    of one size, read as RGB in name order; ids are their positions)."""
    from ..errors import DataError

    path = Path(path)
    if (path / "faceset.json").is_file():
        from ..data.faceset import FaceSet

        return StartPool.from_faceset(FaceSet.load(path))
    if not path.is_dir():
        raise DataError("start images: not a FaceSet or a folder of images", path)
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f"start images: no {', '.join(IMAGE_SUFFIXES)} file in the folder", path)
    from PIL import Image, UnidentifiedImageError

    images = []
    for file in files:
        try:
            with Image.open(file) as picture:
                images.append(np.asarray(picture.convert("RGB")))
        except (OSError, UnidentifiedImageError):
            raise DataError("start images: not a readable image", file) from None
    if len({image.shape for image in images}) > 1:
        raise DataError("start images: the images differ in size; give crops of the attacked size", path)
    return StartPool.of(np.stack(images))
