"""The names an augmentation setting goes by: the paper's eight (Section 4), impulse noise alone, and
each of the eight followed by impulse noise ("all+impulse").

Sits at the edge of training: train settings and spec checks turn what a user wrote into one canonical
name here, so a run directory, a job id and a report row all spell one setting one way.
"""

from __future__ import annotations

from enum import StrEnum

from ...errors import ConfigError

#: The impulse-noise family's name, alone or after a '+'.
IMPULSE = "impulse"
COMBINER = "+"


class AugmentSetting(StrEnum):
    """The paper's eight settings (Section 4): none, each family alone, and all of them together."""

    NONE = "none"
    SHIFT = "shift"
    SHEAR = "shear"
    ZOOM = "zoom"
    ROTATION = "rotation"
    CHANNEL_SHIFT = "channel_shift"
    FLIP = "flip"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | AugmentSetting) -> AugmentSetting:
        try:
            return cls(_normalise(value))
        except ValueError:
            raise ConfigError(f"unknown augmentation {value!r} (expected one of: "
                              f"{', '.join(s.value for s in cls)})") from None


def _normalise(value: str) -> str:
    return str(value).strip().lower().replace("-", "_")


def split_augment(value: str) -> tuple[AugmentSetting, bool]:
    """'all+impulse' -> (ALL, True); 'impulse' -> (NONE, True); 'shift' -> (SHIFT, False)."""
    parts = [part.strip() for part in _normalise(value).split(COMBINER)]
    try:
        if parts == [IMPULSE]:
            return AugmentSetting.NONE, True
        if len(parts) == 2 and parts[1] == IMPULSE:
            return AugmentSetting(parts[0]), True
        if len(parts) == 1:
            return AugmentSetting(parts[0]), False
    except ValueError:
        pass
    raise ConfigError(f"unknown augmentation {value!r} (expected a setting: "
                      f"{', '.join(s.value for s in AugmentSetting)}; or {IMPULSE!r}; "
                      f"or '<setting>{COMBINER}{IMPULSE}', e.g. 'all{COMBINER}{IMPULSE}')")


def canonical_augment(value: str) -> str:
    """The one spelling of a setting: 'Channel-Shift' -> 'channel_shift', 'none+impulse' -> 'impulse'."""
    setting, impulse = split_augment(value)
    if not impulse:
        return setting.value
    return IMPULSE if setting is AugmentSetting.NONE else f"{setting.value}{COMBINER}{IMPULSE}"


def augment_names() -> tuple[str, ...]:
    """Every canonical name: the eight, 'impulse', then '<setting>+impulse' for the seven others."""
    return (*(s.value for s in AugmentSetting), IMPULSE,
            *(f"{s.value}{COMBINER}{IMPULSE}" for s in AugmentSetting if s is not AugmentSetting.NONE))
