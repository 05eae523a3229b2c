"""One recording -> its face crops: sample frames, detect, apply the no-face policy, crop.

The unit of work of `prepare` (each recording is independent, so a process pool can share them
out) and of its cache: an `Extraction` is saved as one `.npz` per recording, written atomically, so
a killed run loses at most the recordings in flight.

No-face policy, for a sampled frame where the detector finds no face:
- `skip`: the frame gives no crop;
- `previous`: the last box found in the same recording is reused (skipped if there is none yet);
- `annotation`: the box the database ships for that frame is used (skipped if there is none).
Every outcome is counted in `Extraction.stats` and summed into faceset.json, never silently dropped.

Frames arrive upright (a phone video's display rotation applied, see `frames`), while the boxes a
database ships are in the coded frame: each frame's `FrameContext` carries the turn, and the
annotations detector applies it, so every box, and the crop region saved in meta.csv, is in
upright-frame pixels.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..provenance import write_bytes_atomic
from .crop import BorderMode, crop_face
from .detect import Detector, FrameContext, best_detection
from .detect.annotations import AnnotationDetector
from .frames import ImagePolicy, read_frames
from .records import Box, Recording

#: Bump when an Extraction's content or meaning changes: old cache files are then ignored (and pruned).
#: 2: videos with a display rotation are turned upright.
CACHE_FORMAT = 2


class NoFacePolicy(StrEnum):
    SKIP = "skip"
    PREVIOUS = "previous"
    ANNOTATION = "annotation"


#: Frames with a shorter side than this hold no usable face: the recording is unreadable (counted with
#: the others, or the run stops under on_error: stop), never a crop upscaled from a few pixels. The
#: detectors find nothing smaller either (MTCNN's minimum face is 20 pixels, the cascade's 24).
MIN_FACE_SIDE = 16

#: Counters of an extraction; sums of these over recordings go into faceset.json.
STAT_KEYS = ("frames_sampled", "face_found", "no_face", "no_face_skipped", "no_face_previous_box",
             "no_face_annotation")


@dataclass(frozen=True)
class ExtractOptions:
    frames_per_video: int
    detector: str  # resolved registry name, never 'auto'
    no_face: NoFacePolicy
    margin: float
    border: BorderMode
    size: int
    images: ImagePolicy

    def token(self) -> dict[str, Any]:
        """What the cache key depends on."""
        return {**asdict(self), "cache_format": CACHE_FORMAT}


@dataclass
class Extraction:
    source: str
    crops: np.ndarray  # uint8 (k, size, size, 3)
    frames: np.ndarray  # int64 (k,) frame index in the source
    boxes: np.ndarray  # int64 (k, 4) square crop region x, y, w, h in source pixels
    detectors: list[str]  # per crop: the detector name, 'previous:<name>' or 'annotations'
    stats: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def extract_recording(recording: Recording, options: ExtractOptions, detector: Detector,
                      fallback: AnnotationDetector | None = None) -> Extraction:
    """Crops of one recording. Raises DataError (one line, naming the file) when it cannot be read."""
    sampled = read_frames(recording.path, options.frames_per_video, images=options.images)
    _check_face_room(recording.path, sampled.images[0].shape)
    contexts = [FrameContext(recording, index, sampled.orientation, image.shape)
                for index, image in zip(sampled.indices, sampled.images, strict=True)]
    found = detector.detect_batch(sampled.images, contexts)
    stats = dict.fromkeys(STAT_KEYS, 0)
    stats["frames_sampled"] = len(sampled.indices)
    crops, frames, boxes, names = [], [], [], []
    previous: Box | None = None
    for image, context, detections in zip(sampled.images, contexts, found, strict=True):
        best = best_detection(detections)
        if best is not None:
            box, name = best.box, detector.name
            stats["face_found"] += 1
            previous = box
        else:
            stats["no_face"] += 1
            box, name, outcome = _no_face(options.no_face, previous, detector.name, fallback, context)
            stats[outcome] += 1
            if box is None:
                continue
        crop, region = crop_face(image, box, size=options.size, margin=options.margin, border=options.border)
        crops.append(crop)
        frames.append(context.frame_index)
        boxes.append((region.x, region.y, region.w, region.h))
        names.append(name)
    size = options.size
    return Extraction(
        source=recording.key,
        crops=np.stack(crops) if crops else np.empty((0, size, size, 3), np.uint8),
        frames=np.asarray(frames, dtype=np.int64),
        boxes=np.asarray(boxes, dtype=np.int64).reshape(-1, 4),
        detectors=names, stats=stats, notes=list(sampled.notes))


def _check_face_room(path: Path, shape: tuple[int, ...]) -> None:
    """Refuse frames too small to hold a face (a 1x1 image would become a flat crop)."""
    height, width = int(shape[0]), int(shape[1])
    if min(height, width) < MIN_FACE_SIDE:
        raise DataError(f"frames are {width}x{height} pixels, smaller than the minimum face size of "
                        f"{MIN_FACE_SIDE}x{MIN_FACE_SIDE}", path)


def _no_face(policy: NoFacePolicy, previous: Box | None, detector_name: str,
             fallback: AnnotationDetector | None, context: FrameContext) -> tuple[Box | None, str, str]:
    """(box or None, detector column value, outcome counter) for a frame without a face."""
    if policy is NoFacePolicy.PREVIOUS and previous is not None:
        return previous, f"previous:{detector_name}", "no_face_previous_box"
    if policy is NoFacePolicy.ANNOTATION and fallback is not None:
        box = fallback.lookup(context)
        if box is not None:
            return box, fallback.name, "no_face_annotation"
    return None, detector_name, "no_face_skipped"


# ----- cache -----------------------------------------------------------------------------------
def save_extraction(path: Path, extraction: Extraction) -> None:
    """One .npz per recording, written atomically; no pickles (text fields as JSON)."""
    buffer = io.BytesIO()
    extra = json.dumps({"source": extraction.source, "detectors": extraction.detectors,
                        "stats": extraction.stats, "notes": extraction.notes})
    np.savez(buffer, crops=extraction.crops, frames=extraction.frames, boxes=extraction.boxes,
             extra=np.array(extra))
    write_bytes_atomic(path, buffer.getvalue())


def load_extraction(path: Path) -> Extraction | None:
    """A cached extraction, or None when there is none. An entry that is there but cannot be read
    (zero bytes, truncated by a full disk or a copy, not ours) raises UnreadableCache naming the file:
    the caller treats it as a miss, redoes the recording and says so."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            extra = json.loads(str(data["extra"]))
            return Extraction(source=extra["source"], crops=data["crops"], frames=data["frames"],
                              boxes=data["boxes"], detectors=list(extra["detectors"]),
                              stats={k: int(v) for k, v in extra["stats"].items()}, notes=list(extra["notes"]))
    # np.load raises EOFError on an empty file and BadZipFile on a cut one; the rest are damaged members.
    except (OSError, EOFError, zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError,
            json.JSONDecodeError) as exc:
        raise UnreadableCache(f"cache entry cannot be read ({type(exc).__name__}: {str(exc) or 'no data'})",
                              path) from None


class UnreadableCache(DataError):
    """A cache entry that exists but cannot be loaded; never fatal: the recording is extracted again."""
