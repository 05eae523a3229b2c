"""A results store written by the previous release (schema 2: tests/data/schema2, made by fasrobust d9de4c6
from a small demo-like spec with both attacks and randomized smoothing behind an `eot:2` layer) opens in
this one: migrated to schema 3 in place with every row, a backup beside it, the attack nested as
{name, settings} (the eot layer now the attack's `eot`), and the report built from it shows the numbers the
old release's report showed. The new planner names the migrated shards exactly, so a re-run resumes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fasrobust.experiments.plan import make_plan, shard_jobs
from fasrobust.experiments.spec import ExperimentSpec
from fasrobust.experiments.store import SCHEMA_VERSION, ResultsStore
from fasrobust.report import build_report

FIXTURE = Path(__file__).parent / "data" / "schema2"
#: The old report's tables whose numbers the new report must repeat.
TABLES = ("augmentation-sample-pixel", "augmentation-sample-sparse-rs", "defences-sample-sparse-rs", "attacks-sample")


@pytest.fixture
def old_run(tmp_path) -> Path:
    run = tmp_path / "run"
    (run / "facesets").mkdir(parents=True)
    shutil.copytree(FIXTURE / "faceset", run / "facesets" / "sample")
    for name in ("plan.json", "spec.yaml"):
        shutil.copy(FIXTURE / name, run / name)
    db = sqlite3.connect(run / "results.sqlite")
    db.executescript((FIXTURE / "results.sql").read_text())
    db.close()
    return run


def _count(path: Path, table: str) -> int:
    db = sqlite3.connect(path)
    try:
        return db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    finally:
        db.close()


def test_schema_2_migrates_with_every_row_and_a_backup(old_run):
    before = {t: _count(old_run / "results.sqlite", t) for t in ("jobs", "attacks", "failures")}
    assert before["attacks"] == 30
    with ResultsStore(old_run / "results.sqlite") as store:
        jobs, rows = store.jobs(), store.attacks()
    assert (old_run / "results.schema2-backup.sqlite").is_file()
    assert _count(old_run / "results.schema2-backup.sqlite", "attacks") == 30
    assert {t: _count(old_run / "results.sqlite", t) for t in before} == before
    db = sqlite3.connect(old_run / "results.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    db.close()
    attack_jobs = jobs[jobs["kind"] == "attack"]
    assert set(rows["job_id"]) <= set(attack_jobs["job_id"]), "every row still points at its job"
    for settings in attack_jobs["settings"]:
        assert set(settings["attack"]) == {"name", "settings"} and "eot" in settings["attack"]["settings"]
        assert not any(d["name"] == "eot" for d in settings.get("defences", [])), "a stack is only what is deployed"
        assert "pixels" not in settings, "the attack's settings no longer sit beside the job's keys"
    eot = rows["settings"].map(lambda s: s["eot"])
    smoothed = rows["job_id"].isin(attack_jobs.loc[attack_jobs["settings"].map(lambda s: bool(s.get("defences"))),
                                                   "job_id"])
    assert set(eot[smoothed]) == {2} and set(eot[~smoothed]) == {1}
    assert (rows["answer"] == "score").all() and rows["start_image_id"].isna().all()
    changed = rows["perturbation"].map(lambda p: len({(x, y) for x, y, *_ in p}))
    assert (rows["pixels_changed"] == changed).all()

    with ResultsStore(old_run / "results.sqlite") as store:  # opening it again changes nothing
        assert len(store.attacks()) == 30


def test_the_report_of_a_migrated_store_shows_the_old_reports_numbers(old_run):
    index = build_report(old_run)
    assert index.is_file()
    for name in TABLES:
        old = pd.read_csv(FIXTURE / "tables" / f"{name}.csv")
        new = pd.read_csv(old_run / "report" / "tables" / f"{name}.csv")
        label = old.columns[1] if name.startswith("defences") else old.columns[0]
        old_keys = old[label].astype(str).str.replace(r" \+ eot:(\d+)", r" (attack averaged \1 answers, eot)",
                                                       regex=True)
        assert list(old_keys) == list(new[label].astype(str)), name
        numeric = [c for c in old.columns if c in new.columns and pd.api.types.is_numeric_dtype(old[c])]
        assert len(numeric) >= 5, name
        for column in numeric:
            np.testing.assert_allclose(new[column].to_numpy(float), old[column].to_numpy(float), rtol=1e-9,
                                       atol=1e-9, equal_nan=True, err_msg=f"{name}: {column}")
    report = json.loads((old_run / "report" / "report.json").read_text())
    assert report["attack_rows"] == 30 and report["findings_error"] is None


def test_the_new_planner_names_the_migrated_shards_so_a_rerun_resumes(old_run):
    with ResultsStore(old_run / "results.sqlite") as store:
        jobs = store.jobs()
    migrated = jobs[jobs["kind"] == "attack"]
    data = yaml.safe_load((old_run / "spec.yaml").read_text())
    # The old spec attacked behind "smooth + eot:2"; the same study now says eot on the attack.
    smoothing = next(s for s in data["studies"] if s["name"] == "smoothing")
    smoothing["defences"] = [[d for d in stack if not str(d).startswith("eot")] for stack in smoothing["defences"]]
    smoothing["attacks"][0]["eot"] = [2]
    plan = make_plan(ExperimentSpec.build(data))
    ids = sorted({i for settings in migrated["settings"] for i in settings["image_ids"]})  # every group's six
    planned = {job.id for group in plan.groups for job in shard_jobs(group, ids, plan.spec.images)}
    assert set(migrated["job_id"]) <= planned
