"""Live capture synthesis for the SYNTHETIC sample database: a person (portrait cut-out) in a room,
moving their head a little, under the clip's light, filmed by the webcam.

The two Replay-Attack lighting conditions: `controlled` (a plain wall, even office light) and
`adverse` (a cluttered room, daylight from one side, office light off). Rooms behind attacks are drawn
from the same two families, so the background is never a cue. The true face box of every frame is
known because we place the face ourselves: its centre follows the head motion and its size the scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from .camera import GAMMA, Camera, NoisePool, unpremultiply_linear
from .domain import SITES, Domain, Site
from .faces import Portrait

#: Frame size (width, height) of every clip: Replay-Attack's 320x240 webcam.
FRAME_SIZE = (320, 240)


class Lighting(StrEnum):
    CONTROLLED = "controlled"
    ADVERSE = "adverse"


@dataclass(frozen=True)
class Clip:
    """Rendered frames, uint8 (T, H, W, 3), and the face box (x, y, w, h) of each, float (T, 4)."""

    frames: np.ndarray
    boxes: np.ndarray


def room(rng: np.random.Generator, lighting: Lighting, size: tuple[int, int] = FRAME_SIZE) -> np.ndarray:
    """A background (H, W, 3), linear reflectance: a plain wall, or a wall with furniture, a window,
    posters and shelves; slightly out of focus."""
    w, h = size
    wall = rng.uniform(0.45, 0.85) * np.asarray([1.0, rng.uniform(0.93, 1.0), rng.uniform(0.82, 1.0)])
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    gradient = 1.0 + rng.uniform(-0.12, 0.12) * (xs / w - 0.5) + rng.uniform(-0.12, 0.12) * (ys / h - 0.5)
    srgb = wall[None, None, :] * gradient[..., None]
    if lighting is Lighting.ADVERSE:
        for _ in range(int(rng.integers(4, 9))):
            rw, rh = int(rng.uniform(0.1, 0.5) * w), int(rng.uniform(0.1, 0.6) * h)
            x0, y0 = int(rng.integers(-rw // 2, w - rw // 2)), int(rng.integers(-rh // 2, h - rh // 2))
            colour = rng.uniform(0.05, 0.95, size=3) ** rng.uniform(0.6, 1.4)
            srgb[max(y0, 0) : y0 + rh, max(x0, 0) : x0 + rw] = colour
        if rng.random() < 0.6:  # a window: the brightest thing in the room
            x0 = int(rng.choice([0, int(0.7 * w)]))
            srgb[: int(0.55 * h), x0 : x0 + int(0.3 * w)] = rng.uniform(0.85, 1.0) * np.asarray(
                [0.92, 0.97, 1.0]
            )
    else:
        y_line = int(rng.uniform(0.7, 0.95) * h)  # a desk or skirting edge, the only structure
        srgb[y_line:] *= rng.uniform(0.5, 0.8)
    srgb = gaussian_filter(srgb.astype(np.float32), sigma=(1.8, 1.8, 0))
    return np.clip(srgb, 0.0, 1.0) ** GAMMA


def illumination(
    rng: np.random.Generator,
    lighting: Lighting,
    frames: int,
    size: tuple[int, int] = FRAME_SIZE,
    site: Site = SITES[Domain.A],
) -> tuple[np.ndarray, np.ndarray]:
    """The light falling on the scene: a field (H, W, 3) and a gain per frame (slow changes: clouds,
    someone moving near a lamp); the site's lamps colour and direct it after the draws, so every
    domain draws the same numbers."""
    w, h = size
    xs = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    if lighting is Lighting.CONTROLLED:  # ceiling fluorescent light: even, a little cool
        field = np.float32(rng.uniform(0.8, 1.0)) * (1.0 - 0.15 * ys * rng.uniform(0, 1))
        tint = np.asarray([rng.uniform(0.93, 1.0), 1.0, rng.uniform(1.0, 1.08)])
    else:  # daylight from one side: strong horizontal falloff, warm or cold
        ramp = xs if rng.random() < 0.5 else 1.0 - xs
        field = np.float32(rng.uniform(0.5, 1.0)) * (rng.uniform(0.15, 0.45) + (1.0 - 0.3 * ys) * ramp)
        tint = np.asarray([rng.uniform(0.9, 1.12), 1.0, rng.uniform(0.88, 1.12)])
    field = np.broadcast_to(field, (h, w))[..., None] * tint.astype(np.float32)
    t = np.arange(frames, dtype=np.float32)
    gain = 1.0 + rng.uniform(0.0, 0.08) * np.sin(
        2 * np.pi * rng.uniform(0.01, 0.05) * t + rng.uniform(0, 6.3)
    )
    return site.light(field.astype(np.float32)), gain.astype(np.float32)


def smooth_motion(
    rng: np.random.Generator, frames: int, amplitude: float, angle: float, scale: float
) -> np.ndarray:
    """Per-frame (dx, dy, degrees, relative scale), each a sum of two slow sinusoids at 25 fps."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    freq = rng.uniform(0.01, 0.06, size=(2, 4))
    phase = rng.uniform(0, 2 * np.pi, size=(2, 4))
    wave = 0.6 * np.sin(2 * np.pi * freq[0] * t + phase[0]) + 0.4 * np.sin(2 * np.pi * freq[1] * t + phase[1])
    return wave * np.asarray([amplitude, amplitude, angle, scale])


