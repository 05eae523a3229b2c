"""A presentation-attack medium (printed page, phone, tablet) and how it is held in front of the
webcam, for the SYNTHETIC sample database.

A `Medium` is an RGBA picture of the object on a transparent canvas, with the face box and, for
screens, the emitting area in canvas pixels. `Placement` says where the object is in each frame: a
homography (canvas -> frame) that puts the printed or displayed face at a webcam-like size, tilts the
object a little, and shakes it as a hand does (`hand`) or hardly at all (`fixed`, on a stand).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from .scene import smooth_motion

SKIN = ((0.93, 0.76, 0.64), (0.80, 0.60, 0.45), (0.62, 0.44, 0.31), (0.42, 0.29, 0.20))


@dataclass(frozen=True)
class Medium:
    image: Image.Image  # RGBa (premultiplied: what PIL transforms without converting), alpha = the object
    face: np.ndarray  # x, y, w, h of the face in canvas pixels
    screen: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 of the emitting area


@dataclass(frozen=True)
class Glare:
    """A lamp's reflection on glass or glossy paper: a soft spot fixed on the object. `at` is its
    centre (fractions of the canvas width and height) and radius (fraction of the larger side)."""

    peak: float  # linear light added at the centre
    at: tuple[float, float, float]

    @classmethod
    def draw(cls, rng: np.random.Generator, peak: float, chance: float) -> Glare:
        at = (float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.2, 0.8)), float(rng.uniform(0.08, 0.25)))
        return cls(float(rng.uniform(0.0, peak)) if rng.random() < chance else 0.0, at)

    def field(self, u: np.ndarray, v: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Added light at canvas coordinates (u, v), (H, W, 1)."""
        if self.peak <= 0:
            return np.zeros((*u.shape, 1), np.float32)
        w, h = size
        radius = self.at[2] * max(w, h)
        d2 = ((u - self.at[0] * w) ** 2 + (v - self.at[1] * h) ** 2) / (2 * radius**2)
        return (self.peak * np.exp(-d2)).astype(np.float32)[..., None]


