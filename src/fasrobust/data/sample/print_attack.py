"""Print attacks of the SYNTHETIC sample database: the original photograph as it comes out of a
printer and is held up to the webcam.

What a print does to a photograph, in the order it happens: a smaller colour gamut and a grey ink
black (desaturation, raised black level), halftone dots (one rotated clustered-dot screen per ink),
ink spreading into the paper, a tinted paper white with fibre texture, a white margin around the
picture, and a page that bends, so its edges curve and its shading changes across the page. The
result is a `Medium`; `presentation.py` puts it in front of the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from .medium import Glare, Medium, Moire, add_support

#: The original photo as printed: its size in pixels (4:3) and the share of its width the face takes.
CONTENT_SIZE = (384, 288)
FACE_FRACTION = (0.28, 0.38)
_INK_ANGLES = np.deg2rad((15.0, 75.0, 45.0))  # cyan, magenta, yellow screens


@dataclass(frozen=True)
class PrintStyle:
    """One printer, paper and page: drawn per clip; `quality` 1 is a near-perfect print."""

    halftone: float  # weight of the binary dot screen against continuous tone
    period: float  # dot pitch in content pixels
    black: float  # reflectance of full ink coverage, relative to the paper
    desaturate: float
    paper: tuple[float, float, float]  # paper white, sRGB
    texture: float  # paper fibre contrast
    margin: float  # white margin around the picture, as a fraction of its width
    bend: float  # sag of the page at its middle, in content pixels
    shading: float  # brightness change across the bent page
    glare: Glare  # glossy photo paper reflects the lamp too, more weakly than glass
    moire: Moire  # the halftone screen beating with the webcam's pixels

    @classmethod
    def draw(cls, rng: np.random.Generator, quality: float) -> PrintStyle:
        flaw = 1.0 - quality
        return cls(
            halftone=float(rng.uniform(0.15, 0.6) * flaw),
            period=float(rng.uniform(2.0, 3.5)),
            black=float(rng.uniform(0.08, 0.16) + 0.2 * flaw * rng.random()),
            desaturate=float(rng.uniform(0.1, 0.2) + 0.35 * flaw * rng.random()),
            paper=tuple(
                float(v) for v in rng.uniform(0.84, 0.95) * np.asarray([1.0, 0.98, rng.uniform(0.84, 0.97)])
            ),
            texture=float(0.005 + 0.04 * flaw * rng.random()),
            margin=float(rng.uniform(0.06, 0.15)),
            bend=float(rng.uniform(0.0, 14.0)),
            shading=float(rng.uniform(0.0, 0.15)),
            glare=Glare.draw(rng, peak=0.25 * flaw, chance=0.4),
            moire=Moire.draw(rng, amplitude=rng.uniform(0.04, 0.16) * flaw, period=(12, 40), chroma=0.5),
        )


def halftone(srgb: np.ndarray, period: float) -> np.ndarray:
    """Ink coverage (H, W, 3) in {0, 1} of cyan, magenta, yellow from sRGB (H, W, 3) floats: each ink
    is printed where its wanted coverage exceeds a rotated clustered-dot threshold pattern."""
    h, w = srgb.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    wanted = 1.0 - srgb
    ink = np.empty_like(srgb)
    for c, angle in enumerate(_INK_ANGLES):
        xr = (xs * np.cos(angle) + ys * np.sin(angle)) * (2 * np.pi / period)
        yr = (-xs * np.sin(angle) + ys * np.cos(angle)) * (2 * np.pi / period)
        threshold = 0.5 - 0.25 * (np.cos(xr) + np.cos(yr))  # low at dot centres: dots grow from there
        ink[..., c] = wanted[..., c] > threshold
    return ink


def printed_photo(
    content: np.ndarray, face: np.ndarray, style: PrintStyle, rng: np.random.Generator, support: str
) -> Medium:
    """The printed page (RGBA on a transparent canvas) of a uint8 photograph whose face box is `face`."""
    x = content.astype(np.float32) / 255.0
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * (1.0 - style.desaturate)
    coverage = 1.0 - x
    if style.halftone > 0:
        ink = gaussian_filter(halftone(x, style.period), sigma=(0.5, 0.5, 0))  # ink spreads into the paper
        coverage = style.halftone * ink + (1.0 - style.halftone) * coverage
    picture = 1.0 - coverage * (1.0 - style.black)

    h, w = x.shape[:2]
    m = round(style.margin * w)
    page = np.ones((h + 2 * m, w + 2 * m, 3), np.float32)
    page[m : m + h, m : m + w] = picture
    fibre = gaussian_filter(rng.standard_normal(page.shape[:2]).astype(np.float32), 1.0)
    page *= (
        np.asarray(style.paper, np.float32)
        * (1.0 + style.texture * fibre / max(float(fibre.std()), 1e-6))[..., None]
    )
    columns = np.linspace(0.0, np.pi, page.shape[1], dtype=np.float32)
    page *= (1.0 - style.shading * (np.sin(columns) - 0.5) * rng.choice([-1.0, 1.0]))[None, :, None]
    rgba = np.dstack(
        [np.round(np.clip(page, 0, 1) * 255).astype(np.uint8), np.full(page.shape[:2], 255, np.uint8)]
    )
    image, offset = _bend(Image.fromarray(rgba, "RGBA"), style.bend)
    face_x, face_y = face[0] + m, face[1] + m
    sag = style.bend * np.sin(np.pi * (face_x + face[2] / 2) / (w + 2 * m))
    medium = Medium(
        image=image, face=np.asarray([face_x + offset[0], face_y + offset[1] + sag, face[2], face[3]])
    )
    return add_support(medium, support, rng)


def _bend(page: Image.Image, sag: float, strips: int = 16) -> tuple[Image.Image, tuple[float, float]]:
    """The page sagging by `sag` pixels in its middle: vertical strips, each shifted down by the sag at
    its position (PIL's MESH transform). Returns the bent page and where the page's origin moved."""
    w, h = page.size
    pad = int(np.ceil(sag)) + 1
    edges = np.round(np.linspace(0, w, strips + 1))
    offsets = sag * np.sin(np.pi * edges / w)
    mesh = []
    for i in range(strips):
        x0, x1 = edges[i], edges[i + 1]
        # destination strip [x0, x1] x [0, h + 2 pad] <- source quad shifted up by the sag at each side
        quad = (
            x0,
            -pad - offsets[i],
            x0,
            h + pad - offsets[i],
            x1,
            h + pad - offsets[i + 1],
            x1,
            -pad - offsets[i + 1],
        )
        mesh.append(((int(x0), 0, int(x1), h + 2 * pad), quad))
    return page.transform((w, h + 2 * pad), Image.MESH, mesh, resample=Image.BILINEAR), (0.0, float(pad))
