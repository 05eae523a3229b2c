"""Frame sampling: one recording (video, 3DMAD HDF5 or still image) -> a few uint8 RGB frames.

Sits between the readers (which only name files) and face detection. The paper says frames were
"uniformly extracted" from each video; we take the centres of N equal segments:

    index_k = floor((k + 0.5) * T / N),  k = 0 .. N-1      (all T frames when N >= T)

so the first and last frames (often a fade or the operator's hand) are never favoured, and the
same N always gives the same indices for the same clip.

Videos are decoded straight through with PyAV, keeping the wanted indices: seeking is slower and not
frame-exact for these short, sparsely keyed clips. Decoding goes on to the end (only the wanted
frames are converted to RGB), since with centred indices the tail after the last one is just
1/(2N) of the clip and reaching the end is what reveals a truncated file. The frame count comes
from the stream header, or from counting packets (no decoding) when the header has none.

Frames come out upright, as a player shows them. Phone videos (CASIA-FASD, ROSE-Youtu, users' own
clips) often store the sensor's pixels as coded and a display matrix (the container's rotation; old
files' "rotate" tag) saying how to turn them; left as coded, a portrait face arrives sideways and
the detector finds nothing. `read_frames` applies quarter turns and mirrors of the display matrix
(or, without one, a legacy "rotate" stream tag, clockwise degrees) to every frame, records it in
`Frames.orientation`, and says so in `Frames.notes` (e.g. "rotated 90 degrees clockwise per the
video's display matrix"), which reach faceset.json. Any other angle is left as coded, with a note.
Boxes a database ships (`.face` files) are in the coded frame: `Orientation.box` maps them.

Still images pass through as frame 0. Images that are not 8-bit RGB (grayscale, RGBA, palette,
16-bit) are converted to 8-bit RGB with a note under `ImagePolicy.CONVERT` (the default), or
refused with a DataError under `ImagePolicy.REJECT`.

Every unreadable input (zero-byte, truncated, unknown codec, not an image, corrupt or oddly shaped
HDF5, an image whose header declares more than MAX_IMAGE_PIXELS) raises a one-line DataError naming
the file; the pipeline decides whether to go on.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .records import Box

VIDEO_SUFFIXES = frozenset({".mov", ".avi", ".mp4", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
HDF5_SUFFIXES = frozenset({".hdf5", ".h5"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})

#: Most pixels a still image may declare: PIL's own decompression-bomb limit (about 89 megapixels,
#: 9500 x 9500). Checked on the header, before a byte of pixel data is decoded.
MAX_IMAGE_PIXELS = 89_478_485

#: A video whose stream decodes to fewer than this share of the frames its header announces is
#: called truncated; smaller gaps (headers are often off by a frame or two) are re-sampled instead.
TRUNCATED_SHARE = 0.9


class SourceKind(StrEnum):
    VIDEO = "video"
    HDF5 = "hdf5"
    IMAGE = "image"


class ImagePolicy(StrEnum):
    CONVERT = "convert"  # grayscale / RGBA / palette / 16-bit -> 8-bit RGB, with a note
    REJECT = "reject"  # anything but 8-bit RGB is a DataError


@dataclass(frozen=True)
class Orientation:
    """How a video's coded pixels become the upright picture: swap the axes (transpose), then flip
    rows (upside down) and/or columns (left-right). The eight combinations are every quarter turn
    and mirror a display matrix can ask for; the default changes nothing."""

    swap_axes: bool = False
    flip_rows: bool = False
    flip_columns: bool = False

    @classmethod
    def quarter_turns(cls, turns: int) -> Orientation:
        """`turns` quarter turns counterclockwise (negative: clockwise)."""
        swap, rows, columns = ((False, False, False), (True, True, False), (False, True, True),
                               (True, False, True))[turns % 4]
        return cls(swap, rows, columns)

    @classmethod
    def from_display_matrix(cls, matrix: Sequence[int]) -> Orientation | None:
        """From FFmpeg's 3x3 display matrix (row-major int32, 16.16 fixed point), which maps a coded
        pixel (x, y) to (a x + c y, b x + d y); None when it is not a quarter turn or mirror."""
        a, b, c, d = (float(matrix[i]) for i in (0, 1, 3, 4))
        straight, crossed = abs(a) + abs(d), abs(b) + abs(c)
        if min(straight, crossed) > 1e-3 * max(straight, crossed):
            return None  # an oblique angle
        if crossed > straight:  # x' depends on y: the axes swap
            return cls(True, flip_rows=b < 0, flip_columns=c < 0)
        return cls(False, flip_rows=d < 0, flip_columns=a < 0)

    @property
    def is_identity(self) -> bool:
        return self == Orientation()

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The upright (H, W, ...) image of a coded one."""
        if self.is_identity:
            return image
        if self.swap_axes:
            image = image.swapaxes(0, 1)
        if self.flip_rows:
            image = image[::-1]
        if self.flip_columns:
            image = image[:, ::-1]
        return np.ascontiguousarray(image)

    def box(self, box: Box, upright_shape: tuple[int, ...]) -> Box:
        """A box given in the coded frame, in the upright frame of shape `upright_shape` (H, W, ...)."""
        height, width = int(upright_shape[0]), int(upright_shape[1])
        x, y, w, h = (box.y, box.x, box.h, box.w) if self.swap_axes else (box.x, box.y, box.w, box.h)
        if self.flip_rows:
            y = height - y - h
        if self.flip_columns:
            x = width - x - w
        return Box(x, y, w, h)

    def describe(self) -> str:
        return _ORIENTATION_WORDS[(self.swap_axes, self.flip_rows, self.flip_columns)]


