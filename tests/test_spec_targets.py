"""A spec's `targets:` entries: a grid attacks a model fasrobust did not train (here an ONNX graph built
with onnx.helper, read with a stated contract) beside or instead of the models it trains, with the same
shards, resumption, store rows and report; bad entries are one line naming the key."""

from __future__ import annotations

import pytest
import yaml

from fasrobust.errors import ConfigError
from fasrobust.experiments.executors import create_executor
from fasrobust.experiments.plan import JobKind, make_plan
from fasrobust.experiments.runner import run
from fasrobust.experiments.spec import ExperimentSpec
from fasrobust.experiments.store import ResultsStore
from fasrobust.report import build_report
from target_models import tensorflow_style_model

CONTRACT = {"input": {"layout": "nhwc", "scale": 1 / 255}, "output": {"kind": "softmax", "live_index": 0}}


@pytest.fixture(scope="module")
def external(tmp_path_factory):
    root = tmp_path_factory.mktemp("external")
    model, faces = tensorflow_style_model(root)
    return root, model, faces


def spec_data(model, faces, **changes) -> dict:
    data = {"name": "external", "databases": [{"name": "unit", "faceset": str(faces)}],
            "grid": {"augment": [], "steps": [1], "attacks": [
                {"name": "pixel", "pixels": [3], "population": [8], "iterations": [2, 4]},
                {"name": "sparse-rs", "pixels": [3], "queries": [30]}]},
            "targets": [{"name": "vendor", "source": str(model), "database": "unit", "contract": CONTRACT}],
            "images": {"shard_size": 4},
            "outputs": {"tables": ["augmentation"], "figures": ["trajectories"]}}
    data.update(changes)
    return data


def test_a_spec_attacks_an_external_model_with_every_attack(external, tmp_path):
    root, model, faces = external
    spec = ExperimentSpec.build(spec_data(model, faces))
    plan = make_plan(spec)
    assert not [j for j in plan.jobs.values() if j.kind is JobKind.TRAIN], "nothing to train"
    assert len(plan.groups) == 2 and {g.model.key for g in plan.groups} == {plan.groups[0].model.key}
    assert plan.groups[0].model.key.startswith("onnx:") and "#" in plan.groups[0].model.key, "file + contract"
    with create_executor(workers=0) as executor:
        summary = run(spec, tmp_path / "run", executor=executor)
    assert not summary.failed and not summary.blocked, (summary.failed, summary.blocked)
    with ResultsStore(tmp_path / "run" / "results.sqlite") as store:
        rows = store.attacks()
        jobs = store.jobs("attack")
    spoofs = int((~faces_is_live(faces)).sum())
    assert sorted(rows["attack"].value_counts().items()) == [("pixel", spoofs), ("sparse-rs", spoofs)]
    assert set(jobs["settings"].map(lambda s: s["system"]["target_name"])) == {"vendor"}
    assert (rows["queries"] <= rows["query_budget"]).all() and rows["success"].any(), "spoofs near 0.5 flip"
    page = build_report(tmp_path / "run").read_text()
    assert "vendor (external)" in page
    with create_executor(workers=0) as executor:
        again = run(spec, tmp_path / "run", executor=executor)
    assert again.committed == 0, "a re-run resumes"


def faces_is_live(faces):
    from fasrobust.data.faceset import FaceSet

    return FaceSet.load(faces).split("test").is_live


@pytest.mark.parametrize(("change", "key"), [
    ({"targets": [{"name": "v", "source": "/nope/model.onnx", "database": "unit"}]}, "targets.0.source:"),
    ({"targets": [{"name": "v", "source": "{model}", "database": "other"}]}, "targets.0.database: unknown database"),
    ({"targets": [{"name": "v", "source": "{model}", "database": "unit", "contract": {"input": {"layout": "x"}}}]},
     "targets.0.contract.input.layout"),
    ({"targets": []}, "studies.0.augment: the study trains no model and attacks no target"),
    ({"studies": [{"name": "s", "targets": ["ghost"]}]}, "studies.0.targets: unknown target 'ghost'"),
])
def test_bad_target_entries_are_one_line_naming_the_key(external, tmp_path, change, key):
    _, model, faces = external
    data = spec_data(model, faces, **yaml.safe_load(yaml.safe_dump(change).replace("'{model}'", str(model))
                                                    .replace("{model}", str(model))))
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        ExperimentSpec.load(path)
    assert "\n" not in str(err.value) and key in str(err.value), str(err.value)