def scaled_portrait(portrait: Portrait, face_width: float) -> tuple[Image.Image, tuple[float, ...]]:
    """The portrait resized (with a proper low-pass) so its face is `face_width` wide; per-frame
    transforms then only move it a little and stay sharp without aliasing."""
    factor = face_width / portrait.face[2]
    h, w = portrait.rgba.shape[:2]
    image = Image.fromarray(portrait.rgba, "RGBA").resize(
        (max(1, round(w * factor)), max(1, round(h * factor))), Image.LANCZOS
    )
    return image.convert("RGBa"), tuple(v * factor for v in portrait.face)


def place_person(
    person: Image.Image,
    face: tuple[float, ...],
    background: np.ndarray,
    centre: tuple[float, float],
    angle: float,
    scale: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Composite a person (PIL 'RGBa', from `scaled_portrait`) onto a linear background so the face
    centre lands on `centre`, turned by `angle` degrees and scaled by `scale`.
    Returns (linear image, face box x, y, w, h)."""
    h, w = background.shape[:2]
    fx, fy, fw, fh = face
    theta = np.deg2rad(angle)
    cos, sin = np.cos(theta) / scale, np.sin(theta) / scale
    cx, cy = centre
    # output -> input (PIL's convention): rotate back about the target centre, unscale, shift to the face
    coeffs = (cos, sin, fx + fw / 2 - cos * cx - sin * cy, -sin, cos, fy + fh / 2 + sin * cx - cos * cy)
    layer = np.asarray(person.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR))
    colour, alpha = unpremultiply_linear(layer)
    image = background * (1.0 - alpha) + colour
    box = np.asarray([cx - fw * scale / 2, cy - fh * scale / 2, fw * scale, fh * scale])
    return image, box


def live_clip(
    portrait: Portrait,
    lighting: Lighting,
    frames: int,
    rng: np.random.Generator,
    size: tuple[int, int] = FRAME_SIZE,
    face_width: float | None = None,
    camera: Camera | None = None,
    site: Site = SITES[Domain.A],
) -> Clip:
    """A person filmed in a room: by default a bona fide webcam clip (face 70-100 pixels wide) of the
    site's webcam under its lights; with another size, face width and camera, the original photo or
    video an attack later shows (under the site's lights, taken by the attacker's camera)."""
    w, h = size
    background = room(rng, lighting, size)
    light, gain = illumination(rng, lighting, frames, size, site)
    person, face = scaled_portrait(portrait, face_width or rng.uniform(70, 100))
    centre = (w / 2 + rng.uniform(-0.08, 0.08) * w, h * 0.45 + rng.uniform(-0.05, 0.05) * h)
    motion = smooth_motion(rng, frames, amplitude=rng.uniform(2, 7), angle=rng.uniform(1, 4), scale=0.04)
    camera, noise = camera or site.webcam(Camera.webcam(rng)), NoisePool(rng, size)
    out, boxes = np.empty((frames, h, w, 3), np.uint8), np.empty((frames, 4))
    for i, (dx, dy, angle, ds) in enumerate(motion):
        scene, boxes[i] = place_person(
            person, face, background, (centre[0] + dx, centre[1] + dy), angle, 1 + ds
        )
        scene *= light * gain[i]
        if i == 0:
            camera = camera.metered(scene)
        out[i] = camera.capture(scene, noise.draw())
    return Clip(out, boxes)
