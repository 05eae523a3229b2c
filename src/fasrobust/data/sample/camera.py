"""The cameras of the SYNTHETIC sample database: light in (linear RGB, any scale), 8-bit sRGB out.

Every frame of the sample database, live or attack, leaves through `Camera.capture`: exposure,
white balance, lens blur, signal-dependent sensor noise, sRGB encoding, rounding. The same webcam
model films the live person and the presented attack, as in Replay-Attack (one laptop webcam), so
the camera itself is never a cue; only what is in front of it differs. The devices that captured
the attack's original photo or video (a high-definition camera, a phone) are cameras too.
Compression is the video encoder's (see `writer.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

#: The sample database's transfer curve: a pure power of 2 (close to sRGB's 2.2, and a square and a
#: square root are several times cheaper per pixel than a general power or a table lookup).
GAMMA = 2.0


def to_linear(image: np.ndarray) -> np.ndarray:
    """uint8 codes (or floats 0..255) -> float32 linear light."""
    x = np.asarray(image, dtype=np.float32) * np.float32(1 / 255)
    return x * x


def encode(linear: np.ndarray, gamma: float = GAMMA) -> np.ndarray:
    """Linear light (clipped to 0..1) -> uint8 codes, with the transfer curve x ** (1 / gamma)."""
    x = np.clip(linear, 0.0, 1.0)
    # the default curve keeps its square root: cheaper, and the codes domain `a` always had
    x = np.sqrt(x) if gamma == GAMMA else np.power(x, np.float32(1 / gamma))
    x *= 255
    x += 0.5
    return x.astype(np.uint8)


def unpremultiply_linear(layer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A premultiplied uint8 RGBa layer (PIL 'RGBa', what its transforms produce without converting
    the whole source each time) -> (linear colour times coverage (H, W, 3), coverage (H, W, 1))."""
    coverage = layer[..., 3:]
    return to_linear(layer[..., :3]) * _INVERSE_COVERAGE[coverage], _COVERAGE[coverage]


_COVERAGE = np.arange(256, dtype=np.float32) / 255
_INVERSE_COVERAGE = 255 / np.maximum(np.arange(256, dtype=np.float32), 1)


def blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-like blur of (H, W, C) float32 with edges repeated: repeated [a, 1 - 2a, a] passes whose
    variances add up to sigma^2. For the small sigmas of lenses (under 1.5 pixels) this is several
    times faster than a general Gaussian filter and indistinguishable after noise and compression."""
    if sigma <= 0:
        return image.copy()
    passes = int(np.ceil(sigma**2 / 0.6))  # a <= 0.3 keeps the kernel bell-shaped
    a = np.float32(sigma**2 / (2 * passes))
    for _ in range(passes):
        for axis in (0, 1):
            x = np.moveaxis(image, axis, 0)
            out = x * (1 - 2 * a)
            out[1:] += a * x[:-1]
            out[:-1] += a * x[1:]
            out[0] += a * x[0]
            out[-1] += a * x[-1]
            image = np.moveaxis(out, 0, axis)
    return image


def luminance(linear: np.ndarray) -> np.ndarray:
    return linear @ np.asarray([0.2126, 0.7152, 0.0722], dtype=np.float32)


@dataclass(frozen=True)
class Camera:
    """One capture device: blur sigma (pixels), noise (variance = shot * signal + read), white balance
    gains, the transfer curve it encodes with, and an exposure gain fixed per clip by `metered` (an
    auto-exposure that settled on `exposure_target`)."""

    blur: float
    shot: float
    read: float
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exposure: float = 1.0
    gamma: float = GAMMA
    exposure_target: float = 0.2

    @classmethod
    def webcam(cls, rng: np.random.Generator) -> Camera:
        """The laptop webcam that films every clip: soft, noisy, slightly off white balance."""
        return cls(
            blur=float(rng.uniform(0.55, 1.0)),
            shot=float(rng.uniform(4e-4, 1.6e-3)),
            read=float(rng.uniform(2e-6, 2e-5)),
            white_balance=_white_balance(rng, 0.06),
        )

    @classmethod
    def source(cls, device: str, rng: np.random.Generator) -> Camera:
        """The device that took the attack's original photo or video: 'highdef' (a good camera) or
        'mobile' (a 2009 phone: softer, noisier)."""
        if device == "highdef":
            return cls(
                blur=float(rng.uniform(0.3, 0.6)),
                shot=float(rng.uniform(1e-4, 4e-4)),
                read=1e-6,
                white_balance=_white_balance(rng, 0.04),
            )
        return cls(
            blur=float(rng.uniform(0.7, 1.2)),
            shot=float(rng.uniform(6e-4, 2e-3)),
            read=1e-5,
            white_balance=_white_balance(rng, 0.08),
        )

    def metered(self, linear: np.ndarray) -> Camera:
        """This camera with its exposure set so the centre of `linear` averages `exposure_target`
        luminance."""
        h, w = linear.shape[:2]
        centre = linear[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
        level = float(luminance(centre).mean())
        return replace(self, exposure=float(np.clip(self.exposure_target / max(level, 1e-4), 0.4, 4.0)))

    def defocused(self, sigma: float) -> Camera:
        """The same camera focused off the subject's plane by `sigma` pixels of extra blur."""
        return replace(self, blur=float(np.hypot(self.blur, sigma)))

    def capture(self, linear: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """Scene light (H, W, 3) float32 -> uint8 sRGB frame; `noise` is unit Gaussian noise of that
        shape (from a `NoisePool`)."""
        gains = np.asarray(self.white_balance, dtype=np.float32) * np.float32(self.exposure)
        signal = blur(linear * gains, self.blur)
        np.clip(signal, 0.0, 1.0, out=signal)
        signal += np.sqrt(self.shot * signal + self.read) * noise
        return encode(signal, self.gamma)


class NoisePool:
    """Unit Gaussian sensor noise for all frames of a clip: drawn once, read at a random offset for
    each frame. Fresh noise per frame would cost as much as rendering the rest of the frame, and a
    shifted field is as good as a new one to anything that looks at single frames."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], margin: int = 32):
        w, h = size
        self._rng, self._size, self._margin = rng, (h, w), margin
        self._pool = rng.standard_normal((h + margin, w + margin, 3), dtype=np.float32)

    def draw(self) -> np.ndarray:
        dy, dx = self._rng.integers(0, self._margin + 1, size=2)
        h, w = self._size
        return self._pool[dy : dy + h, dx : dx + w]


def _white_balance(rng: np.random.Generator, spread: float) -> tuple[float, float, float]:
    red, blue = 1.0 + rng.uniform(-spread, spread, size=2)
    return float(red), 1.0, float(blue)
