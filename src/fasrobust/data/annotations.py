"""Face locations that databases ship, read for the data stage (recordings -> face boxes -> crops).

- Replay-Attack and CASIA-FASD (bob's files): a `.face` text file per video, one line per frame,
  `frame x y w h` (top-left corner, width, height in source pixels); zeros mean no face was found.
- 3DMAD: the `Eye_Pos` dataset inside each HDF5 file, (T, 4) = [reye_x, reye_y, leye_x, leye_y];
  `eyes_to_box` turns a row into a square face box comparable to a face detector's.
Every problem with a file is a one-line DataError naming the file (and the line).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from .records import Box

#: Face box side as a multiple of the distance between the eye centres. An adult face is about 2.2
#: inter-eye distances wide (cheek to cheek), which is also roughly the width of an MTCNN box.
FACE_SIDE_PER_EYE_DISTANCE = 2.2
#: Height of the eye line inside the box, as a fraction of the side from the top: 0.3 puts the top
#: at the brows/forehead (0.66 eye distances above the eyes) and the bottom at the chin (1.54 below).
EYES_FROM_TOP = 0.3
#: Eyes closer than this (pixels) are an annotation error, not a face.
MIN_EYE_DISTANCE = 2.0

EYE_DATASET = "Eye_Pos"


def read_face_file(path: str | Path) -> dict[int, Box | None]:
    """Frame index -> face box (None where the file says no face: `n 0 0 0 0` or a non-positive size).
    Blank lines and `#` comments are skipped; anything else malformed is a DataError naming the line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError("face location file not found", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read face location file: {exc}", path) from None
    boxes: dict[int, Box | None] = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        try:
            if len(fields) != 5:
                raise ValueError(f"expected 5 numbers 'frame x y w h', got {len(fields)} field(s)")
            frame = int(fields[0])
            x, y, w, h = (_integer(f) for f in fields[1:])
            if frame < 0:
                raise ValueError(f"negative frame index {frame}")
            if frame in boxes:
                raise ValueError(f"frame {frame} is listed twice")
        except ValueError as exc:
            raise DataError(f"line {number}: {exc}", path) from None
        boxes[frame] = Box(x, y, w, h) if w > 0 and h > 0 else None
    return boxes


def _integer(text: str) -> int:
    """An integer coordinate; '12.0' (some tools write floats) is rounded, 'abc' is an error."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # raises ValueError for non-numbers
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {text!r}") from None
        return round(value)


def read_eye_positions(hdf5_path: str | Path) -> np.ndarray:
    """The `Eye_Pos` dataset of a 3DMAD file as float64 (T, 4): reye_x, reye_y, leye_x, leye_y.
    Also found in a group (any dataset named Eye_Pos); a missing dataset or another shape is a DataError."""
    import h5py

    path = Path(hdf5_path)
    if not path.is_file():
        raise DataError("HDF5 file not found", path)
    try:
        with h5py.File(path, "r") as handle:
            dataset = _find_dataset(handle, EYE_DATASET)
            if dataset is None:
                names = ", ".join(sorted(handle.keys())) or "nothing"
                raise DataError(f"no {EYE_DATASET} dataset (found: {names})", path)
            eyes = np.asarray(dataset[()])
    except OSError as exc:
        raise DataError(f"not a readable HDF5 file ({exc})", path) from None
    if eyes.dtype.kind not in "iuf":
        raise DataError(f"{EYE_DATASET} has dtype {eyes.dtype}, expected numbers", path)
    if eyes.ndim == 3 and eyes.shape[1] == 1:
        eyes = eyes[:, 0]  # (T, 1, 4): a singleton axis some writers add
    if eyes.ndim != 2 or eyes.shape[1] != 4:
        raise DataError(f"{EYE_DATASET} has shape {eyes.shape}, expected (frames, 4)", path)
    return eyes.astype(np.float64)


def _find_dataset(handle, name: str):
    import h5py

    found = handle.get(name)
    if isinstance(found, h5py.Dataset):
        return found
    matches: list[str] = []
    handle.visit(lambda key: matches.append(key) if key.rsplit("/", 1)[-1] == name else None)
    for key in matches:
        if isinstance(handle[key], h5py.Dataset):
            return handle[key]
    return None


def eyes_to_box(eyes_row, frame_shape: tuple[int, ...] | None = None) -> Box | None:
    """A square face box from one row [reye_x, reye_y, leye_x, leye_y] of eye positions.

    Side = FACE_SIDE_PER_EYE_DISTANCE x the eye distance, centred horizontally on the eyes' midpoint,
    with the eye line EYES_FROM_TOP of the side below the top. With `frame_shape` = (H, W[, C]) the
    square is shifted to lie inside the frame and shrunk to the frame's smaller side if larger, so it
    stays square, and eyes outside the frame give None; without it the box is returned as computed
    (it may reach past the frame's edges). None when the eyes are missing (zeros), not finite or
    closer than MIN_EYE_DISTANCE.
    """
    eyes = np.asarray(eyes_row, dtype=np.float64).reshape(-1)
    if eyes.shape != (4,) or not np.all(np.isfinite(eyes)):
        return None
    right, left = eyes[:2], eyes[2:]
    if not right.any() or not left.any():
        return None  # an eye at (0, 0) is how missing annotations are written
    distance = float(np.hypot(*(left - right)))
    if distance < MIN_EYE_DISTANCE:
        return None
    side = round(FACE_SIDE_PER_EYE_DISTANCE * distance)
    centre_x, eye_y = (right + left) / 2
    x, y = round(centre_x - side / 2), round(eye_y - EYES_FROM_TOP * side)
    if frame_shape is not None:
        height, width = int(frame_shape[0]), int(frame_shape[1])
        if not all(0 <= ex < width and 0 <= ey < height for ex, ey in (right, left)):
            return None
        side = min(side, height, width)
        x = min(max(round(centre_x - side / 2), 0), width - side)
        y = min(max(round(eye_y - EYES_FROM_TOP * side), 0), height - side)
    return Box(int(x), int(y), int(side), int(side))
