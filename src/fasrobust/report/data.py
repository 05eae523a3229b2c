"""The report's data layer: everything in a run directory's results store as tidy tables.

Report stage, first step: results.sqlite (+ spec.yaml, plan.json, the FaceSets' faceset.json) ->
`RunData`: one row per attacked image joined with the settings of the job that attacked it (database,
augmentation, training steps, model, the attack and its settings) and the evaluation metrics of the model it
attacked; one row per model; what the plan still lacks. Nothing is recomputed: tables, figures and the
HTML page are rendered from these frames only.

It reads runs made by `fasrobust run` (attack job settings carry database, augment, steps, train_seed,
model, train_job) and by `fasrobust attack RUN_DIR` (settings carry only `target`; the rest is taken
from the run directory's model.json and metrics.json when they are there). A key that is in neither
shows as "unknown" and the rows are still grouped by what is there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import DataError, FasrobustError
from ..experiments.store import ResultsStore
from ..labels import BONA_FIDE
from .columns import UNKNOWN

STORE_FILE = "results.sqlite"
#: Job settings copied onto every attack row (the row itself holds the attack, its settings, its budget).
_SETTING_COLUMNS = ("database", "augment", "steps", "train_seed", "model", "labels")
_TEXT_COLUMNS = ("database", "augment", "model", "labels")
#: metrics.json (frame level) -> our column; HTER at the EER threshold chosen on dev (Idiap), the rest
#: at the paper's fixed 0.5 threshold.
_METRICS = {"acc": "accuracy", "precision": "precision", "recall_eval": "recall", "hter": "hter_eer",
            "apcer": "apcer_fixed", "bpcer": "bpcer_fixed", "acer": "acer_fixed"}


@dataclass(frozen=True)
class DatabaseInfo:
    name: str  # as the spec and the job settings name it
    source: str  # the database its FaceSet was prepared from (faceset.json 'database')
    synthetic: bool
    faceset: Path | None
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunData:
    run_dir: Path
    attacks: pd.DataFrame  # one row per attacked image, tidy (see `tidy_attacks`)
    models: pd.DataFrame  # one row per attacked or evaluated model, with its metrics (percent)
    databases: dict[str, DatabaseInfo]
    jobs: pd.DataFrame
    failures: pd.DataFrame
    spec: dict[str, Any]
    plan: dict[str, Any]
    missing: list[str]

    @property
    def synthetic(self) -> bool:
        return bool(self.spec.get("synthetic")) or any(d.synthetic for d in self.databases.values())

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.run_dir.name)

    def grid_values(self, axis: str) -> list[Any]:
        """The spec grid's values of a training axis (the main study's: Tables 3-6 use them), [] without a spec."""
        return list((self.spec.get("grid") or {}).get(axis) or [])

    def grid_attack_values(self, attack: str, setting: str) -> list[Any]:
        """The spec grid's values of one attack's setting (over its grid entries), [] without a spec."""
        values: list[Any] = []
        for entry in (self.spec.get("grid") or {}).get("attacks") or []:
            if isinstance(entry, dict) and entry.get("name") == attack:
                values += [v for v in entry.get(setting) or [] if v not in values]
        return values


def load_run(run_dir: str | Path) -> RunData:
    run_dir = Path(run_dir)
    store_path = run_dir / STORE_FILE
    if not store_path.is_file():
        raise DataError(f"no {STORE_FILE} here (run 'fasrobust run' or 'fasrobust attack' first)", run_dir)
    with ResultsStore(store_path) as store:
        jobs, raw, failures = store.jobs(), store.attacks(), store.failures()
    spec = _read_yaml(run_dir / "spec.yaml")
    plan = _read_json(run_dir / "plan.json")
    databases = _databases(jobs, run_dir)
    models = _models(jobs, run_dir, databases)
    attacks = tidy_attacks(raw, jobs, models)
    missing = _missing(plan, spec, jobs, attacks, failures, databases)
    return RunData(run_dir, attacks, models, databases, jobs, failures, spec, plan, missing)


# ----- attack rows ---------------------------------------------------------------------------------------
def attack_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Columns every attack has, read through its own settings model: `pixels` (its size field), `budget`
    (its budget field's value) and `budget_field`, `setting` (the other settings, as text) and `setting_key`
    (attack, other settings and seed: rows with one key come from one attack configuration)."""
    from ..attacks import attack_class
    from ..errors import AttackError

    out = {"pixels": [], "budget": [], "budget_field": [], "setting": [], "setting_key": []}
    for attack, settings, seed in zip(raw["attack"], raw["settings"], raw["seed"], strict=True):
        try:
            model = attack_class(attack).Settings
            size_field, budget_field = model.size_field, model.budget_field
        except AttackError:  # an attack this fasrobust does not have: shown by name, never computed with
            size_field, budget_field = "pixels", ""
        others = {k: v for k, v in settings.items() if k not in (size_field, budget_field)}
        out["pixels"].append(int(settings.get(size_field, 0)))
        out["budget"].append(int(settings.get(budget_field, 0)) if budget_field else 0)
        out["budget_field"].append(budget_field)
        out["setting"].append(f"{attack} (" + ", ".join(f"{k} {v}" for k, v in others.items()) + ")")
        out["setting_key"].append(json.dumps([attack, others, int(seed)], sort_keys=True))
    return pd.DataFrame(out, index=raw.index)


