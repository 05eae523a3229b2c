"""The report's data layer: everything in a run directory's results store as tidy tables.

Report stage, first step: results.sqlite (+ spec.yaml, plan.json, the FaceSets' faceset.json) ->
`RunData`: one row per attacked image joined with the settings of the job that attacked it (database,
augmentation, training steps, model, defence stack, training database, the attack and its settings) and
the evaluation metrics of the system it attacked; one row per evaluated system; what the plan still lacks.
Nothing is recomputed: tables, figures and the HTML page are rendered from these frames only.

A "system" (a row of `RunData.models`) is one trained model (train_job, or the target of a standalone
attack) on one test database behind one defence stack: the same model undefended, behind median:3 and
tested on another database is three rows, each with its own metrics. An attack row carries the deployed
stack as attacked in `defence` ("none" when undefended; "noise:0.1 + eot:4" when the attack averaged
4 noise draws, expectation over transformation, also in `eot_draws`, 0 without) and the deployed stack
without the attacker's part in `deployed_defence`, which names the system its metrics come from.

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
from ..experiments.spec import STANDARD_VARIANT
from ..experiments.store import ResultsStore
from ..labels import BONA_FIDE
from ..paths import resolve_recorded
from .columns import UNKNOWN

STORE_FILE = "results.sqlite"
#: Job settings copied onto every attack row (the row itself holds the attack, its settings, its budget).
_SETTING_COLUMNS = ("database", "augment", "steps", "train_seed", "model", "variant", "labels")
_TEXT_COLUMNS = ("database", "augment", "model", "labels")
#: metrics.json (frame level) -> our column, in percent. `hter_fixed` is HTER at the paper's fixed 0.5
#: threshold (the paper's column, beside ACC at 0.5); `hter_eer` at the EER threshold chosen on the dev
#: split of the database the model was trained on (the field's); the rest at 0.5, `eer` and `auc` as named.
#: Each also gets `<column>_ci`, its 95 % interval in percent (NaN, NaN when the run stored none).
METRIC_KEYS = {"acc": "accuracy", "precision": "precision", "recall_eval": "recall", "apcer": "apcer_fixed",
               "bpcer": "bpcer_fixed", "acer": "acer_fixed", "hter_fixed": "hter_fixed", "hter_eer": "hter_eer",
               "eer": "eer", "auc": "auc"}
NO_INTERVAL = (np.nan, np.nan)
NO_DEFENCE = "none"
#: The attacker-side entry of a stack: the attack averaged this many noise draws of a randomized defence.
EOT = "eot"
#: Per system, besides the metrics: the latency of a defended evaluation and the model's training database.
_SYSTEM_COLUMNS = ("latency_ratio", "train_database", "eer_threshold", "eval_images", "threshold_source",
                   "evaluated")


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
    """Attack rows + their job's settings (model, defence stack, training database) + the metrics of the
    system they attacked + the generic attack columns + `model_queries` (queries of the model behind
    the defence: more than `queries` where a defence calls the model several times per query)."""
    frame = raw.copy()
    settings = {row.job_id: row.settings for row in jobs.itertuples() if row.kind == "attack"}
    job_settings = [settings.get(j, {}) for j in frame["job_id"]]
    frame["model_key"] = [_model_key(s) for s in job_settings]
    named = {j: (describe_defences(_stack(s)), describe_defences(deployed_stack(_stack(s))))
             for j, s in settings.items()}  # once per job: a run has far fewer jobs than attacked images
    stacks = [_stack(s) for s in job_settings]
    frame["defences"] = stacks
    frame["defence"] = [named.get(j, (NO_DEFENCE,))[0] for j in frame["job_id"]]
    frame["deployed_defence"] = [named.get(j, (NO_DEFENCE, NO_DEFENCE))[1] for j in frame["job_id"]]
    frame["eot_draws"] = [eot_draws(stack) for stack in stacks]
    frame["train_database"] = [s.get("train_database") or None for s in job_settings]
    by_model = models.drop_duplicates("model_key").set_index("model_key") if len(models) else pd.DataFrame()
    for column in _SETTING_COLUMNS:
        values = []
        for job, key in zip(job_settings, frame["model_key"], strict=True):
            value = job.get(column)
            if value is None and column in by_model.columns and key in by_model.index:
                value = by_model.at[key, column]
            values.append(value)
        frame[column] = values
    for column in _TEXT_COLUMNS:
        frame[column] = [UNKNOWN if _missing_value(v) else str(v) for v in frame[column]]
    frame["variant"] = [STANDARD_VARIANT if _missing_value(v) else str(v) for v in frame["variant"]]
    frame["steps"] = pd.array([None if _missing_value(v) else int(v) for v in frame["steps"]], dtype="Int64")
    frame["train_seed"] = pd.array([None if _missing_value(v) else int(v) for v in frame["train_seed"]],
                                   dtype="Int64")
    frame["is_spoof"] = frame["attack_type"] != BONA_FIDE
    frame["model_queries"] = [int((extra or {}).get("model_queries", q))
                              for extra, q in zip(frame["extra"], frame["queries"], strict=True)]
    generic = attack_columns(frame) if len(frame) else pd.DataFrame(
        columns=["pixels", "budget", "budget_field", "setting", "setting_key"])
    for column in generic.columns:
        frame[column] = generic[column]
    frame["system_key"] = [system_key(*k) for k in zip(frame["model_key"], frame["database"],
                                                       frame["deployed_defence"], strict=True)]
    known = models.set_index("system_key") if len(models) else pd.DataFrame()
    metric_columns = [c for c in metric_column_names() if c in known.columns and c != "train_database"]
    for column in metric_columns:
        missing = NO_INTERVAL if column.endswith("_ci") else np.nan
        frame[column] = [known.at[k, column] if k in known.index else missing for k in frame["system_key"]]
    return frame


def metric_column_names() -> list[str]:
    """The per-system columns copied onto every attack row: each metric, its interval, the rest."""
    return [*(c for m in METRIC_KEYS for c in (m, f"{m}_ci")), *_SYSTEM_COLUMNS]


def system_key(model_key: str, database: Any, defence: str) -> str:
    """One evaluated system: a model on a test database behind a defence stack (see the module doc)."""
    return json.dumps([str(model_key), UNKNOWN if _missing_value(database) else str(database), str(defence)])


def _model_key(settings: dict[str, Any]) -> str:
    return str(settings.get("train_job") or settings.get("target") or UNKNOWN)


def _missing_value(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


# ----- defence stacks --------------------------------------------------------------------------------------
def _stack(settings: dict[str, Any]) -> list[dict[str, Any]]:
    stack = settings.get("defences") or []
    return [dict(d) for d in stack if isinstance(d, dict)] if isinstance(stack, list) else []


def deployed_stack(stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The defences a system deploys: the stack without the attacker's expectation over transformation."""
    return [d for d in stack if d.get("name") != EOT]


