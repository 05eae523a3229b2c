"""The inner part of the trainer: one run's model, optimizer, batch stream and RNGs; resume, the
step loop (with adversarial rounds, when asked), validation, checkpoints. `trainer.train` sets it up;
this file moves it forward."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, FasrobustError
from ..metrics import wilson_interval
from ..models import save_checkpoint
from ..models.checkpoint import check_state
from ..progress import console, progress_bar
from .adversarial import AdversarialPool
from .augment import Augmenter
from .batches import BatchStream, DeviceData
from .device import Precision
from .state import load_state, optimizer_from_flat, optimizer_to_flat, save_state
from .train_settings import RESUMABLE_CHANGES, OptimizerName, TrainSettings

LOG_FILE = "train_log.jsonl"
CONFIG_FILE = "config.yaml"
#: Steps between reading the loss back from the device (a sync): progress, log and divergence check.
SYNC_EVERY = 10

class TrainingDiverged(FasrobustError):
    """The loss became NaN or infinite."""


def input_filter(stack: list[str]):
    """float (N, 3, H, W) 0..255 -> the same after the deployed input transforms (identity without any):
    the pixels are rounded to the uint8 the deployed pipeline would see, transformed in order, and back."""
    if not stack:
        return lambda x: x
    from ..defences import build_defence, parse_stack

    transforms = [build_defence(s) for s in parse_stack(stack)]

    def apply(x: torch.Tensor) -> torch.Tensor:
        images = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()
        for transform in transforms:
            images = transform.transform(images)
        return images.permute(0, 3, 1, 2).to(x.dtype)

    return apply


def make_optimizer(settings: TrainSettings, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if settings.optimizer is OptimizerName.ADAM:
        return torch.optim.Adam(params, lr=settings.lr, weight_decay=settings.weight_decay)
    return torch.optim.SGD(params, lr=settings.lr, momentum=settings.momentum, weight_decay=settings.weight_decay)


class TrainingRun:
    """Everything that changes while training; `state()` captures all of it for an exact resume."""

    def __init__(self, settings: TrainSettings, model: nn.Module, *, device: torch.device, precision: Precision,
                 augment: Augmenter, run_dir: Path, seeds: np.ndarray, record: dict[str, Any],
                 adversary: AdversarialPool | None = None):
        self.settings, self.model, self.device, self.precision = settings, model, device, precision
        self.adversary = adversary
        self.augment, self.run_dir, self.record = augment, run_dir, record
        self.normalise = record["preprocessing"].normaliser(device)
        self.filter = input_filter(settings.input_transform)
        self.optimizer = make_optimizer(settings, model)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision.scaled)
        self.augment_generator = torch.Generator(device).manual_seed(int(seeds[2]))
        self.stream_seed = int(seeds[1])
        self.step = 0
        self.last_checkpoint: int | None = None
        self.last_eval: dict[str, Any] | None = None

    # ----- resume --------------------------------------------------------------------------------
    def start(self, n_train: int) -> None:
        """Fresh start, or resume from run_dir's state (weights, optimizer, batch stream, RNGs)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stream = BatchStream(n_train, self.settings.batch_size, self.stream_seed)
        state = load_state(self.run_dir)
        if state is None:
            self.settings.save(self.run_dir / CONFIG_FILE)
            (self.run_dir / LOG_FILE).write_text("")
            return
        self._check_resumable(state.meta)
        weights = {k.removeprefix("model."): v for k, v in state.tensors.items() if k.startswith("model.")}
        check_state(self.model, weights, self.run_dir)
        self.model.load_state_dict(weights)
        optimizer_from_flat(self.optimizer, state.tensors, state.meta["optimizer"])
        if state.meta.get("scaler"):
            self.scaler.load_state_dict(state.meta["scaler"])
        torch.set_rng_state(state.tensors["rng.global"])
        if self.device.type == "cuda" and "rng.cuda" in state.tensors:
            torch.cuda.set_rng_state(state.tensors["rng.cuda"])
        self.augment_generator.set_state(state.tensors["rng.augment"])
        self.stream.restore(state.tensors, state.meta["sampler"])
        if self.adversary is not None:
            self.adversary.restore(state.tensors, state.meta["adversarial"])
        self.step = self.last_checkpoint = state.step
        self.last_eval = state.meta.get("last_eval")
        self.settings.save(self.run_dir / CONFIG_FILE)
        _truncate_log(self.run_dir / LOG_FILE, state.step)
        if state.step < self.settings.steps:
            console.print(f"resuming from step {state.step} of {self.settings.steps} ({self.run_dir})")
        else:
            console.print(f"nothing to do: {self.run_dir} already holds {state.step} steps")

    def _check_resumable(self, meta: dict[str, Any]) -> None:
        now, then = self.settings.model_dump(mode="json"), meta["settings"]
        changed = sorted(k for k in set(now) | set(then)
                         if k not in RESUMABLE_CHANGES and now.get(k) != then.get(k))
        if changed:
            raise ConfigError(f"holds a run with other settings ({', '.join(changed)} differ); use another "
                              "output directory or delete train_state.safetensors to start over", self.run_dir)
        if meta["train_sha256"] != self.record["training_data"]["train_sha256"]:
            raise ConfigError("holds a run trained on other data (the training split's hash differs)",
                              self.run_dir)

    # ----- the loop --------------------------------------------------------------------------------
    def loop(self, train_data: DeviceData, dev_data: DeviceData | None) -> None:
        s, stream = self.settings, self.stream
        if self.step >= s.steps:
            return
        if s.idle_adversary():
            console.print(f"[yellow]warning:[/] {s.idle_adversary()}", highlight=False)
        self.model.train()
        loss_sum, since, tick = torch.zeros((), device=self.device), 0, time.perf_counter()
        info = ""
        with progress_bar() as bar:
            task = bar.add_task("training", total=s.steps, completed=self.step, info="")
            while self.step < s.steps:
                self._adversarial_round()
                loss_sum += self._train_step(*train_data.batch(stream.next()))
                self.step += 1
                since += 1
                due_eval = dev_data is not None and s.eval_every and self.step % s.eval_every == 0
                due_save = (s.checkpoint_every and self.step % s.checkpoint_every == 0) or self.step == s.steps
                if since == SYNC_EVERY or due_eval or due_save:
                    elapsed = time.perf_counter() - tick
                    loss = self._check_loss(loss_sum.item() / since, since)
                    rate = since * s.batch_size / max(elapsed, 1e-9)
                    self._log({"kind": "train", "step": self.step, "loss": loss, "img_per_s": rate})
                    info = f"loss {loss:.4f} | {rate:.0f} img/s"
                    if due_eval or (dev_data is not None and self.step == s.steps):
                        self.last_eval = self.evaluate(dev_data)
                        info += f" | dev acc {self.last_eval['dev_accuracy']:.3f}"
                    if due_save:
                        self.save()
                    loss_sum.zero_()
                    since, tick = 0, time.perf_counter()
                bar.update(task, completed=self.step, info=info)
        console.print(f"trained {s.steps} steps: {info} -> {self.run_dir}")
        warning = chance_warning(self.last_eval, s)
        if warning:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)

    def _adversarial_round(self) -> None:
        """Refresh the adversarial pool when a round is due; the model is in eval mode only meanwhile."""
        if self.adversary is None or (index := self.adversary.settings.round_at(self.step)) is None:
            return
        self.model.eval()
        try:
            record = self.adversary.refresh(self.model, self.step, index)
        finally:
            self.model.train()
        self._log({"kind": "adversarial", **record})

    def _train_step(self, pixels: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        x = self.augment(pixels, self.augment_generator)
        if self.adversary is not None:
            x, labels = self.adversary.mix(x, labels, self.step)
        x = self.normalise(self.filter(x))
        with torch.autocast(self.device.type, dtype=self.precision.dtype, enabled=self.precision.dtype is not None):
            logits = self.model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()

    def _check_loss(self, loss: float, steps: int) -> float:
        if math.isfinite(loss):
            return loss
        first = self.step - steps + 1
        where = f"at step {self.step}" if first == self.step else f"within steps {first}-{self.step}"
        self._diverged(f"loss became {loss} {where}")

    def _diverged(self, what: str) -> NoReturn:
        self._log({"kind": "diverged", "step": self.step, "what": what})
        kept = (f"the last good checkpoint (step {self.last_checkpoint}) is kept" if self.last_checkpoint
                else "no checkpoint had been written")
        raise TrainingDiverged(f"training diverged: {what} (lr {self.settings.lr:g} too high?); stopped, {kept}",
                               self.run_dir)

    @torch.no_grad()
    def evaluate(self, data: DeviceData) -> dict[str, Any]:
        """Loss and accuracy at the 0.5 threshold (live iff P(live) >= 0.5, i.e. logit >= 0) on a split."""
        self.model.eval()
        total_loss, correct, chunk = 0.0, 0, max(256, self.settings.batch_size)
        for start in range(0, len(data), chunk):
            pixels, labels = data.batch(torch.arange(start, min(start + chunk, len(data))))
            with torch.autocast(self.device.type, dtype=self.precision.dtype,
                                enabled=self.precision.dtype is not None):
                logits = self.model(self.normalise(self.filter(pixels))).float()
            total_loss += F.binary_cross_entropy_with_logits(logits, labels, reduction="sum").item()
            correct += int(((logits >= 0).float() == labels).sum().item())
        self.model.train()
        live = float(data.labels.float().mean().item())
        result = {"step": self.step, "dev_loss": total_loss / len(data), "dev_accuracy": correct / len(data),
                  "n": len(data), "majority_share": max(live, 1.0 - live)}
        self._log({"kind": "eval", **result})
        return result

    # ----- output ----------------------------------------------------------------------------------
    def save(self) -> None:
        """Checkpoint + resume state, only from finite weights (so a diverging run keeps a good one)."""
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            self._diverged(f"weights became NaN or infinite by step {self.step}")
        info = {**self.record, "steps": self.step, "steps_planned": self.settings.steps,
                "seed": self.settings.seed, "optimizer": self.settings.optimizer.value, "lr": self.settings.lr,
                "chance_warning": chance_warning(self.last_eval, self.settings),
                "augment": self.settings.augment, "last_eval": self.last_eval}
        if self.adversary is not None:
            info["adversarial"] = self.adversary.describe()
        save_checkpoint(self.run_dir, self.model, info)
        save_state(self.run_dir, *self.state())
        self.last_checkpoint = self.step

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        optim_tensors, optim_meta = optimizer_to_flat(self.optimizer)
        stream_tensors, stream_meta = self.stream.state()
        tensors = {**{f"model.{k}": v for k, v in self.model.state_dict().items()}, **optim_tensors,
                   **stream_tensors, "rng.global": torch.get_rng_state(),
                   "rng.augment": self.augment_generator.get_state()}
        if self.device.type == "cuda":
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        meta = {"step": self.step, "settings": self.settings.model_dump(mode="json"),
                "train_sha256": self.record["training_data"]["train_sha256"], "optimizer": optim_meta,
                "scaler": self.scaler.state_dict() if self.precision.scaled else None, "sampler": stream_meta,
                "last_eval": self.last_eval}
        if self.adversary is not None:  # the pool and the rounds so far
            adversary_tensors, meta["adversarial"] = self.adversary.state()
            tensors.update(adversary_tensors)
        return tensors, meta

    def _log(self, entry: dict[str, Any]) -> None:
        with open(self.run_dir / LOG_FILE, "a") as handle:
            handle.write(json.dumps(entry) + "\n")


def chance_warning(last_eval: dict[str, Any] | None, settings: TrainSettings) -> str | None:
    """One line when the final dev accuracy is no better than always answering the larger class: the
    lower end of its 95 % Wilson interval does not clear the majority share."""
    if not last_eval or "majority_share" not in last_eval:
        return None
    n, accuracy, majority = int(last_eval["n"]), float(last_eval["dev_accuracy"]), float(last_eval["majority_share"])
    low, high = wilson_interval(round(accuracy * n), n)
    if low > majority:
        return None
    return (f"dev accuracy {accuracy:.3f} [{low:.3f}, {high:.3f}] after {last_eval['step']} steps is at chance (the "
            f"larger class is {majority:.3f} of the dev split): the model has not learnt; train longer, or change "
            f"--lr ({settings.lr:g}) or --optimizer ({settings.optimizer.value})")


def _truncate_log(path: Path, step: int) -> None:
    """On resume, drop log lines written after the state being resumed (they will be redone)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept))
