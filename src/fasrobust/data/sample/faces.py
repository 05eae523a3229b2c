"""Subjects of the SYNTHETIC sample database: real face photographs that ship inside installed
packages (no download), turned into head-and-shoulders cut-outs ("portraits") the scene renderer
can move around.

Sources, in subject order:
- `skimage.data.astronaut()` (colour photograph of Eileen Collins),
- `skimage.data.camera()` (the grayscale "cameraman"; his face is tinted to a skin tone),
- matplotlib's `grace_hopper.jpg` (colour photograph),
- faces 0-99 of `skimage.data.lfw_subset()` (25x25 grayscale Labeled-Faces-in-the-Wild crops; images
  100-199 of that set are non-faces and never used). A hand-picked list of visually distinct people is
  upscaled to the portrait size, tinted with a skin hue that keeps each pixel's luminance, and drawn
  onto a simple head (skin ellipse), hair and shoulders so that they look like a person in a room.

Every portrait is scaled so that its face box is `FACE_WIDTH` pixels wide. Face boxes are where the
MTCNN detector (`mtcnn` package) finds the face on these images, measured once and written here, so
generation never needs a detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Face box width of every portrait, in portrait pixels (larger than in any frame, so rendering only shrinks).
FACE_WIDTH = 128

#: Skin hues as RGB multipliers of a pixel's luminance (0.299 R + 0.587 G + 0.114 B = 1 for each).
SKIN_HUES = {
    "pale": (1.13, 0.965, 0.84),
    "light": (1.18, 0.95, 0.80),
    "medium": (1.24, 0.93, 0.70),
    "olive": (1.16, 0.97, 0.66),
    "brown": (1.30, 0.91, 0.62),
}
HAIR = ((0.10, 0.08, 0.07), (0.25, 0.16, 0.10), (0.45, 0.33, 0.20), (0.55, 0.53, 0.50), (0.72, 0.60, 0.40))
CLOTHES = (
    (0.15, 0.17, 0.25),
    (0.55, 0.10, 0.12),
    (0.20, 0.35, 0.25),
    (0.80, 0.80, 0.78),
    (0.35, 0.30, 0.28),
    (0.10, 0.10, 0.10),
    (0.30, 0.45, 0.70),
)


@dataclass(frozen=True)
class Portrait:
    """A person cut out of a photograph: uint8 RGBA (H, W, 4), sRGB with coverage in alpha, and the
    face box (x, y, w, h) in portrait pixels."""

    name: str
    origin: str
    rgba: np.ndarray
    face: tuple[float, float, float, float]


@dataclass(frozen=True)
class _Photo:
    """A photograph: where to cut, where the face is (MTCNN), and which ellipses make the person."""

    name: str
    origin: str
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 in the photograph
    face: tuple[int, int, int, int]  # x, y, w, h (MTCNN box) in the photograph
    head: tuple[int, int, int, int]  # ellipse cx, cy, rx, ry
    body: tuple[int, int, int, int]
    hue: str | None = None  # tint the head of a grayscale photograph with this skin hue


_PHOTOS = (
    _Photo(
        "astronaut",
        "skimage.data.astronaut()",
        (100, 0, 350, 320),
        (182, 64, 83, 107),
        (226, 108, 76, 96),
        (232, 330, 135, 125),
    ),
    _Photo(
        "cameraman",
        "skimage.data.camera()",
        (90, 40, 340, 330),
        (197, 116, 58, 81),
        (214, 132, 62, 72),
        (170, 320, 120, 130),
        hue="medium",
    ),
    _Photo(
        "hopper",
        "matplotlib sample_data/grace_hopper.jpg",
        (20, 0, 510, 600),
        (178, 110, 173, 220),
        (262, 185, 120, 165),
        (262, 560, 250, 240),
    ),
)

#: LFW faces (indices into the first 100 images) of visually distinct people, with the hue each gets;
#: each is one MTCNN finds in its live clips (tests/test_sample_database.py checks all of them).
_LFW = (
    (1, "light"),
    (24, "brown"),
    (18, "medium"),
    (25, "pale"),
    (31, "olive"),
    (40, "light"),
    (52, "pale"),
    (64, "brown"),
    (74, "light"),
    (79, "olive"),
    (85, "medium"),
    (98, "pale"),
    (22, "medium"),
    (46, "olive"),
    (62, "light"),
    (69, "pale"),
    (80, "medium"),
    (88, "brown"),
    (91, "light"),
    (99, "olive"),
    (57, "pale"),
    (2, "light"),
    (3, "pale"),
    (5, "medium"),
    (8, "olive"),
    (10, "brown"),
    (11, "light"),
    (14, "pale"),
    (15, "light"),
    (27, "pale"),
    (19, "medium"),
    (21, "olive"),
    (26, "brown"),
    (29, "light"),
    (33, "pale"),
    (35, "light"),
    (37, "pale"),
    (41, "medium"),
    (43, "olive"),
    (45, "brown"),
    (49, "light"),
    (53, "pale"),
)

#: Face box of an LFW crop as fractions of its side (where MTCNN finds it on the upscaled crop).
_LFW_FACE = (0.07, -0.02, 0.75, 0.97)

MAX_SUBJECTS = len(_PHOTOS) + len(_LFW)


def subject_name(index: int) -> str:
    if index < len(_PHOTOS):
        return _PHOTOS[index].name
    return f"lfw{_LFW[index - len(_PHOTOS)][0]:02d}"


@cache
def load_portrait(index: int) -> Portrait:
    """Portrait of subject `index` (0 <= index < MAX_SUBJECTS). Deterministic: no randomness at all,
    so a subject looks the same whatever the seed."""
    if not 0 <= index < MAX_SUBJECTS:
        raise IndexError(f"subject index {index} outside 0..{MAX_SUBJECTS - 1}")
    if index < len(_PHOTOS):
        return _photo_portrait(_PHOTOS[index])
    lfw_index, hue = _LFW[index - len(_PHOTOS)]
    return _lfw_portrait(lfw_index, hue, variant=index)


def _load_photo(name: str) -> np.ndarray:
    import skimage.data

    if name == "astronaut":
        return skimage.data.astronaut()
    if name == "cameraman":
        return np.repeat(skimage.data.camera()[..., None], 3, axis=2)
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def _stretch(gray: np.ndarray, low: float = 0.06, high: float = 0.94) -> np.ndarray:
    """Stretch a face's tones so its 2nd and 98th percentiles (over the central face) land on `low` and
    `high`. The LFW crops come from news photographs of very different contrast; a few are so flat that
    their live clips looked like prints (a print's first flaw is lost contrast), so a model learned
    "this person is a spoof" rather than the print's own marks. A face in front of a webcam has its
    eyes, hair and shading: full contrast is the live norm here."""
    h, w = gray.shape
    centre = gray[h // 6 : 5 * h // 6, w // 6 : 5 * w // 6]
    lo, hi = np.percentile(centre, [2, 98])
    return np.clip(low + (gray - lo) * (high - low) / max(float(hi - lo), 1e-3), 0.0, 1.0)


def _tint(gray: np.ndarray, hue: str, saturation: float = 1.0) -> np.ndarray:
    """Colour a grayscale image (float 0..1) with a skin hue, keeping each pixel's luminance."""
    multiplier = 1.0 + saturation * (np.asarray(SKIN_HUES[hue], dtype=np.float32) - 1.0)
    return np.clip(gray[..., None] * multiplier, 0.0, 1.0)


def _ellipse_mask(size: tuple[int, int], ellipses, feather: float) -> Image.Image:
    mask = Image.new("L", size, 0)
    draw = ImageDraw.Draw(mask)
    for cx, cy, rx, ry in ellipses:
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(feather)) if feather > 0 else mask