def queries_at_budget(rows: pd.DataFrame, budget: int) -> np.ndarray:
    """Per row: the query budget its attack would have had at `budget` in its own budget field."""
    from ..attacks import attack_settings

    cache: dict[str, int] = {}
    out = np.empty(len(rows))
    for i, (attack, settings, budget_field, key) in enumerate(zip(rows["attack"], rows["settings"], rows["budget_field"],
                                                             rows["setting_key"], strict=True)):
        if key not in cache:
            cache[key] = attack_settings(attack, settings).queries_at(int(budget)) if budget_field else 0
        out[i] = cache[key]
    return out


def tidy_attacks(raw: pd.DataFrame, jobs: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Attack rows + their job's settings + their model's metrics + the generic attack columns."""
    frame = raw.copy()
    settings = {row.job_id: row.settings for row in jobs.itertuples() if row.kind == "attack"}
    frame["model_key"] = [_model_key(settings.get(j, {})) for j in frame["job_id"]]
    known = models.set_index("model_key") if len(models) else pd.DataFrame()
    for column in _SETTING_COLUMNS:
        values = []
        for job, key in zip(frame["job_id"], frame["model_key"], strict=True):
            value = settings.get(job, {}).get(column)
            if value is None and column in known.columns and key in known.index:
                value = known.at[key, column]
            values.append(value)
        frame[column] = values
    for column in _TEXT_COLUMNS:
        frame[column] = [UNKNOWN if _missing_value(v) else str(v) for v in frame[column]]
    frame["steps"] = pd.array([None if _missing_value(v) else int(v) for v in frame["steps"]], dtype="Int64")
    frame["train_seed"] = pd.array([None if _missing_value(v) else int(v) for v in frame["train_seed"]],
                                   dtype="Int64")
    frame["is_spoof"] = frame["attack_type"] != BONA_FIDE
    generic = attack_columns(frame) if len(frame) else pd.DataFrame(
        columns=["pixels", "budget", "budget_field", "setting", "setting_key"])
    for column in generic.columns:
        frame[column] = generic[column]
    metric_columns = [c for c in (*_METRICS, "threshold_source", "evaluated") if c in known.columns]
    for column in metric_columns:
        frame[column] = [known.at[k, column] if k in known.index else np.nan for k in frame["model_key"]]
    return frame


def _model_key(settings: dict[str, Any]) -> str:
    return str(settings.get("train_job") or settings.get("target") or UNKNOWN)


def _missing_value(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ----- models and their metrics -------------------------------------------------------------------------
def metric_values(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """metrics.json -> the report's metric columns, in percent (NaN where absent)."""
    metrics = metrics or {}
    frame = (metrics.get("metrics") or {}).get("frame") or {}
    out: dict[str, Any] = {}
    for column, key in _METRICS.items():
        value = (frame.get(key) or {}).get("value")
        out[column] = 100.0 * float(value) if isinstance(value, int | float) else np.nan
    out["threshold_source"] = metrics.get("threshold_source") or UNKNOWN
    out["evaluated"] = bool(frame)
    return out


def _models(jobs: pd.DataFrame, run_dir: Path, databases: dict[str, DatabaseInfo]) -> pd.DataFrame:
    rows: dict[str, dict[str, Any]] = {}
    for job in jobs.itertuples():
        s = job.settings
        if job.kind == "train":
            rows.setdefault(job.job_id, {}).update(
                {k: s.get(k) for k in ("database", "augment", "steps", "train_seed", "model")},
                model_dir=job.result.get("model_dir"))
        elif job.kind == "evaluate" and s.get("train_job"):
            entry = rows.setdefault(s["train_job"], {k: s.get(k) for k in ("database", "augment", "steps",
                                                                            "train_seed", "model")})
            entry.update(metric_values(job.result.get("metrics")))
    for job in jobs.itertuples():  # `fasrobust attack RUN_DIR`: the model is the run directory's
        if job.kind == "attack" and not job.settings.get("train_job"):
            key = _model_key(job.settings)
            if key not in rows:
                rows[key] = _standalone_model(run_dir, databases)
    frame = pd.DataFrame([{"model_key": k, **v} for k, v in rows.items()])
    if frame.empty:
        return pd.DataFrame(columns=["model_key", "database", "augment", "steps", "train_seed", "model"])
    if "evaluated" not in frame.columns:
        frame["evaluated"] = False
    frame["evaluated"] = frame["evaluated"].fillna(False).astype(bool)
    return frame


def _standalone_model(run_dir: Path, databases: dict[str, DatabaseInfo]) -> dict[str, Any]:
    info = _read_json(run_dir / "model.json")
    faceset = (info.get("training_data") or {}).get("faceset")
    database = None
    if faceset and (Path(faceset) / "faceset.json").is_file():
        fs_info = _read_json(Path(faceset) / "faceset.json")
        database = fs_info.get("database")
        if database and database not in databases:
            databases[database] = DatabaseInfo(database, database, bool(fs_info.get("synthetic")),
                                               Path(faceset), fs_info.get("counts") or {})
    entry = {"database": database, "augment": info.get("augment"), "steps": info.get("steps"),
             "train_seed": info.get("seed"), "model": info.get("model"), "model_dir": str(run_dir)}
    metrics = _read_json(run_dir / "metrics.json")
    return {**entry, **(metric_values(metrics) if metrics else {})}


def _databases(jobs: pd.DataFrame, run_dir: Path) -> dict[str, DatabaseInfo]:
    out = {}
    for job in jobs.itertuples():
        if job.kind != "prepare":
            continue
        name = str(job.settings.get("database") or UNKNOWN)
        path = job.result.get("faceset")
        faceset = None if not path else (Path(path) if Path(path).is_absolute() else run_dir / path)
        out[name] = DatabaseInfo(name, str(job.result.get("database") or name),
                                 bool(job.result.get("synthetic")), faceset, job.result.get("counts") or {})
    return out


# ----- what a partly finished run still lacks ----------------------------------------------------------------
def _missing(plan: dict[str, Any], spec: dict[str, Any], jobs: pd.DataFrame, attacks: pd.DataFrame,
             failures: pd.DataFrame, databases: dict[str, DatabaseInfo]) -> list[str]:
    done = set(jobs["job_id"])
    failed = {row.job_id: row.message for row in failures.itertuples()}
    out = []
    for job in plan.get("jobs") or []:
        if job.get("id") not in done:
            reason = failed.get(job.get("id"))
            out.append(f"{job.get('label') or job.get('id')}: " + (f"failed ({_first_line(reason)})" if reason
                                                                    else "not finished"))
    attack_settings = {row.job_id: row.settings for row in jobs.itertuples() if row.kind == "attack"}
    per_job = attacks.groupby("job_id").size().to_dict() if len(attacks) else {}
    for group in plan.get("attack_groups") or []:
        s = group.get("settings") or {}
        keys = [k for k in s if k not in ("database", "augment", "steps", "train_seed", "model", "train_job")]
        shards = [j for j, js in attack_settings.items()
                  if js.get("train_job") == group.get("train_job") and all(js.get(k) == s.get(k) for k in keys)]
        attacked = sum(per_job.get(j, 0) for j in shards)
        expected = _expected_images(spec, databases.get(str(group.get("database"))))
        if expected is not None and attacked >= expected:
            continue
        if expected is None and attacked > 0:
            continue
        budget_field = group.get("budget_field") or ""
        what = (f"{s.get('attack', 'pixel')} attacks on {group.get('database')} ({s.get('augment')}, "
                f"{s.get('steps')} steps), {s.get('pixels')} px, {s.get(budget_field)} {budget_field}")
        out.append(f"{what}: {attacked} of {expected if expected is not None else '?'} images attacked")
    return out


def _expected_images(spec: dict[str, Any], database: DatabaseInfo | None) -> int | None:
    """How many images the spec's selection attacks in this database's FaceSet (None if unknown)."""
    if database is None or database.faceset is None or not (database.faceset / "meta.csv").is_file():
        return None
    from ..data.faceset import FaceSet
    from ..experiments.attack_job import select_image_ids

    images = spec.get("images") or {}
    try:
        ids = select_image_ids(FaceSet.load(database.faceset), split=images.get("split", "test"),
                               labels=images.get("labels", "spoof"), limit=images.get("limit"),
                               seed=images.get("seed", 0))
    except (FasrobustError, OSError, ValueError):  # an unreadable FaceSet must not stop the report
        return None
    return len(ids)


def _first_line(text: str | None) -> str:
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        value = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return value if isinstance(value, dict) else {}