_ORIENTATION_WORDS = {
    (False, False, False): "kept as coded",
    (True, True, False): "rotated 90 degrees counterclockwise",
    (False, True, True): "rotated 180 degrees",
    (True, False, True): "rotated 90 degrees clockwise",
    (False, False, True): "mirrored left-right",
    (False, True, False): "mirrored upside down",
    (True, False, False): "transposed (mirrored about the main diagonal)",
    (True, True, True): "transposed about the anti-diagonal",
}


@dataclass
class Frames:
    """The sampled frames of one recording: `images[i]` is frame `indices[i]` of `total`, upright;
    `orientation` is what turned the coded frames upright (see the module docstring)."""

    indices: list[int]
    images: list[np.ndarray]
    total: int
    notes: list[str] = field(default_factory=list)
    orientation: Orientation = Orientation()


def sample_indices(total: int, wanted: int) -> list[int]:
    """Centres of `wanted` equal segments of `total` frames (see the module docstring)."""
    if total <= 0:
        return []
    if wanted >= total:
        return list(range(total))
    return [int((k + 0.5) * total // wanted) for k in range(wanted)]


def source_kind(path: Path) -> SourceKind:
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return SourceKind.VIDEO
    if suffix in HDF5_SUFFIXES:
        return SourceKind.HDF5
    if suffix in IMAGE_SUFFIXES:
        return SourceKind.IMAGE
    raise DataError(f"unknown file type '{suffix}' (not a video, HDF5 file or image)", path)


def read_frames(path: str | Path, wanted: int, *, images: ImagePolicy = ImagePolicy.CONVERT) -> Frames:
    """Sample `wanted` frames of a recording as uint8 (H, W, 3) RGB arrays."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    if path.stat().st_size == 0:
        raise DataError("empty file (0 bytes)", path)
    kind = source_kind(path)
    if kind is SourceKind.VIDEO:
        return _read_video(path, wanted)
    if kind is SourceKind.HDF5:
        return _read_hdf5(path, wanted)
    image, notes = read_image(path, policy=images)
    return Frames([0], [image], 1, notes)


# ----- videos ----------------------------------------------------------------------------------
def _read_video(path: Path, wanted: int) -> Frames:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise DataError("no video stream", path)
            stream = container.streams.video[0]
            if stream.codec_context is None:
                raise DataError("no decoder for this video's codec (unknown or unsupported codec)", path)
            total = stream.frames or _count_packets(container, stream)
        chosen = sample_indices(total, wanted)
        run = _decode(path, chosen)
    except av.FFmpegError as exc:
        raise DataError(f"cannot decode video ({_ffmpeg_reason(exc)})", path) from None
    if run.decoded == 0:
        raise DataError("no frame of this video decodes", path)
    if run.decoded >= total or run.indices == chosen:
        return Frames(run.indices, run.images, total, run.notes, run.orientation)
    if run.decoded < TRUNCATED_SHARE * total:
        raise DataError(f"truncated video: header says {total} frames, only {run.decoded} decode", path)
    # The header over-counted by a little: sample again over the frames that really exist.
    decoded = run.decoded
    try:
        run = _decode(path, sample_indices(decoded, wanted))
    except av.FFmpegError as exc:
        raise DataError(f"cannot decode video ({_ffmpeg_reason(exc)})", path) from None
    return Frames(run.indices, run.images, decoded, [*run.notes, f"header says {total} frames, {decoded} decode"],
                  run.orientation)


def _count_packets(container, stream) -> int:
    """Frame count without decoding, for containers whose header does not say."""
    count = sum(1 for packet in container.demux(stream) if packet.size)
    return count


class _Decoded(NamedTuple):
    decoded: int  # frames that decoded
    images: list[np.ndarray]  # the kept frames, upright
    indices: list[int]  # the indices found of those asked for
    orientation: Orientation
    notes: list[str]


def _decode(path: Path, indices: list[int]) -> _Decoded:
    """Decode from start to end, keeping `indices` (turned upright)."""
    import av

    wanted = set(indices)
    images, found = [], []
    decoded = 0
    orientation, notes = Orientation(), []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            decoded = index + 1
            if index in wanted:
                if not found:  # one display matrix per stream: read it from the first kept frame
                    orientation, notes = _orientation(frame, stream)
                images.append(orientation.apply(frame.to_ndarray(format="rgb24")))
                found.append(index)
    return _Decoded(decoded, images, found, orientation, notes)


def _orientation(frame, stream) -> tuple[Orientation, list[str]]:
    """The frame's display matrix, else the stream's legacy "rotate" tag; with a note unless identity."""
    from av.sidedata.sidedata import Type

    shape = f"coded {frame.width}x{frame.height}"
    matrix = frame.side_data.get(Type.DISPLAYMATRIX)
    if matrix is not None:
        orientation = Orientation.from_display_matrix(np.frombuffer(bytes(matrix), dtype=np.int32))
        if orientation is None:
            return Orientation(), [f"the video's display matrix asks for a {frame.rotation}-degree rotation, "
                                   f"not a quarter turn: frames kept as coded ({shape})"]
        source = "the video's display matrix"
    else:
        tag = {key.lower(): value for key, value in stream.metadata.items()}.get("rotate")
        try:
            degrees = float(tag) if tag is not None else 0.0
        except ValueError:
            return Orientation(), [f"unreadable 'rotate' tag '{tag}' ignored"]
        if degrees % 90:
            return Orientation(), [f"'rotate' tag of {tag} degrees is not a quarter turn: frames kept as coded"]
        orientation = Orientation.quarter_turns(-int(degrees) // 90)  # the tag counts clockwise
        source = f"the video's 'rotate' tag ({tag})"
    if orientation.is_identity:
        return orientation, []
    return orientation, [f"{orientation.describe()} per {source} ({shape})"]


def _ffmpeg_reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


# ----- 3DMAD HDF5 ------------------------------------------------------------------------------
def _read_hdf5(path: Path, wanted: int, dataset: str = "Color_Data") -> Frames:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            if dataset not in handle:
                have = ", ".join(sorted(handle.keys())) or "nothing"
                raise DataError(f"no '{dataset}' dataset (file has: {have})", path)
            data = handle[dataset]
            channels_first = _hdf5_layout(path, dataset, data.shape)
            indices = sample_indices(int(data.shape[0]), wanted)
            if not indices:
                raise DataError(f"'{dataset}' holds no frames", path)
            block = np.asarray(data[indices])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"cannot read HDF5 ({' '.join(str(exc).split())})", path) from None
    if channels_first:
        block = block.transpose(0, 2, 3, 1)
    block = _to_uint8(path, dataset, block)
    return Frames(indices, [np.ascontiguousarray(frame) for frame in block], int(data.shape[0]))


def _hdf5_layout(path: Path, dataset: str, shape: tuple[int, ...]) -> bool:
    """True for (T, 3, H, W) (3DMAD's layout), False for (T, H, W, 3); anything else is an error."""
    if len(shape) == 4 and shape[1] == 3:
        return True
    if len(shape) == 4 and shape[3] == 3:
        return False
    raise DataError(f"'{dataset}' has shape {tuple(shape)}, expected (T, 3, H, W) or (T, H, W, 3)", path)


def _to_uint8(path: Path, dataset: str, block: np.ndarray) -> np.ndarray:
    if block.dtype == np.uint8:
        return block
    if not np.issubdtype(block.dtype, np.number) or np.issubdtype(block.dtype, np.complexfloating):
        raise DataError(f"'{dataset}' has dtype {block.dtype}, expected 8-bit colour", path)
    if block.size and (np.nanmin(block) < 0 or np.nanmax(block) > 255 or np.isnan(block).any()):
        raise DataError(f"'{dataset}' values fall outside 0..255 (dtype {block.dtype})", path)
    return np.rint(block).astype(np.uint8)


# ----- still images ----------------------------------------------------------------------------
def read_image(path: str | Path, *, policy: ImagePolicy = ImagePolicy.CONVERT) -> tuple[np.ndarray, list[str]]:
    """An image file as uint8 (H, W, 3) RGB, and notes on any conversion made."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():  # PIL warns on opening a large header; we refuse it just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            _check_declared_size(path, image.size)
            image.load()
            mode = image.mode
            if mode == "RGB":
                return np.asarray(image, dtype=np.uint8).copy(), []
            if policy is ImagePolicy.REJECT:
                raise DataError(f"image mode '{mode}' is not 8-bit RGB (policy images: reject)", path)
            return _convert_image(image), [f"converted image mode '{mode}' to 8-bit RGB"]
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image ({' '.join(str(exc).split())})", path) from None


def _check_declared_size(path: Path, size: tuple[int, int]) -> None:
    """A header declaring more than MAX_IMAGE_PIXELS is a decompression bomb (or no face photo): refuse it
    before decoding, where PIL would warn or raise and the memory would already be asked for."""
    width, height = size
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"image declares {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more "
                        f"than the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (a decompression bomb?)", path)


def _convert_image(image) -> np.ndarray:
    """Grayscale, palette and alpha images -> RGB (alpha dropped: the camera saw no transparency);
    16/32-bit grayscale -> 8-bit by its full range (65535 -> 255)."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