def _photo_portrait(photo: _Photo) -> Portrait:
    image = _load_photo(photo.name).astype(np.float32) / 255.0
    height, width = image.shape[:2]
    if photo.hue is not None:  # only the head gets skin colour; the coat and shirt stay neutral
        head = np.asarray(_ellipse_mask((width, height), [photo.head], 6), dtype=np.float32)[..., None] / 255
        image = head * _tint(image.mean(axis=2), photo.hue) + (1 - head) * image
    alpha = _ellipse_mask((width, height), [photo.head, photo.body], 3)
    rgba = np.dstack([np.round(image * 255).astype(np.uint8), np.asarray(alpha)])
    x0, y0, x1, y1 = photo.crop
    scale = FACE_WIDTH / photo.face[2]
    cut = Image.fromarray(rgba[y0:y1, x0:x1], "RGBA")
    cut = cut.resize((round((x1 - x0) * scale), round((y1 - y0) * scale)), Image.LANCZOS)
    fx, fy, fw, fh = photo.face
    face = ((fx - x0) * scale, (fy - y0) * scale, fw * scale, fh * scale)
    return Portrait(photo.name, photo.origin, np.asarray(cut), face)


def _lfw_portrait(lfw_index: int, hue: str, variant: int) -> Portrait:
    import skimage.data

    gray = skimage.data.lfw_subset()[lfw_index].astype(np.float32)  # already 0..1
    gray = _stretch(gray)
    side = round(FACE_WIDTH / _LFW_FACE[2])
    up = Image.fromarray(np.round(gray * 255).astype(np.uint8)).resize((side, side), Image.BICUBIC)
    face_rgb = _tint(np.asarray(up, dtype=np.float32) / 255.0, hue)
    # The head behind the crop takes the crop's own skin colour, so the feathered edge is invisible.
    skin = tuple(
        np.median(face_rgb[side // 3 : 2 * side // 3, side // 4 : 3 * side // 4].reshape(-1, 3), axis=0)
    )

    width, height = round(1.9 * side), round(2.35 * side)
    cx, cy = width / 2, 0.36 * height
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)

    def fill(rgb, alpha=255):
        return (*(round(255 * c) for c in rgb), alpha)

    s = side
    hair = HAIR[variant % len(HAIR)]
    clothes = CLOTHES[variant % len(CLOTHES)]
    draw.ellipse((cx - 1.05 * s, cy + 0.85 * s, cx + 1.05 * s, cy + 2.3 * s), fill=fill(clothes))  # shoulders
    draw.rectangle(
        (cx - 0.22 * s, cy + 0.25 * s, cx + 0.22 * s, cy + 0.95 * s), fill=fill(np.multiply(skin, 0.8))
    )
    draw.ellipse(
        (cx - 0.58 * s, cy - 0.72 * s, cx + 0.58 * s, cy + 0.42 * s), fill=fill(hair)
    )  # hair, behind
    draw.ellipse((cx - 0.50 * s, cy - 0.50 * s, cx + 0.50 * s, cy + 0.58 * s), fill=fill(skin))  # head
    canvas = canvas.filter(ImageFilter.GaussianBlur(1.5))

    patch_alpha = _ellipse_mask((s, s), [(s / 2, s / 2 + 0.03 * s, 0.44 * s, 0.50 * s)], 0.05 * s)
    patch = Image.fromarray(np.round(face_rgb * 255).astype(np.uint8), "RGB").convert("RGBA")
    patch.putalpha(patch_alpha)
    px, py = round(cx - s / 2), round(cy - s / 2)
    canvas.alpha_composite(patch, (px, py))
    fx, fy, fw, fh = _LFW_FACE
    face = (px + fx * s, py + fy * s, fw * s, fh * s)
    return Portrait(
        subject_name(variant),
        f"skimage.data.lfw_subset()[{lfw_index}] tinted {hue}",
        np.asarray(canvas),
        face,
    )
