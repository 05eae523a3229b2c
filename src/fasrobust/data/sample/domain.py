"""The recording site of the SYNTHETIC sample database: which webcam films and which lights shine.

Cross-database evaluation (train on one database, test on another) needs databases that differ the
way real ones do: another site, another camera, other lamps. The sample database therefore comes in
domains. Domain `a` is the sample database as it always was (every clip bit-identical to what
version 2 generated before domains existed). Domain `b` is a second, equally SYNTHETIC site:

- its webcam (`Site.webcam`) is softer (extra lens blur), three times noisier in variance, set to a
  warm white balance and a 2.2 transfer curve, and meters darker (auto-exposure aims at 0.12 linear
  luminance, not 0.2), and its recordings are compressed a little harder (H.264 crf 24, not 23:
  at crf 30 the encoder smoothed the extra sensor noise away, so the stored videos were no noisier);
- its rooms are lit by warm, tungsten-like lamps (`light_tint`), standing to the left of the scene,
  so light falls off towards the right of the frame (`side_light`).

A domain changes no random draw: with the same seed, domain `b` shows the same people, rooms, motions
and attacks as domain `a`, through the other camera and under the other lights (so a test can
compare the two pixel for pixel); give another seed as well for a different draw, as a second real
database would be. The devices that took the attacks' original photos and videos are the attacker's,
not the site's, and do not change; the originals are lit by the site's lamps, since Replay-Attack's
attackers took them in the same rooms.

Flow: build.py picks the `Site` of the requested `Domain` and hands it to scene.py (lighting and
webcam of live clips), presentation.py (room and webcam of attacks) and writer.py (compression).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from .camera import GAMMA, Camera


class Domain(StrEnum):
    A = "a"  # the original sample database: Replay-Attack-like office webcam and lights
    B = "b"  # a second site: another webcam, warm side lighting, stronger compression


@dataclass(frozen=True)
class Site:
    """The camera and lighting settings of one domain; the defaults are domain `a`'s, and each one
    leaves domain `a`'s arithmetic exactly as it is (gains of 1, additions of 0)."""

    description: str
    # the webcam
    extra_blur: float = 0.0  # lens blur sigma (pixels) added in quadrature to the drawn one
    noise_gain: float = 1.0  # multiplies the sensor noise variance (shot and read)
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # multiplies the drawn gains
    gamma: float = GAMMA  # the transfer curve the webcam encodes with
    exposure_target: float = 0.2  # auto-exposure's aim: mean linear luminance of the frame centre
    crf: int = 23  # H.264 constant rate factor of the recordings (higher: stronger compression)
    # the lights
    light_tint: tuple[float, float, float] = (1.0, 1.0, 1.0)  # colour temperature, relative to `a`
    side_light: float = 0.0  # share of the light lost from the left edge of the frame to the right

    def webcam(self, camera: Camera) -> Camera:
        """The site's webcam: `Camera.webcam`'s draw with this site's optics, sensor and settings."""
        return replace(
            camera,
            blur=float(np.hypot(camera.blur, self.extra_blur)),
            shot=camera.shot * self.noise_gain,
            read=camera.read * self.noise_gain,
            white_balance=tuple(g * s for g, s in zip(camera.white_balance, self.white_balance, strict=True)),
            gamma=self.gamma,
            exposure_target=self.exposure_target,
        )

    def light(self, field: np.ndarray) -> np.ndarray:
        """A room's light field (H, W, 3) float32 under this site's lamps."""
        field = field * np.asarray(self.light_tint, np.float32)
        if self.side_light:
            w = field.shape[1]
            falloff = 1.0 - self.side_light * np.linspace(0.0, 1.0, w, dtype=np.float32)
            field = field * falloff[None, :, None]
        return field

    def describe(self) -> dict[str, Any]:
        """The settings as the manifest records them."""
        return asdict(self)


SITES = {
    Domain.A: Site("the original sample database: office webcam, even office light or daylight"),
    Domain.B: Site(
        "a second SYNTHETIC site: softer, noisier, warm-balanced webcam with a 2.2 curve metering darker, "
        "H.264 crf 24, warm tungsten lamps standing to the left",
        extra_blur=0.5,
        noise_gain=3.0,
        white_balance=(1.06, 1.0, 0.92),
        gamma=2.2,
        exposure_target=0.12,
        crf=24,
        light_tint=(1.1, 1.0, 0.8),
        side_light=0.35,
    ),
}


def site(domain: Domain | str) -> Site:
    return SITES[Domain(domain)]
