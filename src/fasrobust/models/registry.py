"""Models by name: a decorator registry and `create_model(name, **kw)`, so experiment specs, settings
files and checkpoints (model.json) refer to a model by its name and constructor arguments.

Every registered model follows one I/O contract: input float (N, 3, H, W), already normalised with the
preprocessing recorded next to it; output the LOGIT of live, shape (N,), so P(live) = sigmoid(output).
`create_model` records the name and arguments on the module (`model.spec`) so a checkpoint can rebuild it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..registry import Registry

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """What rebuilds a model: its registered name and the keyword arguments it was created with."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


#: Every model, by name: the modules of this package, and plug-ins of the entry-point group `fasrobust.models`.
MODELS: Registry[Callable[..., Any]] = Registry("model", package="fasrobust.models", group="fasrobust.models")


def register_model(name: str, *, description: str = "", smoke: dict[str, Any] | None = None
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Class or factory decorator: `@register_model("fasnet", description=..., smoke={...})`; `smoke` are
    constructor arguments small enough for a test to build and run the model quickly."""
    return MODELS.register(name, description=description, smoke=smoke)


def list_models() -> list[str]:
    return MODELS.names()


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model; unknown names and arguments are one-line ConfigErrors."""
    factory = MODELS.get(name)
    try:
        model = factory(**kwargs)
    except TypeError as exc:  # an argument the model does not take
        raise ConfigError(f"model {name!r}: {exc}") from None
    model.spec = ModelSpec(name, dict(kwargs))
    return model


def model_spec(model: nn.Module) -> ModelSpec:
    """The spec `create_model` attached; models built by hand cannot be checkpointed by name."""
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ValueError("model was not built with create_model(), so it has no name to save under")
    return spec
