"""The steps-based trainer: FaceSet (train split) -> run_dir with model.safetensors + model.json.

Per step: gather a uint8 batch, move it to the device, make it float, augment, normalise, forward,
BCE-with-logits on the live label, optimizer step. Training is counted in steps (the paper's unit);
the dev split is scored every `eval_every` steps (train_log.jsonl); model and resume state are written
every `checkpoint_every` steps and at the end. A run directory with a resume state continues where it
stopped and ends with the same weights as a run that never stopped. A diverging loss stops the run
with one line, leaving the last checkpoint whose weights were all finite. With `adversarial` set,
rounds of attacks on the training spoofs feed adversarial images into the batches (adversarial.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.faceset import FaceSet
from ..errors import ConfigError, DataError
from ..labels import Label
from ..models import PRESETS, PreprocessingPreset, create_model, load_imagenet_features
from ..models.freeze import FreezePolicy
from ..paths import record_path
from ..progress import console
from .adversarial import AdversarialPool
from .augment import Augmenter, build_augmenter
from .batches import DeviceData
from .device import resolve_device, resolve_precision, run_environment
from .loop import TrainingDiverged, TrainingRun
from .train_settings import PreprocessingChoice, TrainSettings

__all__ = ["TrainSettings", "TrainingDiverged", "train"]

SCRATCH = "none (trained from scratch)"


def train(settings: TrainSettings, faceset: FaceSet, run_dir: str | Path, *, run_root: str | Path | None = None
          ) -> Path:
    """Train (or resume training) on `faceset`'s train split; returns the run directory, which holds
    model.safetensors + model.json, config.yaml, train_log.jsonl and the resume state. `run_root` is the
    experiment's run directory when the model is one of its models (default: `run_dir` itself): model.json
    records the FaceSet relative to itself when the FaceSet lies inside that run, else absolute."""
    run_dir = Path(run_dir)
    train_set = faceset.split(settings.train_split)
    _check_feasible(settings, train_set)
    dev_set = _dev_split(settings, faceset)
    device = resolve_device(settings.device)
    precision = resolve_precision(settings.amp, device)
    augment = _augmenter(settings)
    # Independent streams for model init + dropout, batch order and augmentation.
    seeds = np.random.SeedSequence(settings.seed).generate_state(3)
    forked = [torch.cuda.current_device()] if device.type == "cuda" else []
    with run_environment(device, deterministic=settings.deterministic, threads=settings.threads), \
            torch.random.fork_rng(devices=forked):
        torch.manual_seed(int(seeds[0]))
        model, resolved, record = _build_model(settings, train_set.image_size)
        data = _data_record(faceset, train_set, run_dir, Path(run_root) if run_root is not None else run_dir)
        record = {**record, "training_data": data, "device": str(device),
                  "precision": precision.name, "augmentation": augment.describe(),
                  **({"input_transform": list(settings.input_transform)} if settings.input_transform else {})}
        adversary = _adversary(settings, train_set, record, device)
        run = TrainingRun(resolved, model.to(device), device=device, precision=precision, augment=augment,
                          run_dir=run_dir, seeds=seeds, record=record, adversary=adversary)
        run.start(len(train_set))
        run.loop(DeviceData(train_set, device), DeviceData(dev_set, device) if dev_set is not None else None)
    return run_dir


def _check_feasible(settings: TrainSettings, train_set: FaceSet) -> None:
    counts = {label: int(n) for label, n in train_set.meta["label"].value_counts().items()}
    for label in Label:
        if not counts.get(label.value):
            raise DataError(f"training split '{settings.train_split}' has no {label.value} images; "
                            "a classifier needs both classes", train_set.root)
    if settings.batch_size > len(train_set):
        raise ConfigError(f"batch_size: {settings.batch_size} is larger than the training split "
                          f"'{settings.train_split}' ({len(train_set)} images)")


def _dev_split(settings: TrainSettings, faceset: FaceSet) -> FaceSet | None:
    if settings.dev_split is None:
        return None
    if not (faceset.meta["split"] == settings.dev_split).any():
        console.print(f"[yellow]no '{settings.dev_split}' split in the FaceSet: training without validation")
        return None
    return faceset.split(settings.dev_split)


def _adversary(settings: TrainSettings, train_set: FaceSet, record: dict[str, Any],
               device: torch.device) -> AdversarialPool | None:
    if settings.adversarial is None:
        return None
    return AdversarialPool.from_split(settings.adversarial, train_set, preprocessing=record["preprocessing"],
                                      batch_size=settings.batch_size, device=device,
                                      deployed=settings.input_transform)


def _augmenter(settings: TrainSettings) -> Augmenter:
    return build_augmenter(settings.augment, **settings.augment_ranges)


def _build_model(settings: TrainSettings, image_size: int) -> tuple[nn.Module, TrainSettings, dict]:
    """The model, the settings with every 'auto' resolved, and where its starting weights came from."""
    kwargs = dict(settings.model_kwargs)
    size = int(kwargs.pop("input_size", image_size))
    if size != image_size:
        raise ConfigError(f"model_kwargs.input_size: {size} but the FaceSet's images are {image_size}x"
                          f"{image_size}; prepare the FaceSet at the model's size (attacks change its pixels)")
    imagenet = settings.imagenet_weights
    freeze = settings.freeze
    if freeze is None:  # freezing random filters would keep them random: only freeze pretrained ones
        freeze = None if imagenet else FreezePolicy.NONE
    if freeze is not None:
        kwargs["freeze"] = freeze.value
    model = create_model(settings.model, input_size=size, **kwargs)
    if imagenet:
        source: Any = load_imagenet_features(model, imagenet)
    else:
        source = SCRATCH
        console.print("training from scratch: no ImageNet weights file given (--imagenet-weights)")
    preprocessing = settings.preprocessing
    if preprocessing is PreprocessingChoice.AUTO:
        preprocessing = PreprocessingChoice.IMAGENET if imagenet else PreprocessingChoice.LUCENA
    optimizer, lr, why = settings.resolved_optimizer(pretrained=bool(imagenet))
    resolved = settings.model_copy(update={
        "model_kwargs": {**settings.model_kwargs, "input_size": size}, "freeze": FreezePolicy(model.freeze),
        "preprocessing": preprocessing, "optimizer": optimizer, "lr": lr})
    return model, resolved, {"imagenet_weights": source, "optimizer_choice": why,
                             "preprocessing": PRESETS[PreprocessingPreset(preprocessing.value)]}


def _data_record(faceset: FaceSet, train_set: FaceSet, run_dir: Path, run_root: Path) -> dict[str, Any]:
    digest = hashlib.sha256(np.ascontiguousarray(train_set.images).data)
    digest.update(train_set.is_live.tobytes())
    where = record_path(faceset.root, base=run_dir, root=run_root) if faceset.root else None
    return {"faceset": where, "train_sha256": digest.hexdigest(), "counts": faceset.counts()}
