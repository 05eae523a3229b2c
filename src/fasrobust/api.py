"""fasrobust from Python, in the idiom torchattacks and foolbox users know (a front end beside the command
line): wrap a model, attack a uint8 batch, get a pandas DataFrame.

    import fasrobust
    target = fasrobust.as_target(model, scale=1 / 255, output="logit")   # torch.nn.Module, callable, file, URL
    results = fasrobust.attack(target, images, attack="sparse-rs", pixels=9, queries=1000)
    adversarial = fasrobust.adversarial_images(images, results)

The same parts as `fasrobust attack`: the attack's own settings model validates every setting (one-line
errors), the target's sanity check runs first, each image's result depends only on (seed, its id),
queries are counted exactly against the budget, and every success is re-verified through a PNG round trip
before it counts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, ModelError
from .paper import PAPER_ATTACK

if TYPE_CHECKING:
    import pandas as pd

    from .targets.base import Target

#: Contract keys a torch module takes: float (N, 3, H, W) input as (pixel * scale - mean) / std, and its
#: output read as a logit, a probability, or two class logits (softmax applied).
_MODULE_OUTPUTS = {"logit": "logit", "probability": "probability", "logits": "softmax2"}
#: Results' columns, in order.
COLUMNS = ("image", "attack", "success", "verified", "already_live", "queries", "query_budget", "p_live_before",
           "p_live_after", "pixels_changed", "threshold", "perturbation", "trajectory", "l0_trajectory", "start_id",
           "answer", "note", "seed")


def as_target(model: Any, *, threshold: float | None = None, **contract: Any) -> Target:
    """A fasrobust `Target` for `model`:
    - a `torch.nn.Module` taking float (N, 3, H, W): `scale`, `mean`, `std` say how pixels become its input
      (default 1/255, 0, 1), `output` how its answer becomes P(live) (logit, probability or 2-class logits,
      with `live_index`); the target puts it in eval mode, with a warning if it was training;
    - any callable taking a uint8 (N, H, W, 3) RGB numpy batch and returning N scores (`output`,
      `spoof_score` and `live_index` as for `fasrobust attack`);
    - a path or URL (an ONNX, TFLite or Keras file, a SavedModel, a fasrobust run directory, an HTTP service)
      with the contract keys of `fasrobust attack`'s target options (layout, channels, scale, mean, std,
      output, live_index, spoof_score, ...);
    - a Target, returned as it is."""
    from .targets.base import Target

    if isinstance(model, Target):
        if contract or threshold is not None:
            raise ConfigError("a fasrobust Target already has its contract; give the contract with the model")
        return model
    given = {**contract, **({"threshold": threshold} if threshold is not None else {})}
    if _is_module(model):
        return _module_target(model, given)
    from .targets.contract import contract_from_options

    stated = contract_from_options(given)
    if isinstance(model, str | Path):
        from .targets.adapters import load_target

        return load_target(str(model), stated)
    if callable(model):
        from .targets.python_target import PythonTarget

        return PythonTarget(model, stated)
    raise ConfigError(f"cannot attack a {type(model).__name__}: give a torch.nn.Module, a callable, a model file "
                      "or URL, or a fasrobust Target")


def attack(model: Any, images: np.ndarray, *, attack: str = PAPER_ATTACK, seed: int = 0,
           ids: Sequence[int] | None = None, check: bool = True, starts: np.ndarray | None = None,
           subjects: Sequence[Any] | None = None, start_subjects: Sequence[Any] | None = None,
           **settings: Any) -> pd.DataFrame:
    """Attack every image of the uint8 (N, H, W, 3) RGB batch; one row per image (COLUMNS), the attack's
    `{name, settings}` in `.attrs["attack"]`. `model` is anything `as_target` takes (with no contract
    keys, a Target or a model with defaults); `settings` are the attack's own (pixels, queries, ...).
    A decision-based attack (sparse-evo, pointwise) starts from `starts`, uint8 live images of the same
    size; with `subjects` (of the images) and `start_subjects`, an image never starts from its own
    subject's."""
    import pandas as pd

    from .attacks.spec import AttackSpec
    from .targets.checks import check_target

    target = as_target(model)
    spec = AttackSpec(name=attack, settings=settings)
    batch = _batch(images)
    if check:
        check_target(target, batch[:8])
    pool = None
    if starts is not None:
        from .attacks.starts import StartPool

        pool = StartPool.of(_batch(starts), subjects=start_subjects)
    results = spec.attack().run(target, batch, seed=seed, ids=ids, starts=pool, subjects=subjects)
    frame = pd.DataFrame([{"image": r.index, "attack": spec.name, "success": r.success, "verified": r.verified,
                           "already_live": r.already_live, "queries": r.queries, "query_budget": r.query_budget,
                           "p_live_before": r.p_live_before, "p_live_after": r.p_live_after,
                           "pixels_changed": r.pixels_changed, "threshold": r.threshold,
                           "perturbation": np.asarray(r.perturbation).tolist(),
                           "trajectory": np.asarray(r.trajectory).tolist(),
                           "l0_trajectory": np.asarray(r.l0_trajectory).tolist(), "start_id": r.start_id,
                           "answer": r.answer, "note": r.note, "seed": r.seed}
                          for r in results], columns=list(COLUMNS))
    frame.attrs["attack"] = spec.for_pipeline(randomized=target.randomized).as_json()
    return frame


def adversarial_images(images: np.ndarray, results: pd.DataFrame) -> np.ndarray:
    """The batch with each row's perturbation written in (uint8 (N, H, W, 3)); images the attack did not
    change come back as they were."""
    from .attacks.result import apply_perturbation

    batch = _batch(images)
    out = batch.copy()
    for row in results.itertuples():
        out[row.image] = apply_perturbation(batch[row.image], np.asarray(row.perturbation, dtype=np.int64))
    return out


def _batch(images: Any) -> np.ndarray:
    batch = np.asarray(images)
    if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
        raise ConfigError(f"images must be a uint8 (N, H, W, 3) RGB batch, got {batch.dtype} {batch.shape}")
    return np.ascontiguousarray(batch)


def _is_module(model: Any) -> bool:
    try:
        from torch import nn
    except ImportError:
        return False
    return isinstance(model, nn.Module)


def _module_target(module: Any, given: dict[str, Any]) -> Target:
    from .models.preprocessing import Preprocessing
    from .targets.torch_target import TorchTarget

    unknown = sorted(set(given) - {"scale", "mean", "std", "output", "live_index", "threshold", "input_size"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: a torch module takes scale, mean, std, output, live_index, threshold "
                          "and input_size")
    output = str(given.get("output", "logit"))
    if output not in _MODULE_OUTPUTS:
        raise ConfigError(f"output: a torch module's output is one of {', '.join(_MODULE_OUTPUTS)}, got {output!r}")
    try:
        preprocessing = Preprocessing.from_dict({"scale": given.get("scale", 1 / 255),
                                                 "mean": given.get("mean", (0.0, 0.0, 0.0)),
                                                 "std": given.get("std", (1.0, 1.0, 1.0))})
    except ModelError as exc:
        raise ConfigError(str(exc)) from None
    return TorchTarget(module, preprocessing=preprocessing, output=_MODULE_OUTPUTS[output],
                       live_index=int(given.get("live_index", 1)), input_size=given.get("input_size"),
                       threshold=float(given.get("threshold", 0.5)))
