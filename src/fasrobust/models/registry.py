"""Models by name: a decorator registry and `create_model(name, **kw)`, so experiment specs, settings
files and checkpoints (model.json) refer to a model by its name and constructor arguments.

Every registered model follows one I/O contract: input float (N, 3, H, W), already normalised with the
preprocessing recorded next to it; output the LOGIT of live, shape (N,), so P(live) = sigmoid(output).
`create_model` records the name and arguments on the module (`model.spec`) so a checkpoint can rebuild it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from ..errors import ConfigError


@dataclass(frozen=True)
class ModelSpec:
    """What rebuilds a model: its registered name and the keyword arguments it was created with."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Class or factory decorator: `@register_model("fasnet")`. Names are unique."""

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return decorate


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model; unknown names and arguments are one-line ConfigErrors."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(list_models())})")
    try:
        model = _REGISTRY[name](**kwargs)
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
