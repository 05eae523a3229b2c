"""What every attack shares (attack stage): the public `run`/`__call__` contract, the criterion, query
accounting, re-verification, and a registry by name so the CLI, specs and store refer to attacks as strings.

`run` is final and shared: it checks the inputs, asks the target once for every clean image (an image
already called live is a success after that one query and is not searched), hands the others to the
attack's `_search`, and turns each `Found` into an `AttackResult`: the clean query added to the search's,
the trajectory shifted to count it, every success re-verified through a PNG round trip. An attack
implements only `_search`, and declares its settings as an `AttackSettings` model.

On a defended target (`fasrobust.defences`) queries count queries of the defended system, as the attack
sees it; re-verification goes through `target.deployed`, the pipeline a user ships (so a success found
on the expectation-over-transformation view of a randomized defence is re-checked on one real answer of
it), and when one query costs several model evaluations `extra["model_queries"]` records those too.

An attack object holds only its settings and run options; nothing from one call is kept on `self`, so
one object can attack many batches, in any order, from any thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ..errors import AttackError
from ..registry import Registry
from .criterion import Criterion
from .result import AttackResult, apply_perturbation, changed_pixels, compress_trajectory
from .settings_model import AttackSettings
from .verify import verify_adversarial

if TYPE_CHECKING:  # torch and the targets are imported where an attack runs, so that declaring the attacks
    import torch  # (their settings, for the CLI's options and the spec's checks) stays light

    from ..targets.base import Target
    from .starts import StartPool

#: Called with each image's result the moment it is final (progress bars, streaming writers).
ResultCallback = Callable[[AttackResult], None]

#: Queries on an image before its search starts: the clean image, scored once to see if it is live.
CLEAN_QUERIES = 1
#: Options of an attack object that change how it runs, never its results (not settings).
RUN_OPTIONS = ("max_active", "verify")
#: How an attack reads the target: from its scores, or from its decisions alone (which every target gives).
SCORE, DECISION = "score", "decision"
#: Memory for the candidate images of one target call when `max_active` is not given: 256 MiB on a CPU
#: keeps them in a few big pages (the model's own chunking by max_batch decides cache behaviour); 2 GiB
#: on a GPU.
CANDIDATE_BYTES = {"cpu": 256 << 20, "cuda": 2 << 30}


@dataclass(frozen=True)
class Found:
    """What a search hands back for one image it was given."""

    problem: int  # position among the images handed to `_search`
    perturbation: np.ndarray  # (d, 5) int rows x, y, r, g, b: the best found
    p_live: float  # the target's score for the image with that perturbation, as the search saw it
    queries: int  # images the search scored for this image
    trajectory: np.ndarray  # (m, 2): queries spent by the search (its first query is 1), best spoof confidence
    wall_time_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    # The decision-based searches, which shrink the pixels changed from a live start image:
    l0_trajectory: np.ndarray | None = None  # (m, 2): queries spent by the search, pixels changed
    start_id: int | None = None  # the start image's id
    goal_met: bool = True  # False: called live, but with more pixels than the attack's goal
    note: str = ""


FoundCallback = Callable[[Found], None]


class Attack(ABC):
    """A black-box attack on a `Target`: uint8 (N, H, W, 3) images in, one AttackResult per image out.
    Build it with settings fields as keywords (`PixelAttack(pixels=3)`) or a settings object."""

    name: ClassVar[str] = ""
    Settings: ClassVar[type[AttackSettings]]
    #: What the attack needs of each answer: SCORE (P(live)) or DECISION (live or spoof only; it starts
    #: from an image the target calls live, `StartPool`).
    reads: ClassVar[str] = SCORE

    def __init__(self, settings: AttackSettings | None = None, /, *, max_active: int | None = None,
                 verify: bool = True, **fields: Any):
        if settings is None:
            settings = self.Settings.parse(fields, attack=self.name)
        elif fields or not isinstance(settings, self.Settings):
            raise AttackError(f"attack {self.name!r}: give a {self.Settings.__name__} or keywords, not both")
        if max_active is not None and (isinstance(max_active, bool) or int(max_active) < 1):
            raise AttackError(f"max_active must be >= 1, got {max_active}")
        self.config = settings
        self.max_active = None if max_active is None else int(max_active)
        self.verify = bool(verify)

    def settings(self) -> dict[str, Any]:
        """The settings, JSON-ready; with the seed and the target they define the attack's results."""
        return self.config.as_json()

    @property
    def query_budget(self) -> int:
        return self.config.query_budget()

    def __getattr__(self, name: str) -> Any:
        # `attack.pixels` reads the settings; guarded so copying and unpickling never recurse.
        config = self.__dict__.get("config")
        if config is not None and name in type(config).model_fields:
            return getattr(config, name)
        raise AttributeError(name)

    def capacity(self, n: int, bytes_per_image: int, device: torch.device) -> int:
        """How many of n images to search side by side: `max_active`, or as many as fit the memory for
        candidates when each needs `bytes_per_image` of them per target call."""
        if self.max_active is not None:
            return min(n, self.max_active)
        budget = CANDIDATE_BYTES.get(device.type, CANDIDATE_BYTES["cpu"])
        return int(max(1, min(n, budget // max(1, bytes_per_image))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({args})"

    def run(self, target: Target, images: np.ndarray | torch.Tensor, *, seed: int = 0,
            ids: Sequence[int] | np.ndarray | None = None, on_result: ResultCallback | None = None,
            starts: StartPool | None = None, subjects: Sequence[Any] | None = None) -> list[AttackResult]:
        """Attack every image; results in input order. Image i's random stream is derived from
        (`seed`, `ids[i]`) only (default id: its position), so its result does not depend on the
        other images in the batch. Pass the images' stable ids (FaceSet ids) to keep that true
        across shards. A decision-based attack starts from `starts` (live images; `subjects[i]`, the
        subject of image i, keeps its own subject's images out)."""
        from .engines.rng import problem_keys
        from .eot import attacker_view, chosen_draws

        batch, seed, ids = _checked(target, images, seed, ids)
        self._check_reads(target, starts)
        if self.config.auto_pixels:
            from .minimal_pixels import run_minimal_pixels

            return run_minimal_pixels(self, target, batch, seed=seed, ids=ids, on_result=on_result)
        draws = chosen_draws(self.config.eot, randomized=target.randomized)
        view = attacker_view(target, draws)  # what the search queries; verification asks `target.deployed`
        criterion = Criterion.of(target)
        batch = batch.to(target.device)
        p_before = np.asarray(view(batch).double().cpu().numpy())
        results: list[AttackResult | None] = [None] * len(ids)
        todo = [i for i in range(len(ids)) if not criterion.is_live(p_before[i])]
        for i in range(len(ids)):
            if criterion.is_live(p_before[i]):
                results[i] = self._already_live(view, i, float(p_before[i]), seed, criterion)
                if on_result is not None:
                    on_result(results[i])
        if not todo:
            return results
        originals = batch[todo]
        host = originals.cpu().numpy()

        def finish(found: Found) -> None:
            i = todo[found.problem]
            if results[i] is not None:
                raise AttackError(f"{self.name}: the search reported image {i} twice (a bug in the attack)")
            results[i] = self._result(view, i, found, host[found.problem], float(p_before[i]), seed, criterion)
            if on_result is not None:
                on_result(results[i])

        keys = problem_keys(seed, ids[todo], device=target.device)
        if self.reads == DECISION:
            starts.check_size(*batch.shape[1:3])
            self._search(view, originals, keys=keys, p_before=p_before[todo], criterion=criterion, on_found=finish,
                         starts=starts, subjects=None if subjects is None else [subjects[i] for i in todo],
                         ids=ids[todo])
        else:
            self._search(view, originals, keys=keys, p_before=p_before[todo], criterion=criterion, on_found=finish)
        missing = [i for i in todo if results[i] is None]
        if missing:
            raise AttackError(f"{self.name}: the search returned no result for images {missing[:5]} (a bug)")
        return results

    __call__ = run

    @classmethod
    def check_target(cls, target: Target) -> None:
        """Refuse, in one line, a target whose answers this attack cannot read: a score-based attack on a
        target that answers only live or spoof."""
        if cls.reads == SCORE and target.answers_decisions:
            deciders = ", ".join(e.name for e in ATTACKS.entries() if e.target.reads == DECISION)
            raise AttackError(f"{cls.name} reads scores, and {target.name} answers only live or spoof; use a "
                              f"decision-based attack: {deciders}")

    def _check_reads(self, target: Target, starts: StartPool | None) -> None:
        self.check_target(target)
        if self.reads == DECISION and starts is None:
            raise AttackError(f"{self.name} starts from an image the target calls live: give start images "
                              "(a FaceSet with live crops, or starts=StartPool.of(images))")

    @abstractmethod
    def _search(self, target: Target, originals: torch.Tensor, *, keys: torch.Tensor, p_before: np.ndarray,
                criterion: Criterion, on_found: FoundCallback) -> None:
        """Search every image of `originals` (uint8 (n, H, W, 3) on the target's device, none called live),
        at most `query_budget - CLEAN_QUERIES` queries each, stopping an image the moment it is called
        live; call `on_found` exactly once per image. `keys[i]` seeds image i's counter-based stream."""

    # ----- results ------------------------------------------------------------------------------------
    def _already_live(self, target: Target, index: int, p_live: float, seed: int,
                      criterion: Criterion) -> AttackResult:
        return AttackResult(index=index, success=True, queries=CLEAN_QUERIES, query_budget=self.query_budget,
                            p_live_before=p_live, p_live_after=p_live,
                            perturbation=np.zeros((0, 5), dtype=np.int64),
                            trajectory=np.array([[CLEAN_QUERIES, 1.0 - p_live]]), wall_time_s=0.0, seed=seed,
                            threshold=_recorded_threshold(target, criterion), already_live=True,
                            note="already called live", extra=_model_queries(target, CLEAN_QUERIES),
                            answer=_answer(target))

    def _result(self, target: Target, index: int, found: Found, original: np.ndarray, p_before: float,
                seed: int, criterion: Criterion) -> AttackResult:
        queries = CLEAN_QUERIES + int(found.queries)
        if queries > self.query_budget:
            raise AttackError(f"{self.name}: spent {queries} queries on one image, over its budget of "
                              f"{self.query_budget} (a bug in the attack)")
        steps = np.asarray(found.trajectory, dtype=np.float64).reshape(-1, 2)
        # Best so far counts the clean image too: a search's first candidates may score worse than it.
        trajectory = compress_trajectory(np.concatenate([[CLEAN_QUERIES], steps[:, 0] + CLEAN_QUERIES]),
                                         np.minimum.accumulate(np.concatenate([[1.0 - p_before], steps[:, 1]])))
        perturbation = np.asarray(found.perturbation, dtype=np.int64).reshape(-1, 5)
        live = bool(criterion.is_live(found.p_live))
        verified, note, extra = None, found.note, {**found.extra, "verification_queries": 0}
        if live and self.verify:
            adversarial = apply_perturbation(original, perturbation)
            check = verify_adversarial(target.deployed, adversarial, found.p_live, criterion)
            verified, live = check.verified, check.verified
            note = "; ".join(filter(None, [note, check.note]))
            extra.update(verification_queries=1, p_live_verified=check.p_live)
        extra.update(_model_queries(target, queries))
        l0 = np.zeros((0, 2)) if found.l0_trajectory is None else np.asarray(found.l0_trajectory, np.float64)
        l0 = l0.reshape(-1, 2) + [CLEAN_QUERIES, 0]
        return AttackResult(index=index, success=live and found.goal_met, queries=queries,
                            query_budget=self.query_budget, p_live_before=p_before, p_live_after=float(found.p_live),
                            perturbation=perturbation, trajectory=trajectory, wall_time_s=found.wall_time_s,
                            seed=seed, threshold=_recorded_threshold(target, criterion), verified=verified,
                            note=note, extra=extra, pixels_changed=changed_pixels(original, perturbation),
                            answer=_answer(target), l0_trajectory=l0, start_id=found.start_id)


def _answer(target: Target) -> str:
    return DECISION if target.answers_decisions else SCORE


def _recorded_threshold(target: Target, criterion: Criterion) -> float | None:
    """The threshold a result was judged at: None when the model itself answers decisions (there is no
    score to compare), the hidden score's threshold for a target that only hides it."""
    deployed = target.deployed
    hidden = getattr(deployed, "_label_only", False)
    return None if target.answers_decisions and not hidden else criterion.threshold


def _model_queries(target: Target, queries: int) -> dict[str, int]:
    """{"model_queries": ...} when one query of `target` costs several model evaluations (a defence, the
    attack's own eot averaging), else {}."""
    factor = int(getattr(target, "model_calls_per_query", 1))
    return {} if factor == 1 else {"model_queries": int(queries) * factor}


def _checked(target: Target, images: np.ndarray | torch.Tensor, seed: int,
             ids: Sequence[int] | np.ndarray | None) -> tuple[torch.Tensor, int, np.ndarray]:
    import torch

    from ..targets.base import Target

    if not isinstance(target, Target):
        raise AttackError(f"the target must be a fasrobust Target, got {type(target).__name__}")
    batch = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise AttackError(f"images must be (N, H, W, 3), got shape {tuple(batch.shape)}")
    if batch.dtype != torch.uint8:
        raise AttackError(f"images must be uint8 (8-bit RGB), got {batch.dtype}")
    if batch.shape[0] == 0:
        raise AttackError("no images to attack (the selection is empty)")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise AttackError(f"seed must be a non-negative integer, got {seed}")
    ids = np.arange(batch.shape[0]) if ids is None else np.asarray(ids)
    if ids.shape != (batch.shape[0],) or not np.issubdtype(ids.dtype, np.integer):
        raise AttackError(f"ids must be {batch.shape[0]} integers, one per image")
    if len(np.unique(ids)) != len(ids):
        raise AttackError("ids must be unique (they seed each image's random stream)")
    return batch, int(seed), ids


# ----- the registry ----------------------------------------------------------------------------------------
def _declares_settings(name: str, cls: type[Attack]) -> None:
    if not (isinstance(getattr(cls, "Settings", None), type) and issubclass(cls.Settings, AttackSettings)):
        raise TypeError(f"attack {name!r} must declare Settings, an AttackSettings model")
    cls.name = name


#: Every attack, by name: the modules of this package, and plug-ins of the entry-point group
#: `fasrobust.attacks`. Each declares its description and its smoke settings (a few queries, for tests).
ATTACKS: Registry[type[Attack]] = Registry("attack", package="fasrobust.attacks", group="fasrobust.attacks",
                                           error=AttackError, check=_declares_settings)


def register_attack(name: str, *, description: str = "", smoke: dict[str, Any] | None = None
                    ) -> Callable[[type[Attack]], type[Attack]]:
    """Class decorator: `@register_attack("pixel", description=..., smoke={...})`. The class declares
    `Settings`; `smoke` are settings small enough for a test to run the attack on a few 32x32 images in
    well under a second, and large enough to fool an easy target (one region that flips it) on most."""
    return ATTACKS.register(name, description=description, smoke=smoke)


def list_attacks() -> list[str]:
    return ATTACKS.names()


def attack_class(name: str) -> type[Attack]:
    return ATTACKS.get(name)


def attack_settings(name: str, values: dict[str, Any]) -> AttackSettings:
    """Validated settings of a registered attack (one-line AttackErrors for unknown names and values)."""
    return attack_class(name).Settings.parse(values, attack=name)


def create_attack(name: str, **settings: Any) -> Attack:
    """Build a registered attack: its settings as keywords, plus the run options `max_active`, `verify`."""
    cls = attack_class(name)
    options = {k: settings.pop(k) for k in RUN_OPTIONS if k in settings}
    return cls(**settings, **options)
