"""What every defence shares (defence stage): the `Defence` contract and a registry by name, so the CLI,
specs and store refer to defences as strings ("median:3").

A defence sits between an attack and a `Target`: `DefendedTarget` (defended.py) wraps a target with one
defence and is itself a Target, so defences stack and any attack runs on the whole pipeline as a black
box. A defence either only changes the image (`Transform`: median, blur, JPEG, bit depth) or scores it
through the target in its own way (`Defence.score`: randomized smoothing asks for n noisy copies, the
squeezing detector for the raw and squeezed images).

This module and the settings stay light (no torch at import), like the attacks', so the CLI can declare
its options from them; torch is imported where a defence runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ConfigError
from ..registry import Registry
from .settings_model import DefenceSettings

if TYPE_CHECKING:
    import torch

    from ..targets.base import Target


class Defence(ABC):
    """One defence with its settings. Build it with settings fields as keywords (`MedianFilter(size=3)`)
    or a settings object. A randomized defence also holds its noise generator (that state is the
    defence: each query draws fresh noise); otherwise nothing from one call is kept on `self`."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type[DefenceSettings]]

    def __init__(self, settings: DefenceSettings | None = None, /, **fields: Any):
        if settings is None:
            settings = self.Settings.parse(fields)
        elif fields or not isinstance(settings, self.Settings):
            raise ConfigError(f"defence {self.name!r}: give a {self.Settings.__name__} or keywords, not both")
        self.config = settings

    @property
    def randomized(self) -> bool:
        return self.config.randomized

    @property
    def calls_per_query(self) -> int:
        """Images the wrapped target scores per image this defence is asked about."""
        return 1

    def threshold(self, inner_threshold: float) -> float:
        """The live threshold of the defended target, given the wrapped one's (the same, unless the
        defence's output is another kind of number, as a majority vote's fraction)."""
        return inner_threshold

    @abstractmethod
    def score(self, inner: Target, images: torch.Tensor) -> torch.Tensor:
        """P(live) for a uint8 (n, H, W, 3) batch on the inner target's device, asking `inner` for
        exactly `calls_per_query * n` images."""

    def describe(self) -> str:
        return self.config.describe()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump(mode="json").items())
        return f"{type(self).__name__}({args})"


class Transform(Defence):
    """A defence that only changes the image; the wrapped target scores the changed image, once."""

    @abstractmethod
    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (n, H, W, 3) -> uint8 (n, H, W, 3), on the same device."""

    def score(self, inner: Target, images: torch.Tensor) -> torch.Tensor:
        return inner(self.transform(images))


# ----- the registry ----------------------------------------------------------------------------------------
def _declares_settings(name: str, cls: type[Defence]) -> None:
    if not (isinstance(getattr(cls, "Settings", None), type) and issubclass(cls.Settings, DefenceSettings)):
        raise TypeError(f"defence {name!r} must declare Settings, a DefenceSettings model")
    if cls.Settings.positional not in cls.Settings.model_fields:
        raise TypeError(f"defence {name!r}: positional {cls.Settings.positional!r} is not a field")
    cls.name = cls.Settings.name = name


#: Every defence, by name: the modules of this package, and plug-ins of the entry-point group
#: `fasrobust.defences`. Each declares its description and its smoke settings (for tests).
DEFENCES: Registry[type[Defence]] = Registry("defence", package="fasrobust.defences", group="fasrobust.defences",
                                             error=ConfigError, check=_declares_settings)


def register_defence(name: str, *, description: str = "", smoke: dict[str, Any] | None = None
                     ) -> Callable[[type[Defence]], type[Defence]]:
    """Class decorator: `@register_defence("median", description=..., smoke={...})`; the class declares
    `Settings`, and `smoke` are settings a test runs it with."""
    return DEFENCES.register(name, description=description, smoke=smoke)


def list_defences() -> list[str]:
    return DEFENCES.names()


def defence_class(name: str) -> type[Defence]:
    return DEFENCES.get(name)


def create_defence(name: str, **fields: Any) -> Defence:
    """Build a registered defence from its settings as keywords: `create_defence("jpeg", quality=75)`."""
    return defence_class(name)(**fields)


def build_defence(settings: DefenceSettings) -> Defence:
    """The defence that parsed settings describe."""
    return defence_class(settings.name)(settings)
