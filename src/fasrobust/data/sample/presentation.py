"""Presentation-attack clips of the SYNTHETIC sample database: the original sample (a photo or a
video of the person, taken earlier by a good camera or a phone) shown on paper or a screen, held in
front of the same webcam, in one of the two rooms, and recaptured.

Each attack clip draws a `quality` in [0, 1]: how well the attacker did (1 = artefacts barely
there). Spreading it keeps the database worth attacking: some attacks are obvious, some are close
to live, so a detector trained on it is good but not perfect.
"""

from __future__ import annotations

import numpy as np

from .camera import Camera, NoisePool, unpremultiply_linear
from .domain import SITES, Domain, Site
from .faces import Portrait
from .medium import Placement, canvas_coordinates, face_box, warp
from .print_attack import CONTENT_SIZE, FACE_FRACTION, PrintStyle, printed_photo
from .replay_attack import DEVICES, ScreenStyle, emission, screen_body, show
from .scene import FRAME_SIZE, Clip, Lighting, illumination, live_clip, room

#: Range of the attacker's quality; the calibration of the database's difficulty (see the tests).
QUALITY = (0.0, 0.25)


def attack_clip(
    portrait: Portrait,
    *,
    device: str,
    capture: str,
    medium: str,
    support: str,
    lighting: Lighting,
    frames: int,
    rng: np.random.Generator,
    size: tuple[int, int] = FRAME_SIZE,
    site: Site = SITES[Domain.A],
) -> tuple[Clip, float]:
    """Frames and face boxes of one attack, and the quality drawn for it.

    device: print, mobile or highdef (what is held up); capture: highdef or mobile (what took the
    original); medium: photo or video; support: fixed or hand; site: the webcam and lights of the
    recording (the original is lit by them too, but taken by the attacker's own camera)."""
    quality = float(rng.uniform(*QUALITY))
    content_size, fraction = (
        (CONTENT_SIZE, FACE_FRACTION)
        if device == "print"
        else (DEVICES[device].content_size, DEVICES[device].face_fraction)
    )
    original = live_clip(
        portrait,
        Lighting(rng.choice(list(Lighting))),
        frames if medium == "video" else 1,
        rng,
        size=content_size,
        face_width=rng.uniform(*fraction) * content_size[0],
        camera=Camera.source(capture, rng),
        site=site,
    )
    if device == "print":
        screen, style = None, PrintStyle.draw(rng, quality)
        media = [printed_photo(original.frames[0], original.boxes[0], style, rng, support)]
    else:
        screen, style = DEVICES[device], ScreenStyle.draw(rng, quality)
        body = screen_body(screen, rng, support)
        media = [
            show(body, frame, box, style) for frame, box in zip(original.frames, original.boxes, strict=True)
        ]

    background = room(rng, lighting, size)
    light, gain = illumination(rng, lighting, frames, size, site)
    placement = Placement(rng, support, frames, media[0].face, size)
    camera = site.webcam(Camera.webcam(rng)).defocused(rng.uniform(0.0, 0.9) * (1.0 - quality))
    noise = NoisePool(rng, size)
    w, h = size
    out, boxes = np.empty((frames, h, w, 3), np.uint8), np.empty((frames, 4))
    for i in range(frames):
        current = media[min(i, len(media) - 1)]  # a photo is one picture, a video one per frame
        homography = placement.homography(i)
        colour, alpha = unpremultiply_linear(warp(current.image, homography, size))
        u, v = canvas_coordinates(homography, size)
        scene = background * (1.0 - alpha)
        if screen is None:  # paper reflects the room's light; its halftone beats with the webcam's pixels
            scene += colour * style.moire.field(u, v)
            scene *= light * gain[i]
        else:  # the screen emits its own light; bezel and fingers reflect the room's
            mask, emitted = emission(u, v, current, screen, style)
            scene += colour * (1.0 - mask)
            scene *= light * gain[i]
            scene += colour * mask * emitted
        scene += style.glare.field(u, v, current.image.size) * alpha
        if i == 0:
            camera = camera.metered(scene)
        out[i] = camera.capture(scene, noise.draw())
        boxes[i] = face_box(homography, current.face)
    return Clip(out, boxes), quality