def eot_draws(stack: list[dict[str, Any]]) -> int:
    """How many noise draws the attack averaged (0: none)."""
    return max((int(d.get("draws") or 0) for d in stack if d.get("name") == EOT), default=0)


def describe_defences(stack: list[dict[str, Any]]) -> str:
    """ "median:3 + jpeg:75", "none" when empty: `fasrobust.defences.describe_stack` where it exists."""
    if not stack:
        return NO_DEFENCE
    try:
        from ..defences import describe_stack, parse_stack

        return str(describe_stack(parse_stack(stack)))
    except (ImportError, FasrobustError, ValueError, TypeError):
        # a stack this fasrobust cannot parse (stored by another version): still named, as it was stored
        return " + ".join(_describe_one(d) for d in stack)


def _describe_one(defence: dict[str, Any]) -> str:
    values = [str(v) for k, v in defence.items() if k != "name"]
    return ":".join([str(defence.get("name", UNKNOWN)), *values])


# ----- models and their metrics -------------------------------------------------------------------------
def metric_values(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """metrics.json -> the report's metric columns, in percent (NaN where absent), each with its 95 %
    interval (`<column>_ci`, NaN where the record has none: runs before intervals were stored)."""
    metrics = metrics or {}
    frame = (metrics.get("metrics") or {}).get("frame") or {}
    out: dict[str, Any] = {}
    for column, key in METRIC_KEYS.items():
        entry = frame.get(key) or {}
        value = entry.get("value")
        out[column] = 100.0 * float(value) if isinstance(value, int | float) else np.nan
        out[f"{column}_ci"] = _percent_interval(entry.get("interval"))
    threshold = (frame.get("hter_eer") or {}).get("threshold")
    out["eer_threshold"] = float(threshold) if isinstance(threshold, int | float) else np.nan
    counts = (((metrics.get("counts") or {}).get("frame") or {}).get("test") or {})
    out["eval_images"] = int(sum(counts.values())) if counts else np.nan
    out["threshold_source"] = metrics.get("threshold_source") or UNKNOWN
    out["evaluated"] = bool(frame)
    return out


def _percent_interval(interval: Any) -> tuple[float, float]:
    numbers = isinstance(interval, list | tuple) and all(isinstance(v, int | float) for v in interval)
    if numbers and len(interval) == 2:
        return 100.0 * float(interval[0]), 100.0 * float(interval[1])
    return NO_INTERVAL


_MODEL_SETTINGS = ("database", "augment", "steps", "train_seed", "model", "variant")


def _models(jobs: pd.DataFrame, run_dir: Path, databases: dict[str, DatabaseInfo]) -> pd.DataFrame:
    """One row per system (see the module doc): every trained model on its own database undefended,
    every evaluation (defended, cross-database), every attacked system even without an evaluation."""
    rows: dict[str, dict[str, Any]] = {}

    def system(model_key: str, props: dict[str, Any], defences: list[dict[str, Any]]) -> dict[str, Any]:
        defence = describe_defences(defences)
        entry = rows.setdefault(system_key(model_key, props.get("database"), defence),
                                {"model_key": model_key, "defence": defence, "defences": defences,
                                 "train_database": None, "evaluated": False})
        for k, v in props.items():
            if entry.get(k) is None:
                entry[k] = v
        return entry

    trained = {}
    for job in jobs.itertuples():
        if job.kind == "train":
            trained[job.job_id] = {k: job.settings.get(k) for k in _MODEL_SETTINGS}
            system(job.job_id, {**trained[job.job_id], "model_dir": job.result.get("model_dir")}, [])
    for job in jobs.itertuples():
        s = job.settings
        if job.kind == "evaluate" and s.get("train_job"):
            given = {k: s[k] for k in _MODEL_SETTINGS if s.get(k) is not None}
            props = {**trained.get(s["train_job"], {}), **given}
            entry = system(s["train_job"], props, deployed_stack(_stack(s)))
            latency = (job.result.get("latency") or {}).get("ratio")
            entry.update(metric_values(job.result.get("metrics")), train_database=s.get("train_database") or None,
                         latency_ratio=float(latency) if isinstance(latency, int | float) else np.nan)
    for job in jobs.itertuples():  # attacked systems; `fasrobust attack RUN_DIR`: the run directory's model
        if job.kind != "attack":
            continue
        key = _model_key(job.settings)
        known = [r for r in rows.values() if r["model_key"] == key]
        if not known and not job.settings.get("train_job"):
            standalone = _standalone_model(run_dir, databases)
            known = [system(key, standalone, [])]
            known[0].update(standalone)
        props = {k: v for k, v in (known[0] if known else {}).items()
                 if k in (*_MODEL_SETTINGS, "model_dir") and not (k == "database" and job.settings.get(k))}
        props.update({k: job.settings[k] for k in _MODEL_SETTINGS if job.settings.get(k) is not None})
        entry = system(key, props, deployed_stack(_stack(job.settings)))
        entry["train_database"] = entry.get("train_database") or job.settings.get("train_database") or None
    frame = pd.DataFrame([{"system_key": k, **v} for k, v in rows.items()])
    if frame.empty:
        return pd.DataFrame(columns=["system_key", "model_key", "database", "defence", "augment", "steps",
                                     "train_seed", "model", "evaluated"])
    for column in metric_column_names():
        if column not in frame.columns:
            frame[column] = [NO_INTERVAL] * len(frame) if column.endswith("_ci") else np.nan
        elif column.endswith("_ci"):
            frame[column] = [v if isinstance(v, tuple) else NO_INTERVAL for v in frame[column]]
    frame["evaluated"] = frame["evaluated"].fillna(False).astype(bool)
    frame["threshold_source"] = [UNKNOWN if _missing_value(v) else v for v in frame["threshold_source"]]
    frame["train_database"] = [None if _missing_value(v) else str(v) for v in frame["train_database"]]
    frame["variant"] = [STANDARD_VARIANT if _missing_value(v) else str(v)
                        for v in frame.get("variant", [None] * len(frame))]
    return frame


def _standalone_model(run_dir: Path, databases: dict[str, DatabaseInfo]) -> dict[str, Any]:
    info = _read_json(run_dir / "model.json")
    recorded = (info.get("training_data") or {}).get("faceset")
    faceset = resolve_recorded(recorded, base=run_dir) if recorded else None
    database = None
    if faceset and (faceset / "faceset.json").is_file():
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
        keys = [k for k in s if k not in ("database", "augment", "steps", "train_seed", "model", "train_job",
                                          "defences")]
        # the same stack too: an undefended group must not count the shards of its defended twins
        shards = [j for j, js in attack_settings.items()
                  if js.get("train_job") == group.get("train_job") and _stack(js) == _stack(s)
                  and all(js.get(k) == s.get(k) for k in keys)]
        attacked = sum(per_job.get(j, 0) for j in shards)
        expected = _expected_images(spec, databases.get(str(group.get("database"))))
        if expected is not None and attacked >= expected:
            continue
        if expected is None and attacked > 0:
            continue
        budget_field = group.get("budget_field") or ""
        stack = _stack(s)
        behind = f" behind {describe_defences(stack)}" if stack else ""
        trained = f", trained on {s['train_database']}" if s.get("train_database") else ""
        what = (f"{s.get('attack', 'pixel')} attacks on {group.get('database')} ({s.get('augment')}, "
                f"{s.get('steps')} steps{trained}){behind}, {s.get('pixels')} px, {s.get(budget_field)} "
                f"{budget_field}")
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
