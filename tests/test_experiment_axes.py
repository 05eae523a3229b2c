"""The experiment grid's newer axes, planned and run for real: defence stacks (a model attacked and evaluated
behind each), cross-database studies (trained on one FaceSet, evaluated and attacked on another at the
training database's threshold), training variants (a training-time defence) and a study's own image
selection. Adding an axis must not change the ids of the jobs a spec without it plans."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fasrobust.attacks.eot import AUTO_DRAWS
from fasrobust.errors import ConfigError
from fasrobust.experiments.executors import create_executor
from fasrobust.experiments.plan import JobKind, make_plan
from fasrobust.experiments.runner import run
from fasrobust.experiments.spec import ExperimentSpec
from fasrobust.experiments.store import ResultsStore
from fasrobust.report import build_report
from test_runner import spec_data, tiny_faceset


def _spec(faceset: Path, **changes) -> dict:
    data = spec_data(faceset)
    data["grid"] = {"augment": ["none"], "steps": [20],
                    "attacks": [{"name": "sparse-rs", "pixels": [3], "queries": [60]}]}
    data["outputs"] = {"tables": ["augmentation"], "figures": []}
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def facesets(tmp_path_factory):
    base = tmp_path_factory.mktemp("axes")
    return tiny_faceset(base / "a"), _shifted(tiny_faceset(base / "b-source"), base / "b")


def _shifted(source: Path, out: Path) -> Path:
    """The same kind of faces seen by another camera: darker and with a colour cast (a domain shift)."""
    from fasrobust.data.faceset import FaceSet

    faces = FaceSet.load(source)
    shifted = np.clip(faces.images.astype(np.int16) * np.array([0.8, 0.9, 1.0]) - 10, 0, 255).astype(np.uint8)
    FaceSet(shifted, faces.meta, {"database": "unit-test-b"}).write(out)
    return out


def _ids(plan, kind: JobKind) -> set[str]:
    return {j.id for j in plan.jobs.values() if j.kind is kind}


def test_defence_axis_plans_one_evaluation_per_deployed_stack_and_eot_for_randomized_ones(facesets):
    plain = make_plan(ExperimentSpec.build(_spec(facesets[0])))
    data = _spec(facesets[0])
    data["grid"]["defences"] = [[], ["median:3"], ["smooth:sigma=4,n=3"]]
    defended = make_plan(ExperimentSpec.build(data))
    assert _ids(plain, JobKind.TRAIN) == _ids(defended, JobKind.TRAIN)
    assert _ids(plain, JobKind.EVALUATE) < _ids(defended, JobKind.EVALUATE)
    stacks = [j.settings.get("defences") for j in defended.jobs.values() if j.kind is JobKind.EVALUATE]
    assert sorted(json.dumps(s) for s in stacks) == sorted(json.dumps(s) for s in (
        None, [{"name": "median", "size": 3}], [{"name": "smooth", "sigma": 4.0, "n": 3, "vote": "mean", "seed": 0}]))
    assert len(defended.groups) == 3 * len(plain.groups)
    assert {g.key for g in plain.groups} <= {g.key for g in defended.groups}
    # An attack that leaves eot unset averages a randomized pipeline's answers, and asks a deterministic one once.
    draws = {tuple(d["name"] for d in g.defences): g.attack.settings["eot"] for g in defended.groups}
    assert draws == {(): 1, ("median",): 1, ("smooth",): AUTO_DRAWS}
    data["grid"]["attacks"][0]["eot"] = [2]  # ... and what it is told, everywhere
    told = make_plan(ExperimentSpec.build(data))
    assert {g.attack.settings["eot"] for g in told.groups} == {2}


def test_cross_database_study_evaluates_on_the_test_database_with_the_training_threshold(facesets):
    data = _spec(facesets[0], databases=[{"name": "a", "faceset": str(facesets[0])},
                                         {"name": "b", "faceset": str(facesets[1])}])
    data["studies"] = [{"name": "cross", "databases": ["a"], "test_databases": ["a", "b"]}]
    plan = make_plan(ExperimentSpec.build(data))
    evaluations = [j for j in plan.jobs.values() if j.kind is JobKind.EVALUATE]
    assert sorted(j.settings["database"] for j in evaluations) == ["a", "b"]
    cross = next(j for j in evaluations if j.settings["database"] == "b")
    assert cross.settings["train_database"] == "a"
    assert cross.inputs["threshold_faceset"] == str(facesets[0].resolve())
    assert cross.inputs["faceset"] == str(facesets[1].resolve())
    groups = {g.database: g for g in plan.groups}
    assert groups["b"].model.identity["train_database"] == "a" and "train_database" not in groups["a"].model.identity
    assert groups["b"].inputs["faceset"] == str(facesets[1].resolve())


def test_a_study_with_its_own_image_selection_gets_groups_of_its_own(facesets):
    data = _spec(facesets[0])
    data["studies"] = [{"name": "many"}, {"name": "few", "images": {"limit": 3}}]
    plan = make_plan(ExperimentSpec.build(data))
    assert len(plan.groups) == 2
    few = next(g for g in plan.groups if g.selection is not None)
    assert few.selection.limit == 3 and few.studies == ("few",)


@pytest.mark.parametrize(("change", "key"), [
    ({"grid": {"defences": [[], ["meadian:3"]]}}, "grid.defences.1"),
    ({"grid": {"defences": [[], ["jpeg:0"]]}}, "grid.defences.1"),
    ({"grid": {"defences": [["median:3", "eot:2"]]}}, "grid.defences.0"),
    ({"studies": [{"name": "x", "test_databases": ["nowhere"]}]}, "studies.0.test_databases"),
    ({"studies": [{"name": "x", "variant": ["nosuch"]}]}, "studies.0.variant"),
    ({"variants": [{"name": "v", "training": {"lr": -1}}]}, "variants.0.training"),
    ({"studies": [{"name": "x", "images": {"limit": 0}}]}, "studies.0.images"),
])
def test_bad_axes_are_one_line_naming_the_key(facesets, change, key):
    data = _spec(facesets[0])
    for name, value in change.items():
        data[name] = {**data[name], **value} if name == "grid" else value
    with pytest.raises(ConfigError) as caught:
        ExperimentSpec.build(data)
    assert key in str(caught.value) and "\n" not in str(caught.value)


def test_a_variant_trains_another_model_and_the_standard_one_keeps_its_id(facesets):
    plain = make_plan(ExperimentSpec.build(_spec(facesets[0])))
    data = _spec(facesets[0], variants=[{"name": "slow", "training": {"lr": 0.001}}])
    data["studies"] = [{"name": "main"}, {"name": "slow", "variant": ["slow"]}]
    plan = make_plan(ExperimentSpec.build(data))
    trains = [j for j in plan.jobs.values() if j.kind is JobKind.TRAIN]
    assert _ids(plain, JobKind.TRAIN) < {j.id for j in trains} and len(trains) == 2
    slow = next(j for j in trains if j.settings.get("variant") == "slow")
    assert slow.inputs["train"]["lr"] == 0.001 and "slow" in slow.inputs["model_dir"]


def test_defended_and_cross_database_run_end_to_end(facesets, tmp_path):
    """Both axes through the real runner: every stored success re-verifies through its own pipeline, a
    defended evaluation records its latency ratio, the cross evaluation keeps the training threshold."""
    data = _spec(facesets[0], databases=[{"name": "a", "faceset": str(facesets[0])},
                                         {"name": "b", "faceset": str(facesets[1])}])
    data["grid"]["defences"] = [[], ["median:3"]]
    data["studies"] = [{"name": "cross", "databases": ["a"], "test_databases": ["a", "b"], "defences": [[]]},
                       {"name": "defended", "databases": ["a"]}]
    spec = ExperimentSpec.build(data)
    with create_executor(workers=0, threads=1) as executor:
        summary = run(spec, tmp_path / "run", executor=executor)
    assert not summary.failed and not summary.blocked, summary.failed
    with ResultsStore(tmp_path / "run" / "results.sqlite") as store:
        jobs, attacks = store.jobs(), store.attacks()
    evaluations = jobs[jobs["kind"] == "evaluate"]
    assert len(evaluations) == 3
    defended = [r for s, r in zip(evaluations["settings"], evaluations["result"], strict=True) if s.get("defences")]
    assert len(defended) == 1 and defended[0]["latency"]["ratio"] > 0
    cross = next(r for s, r in zip(evaluations["settings"], evaluations["result"], strict=True)
                 if s.get("train_database") == "a")
    own = next(r for s, r in zip(evaluations["settings"], evaluations["result"], strict=True)
               if s["database"] == "a" and not s.get("defences"))
    frame = "frame"
    assert (cross["metrics"]["metrics"][frame]["hter_eer"]["threshold"]
            == own["metrics"]["metrics"][frame]["hter_eer"]["threshold"])
    settings = {j: s for j, s in zip(jobs["job_id"], jobs["settings"], strict=True)}
    stacks = {json.dumps(settings[j].get("defences", [])) for j in attacks["job_id"]}
    assert stacks == {"[]", json.dumps([{"name": "median", "size": 3}])}
    assert {settings[j]["system"]["database"] for j in attacks["job_id"]} == {"a", "b"}
    successes = attacks[attacks["success"] & ~attacks["already_live"]]
    assert successes["verified"].all()


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*may ignore its input")  # a 10-step tiny model: what is tested is the plumbing
def test_a_cross_database_study_runs_end_to_end_on_two_tiny_sample_databases(tmp_path, monkeypatch):
    """`fasrobust run` on two tiny SYNTHETIC sample databases from two simulated sites (domain a, and b
    with another seed): each model is evaluated and attacked on both, the cross cells at the training
    database's threshold, and the report carries the cross-database tables."""
    monkeypatch.setenv("FASROBUST_CACHE", str(tmp_path / "cache"))
    tiny = {"database": "sample", "frames_per_video": 2, "detector": "annotations", "size": 16}
    data = {"name": "cross", "synthetic": True,
            "databases": [{"name": "site-a", "prepare": {**tiny, "reader_options": {"subjects": 3, "frames": 2}}},
                          {"name": "site-b", "prepare": {**tiny, "reader_options": {"subjects": 3, "frames": 2,
                                                                                    "seed": 1, "domain": "b"}}}],
            "model": {"model": "tiny-cnn"},
            "training": {"batch_size": 8, "optimizer": "adam", "lr": 0.02, "eval_every": 0, "checkpoint_every": 0},
            "grid": {"augment": ["none"], "steps": [10],
                     "attacks": [{"name": "sparse-rs", "pixels": [3], "queries": [30]}]},
            "studies": [{"name": "cross", "test_databases": ["site-a", "site-b"]}],
            "images": {"limit": 4, "shard_size": 4},
            "outputs": {"tables": ["augmentation"], "figures": []}}
    spec = ExperimentSpec.build(data)
    with create_executor(workers=0, threads=1) as executor:
        summary = run(spec, tmp_path / "run", executor=executor)
    assert not summary.failed and not summary.blocked, summary.failed
    build_report(tmp_path / "run")
    with ResultsStore(tmp_path / "run" / "results.sqlite") as store:
        jobs = store.jobs()
    evaluations = jobs[jobs["kind"] == "evaluate"]
    pairs = sorted((s.get("train_database", s["database"]), s["database"]) for s in evaluations["settings"])
    assert pairs == [("site-a", "site-a"), ("site-a", "site-b"), ("site-b", "site-a"), ("site-b", "site-b")]
    thresholds = {(s.get("train_database", s["database"]), s["database"]):
                  r["metrics"]["metrics"]["frame"]["hter_eer"]["threshold"]
                  for s, r in zip(evaluations["settings"], evaluations["result"], strict=True)}
    assert thresholds[("site-a", "site-b")] == thresholds[("site-a", "site-a")]
    assert thresholds[("site-b", "site-a")] == thresholds[("site-b", "site-b")]
    attacked = {(s["system"].get("train_database", s["system"]["database"]), s["system"]["database"])
                for s in jobs[jobs["kind"] == "attack"]["settings"]}
    assert attacked == set(pairs)
    tables = sorted(p.name for p in (tmp_path / "run" / "report" / "tables").glob("cross-database*.md"))
    assert tables and "SYNTHETIC" in (tmp_path / "run" / "report" / "tables" / tables[0]).read_text()
