"""The Target contract shared by every adapter (torch module, ONNX file, HTTP endpoint)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TargetError, TransientTargetError

if TYPE_CHECKING:  # torch is imported where a target is built or called, so declaring adapters stays light
    import torch

#: Outputs this far outside [0, 1] are rounding, not a broken model.
_PROBABILITY_SLACK = 1e-5


class QueryBudgetExceeded(TransientTargetError):
    """The target's query budget would be exceeded by this call (a later run may have budget again)."""


class Target(ABC):
    """Anything that maps a uint8 (N, H, W, 3) RGB batch to P(live), shape (N,).

    Call it with a numpy array (returns float64 numpy) or a uint8 torch tensor (returns a float32
    tensor on `self.device`, so an attack can keep its populations on the model's device).
    Every image scored is one query; `queries` counts them exactly. Subclasses implement `_predict`
    on a chunk of at most `max_batch` images already on `self.device`.

    `threshold` is the one criterion: a face is called live iff P(live) >= threshold. Attacks read it and
    record it with every result.

    A defence (`fasrobust.defences`) wraps a Target in another one; the attributes below let an attack and
    the store see through such a stack, and keep their plain meaning for an ordinary model.
    """

    #: The registered adapter's name (`adapters.register_adapter` sets it).
    adapter: str = ""
    #: True when the same image may get different scores (randomized smoothing): checks skip repeat tests.
    randomized: bool = False
    #: Model evaluations behind one query of this target (randomized smoothing scores n noisy copies).
    model_calls_per_query: int = 1

    def __init__(self, *, max_batch: int = 256, device: str | torch.device = "cpu",
                 input_size: int | None = None, query_budget: int | None = None, name: str = "",
                 threshold: float = 0.5):
        import torch

        if max_batch < 1:
            raise TargetError(f"max_batch must be >= 1, got {max_batch}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise TargetError(f"threshold must be in [0, 1] (it is compared with P(live)), got {threshold}")
        self.threshold = float(threshold)
        self.max_batch = int(max_batch)
        self.device = torch.device(device)
        self.input_size = input_size
        self.query_budget = query_budget
        self.name = name or type(self).__name__
        self._queries = 0
        self._decisions = False  # the model itself answers only live or spoof (an adapter sets it)
        self._label_only = False  # the score is hidden: only P(live) >= threshold is answered

    @classmethod
    def open(cls, source: str, contract: Any, **options: Any) -> Target:
        """The target for a source string with its `Contract` (what `load_target` calls); adapters whose
        constructor takes something else override it."""
        return cls(source, contract, **options)

    @classmethod
    def fingerprint(cls, source: str) -> str:
        """What identifies the model itself in result ids: by default the hash of its file, or of a
        folder's files (a SavedModel: its graph and variables), prefixed with the adapter's name."""
        from ..provenance import file_sha256

        path = Path(source)
        if path.is_dir():
            files = sorted(f for f in path.rglob("*") if f.is_file())
            return f"{cls.adapter}:" + "".join(file_sha256(f)[:8] for f in files)[:16]
        return f"{cls.adapter}:{file_sha256(path)[:16]}"

    @property
    def queries(self) -> int:
        return self._queries

    @property
    def answers_decisions(self) -> bool:
        """True when every answer is 1.0 (live) or 0.0 (spoof) and nothing more: a service that gives a
        decision, a model read as one, or any target whose score is hidden (`hide_score`). Score-based
        attacks refuse such a target; decision-based ones work on every target."""
        return self._decisions or self._label_only

    def hide_score(self) -> Target:
        """From now on answer only the decision, P(live) >= threshold, as 1.0 or 0.0 (`--label-only`)."""
        self._label_only = True
        return self

    @property
    def model_queries(self) -> int:
        """Images the model itself scored: `queries` for a model, the innermost model's for a defence."""
        return self.queries

    @property
    def deployed(self) -> Target:
        """The pipeline a user ships, which re-verification queries: the target itself, except for the
        attacker's expectation-over-transformation view of a randomized defence."""
        return self

    def reset_queries(self) -> None:
        self._queries = 0

    def __call__(self, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        import torch

        as_numpy = not isinstance(images, torch.Tensor)
        batch = torch.from_numpy(np.ascontiguousarray(images)) if as_numpy else images
        self._check_input(batch)
        n = batch.shape[0]
        if self.query_budget is not None and self._queries + n > self.query_budget:
            raise QueryBudgetExceeded(
                f"{self.name}: query budget of {self.query_budget} would be exceeded "
                f"({self._queries} used, {n} asked)")
        batch = batch.to(self.device, non_blocking=True)
        scores = torch.empty(n, dtype=torch.float32, device=self.device)
        for start in range(0, n, self.max_batch):
            chunk = batch[start:start + self.max_batch]
            out = self._predict(chunk)
            scores[start:start + len(chunk)] = self._check_output(out, len(chunk))
        if self._label_only:
            scores = (scores >= self.threshold).float()
        self._queries += n
        return scores.double().cpu().numpy() if as_numpy else scores

    @abstractmethod
    def _predict(self, images: torch.Tensor) -> torch.Tensor | np.ndarray:
        """P(live) for a uint8 (n, H, W, 3) chunk on `self.device`, n <= max_batch."""

    def describe(self) -> dict[str, Any]:
        """The contract as understood, JSON-ready: for `fasrobust probe`, provenance and stored results.
        Adapters add what they know (inputs, outputs, layout, channel order, range, output kind)."""
        return {"adapter": type(self).__name__, "name": self.name, "source": self.name,
                "input_size": self.input_size, "live_direction": "higher P(live) = more genuine",
                "threshold": self.threshold, "max_batch": self.max_batch}

    def description(self) -> dict[str, Any]:
        """`describe()` with what an attack sees of each answer, a score or a decision: what `fasrobust
        probe` shows and results record."""
        info = self.describe()
        if self._label_only:
            info = {**info, "answers": "decision", "decision": f"the score is hidden: only P(live) >= "
                    f"{self.threshold:g} is answered, as 1 (live) or 0 (spoof)"}
        return {"answers": "decision" if self.answers_decisions else "score", **info}

    def close(self) -> None:
        """Release sessions, connections, servers. Safe to call twice."""
        return None  # a no-op default; adapters that hold resources override it

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----- validation ----------------------------------------------------------------------
    def _check_input(self, batch: torch.Tensor) -> None:
        import torch

        if batch.dtype != torch.uint8:
            raise TargetError(f"{self.name}: images must be uint8, got {batch.dtype}")
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise TargetError(f"{self.name}: images must be (N, H, W, 3), got {tuple(batch.shape)}")
        if batch.shape[0] == 0:
            raise TargetError(f"{self.name}: no images to score")
        if self.input_size is not None and tuple(batch.shape[1:3]) != (self.input_size, self.input_size):
            raise TargetError(f"{self.name}: expects {self.input_size}x{self.input_size} images, "
                              f"got {batch.shape[1]}x{batch.shape[2]}; prepare the FaceSet with "
                              f"`fasrobust prepare --size {self.input_size}`, or let the target resize "
                              f"with --resize")

    def _check_output(self, out: torch.Tensor | np.ndarray, n: int) -> torch.Tensor:
        import torch

        out = torch.as_tensor(out, device=self.device).float()
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        if out.shape != (n,):
            raise TargetError(f"{self.name}: returned shape {tuple(out.shape)} for {n} images, expected ({n},)")
        if not torch.isfinite(out).all():
            raise TargetError(f"{self.name}: returned NaN or infinite scores")
        if self._decisions and not ((out == 0) | (out == 1)).all():
            raise TargetError(f"{self.name}: a decision target answered {out[(out != 0) & (out != 1)][0].item():.4g}, "
                              "not 1 (live) or 0 (spoof)")
        if (out < -_PROBABILITY_SLACK).any() or (out > 1 + _PROBABILITY_SLACK).any():
            raise TargetError(f"{self.name}: returned scores outside [0, 1] "
                              f"(min {out.min().item():.4g}, max {out.max().item():.4g}); expected P(live) (for a raw "
                              "score set --output logit)")
        return out.clamp(0.0, 1.0)  # not in place: outputs may be inference-mode tensors
