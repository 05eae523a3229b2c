"""The worst case over the attack ensemble (`fasrobust robustness`): each image stops at its first verified
success and later attacks get only the images still standing; the robust recall, its interval and the
attack that broke each image are the stored rows; behind a 3x3 median the structured attack breaks what the
isolated-pixel attack could not, so the worst case is below what the first attack alone reports."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fasrobust.attacks.ensemble import ensemble_attacks
from fasrobust.cli import main
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.errors import ConfigError
from fasrobust.experiments.ensemble import worst_case_rows
from fasrobust.experiments.executors import create_executor
from fasrobust.experiments.plan import make_plan
from fasrobust.experiments.runner import run
from fasrobust.experiments.spec import ExperimentSpec
from fasrobust.experiments.store import ResultsStore
from fasrobust.report import build_report
from fasrobust.report.defence_worst_case import worst_cases
from fasrobust.report.results import load_results
from fasrobust.report.worst_case import worst_case_table

SIZE = 16


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    rng = np.random.default_rng(7)
    images = (128 + rng.integers(-8, 9, (8, SIZE, SIZE, 3))).astype(np.uint8)
    images[6:, 5:8, 5:8] = (255, 0, 255)  # the two live crops: a magenta square the median keeps
    rows = [dict(id=i, label="live" if i >= 6 else "spoof", attack_type="bona_fide" if i >= 6 else "print",
                 subject=f"s{i % 3}", split="test", source=f"v{i}.mov", frame=0, box_x=0, box_y=0, box_w=SIZE,
                 box_h=SIZE, detector="test") for i in range(8)]
    root = tmp_path_factory.mktemp("ensemble") / "faces"
    FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"}).write(root)
    return root


def test_the_ensemble_declares_its_attacks_for_k_and_the_budget():
    names = [(a.name, a.settings.get("pixels"), a.settings.get("side")) for a in ensemble_attacks(9, 400)]
    assert names == [("sparse-rs", 9, None), ("patch", 9, 3), ("pixel", 9, None)]
    assert [a.name for a in ensemble_attacks(5, 30)] == ["sparse-rs", "patch"], "no generation fits 30 queries"
    assert ensemble_attacks(5, 400)[1].settings["pixels"] == 4, "the largest square of at most k pixels"


def test_robustness_behind_a_median_takes_the_worst_case_and_the_report_shows_it(faces, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exit_:
        main(["robustness", "--python", "attack_targets:magenta_scores", "--faceset", str(faces), "--out", str(out),
              "--defence", "median:3", "--pixels", "9", "--queries", "150", "--shard-size", "4"])
    printed, err = capsys.readouterr()
    assert (exit_.value.code or 0) == 0, err
    plan = json.loads((out / "plan.json").read_text())
    (ensemble,) = plan["ensembles"]
    with ResultsStore(out / "results.sqlite") as store:
        rows = store.attacks()
    per_attack = [len(rows[rows["job_id"].isin(a["jobs"])]) for a in ensemble["attacks"]]
    assert per_attack[0] == 6 and per_attack == [a["images"] for a in ensemble["attacks"]]
    assert all(later <= earlier for earlier, later in zip(per_attack, per_attack[1:], strict=False))
    # No image is attacked again once it is broken.
    fooled_ids = [set(rows[rows["job_id"].isin(a["jobs"]) & rows["success"].astype(bool)]["image_id"])
                  for a in ensemble["attacks"]]
    for earlier, later_attack in zip(fooled_ids, ensemble["attacks"][1:], strict=False):
        assert not earlier & set(rows[rows["job_id"].isin(later_attack["jobs"])]["image_id"])
    table = worst_case_table(load_results(out))
    (record,) = table.values.to_dict("records")
    broken = sum(v for k, v in record.items() if k.startswith("Broken first by"))
    assert record["Still caught"] == record["Caught before"] - broken == 6 - sum(len(f) for f in fooled_ids)
    assert record["Broken first by patch"] >= 1, "the square gets through the median"
    assert record["Robust recall"] == pytest.approx(100 * record["Still caught"] / 6)
    assert f"robust recall at 9 pixels, 150 queries per attack: {record['Robust recall']:.2f}%" in printed
    page = build_report(out).read_text()
    assert "Worst case over the attack ensemble" in page


def ensemble_spec(faces, attacks: list[dict]) -> dict:
    return {"name": "ensemble", "databases": [{"name": "unit", "faceset": str(faces)}],
            "grid": {"augment": [], "attacks": attacks, "defences": [["median:3"]]},
            "targets": [{"name": "magenta", "source": "python:attack_targets:magenta_scores", "database": "unit"}],
            "images": {"split": "test", "labels": "spoof", "shard_size": 4},
            "outputs": {"tables": ["augmentation"], "figures": []}}


def test_a_spec_ensemble_entry_plans_the_declared_attacks():
    entry = ExperimentSpec.build(ensemble_spec("/tmp", [{"name": "ensemble", "pixels": [9], "queries": [150]}]))
    written = ExperimentSpec.build(ensemble_spec("/tmp", [
        {"name": a.name, **{k: [v] for k, v in a.settings.items()}} for a in ensemble_attacks(9, 150)]))
    assert [g.key for g in make_plan(entry).groups] == [g.key for g in make_plan(written).groups]
    assert [g.attack.name for g in make_plan(entry).groups] == ["sparse-rs", "patch", "pixel"]


@pytest.mark.parametrize(("entry", "says"), [
    ({"name": "ensemble", "pixels": [9]}, "the ensemble needs queries"),
    ({"name": "ensemble", "pixels": [0], "queries": [150]}, "the ensemble needs pixels"),
    ({"name": "ensemble", "pixels": [9], "queries": [150], "side": [3]}, "the ensemble takes only pixels, queries"),
])
def test_a_bad_ensemble_entry_is_one_line(entry, says):
    with pytest.raises(ConfigError) as error:
        ExperimentSpec.build(ensemble_spec("/tmp", [entry]))
    assert says in str(error.value) and "\n" not in str(error.value)


def test_the_spec_ensemble_finds_the_worst_case_the_robustness_command_measures(faces, tmp_path):
    """Every attack on every image (the spec) and each image stopping at its first success (the command) break
    the same images with the same attack first: per-image streams make an attack's result independent of which
    images it runs beside."""
    with pytest.raises(SystemExit) as exit_:
        main(["robustness", "--python", "attack_targets:magenta_scores", "--faceset", str(faces), "--out",
              str(tmp_path / "one-by-one"), "--defence", "median:3", "--pixels", "9", "--queries", "150",
              "--shard-size", "4"])
    assert (exit_.value.code or 0) == 0
    (ensemble,) = json.loads((tmp_path / "one-by-one" / "plan.json").read_text())["ensembles"]
    with ResultsStore(tmp_path / "one-by-one" / "results.sqlite") as store:
        sequential = store.attacks()
    names = [a["attack"]["name"] for a in ensemble["attacks"]]
    broken = worst_case_rows([(name, sequential[sequential["attack"] == name], None) for name in names],
                             ensemble["image_ids"])["broken_by"]

    spec = ExperimentSpec.build(ensemble_spec(faces, [{"name": "ensemble", "pixels": [9], "queries": [150]}]))
    (tmp_path / "spec").mkdir()
    (tmp_path / "spec" / "plan.json").write_text(json.dumps({"ensembles": [ensemble]}))  # as robustness left it
    with create_executor(workers=0) as executor:
        summary = run(spec, tmp_path / "spec", executor=executor)
    assert not summary.failed, summary.failed
    kept = json.loads((tmp_path / "spec" / "plan.json").read_text())
    assert kept["ensembles"] == [ensemble] and kept["attack_groups"], "a spec run keeps the robustness record"
    (case,) = worst_cases(load_results(tmp_path / "spec"))
    (system,) = case.systems
    assert case.attacks == ["sparse-rs", "patch", "pixel"] and case.attacks[:len(names)] == names
    by_image = dict(zip(system.rows["image_id"].astype(int), system.rows["broken_by"], strict=True))
    assert [by_image[i] for i in ensemble["image_ids"]] == list(broken)
    assert system.broken_by["patch"] >= 1, "the square gets through the median"
    # The isolated-pixel attack alone reports no drop behind the median; the worst case is not vacuous.
    assert system.members["sparse-rs"]["recall_drop"] == 0 < system.worst["recall_drop"]
