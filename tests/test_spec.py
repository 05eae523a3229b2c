"""Experiment specs and plans: presets validate and expand to the paper's grid; bad specs are one line
naming the key; job ids are deterministic and a model is trained once for every attack setting."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from fasrobust.errors import ConfigError
from fasrobust.experiments.plan import JobKind, make_plan
from fasrobust.experiments.spec import ExperimentSpec, available_presets


def minimal(**changes) -> dict:
    spec = {"name": "t", "databases": [{"name": "replay-attack", "prepare": {"root": "/data/replay"}}],
            "grid": {"augment": ["none", "all"], "steps": [100],
                     "attacks": [{"name": "pixel", "pixels": [1, 9], "iterations": [10, 20]}]},
            "outputs": {"tables": ["augmentation"], "figures": ["pixels", "iterations", "trajectories"]}}
    spec.update(changes)
    return spec


def load(tmp_path, data: dict) -> ExperimentSpec:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return ExperimentSpec.load(path)


@pytest.mark.parametrize("name", available_presets())
def test_every_preset_validates_and_plans(name):
    spec = ExperimentSpec.preset(name, data_root="/licensed/databases")
    plan = make_plan(spec)
    assert plan.jobs and plan.groups
    assert {"paper", "paper-small", "demo"} <= set(available_presets())


def test_paper_preset_is_the_published_grid():
    with pytest.raises(ConfigError, match=r"databases.0.prepare.root: '3dmad' is relative: .*--data-root"):
        make_plan(ExperimentSpec.preset("paper"))
    plan = make_plan(ExperimentSpec.preset("paper", data_root="/licensed/databases"))
    first = next(iter(plan.jobs.values()))
    assert first.settings["prepare"]["root"] == "/licensed/databases/3dmad"
    trains = [j for j in plan.jobs.values() if j.kind is JobKind.TRAIN]
    # 8 augmentations x 4 databases, plus the extra step counts of Tables 7 (4) and 8 (5).
    assert len(trains) == 32 + 4 + 5
    steps = {(j.settings["database"], j.settings["augment"]): j.settings["steps"] for j in trains
             if j.settings["augment"] == "none"}
    assert steps[("rose-youtu", "none")] == 100_000 and steps[("casia-fasd", "none")] == 50_000
    nine = [g for g in plan.groups if g.database == "replay-attack" and g.model.identity["augment"] == "all"
            and g.attack.settings["pixels"] == 9 and g.model.identity["steps"] == 50_000]
    # Tables 3-6 (200 iterations), Fig. 3's 9-pixel point and Fig. 4's budgets share ONE attack at 400.
    assert len(nine) == 1 and nine[0].attack.settings["iterations"] == 400
    assert nine[0].budgets == (25, 50, 100, 150, 200, 250, 300, 350, 400)
    assert set(nine[0].studies) == {"augmentation", "pixels", "iterations", "training-steps-replay"}
    pixels = sorted(g.attack.settings["pixels"] for g in plan.groups if g.database == "casia-fasd"
                    and g.model.identity["augment"] == "all" and g.model.identity["steps"] == 50_000)
    assert pixels == list(range(1, 10))
    assert all(g.attack.settings["population"] == 400 and g.attack.settings["f"] == 0.5 for g in plan.groups)


def test_model_is_trained_once_and_reused_by_every_attack_setting(tmp_path):
    spec = load(tmp_path, minimal())
    plan = make_plan(spec)
    kinds = Counter(j.kind for j in plan.jobs.values())
    assert kinds == {JobKind.PREPARE: 1, JobKind.TRAIN: 2, JobKind.EVALUATE: 2}
    assert len(plan.groups) == 4  # 2 models x 2 pixel counts; the iteration budgets merge
    assert {g.attack.settings["iterations"] for g in plan.groups} == {20}
    assert {g.budgets for g in plan.groups} == {(10, 20)}
    changed = make_plan(load(tmp_path, minimal(grid={**minimal()["grid"], "attacks": [
        {"name": "pixel", "pixels": [3, 5], "iterations": [10, 20]}, {"name": "sparse-rs", "queries": [100]}]})))
    assert len(changed.groups) == 6 and {g.attack.name for g in changed.groups} == {"pixel", "sparse-rs"}
    assert {j for j in changed.jobs} == {j for j in plan.jobs}, "attack settings leave model jobs alone"
    assert make_plan(spec).describe() == plan.describe(), "ids are deterministic"


def test_spec_saved_resolved_loads_back_equal(tmp_path):
    spec = load(tmp_path, minimal())
    spec.save(tmp_path / "resolved.yaml")
    again = ExperimentSpec.load(tmp_path / "resolved.yaml")
    assert again == spec
    assert again.grid.attacks[0].axes() == {"pixels": [1, 9], "iterations": [10, 20]}
    assert again.images.split == "test"


@pytest.mark.parametrize(("change", "key"), [
    ({"databases": [{"name": "x", "prepare": {"database": "nosuchdb", "root": "/d"}}]},
     "databases.0.prepare.database: unknown database 'nosuchdb'"),
    ({"grid": {"attacks": [{"name": "pixel", "pixels": [0]}]}},
     "grid.attacks.0: attack 'pixel': pixels: Value error, pixels must lie in [1, 1024]"),
    ({"grid": {"attacks": [{"name": "pixel", "pixels": [9, 9]}]}}, "value 9 is listed twice"),
    ({"grid": {"attacks": [{"name": "pixel", "population": [8]}]}}, "outputs.figures.0: 'pixels': Fig. 3 needs"),
    ({"grid": {"attacks": [{"name": "pixel", "pixels": [1, 2], "iterations": [5]}]}},
     "outputs.figures.1: 'iterations': Fig. 4 needs"),
    ({"grid": {"attacks": [{"name": "nope"}]}}, "grid.attacks.0.name: unknown attack 'nope'"),
    ({"grid": {"attacks": [{"name": "sparse-rs", "population": [8]}]}},
     "grid.attacks.0.population: attack 'sparse-rs' has no setting 'population'"),
    ({"grid": {"pixels": [9]}}, "grid: Value error, pixels: attack settings moved into the attack's own entry"),
    ({"outputs": {"tables": ["training-steps"], "figures": []}}, "outputs.tables.0: 'training-steps'"),
    ({"studies": [{"name": "s", "databases": ["casia-fasd"]}]}, "studies.0.databases: unknown database 'casia-fasd'"),
    ({"studies": [{"name": "s", "augment": ["sepia"]}]}, "studies.0.augment: unknown augmentation setting 'sepia'"),
    ({"studies": [{"name": "s", "attack_settings": {"strategy": ["best9"]}}]},
     "studies.0.attacks.0: attack 'pixel': strategy:"),
    ({"studies": [{"name": "s", "attack_settings": {"colours": ["any"]}}]},
     "studies.0.attack_settings.colours: no attack of this study has a setting 'colours'"),
    ({"databases": [{"name": "d", "faceset": "/f", "prepare": {"database": "sample"}}]},
     "databases.0: give either 'prepare'"),
    ({"databases": [{"name": "d", "prepare": {"database": "sample", "out": "/x"}}]}, "databases.0.prepare.out:"),
    ({"databases": [{"name": "replay-attack", "prepare": {"frames_per_video": 0, "root": "/r"}}]},
     "databases.0.prepare.frames_per_video:"),
    ({"training": {"lr": -1}}, "training.lr: Input should be greater than 0"),
    ({"training": {"steps": 5}}, "training.steps: set by the grid"),
    ({"model": {"model": "resnet-9000"}}, "model.model: Value error, unknown model 'resnet-9000'"),
    ({"grdi": {}}, "grdi: Extra inputs are not permitted"),
    ({"images": {"shard_size": 0}}, "images.shard_size: Input should be greater than or equal to 1"),
])
def test_bad_spec_is_one_line_naming_the_key(tmp_path, change, key):
    data = minimal()
    for k, v in change.items():
        data[k] = {**data[k], **v} if isinstance(data.get(k), dict) and k in ("grid", "outputs") else v
    with pytest.raises(ConfigError) as err:
        load(tmp_path, data)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "spec.yaml")), message
    assert key in message, message


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown preset 'nope' .*paper-small"):
        ExperimentSpec.preset("nope")