@dataclass(frozen=True)
class Moire:
    """Interference of the medium's fine structure (screen pixels, halftone dots) with the webcam's
    pixel grid, as it survives the lens: slow curved colour bands fixed on the object. `period` is in
    canvas pixels; `chroma` shifts the bands between colour channels (screens' RGB stripes)."""

    amplitude: float
    period: float
    angle: float
    curvature: float
    chroma: float
    phase: float

    @classmethod
    def draw(
        cls, rng: np.random.Generator, amplitude: float, period: tuple[float, float], chroma: float
    ) -> Moire:
        return cls(
            float(amplitude),
            float(rng.uniform(*period)),
            float(rng.uniform(0, np.pi)),
            float(rng.uniform(-1, 1) * 4e-5),
            float(chroma * rng.uniform(0.5, 1.0)),
            float(rng.uniform(0, 2 * np.pi)),
        )

    def field(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Multiplicative light gain (H, W, 3) at canvas coordinates (u, v)."""
        if self.amplitude <= 0:
            return np.ones((*u.shape, 3), np.float32)
        along = u * np.float32(np.cos(self.angle)) + v * np.float32(np.sin(self.angle))
        phase = np.float32(2 * np.pi / self.period) * along + np.float32(self.curvature) * (u * u + v * v)
        phase += np.float32(self.phase)
        shifts = np.asarray([-1.0, 0.0, 1.0]) * self.chroma
        return 1.0 + shifted_cosines(phase, shifts, self.amplitude)


def shifted_cosines(phase: np.ndarray, shifts: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """scale * cos(phase + shift) for each shift, (H, W, len(shifts)) float32, from one cosine and one
    sine of `phase` (the angle-addition rule: three cosines of a full frame cost three times more)."""
    cos_part = (scale * np.cos(shifts)).astype(np.float32)
    sin_part = (scale * np.sin(shifts)).astype(np.float32)
    return np.cos(phase)[..., None] * cos_part - np.sin(phase)[..., None] * sin_part


def add_support(medium: Medium, support: str, rng: np.random.Generator) -> Medium:
    """Pad the canvas and draw what holds the object: a palm behind one side edge with fingers over
    it (`hand`), or a clamp and its stem below the bottom edge (`fixed`)."""
    w, h = medium.image.size
    px, py = round(0.15 * w), round(0.3 * h)
    canvas = Image.new("RGBA", (w + 2 * px, h + 2 * py), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    if support == "hand":
        colour = (*(round(255 * c) for c in SKIN[int(rng.integers(len(SKIN)))]), 255)
        left = rng.random() < 0.5
        edge = px if left else px + w
        draw.ellipse((edge - 0.13 * w, py + 0.35 * h, edge + 0.13 * w, py + 1.25 * h), fill=colour)  # palm
    else:
        colour = (*(3 * [round(255 * rng.uniform(0.08, 0.3))]), 255)
        cx = px + w / 2 + rng.uniform(-0.1, 0.1) * w
        draw.rectangle((cx - 0.02 * w, py + 0.9 * h, cx + 0.02 * w, py + 1.3 * h), fill=colour)  # stem
    canvas.alpha_composite(medium.image.convert("RGBA"), (px, py))
    draw = ImageDraw.Draw(canvas)
    if support == "hand":
        for k in range(int(rng.integers(2, 4))):  # fingertips curling over the edge
            y = py + h * (0.4 + 0.13 * k) + rng.uniform(-4, 4)
            reach = rng.uniform(0.03, 0.07) * w
            x0, x1 = (edge - 0.02 * w, edge + reach) if left else (edge - reach, edge + 0.02 * w)
            draw.rounded_rectangle((x0, y, x1, y + 0.08 * h), radius=0.04 * h, fill=colour)
    else:
        draw.rectangle((cx - 0.1 * w, py + 0.96 * h, cx + 0.1 * w, py + 1.05 * h), fill=colour)  # clamp
    screen = None if medium.screen is None else tuple(np.add(medium.screen, (px, py, px, py)).tolist())
    return replace(
        medium, image=canvas.convert("RGBa"), face=medium.face + np.asarray([px, py, 0, 0]), screen=screen
    )


class Placement:
    """Where the medium is in each frame. The printed or displayed face lands at a webcam face size
    (70-100 pixels wide) near the frame centre; the object is turned and tilted a little; it moves
    with a hand's tremor or sits still on a stand."""

    def __init__(
        self, rng: np.random.Generator, support: str, frames: int, face: np.ndarray, size: tuple[int, int]
    ):
        w, h = size
        self._face = face
        self._scale = rng.uniform(70, 100) / face[2]
        self._centre = np.asarray([w / 2 + rng.uniform(-20, 20), h * 0.45 + rng.uniform(-10, 10)])
        self._angle = rng.uniform(-5, 5)
        self._tilt = rng.uniform(-8e-4, 8e-4, size=2)  # perspective: one side of the object nearer
        held = support == "hand"
        self._motion = smooth_motion(
            rng,
            frames,
            amplitude=rng.uniform(1.5, 5) if held else 0.3,
            angle=rng.uniform(0.5, 2) if held else 0.05,
            scale=0.02 if held else 0.0,
        )

    def homography(self, index: int) -> np.ndarray:
        """3x3 matrix mapping canvas pixels to frame pixels (continuous coordinates)."""
        dx, dy, angle, ds = self._motion[index]
        theta = np.deg2rad(self._angle + angle)
        s = self._scale * (1 + ds)
        fx, fy = self._face[0] + self._face[2] / 2, self._face[1] + self._face[3] / 2
        similarity = np.asarray(
            [
                [s * np.cos(theta), -s * np.sin(theta), dx],
                [s * np.sin(theta), s * np.cos(theta), dy],
                [0, 0, 1],
            ]
        )
        to_face = np.asarray([[1, 0, -fx], [0, 1, -fy], [0, 0, 1]])
        tilt = np.asarray([[1, 0, 0], [0, 1, 0], [self._tilt[0], self._tilt[1], 1]])
        to_frame = np.asarray([[1, 0, self._centre[0]], [0, 1, self._centre[1]], [0, 0, 1]])
        return to_frame @ tilt @ similarity @ to_face


def face_box(homography: np.ndarray, face: np.ndarray) -> np.ndarray:
    """The face box in the frame: the face centre mapped, and its sides scaled by the local scale
    along each axis (the same rule as for a live face, which ignores small rotations)."""
    x, y, w, h = face
    centre = np.asarray([x + w / 2, y + h / 2])
    points = _apply(homography, np.stack([centre, centre + [1, 0], centre + [0, 1]]))
    sx, sy = np.linalg.norm(points[1] - points[0]), np.linalg.norm(points[2] - points[0])
    return np.asarray([points[0, 0] - w * sx / 2, points[0, 1] - h * sy / 2, w * sx, h * sy])


def warp(image: Image.Image, homography: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The medium as the camera sees it: uint8 premultiplied RGBa (H, W, 4) of the frame size."""
    inverse = np.linalg.inv(homography)
    inverse /= inverse[2, 2]
    return np.asarray(
        image.transform(size, Image.PERSPECTIVE, tuple(inverse.ravel()[:8]), resample=Image.BILINEAR)
    )


def canvas_coordinates(homography: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates (u, v) seen at each frame pixel centre, float32 (H, W) each."""
    w, h = size
    inverse = np.linalg.inv(homography).astype(np.float32)
    xs = np.arange(w, dtype=np.float32)[None, :] + 0.5
    ys = np.arange(h, dtype=np.float32)[:, None] + 0.5
    z = inverse[2, 0] * xs + inverse[2, 1] * ys + inverse[2, 2]
    u = (inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]) / z
    v = (inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]) / z
    return u, v


def _apply(homography: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapped = np.c_[points, np.ones(len(points))] @ homography.T
    return mapped[:, :2] / mapped[:, 2:]
