"""Replay attacks of the SYNTHETIC sample database: the original photo or video shown on a phone
(`mobile`, an iPhone 3GS in Replay-Attack) or a tablet (`highdef`, an iPad) held up to the webcam.

A screen differs from a face in ways a camera can see: it emits light instead of reflecting the
room's (so it ignores the room's lighting), with its own gamma, raised black level and colder white;
its pixel grid of red, green and blue stripes, sampled by the webcam's coarser grid, beats into moire;
its glass reflects a lamp as a glare patch; and a dark bezel surrounds the picture.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw

from .medium import Glare, Medium, Moire, add_support, shifted_cosines


@dataclass(frozen=True)
class ScreenDevice:
    name: str
    content_size: tuple[int, int]  # the picture as we render it (width, height), 3:2 or 4:3
    pixels_per_unit: float  # physical screen pixels per rendered pixel: the grid the webcam aliases
    face_fraction: tuple[float, float]  # share of the picture's width the face takes
    bezel: float  # bezel width as a fraction of the picture height


DEVICES = {
    "mobile": ScreenDevice("iPhone 3GS, 480x320", (240, 160), 2.0, (0.38, 0.5), 0.22),
    "highdef": ScreenDevice("iPad, 1024x768", (256, 192), 4.0, (0.3, 0.42), 0.12),
}


@dataclass(frozen=True)
class ScreenStyle:
    """One screen's settings and reflections, drawn per clip; `quality` 1 is a near-perfect replay."""

    black: float  # black level (sRGB code share) of the backlit panel
    gamma: float  # displayed = content ** gamma (1: faithful)
    tint: tuple[float, float, float]  # white point, usually a little blue
    backlight: float  # emitted light relative to a white wall under the room's full light
    grid: float  # depth of the pixel grid at the screen's own pitch
    glare: Glare
    moire: Moire

    @classmethod
    def draw(cls, rng: np.random.Generator, quality: float) -> ScreenStyle:
        flaw = 1.0 - quality
        return cls(
            black=float(0.03 + 0.15 * flaw * rng.random()),
            gamma=float(1.0 + rng.uniform(-0.35, 0.35) * flaw),
            tint=(float(1.0 - 0.1 * flaw * rng.random()), 1.0, float(1.0 + 0.15 * flaw * rng.random())),
            backlight=float(rng.uniform(0.6, 1.2)),
            grid=float(rng.uniform(0.15, 0.5) * flaw),
            glare=Glare.draw(rng, peak=0.5 * flaw, chance=0.7),
            moire=Moire.draw(rng, amplitude=rng.uniform(0.03, 0.2) * flaw, period=(8, 30), chroma=2.0),
        )


def screen_body(device: ScreenDevice, rng: np.random.Generator, support: str) -> Medium:
    """The switched-off device in its holder: a dark rounded bezel around the (empty) screen area."""
    w, h = device.content_size
    b = round(device.bezel * h)
    body = Image.new("RGBA", (w + 2 * b, h + 2 * b), (0, 0, 0, 0))
    grey = round(255 * rng.uniform(0.05, 0.2))
    ImageDraw.Draw(body).rounded_rectangle(
        (0, 0, w + 2 * b - 1, h + 2 * b - 1), radius=1.5 * b, fill=(grey, grey, grey, 255)
    )
    medium = Medium(image=body, face=np.zeros(4), screen=(b, b, b + w, b + h))
    return add_support(medium, support, rng)


def show(body: Medium, content: np.ndarray, face: np.ndarray, style: ScreenStyle) -> Medium:
    """The device displaying a uint8 picture (the screen area's size) whose face box is `face`."""
    x = content.astype(np.float32) / 255.0
    shown = (style.black + (1.0 - style.black) * x**style.gamma) * np.asarray(style.tint, np.float32)
    picture = Image.fromarray(np.round(np.clip(shown, 0, 1) * 255).astype(np.uint8), "RGB")
    x0, y0 = round(body.screen[0]), round(body.screen[1])
    image = body.image.copy()
    image.paste(picture, (x0, y0))
    return replace(body, image=image, face=np.asarray(face, float) + [x0, y0, 0, 0])


def emission(
    u: np.ndarray, v: np.ndarray, medium: Medium, device: ScreenDevice, style: ScreenStyle
) -> tuple[np.ndarray, np.ndarray]:
    """Which frame pixels see the lit screen (mask (H, W, 1)) and the light gain there (H, W, 3):
    backlight times the sub-pixel stripes, evaluated at the webcam's pixel centres so that the fine
    grid aliases into moire the way a real recapture does."""
    x0, y0, x1, y1 = medium.screen
    mask = ((u >= x0) & (u < x1) & (v >= y0) & (v < y1)).astype(np.float32)[..., None]
    k = np.float32(2 * np.pi * device.pixels_per_unit)
    rows = 0.5 + 0.5 * np.cos(k * (v - np.float32(y0)))
    stripes = 0.5 + 0.5 * shifted_cosines(k * (u - np.float32(x0)), -2 * np.pi * np.arange(3) / 3)
    gain = 1.0 - style.grid * (1.0 - stripes) - (0.5 * style.grid) * (1.0 - rows)[..., None]
    gain *= style.backlight / (1.0 - 0.75 * style.grid)  # the grid darkens; the backlight is what is measured
    gain *= style.moire.field(u, v)
    return mask, gain
