"""The FaceSet: the data stage's output and the input of training, evaluation and attacks.

On disk, a directory with
- `images.npy`: uint8 (N, H, W, 3) RGB crops, memory-mappable;
- `meta.csv`: one row per crop (see META_COLUMNS);
- `faceset.json`: config, counts, versions, input hashes, detector and no-face statistics.
A FaceSet is written to a temporary directory and renamed into place, so a reader never finds
half of one."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from ..labels import Label
from ..provenance import environment

#: meta.csv columns that hold integers; anything else there is a damaged or hand-edited file.
INTEGER_COLUMNS = ("id", "frame", "box_x", "box_y", "box_w", "box_h")

META_COLUMNS = (
    "id",  # int, row index in images.npy
    "label",  # 'live' | 'spoof'
    "attack_type",  # 'bona_fide' for live, else the database's attack family
    "subject",  # str
    "split",  # 'train' | 'dev' | 'test'
    "source",  # the recording the crop came from (relative path); frames of one video share it
    "frame",  # int frame index in the source (0 for still images)
    "box_x", "box_y", "box_w", "box_h",  # int face box in source pixels (square after margin)
    "detector",  # which detector produced the box ('mtcnn', 'annotations', 'cascade', ...)
)


@dataclass(frozen=True)
class FaceSet:
    """Face crops and their metadata. `images` is a read-only memory map when loaded from disk."""

    images: np.ndarray
    meta: pd.DataFrame
    info: Mapping[str, Any]
    root: Path | None = None

    def __post_init__(self) -> None:
        where = self.root or "FaceSet"
        if self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise DataError(f"images must be (N, H, W, 3), got {self.images.shape}", where)
        if self.images.dtype != np.uint8:
            raise DataError(f"images must be uint8, got {self.images.dtype}", where)
        if len(self.meta) != len(self.images):
            raise DataError(f"meta.csv has {len(self.meta)} rows but images.npy has {len(self.images)}", where)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    @property
    def labels(self) -> list[Label]:
        return [Label(x) for x in self.meta["label"]]

    @property
    def is_live(self) -> np.ndarray:
        return (self.meta["label"] == Label.LIVE.value).to_numpy()

    def select(self, mask: np.ndarray | pd.Series) -> FaceSet:
        """The rows where mask is True, keeping their ids (images are copied out of the memory map)."""
        mask = np.asarray(mask, dtype=bool)
        return FaceSet(np.ascontiguousarray(self.images[mask]), self.meta[mask].reset_index(drop=True),
                       self.info, self.root)

    def split(self, name: str) -> FaceSet:
        subset = self.select(self.meta["split"] == name)
        if len(subset) == 0:
            have = ", ".join(sorted(self.meta["split"].unique()))
            raise DataError(f"no images in split '{name}' (splits present: {have})", self.root)
        return subset

    def counts(self) -> dict[str, dict[str, int]]:
        """{split: {label: count}}."""
        table = self.meta.groupby(["split", "label"]).size()
        out: dict[str, dict[str, int]] = {}
        for (split, label), n in table.items():
            out.setdefault(str(split), {})[str(label)] = int(n)
        return out

    # ----- disk format -------------------------------------------------------------------------
    def write(self, root: str | Path, *, keep: tuple[str, ...] = ()) -> Path:
        """Write atomically to `root` (replacing an existing FaceSet there only once complete).
        `keep` names entries of an existing `root` carried over into the new one (prepare's cache)."""
        root = Path(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
        try:
            np.save(tmp / "images.npy", np.ascontiguousarray(self.images))
            self.meta.loc[:, list(META_COLUMNS)].to_csv(tmp / "meta.csv", index=False)
            info = {**self.info, "counts": self.counts(), "n_images": len(self),
                    "image_size": self.image_size, "environment": environment()}
            (tmp / "faceset.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
            for name in keep:
                if (root / name).exists():
                    (root / name).rename(tmp / name)
            if root.exists():
                shutil.rmtree(root)
            tmp.rename(root)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return root

    @classmethod
    def load(cls, root: str | Path) -> FaceSet:
        root = Path(root)
        if not root.is_dir():
            raise DataError("not a FaceSet directory (run 'fasrobust prepare' first)", root)
        for name in ("images.npy", "meta.csv", "faceset.json"):
            if not (root / name).is_file():
                raise DataError(f"FaceSet is incomplete: {name} is missing", root)
        try:
            images = np.load(root / "images.npy", mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"images.npy is truncated or not a numpy array ({exc})", root / "images.npy") from None
        try:
            meta = pd.read_csv(root / "meta.csv", dtype={"subject": str, "source": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"meta.csv cannot be read ({exc})", root / "meta.csv") from None
        missing = [c for c in META_COLUMNS if c not in meta.columns]
        if missing:
            raise DataError(f"meta.csv lacks columns {missing}", root / "meta.csv")
        _check_integer_columns(meta, root / "meta.csv")
        bad = sorted(set(meta["label"]) - {Label.LIVE.value, Label.SPOOF.value})
        if bad:
            raise DataError(f"meta.csv has unknown labels {bad}", root / "meta.csv")
        try:
            info = json.loads((root / "faceset.json").read_text())
        except json.JSONDecodeError:
            raise DataError("faceset.json is not valid JSON", root / "faceset.json") from None
        return cls(images, meta, info, root)


def _check_integer_columns(meta: pd.DataFrame, where: Path) -> None:
    """One line naming the first column and row whose value is not an integer (pandas reads such a
    column as text or float, and an id of 'x' would otherwise surface much later as a missing image)."""
    for column in INTEGER_COLUMNS:
        values = meta[column]
        if len(values) == 0 or pd.api.types.is_integer_dtype(values):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        bad = values[~(numbers.notna() & (numbers == numbers.round()))]
        row = int(bad.index[0]) if len(bad) else 0
        value = bad.iloc[0] if len(bad) else values.iloc[0]
        # line 1 is the header, so data row 0 is on line 2: the number an editor shows
        raise DataError(f"meta.csv column '{column}' must hold integers; line {row + 2} has {value!r}", where)
