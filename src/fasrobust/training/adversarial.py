"""Adversarial fine-tuning (training stage, a training-time defence): at intervals the trainer attacks
some of its own training spoofs against the current weights with a registered black-box attack, and
trains on those adversarial spoofs mixed into its clean batches.

The schedule (`TrainSettings.adversarial`, an `AdversarialTraining`):
- a round runs before step `start + r * every` + 1, i.e. once `start + r * every` steps are done
  (round r = 0, 1, ...); it draws `images` spoof crops of the training split with a generator seeded by
  (seed, r), attacks them with seed `seed + r` and their FaceSet ids (so a round depends on the weights
  and nothing else), and keeps every attacked image, fooled or not, with the attack's best perturbation
  written in: that is the pool, labelled spoof, until the next round replaces it;
- every step after the first round: the clean batch is augmented as usual, then its first
  round(mix * batch_size) samples (the batch order is already a random permutation) are replaced by
  pool images, un-augmented so that their few changed pixels stay exactly as the attack wrote them, and
  labelled spoof. Which pool images: a draw without replacement (with, if the pool is smaller) from a
  generator seeded by (seed, step), so nothing about it needs saving.

The trainer owns the model's mode: it puts the model in eval mode for a round and back in train mode
after; the attack only queries a `TorchTarget` built on the live model. The pool (uint8) and the round
records are part of the resume state, so a resumed run ends with the same weights."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from pydantic import Field, field_validator, model_validator
from torch import nn

from ..attacks import AttackSpec
from ..attacks.base import DECISION
from ..attacks.starts import StartPool
from ..data.faceset import FaceSet
from ..errors import AttackError, ConfigError
from ..labels import Label
from ..models.preprocessing import Preprocessing
from ..settings import Settings

#: Rounds listed one by one in model.json (the most recent); the totals cover all of them.
MODEL_JSON_ROUNDS = 100
POOL_TENSOR = "adversarial.pool"


class AdversarialTraining(Settings):
    """When and how to generate adversarial training spoofs (see the module docstring for the rule)."""

    #: The attack, `{name, settings}` (a small budget: each round attacks `images` crops).
    attack: AttackSpec = Field(default_factory=lambda: AttackSpec(name="sparse-rs"))
    #: Steps trained on clean batches before the first round.
    start: int = Field(0, ge=0)
    #: Steps between rounds.
    every: int = Field(100, gt=0)
    #: Training spoofs attacked per round.
    images: int = Field(32, gt=0)
    #: Fraction of each batch replaced by pool images.
    mix: float = Field(0.5, gt=0, le=1)
    seed: int = Field(0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _attack_as_written_before(cls, data: Any) -> Any:
        # Specs written before attacks travelled as {name, settings} gave `attack: NAME` and `settings`.
        if isinstance(data, dict) and isinstance(data.get("attack"), str):
            data = {**data, "attack": {"name": data["attack"], "settings": data.get("settings") or {}}}
            data.pop("settings", None)
        return data

    @field_validator("attack", mode="before")
    @classmethod
    def _known_attack(cls, value: Any) -> Any:
        try:
            return AttackSpec.of(value)
        except AttackError as exc:
            raise ValueError(str(exc)) from None

    def mixed(self, batch_size: int) -> int:
        """How many samples of a batch come from the pool."""
        return round(self.mix * batch_size)

    def round_at(self, step: int) -> int | None:
        """The round that runs once `step` steps are done, or None."""
        if step < self.start or (step - self.start) % self.every:
            return None
        return (step - self.start) // self.every


def check_feasible(settings: AdversarialTraining, batch_size: int, n_spoof: int) -> None:
    """One-line errors for a schedule the training split or the batch size cannot serve."""
    if settings.images > n_spoof:
        raise ConfigError(f"adversarial.images: {settings.images} is more than the training split's "
                          f"{n_spoof} spoof images")
    if settings.mixed(batch_size) == 0:
        raise ConfigError(f"adversarial.mix: {settings.mix} of a batch of {batch_size} replaces no sample; "
                          "raise mix or batch_size")


class AdversarialPool:
    """The current adversarial spoofs, how they were made, and how they enter a batch."""

    def __init__(self, settings: AdversarialTraining, *, spoof_images: np.ndarray, spoof_ids: np.ndarray,
                 preprocessing: Preprocessing, batch_size: int, device: torch.device,
                 starts: StartPool | None = None, spoof_subjects: np.ndarray | None = None,
                 deployed: list[str] | tuple[str, ...] = ()):
        self.settings, self.preprocessing, self.device = settings, preprocessing, device
        # The input transforms the model is trained through (TrainSettings.input_transform): the adversary
        # attacks the pipeline as deployed, so a median-aware model is fine-tuned on what gets through the median.
        self.deployed = list(deployed)
        self.spoof_images = np.ascontiguousarray(spoof_images)
        self.spoof_ids = np.asarray(spoof_ids, dtype=np.int64)
        # A decision-based attack starts from the split's live crops of other subjects.
        self.starts, self.spoof_subjects = starts, spoof_subjects
        self.n_mixed = settings.mixed(batch_size)
        self.attack = settings.attack.attack()
        self.pool: torch.Tensor | None = None  # uint8 (P, H, W, 3) on the device
        self.rounds: list[dict[str, int]] = []

    @classmethod
    def from_split(cls, settings: AdversarialTraining, train_set: FaceSet, *, preprocessing: Preprocessing,
                   batch_size: int, device: torch.device, deployed: list[str] | tuple[str, ...] = ()
                   ) -> AdversarialPool:
        spoof = (train_set.meta["label"] == Label.SPOOF.value).to_numpy()
        check_feasible(settings, batch_size, int(spoof.sum()))
        live = (train_set.meta["label"] == Label.LIVE.value).to_numpy()
        return cls(settings, spoof_images=train_set.images[spoof], spoof_ids=train_set.meta["id"].to_numpy()[spoof],
                   preprocessing=preprocessing, batch_size=batch_size, device=device,
                   starts=StartPool.from_faceset(train_set) if live.any() else None,
                   spoof_subjects=train_set.meta["subject"].astype(str).to_numpy()[spoof], deployed=deployed)

    # ----- a round -------------------------------------------------------------------------------
    def refresh(self, model: nn.Module, step: int, round_index: int) -> dict[str, Any]:
        """Attack a fresh draw of spoofs against `model` (the caller has put it in eval mode); the
        adversarial images become the pool. Returns the round's record plus its wall time."""
        from ..attacks import apply_perturbation
        from ..targets.torch_target import TorchTarget

        tick = time.perf_counter()
        s = self.settings
        chosen = np.sort(np.random.default_rng((s.seed, round_index)).choice(
            len(self.spoof_ids), size=s.images, replace=False))
        originals = self.spoof_images[chosen]
        # channels_last off: on CUDA it would convert the training weights' memory format in place.
        target = TorchTarget(model, preprocessing=self.preprocessing, input_size=originals.shape[1],
                             device=self.device, channels_last=False, name="training")
        if self.deployed:
            from ..defences import defend

            target = defend(target, self.deployed)
        starts = {} if self.attack.reads != DECISION else {
            "starts": self.starts, "subjects": None if self.spoof_subjects is None else self.spoof_subjects[chosen]}
        results = self.attack.run(target, originals, seed=s.seed + round_index, ids=self.spoof_ids[chosen], **starts)
        adversarial = np.stack([apply_perturbation(image, result.perturbation)
                                for image, result in zip(originals, results, strict=True)])
        self.pool = torch.from_numpy(adversarial).to(self.device)
        record = {"step": step, "images": len(results), "fooled": sum(r.success for r in results),
                  "queries": sum(r.queries for r in results)}
        self.rounds.append(record)
        return {**record, "round": round_index, "wall_s": time.perf_counter() - tick}

    # ----- a step --------------------------------------------------------------------------------
    def mix(self, x: torch.Tensor, labels: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The (augmented, not yet normalised) float batch with its first samples replaced by pool images,
        labelled spoof; unchanged before the first round."""
        if self.pool is None:
            return x, labels
        n, size = self.n_mixed, len(self.pool)
        drawn = np.random.default_rng((self.settings.seed, step)).choice(size, size=n, replace=n > size)
        x, labels = x.clone(), labels.clone()
        x[:n] = self.pool[torch.from_numpy(drawn).to(self.device)].permute(0, 3, 1, 2).to(x.dtype)
        labels[:n] = 0.0  # spoof (labels are 1.0 for live)
        return x, labels

    # ----- resume and record ---------------------------------------------------------------------
    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors = {} if self.pool is None else {POOL_TENSOR: self.pool}
        return tensors, {"rounds": list(self.rounds)}

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.rounds = [dict(r) for r in meta["rounds"]]
        pool = tensors.get(POOL_TENSOR)
        self.pool = None if pool is None else pool.to(self.device)

    def describe(self) -> dict[str, Any]:
        """What model.json records: the settings, totals over every round, the latest rounds."""
        totals = {key: sum(r[key] for r in self.rounds) for key in ("images", "fooled", "queries")}
        return {"settings": self.settings.model_dump(mode="json"), "rounds_run": len(self.rounds),
                "totals": totals, "rounds": self.rounds[-MODEL_JSON_ROUNDS:]}
