"""Systems and databases as frames (report stage, results reader).

A system is one model (a trained one, or a target fasrobust did not train) on one test database behind
one deployed defence stack: the same model undefended, behind median:3 and tested on another database is
three systems, each with its own clean evaluation. Its metrics come from the evaluate job's metrics.json
record (percent, each with its 95 % interval; a missing interval on an old record is Wilson on its counts
for rates), or, for a model folder that `fasrobust attack` wrote into, from that folder's metrics.json."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...experiments.spec import STANDARD_VARIANT
from ...metrics import wilson_interval
from ...paths import resolve_recorded
from .sources import RawRun, faceset_info

UNKNOWN = "unknown"
NO_DEFENCE = "none"
NO_INTERVAL = (np.nan, np.nan)
#: metrics.json (frame level) -> our column, in percent. `hter_fixed` is HTER at the paper's fixed 0.5
#: threshold (the paper's column, beside ACC at 0.5); `hter_eer` at the EER threshold chosen on the dev
#: split of the database the model was trained on (the field's); the rest at 0.5, `eer` and `auc` as named.
#: Each also gets `<column>_ci`, its 95 % interval in percent.
METRIC_KEYS = {"acc": "accuracy", "precision": "precision", "recall_eval": "recall", "apcer": "apcer_fixed",
               "bpcer": "bpcer_fixed", "acer": "acer_fixed", "hter_fixed": "hter_fixed", "hter_eer": "hter_eer",
               "eer": "eer", "auc": "auc"}
#: The rate whose interval, when an old record lacks one, is Wilson on all its test images (the others'
#: denominators are a class or the predictions of one, which an old record does not store).
_RATES = ("acc",)
#: Per system, besides the metrics.
SYSTEM_COLUMNS = ("latency_ratio", "train_database", "eer_threshold", "eval_images", "threshold_source",
                  "evaluated")
#: What identifies a model among the settings of its jobs.
MODEL_SETTINGS = ("database", "augment", "steps", "train_seed", "model", "variant", "target_name")


@dataclass(frozen=True)
class DatabaseInfo:
    name: str  # as the spec and the job settings name it
    source: str  # the database its FaceSet was prepared from (faceset.json 'database')
    synthetic: bool
    faceset: Path | None
    counts: dict[str, Any] = field(default_factory=dict)


def metric_column_names() -> list[str]:
    """The per-system columns copied onto every attack row: each metric, its interval, the rest."""
    return [*(c for m in METRIC_KEYS for c in (m, f"{m}_ci")), *SYSTEM_COLUMNS]


def system_key(model_key: str, database: Any, defence: str) -> str:
    return json.dumps([str(model_key), UNKNOWN if missing(database) else str(database), str(defence)])


def missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def describe_defences(stack: list[dict[str, Any]]) -> str:
    """"median:3 + jpeg:75"; "none" when empty; a stack this fasrobust cannot parse, as it was stored."""
    if not stack:
        return NO_DEFENCE
    from ...defences import describe_stack, parse_stack
    from ...errors import FasrobustError

    try:
        return str(describe_stack(parse_stack(stack)))
    except (FasrobustError, ValueError, TypeError):
        return " + ".join(":".join([str(d.get("name", UNKNOWN)), *(str(v) for k, v in d.items() if k != "name")])
                          for d in stack)


def job_stack(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """A job's deployed defence stack (an old evaluate job never held the attacker's eot)."""
    stack = settings.get("defences") or []
    return [dict(d) for d in stack if isinstance(d, dict) and d.get("name") != "eot"] if isinstance(stack, list) else []


def model_key(settings: dict[str, Any]) -> str:
    system = settings.get("system") or {}
    return str(system.get("train_job") or settings.get("train_job") or settings.get("target") or UNKNOWN)


def job_system(settings: dict[str, Any]) -> dict[str, Any]:
    """The attacked model's identity in an attack job's settings (nested since schema 3; flat before)."""
    system = settings.get("system")
    return dict(system) if isinstance(system, dict) else {k: settings[k] for k in
                                                          (*MODEL_SETTINGS, "train_job", "train_database")
                                                          if k in settings}


# ----- metrics -----------------------------------------------------------------------------------------------
def metric_values(record: dict[str, Any] | None) -> dict[str, Any]:
    """metrics.json -> the metric columns, in percent (NaN where absent), each with its 95 % interval."""
    record = record or {}
    frame = (record.get("metrics") or {}).get("frame") or {}
    counts = (((record.get("counts") or {}).get("frame") or {}).get("test") or {})
    n = int(sum(v for v in counts.values() if isinstance(v, int | float))) if counts else 0
    out: dict[str, Any] = {}
    for column, key in METRIC_KEYS.items():
        entry = frame.get(key) or {}
        value = entry.get("value")
        out[column] = 100.0 * float(value) if isinstance(value, int | float) else np.nan
        interval = _percent_interval(entry.get("interval"))
        if math.isnan(interval[0]) and column in _RATES and n and not math.isnan(out[column]):
            interval = _percent_interval(wilson_interval(round(out[column] / 100 * n), n))
        out[f"{column}_ci"] = interval
    threshold = (frame.get("hter_eer") or {}).get("threshold")
    out["eer_threshold"] = float(threshold) if isinstance(threshold, int | float) else np.nan
    out["eval_images"] = n or np.nan
    out["threshold_source"] = record.get("threshold_source") or UNKNOWN
    out["evaluated"] = bool(frame)
    return out


def _percent_interval(interval: Any) -> tuple[float, float]:
    numbers = isinstance(interval, list | tuple) and all(isinstance(v, int | float) for v in interval)
    if numbers and len(interval) == 2:
        return 100.0 * float(interval[0]), 100.0 * float(interval[1])
    return NO_INTERVAL


# ----- databases ---------------------------------------------------------------------------------------------
def databases(raw: RawRun) -> dict[str, DatabaseInfo]:
    """Every database a prepare job made ready (or, for a model folder, the one its model was trained on)."""
    out = {}
    for job in raw.jobs.itertuples():
        if job.kind != "prepare":
            continue
        name = str(job.settings.get("database") or UNKNOWN)
        path = job.result.get("faceset")
        out[name] = DatabaseInfo(name, str(job.result.get("database") or name), bool(job.result.get("synthetic")),
                                 raw.layout.path(path) if path else None, job.result.get("counts") or {})
    standalone = _standalone_faceset(raw)
    if standalone is not None:
        info = faceset_info(standalone)
        name = str(info.get("database") or UNKNOWN)
        out.setdefault(name, DatabaseInfo(name, name, bool(info.get("synthetic")), standalone,
                                          info.get("counts") or {}))
    return out


def _standalone_faceset(raw: RawRun) -> Path | None:
    recorded = (raw.model_info.get("training_data") or {}).get("faceset")
    if not recorded:
        return None
    path = resolve_recorded(recorded, base=raw.layout.root)
    return path if (path / "faceset.json").is_file() else None


# ----- systems -----------------------------------------------------------------------------------------------
def systems(raw: RawRun, known: dict[str, DatabaseInfo]) -> pd.DataFrame:
    """One row per system (see the module doc): every trained model on its own database undefended, every
    evaluation (defended, cross-database), every attacked system even without an evaluation."""
    rows: dict[str, dict[str, Any]] = {}

    def system(key: str, props: dict[str, Any], stack: list[dict[str, Any]]) -> dict[str, Any]:
        defence = describe_defences(stack)
        entry = rows.setdefault(system_key(key, props.get("database"), defence),
                                {"model_key": key, "defence": defence, "defences": stack, "train_database": None,
                                 "evaluated": False})
        for k, v in props.items():
            if entry.get(k) is None:
                entry[k] = v
        return entry

    trained = {}
    for job in raw.jobs.itertuples():
        if job.kind == "train":
            trained[job.job_id] = {k: job.settings.get(k) for k in MODEL_SETTINGS}
            system(job.job_id, {**trained[job.job_id], "model_dir": job.result.get("model_dir")}, [])
    for job in raw.jobs.itertuples():
        s = job.settings
        if job.kind == "evaluate" and s.get("train_job"):
            props = {**trained.get(s["train_job"], {}), **{k: s[k] for k in MODEL_SETTINGS if s.get(k) is not None}}
            entry = system(s["train_job"], props, job_stack(s))
            latency = (job.result.get("latency") or {}).get("ratio")
            entry.update(metric_values(job.result.get("metrics")), train_database=s.get("train_database") or None,
                         latency_ratio=float(latency) if isinstance(latency, int | float) else np.nan)
    for job in raw.jobs.itertuples():  # attacked systems; `fasrobust attack RUN_DIR`: the folder's model
        if job.kind != "attack":
            continue
        key, identity = model_key(job.settings), job_system(job.settings)
        if not identity and not any(r["model_key"] == key for r in rows.values()):
            identity = _standalone_model(raw, known)
        entry = system(key, {k: identity.get(k) for k in (*MODEL_SETTINGS, "model_dir")}, job_stack(job.settings))
        entry["train_database"] = entry.get("train_database") or identity.get("train_database") or None
        if not identity.get("train_job") and raw.model_metrics and not entry.get("evaluated"):
            entry.update(metric_values(raw.model_metrics))
    return _system_frame(list(rows.items()))


def _standalone_model(raw: RawRun, known: dict[str, DatabaseInfo]) -> dict[str, Any]:
    info = raw.model_info
    standalone = _standalone_faceset(raw)
    database = next((name for name, db in known.items() if standalone is not None and db.faceset == standalone), None)
    return {"database": database, "augment": info.get("augment"), "steps": info.get("steps"),
            "train_seed": info.get("seed"), "model": info.get("model"), "model_dir": str(raw.layout.root)}


def _system_frame(items: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    frame = pd.DataFrame([{"system_key": k, **v} for k, v in items])
    if frame.empty:
        frame = pd.DataFrame(columns=["system_key", "model_key", "database", "defence", "defences", "augment",
                                      "steps", "train_seed", "model", "variant", "model_dir"])
    for column in metric_column_names():
        if column not in frame.columns:
            frame[column] = [NO_INTERVAL] * len(frame) if column.endswith("_ci") else np.nan
        elif column.endswith("_ci"):
            frame[column] = [v if isinstance(v, tuple) else NO_INTERVAL for v in frame[column]]
    for column in MODEL_SETTINGS:
        if column not in frame.columns:
            frame[column] = None
    frame["evaluated"] = frame["evaluated"].fillna(False).astype(bool)
    frame["threshold_source"] = [UNKNOWN if missing(v) else v for v in frame["threshold_source"]]
    frame["train_database"] = [None if missing(v) else str(v) for v in frame["train_database"]]
    frame["variant"] = [STANDARD_VARIANT if missing(v) else str(v) for v in frame["variant"]]
    return frame
