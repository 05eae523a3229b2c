"""A run directory's layout (experiments stage): the one place that names its files and folders and says
what a recorded path is relative to, so the runner, the jobs, `fasrobust attack` and the report's results
reader never write a file name twice.

    spec.yaml        the resolved spec (`fasrobust run`)
    plan.json        every planned job, every attack group with its image ids and shard jobs
    run.json         executor and environment of the last run
    results.sqlite   the results store (experiments/store.py)
    facesets/<db>/   FaceSets prepared by the run
    models/<db>/...  trained models (model.json + model.safetensors, metrics.json)
    evaluations/     clean evaluations behind defences or on other databases
    adversarial/     every verified adversarial PNG, with its side-by-side picture
    report/          index.html, tables, figures

Every path a run records (in the store, plan.json, a job's inputs) is relative to the run directory, or
absolute when it lies outside it (`fasrobust.paths`), so the directory can be moved and opened from any
folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..paths import record_path, resolve_recorded
from ..provenance import write_json_atomic


class RunDir:
    SPEC = "spec.yaml"
    PLAN = "plan.json"
    RUN = "run.json"
    STORE = "results.sqlite"
    FACESETS = "facesets"
    MODELS = "models"
    EVALUATIONS = "evaluations"
    ADVERSARIAL = "adversarial"
    REPORT = "report"

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r})"

    # ----- files ----------------------------------------------------------------------------------------
    @property
    def spec_file(self) -> Path:
        return self.root / self.SPEC

    @property
    def plan_file(self) -> Path:
        return self.root / self.PLAN

    @property
    def run_file(self) -> Path:
        return self.root / self.RUN

    @property
    def store_file(self) -> Path:
        return self.root / self.STORE

    @property
    def report_dir(self) -> Path:
        return self.root / self.REPORT

    @classmethod
    def faceset_dir(cls, database: str) -> str:
        """Where the run prepares a database, as recorded (relative)."""
        return f"{cls.FACESETS}/{database}"

    @classmethod
    def model_dir(cls, database: str, name: str) -> str:
        return f"{cls.MODELS}/{database}/{name}"

    @classmethod
    def evaluation_file(cls, job_id: str) -> str:
        return f"{cls.EVALUATIONS}/{job_id}.json"

    @classmethod
    def adversarial_folder(cls, name: str) -> str:
        return f"{cls.ADVERSARIAL}/{name}"

    # ----- recorded paths -----------------------------------------------------------------------------------
    def path(self, recorded: str | Path) -> Path:
        """A path the run recorded, as a path to open (relative ones are under the run directory)."""
        return resolve_recorded(recorded, base=self.root)

    def record(self, path: str | Path) -> str:
        """What to record for `path`: relative to the run directory inside it, absolute outside."""
        return record_path(path, base=self.root, root=self.root)

    # ----- the plan ---------------------------------------------------------------------------------------
    def read_plan(self) -> dict[str, Any]:
        """plan.json as a dict ({} when the run has none: `fasrobust attack` into a model's folder)."""
        try:
            value = json.loads(self.plan_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise DataError(f"plan.json cannot be read ({exc})", self.plan_file) from None
        return value if isinstance(value, dict) else {}

    def write_plan(self, plan: dict[str, Any]) -> None:
        write_json_atomic(self.plan_file, plan)

    def replace_plan(self, plan: dict[str, Any]) -> None:
        """A spec's new plan, keeping what other commands recorded here: the worst-case ensembles of `fasrobust
        robustness` are not the spec's."""
        kept = {k: v for k, v in self.read_plan().items() if k == "ensembles" and v}
        self.write_plan({**plan, **kept})

    def record_ensemble(self, ensemble: dict[str, Any]) -> None:
        """Add or update a worst-case ensemble in plan.json (by key): its images, pixels, budget, attacks."""
        plan = self.read_plan()
        known = {e["key"]: e for e in plan.get("ensembles") or []}
        known[ensemble["key"]] = ensemble
        plan["ensembles"] = list(known.values())
        self.write_plan(plan)

    def record_groups(self, groups: list[dict[str, Any]]) -> None:
        """Add or update attack groups in plan.json (by key): their image ids and shard jobs once known."""
        plan = self.read_plan()
        known = {g["key"]: g for g in plan.get("attack_groups") or []}
        for group in groups:
            known[group["key"]] = {**known.get(group["key"], {}), **group}
        plan["attack_groups"] = list(known.values())
        self.write_plan(plan)
