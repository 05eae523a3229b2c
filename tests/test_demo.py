"""`fasrobust demo` end to end on the SYNTHETIC sample database, with the demo preset shrunk further
(fewer steps, images and generations) so the check takes a minute or two rather than the demo's
several: prepare -> train -> evaluate -> attack (the DE and Sparse-RS, 1 and 9 pixels) -> report
with both attacks and the success-against-queries figure."""

from __future__ import annotations

import pytest

from fasrobust.experiments.demo import demo_spec, run_demo
from fasrobust.experiments.executors import create_executor
from fasrobust.experiments.store import ResultsStore
from fasrobust.report import build_report


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_demo_runs_the_whole_flow_and_ends_with_a_report(tmp_path):
    base = demo_spec()
    spec = demo_spec(
        training={**base.training, "eval_every": 0, "checkpoint_every": 0},
        grid={**base.grid.model_dump(), "steps": [10], "attacks": [
            {"name": "pixel", "pixels": [1, 9], "population": [10], "iterations": [3, 6]},
            {"name": "sparse-rs", "pixels": [1, 9], "queries": [71]}]},
        images={**base.images.model_dump(), "limit": 6, "shard_size": 3},
        outputs={**base.outputs.model_dump(), "trajectory_images": 6},
    )
    assert spec.synthetic and spec.grid.augment == ["none"]
    assert [a.name for a in base.grid.attacks] == ["pixel", "sparse-rs"], "the demo runs both attacks"
    with create_executor(workers=0) as executor:
        summary = run_demo(tmp_path / "demo", spec=spec, executor=executor)
    assert not summary.failed and not summary.blocked, (summary.failed, summary.blocked)
    with ResultsStore(tmp_path / "demo" / "results.sqlite") as store:
        jobs = store.jobs()
        attacks = store.attacks()
    assert sorted(jobs["kind"].value_counts().items()) == [("attack", 8), ("evaluate", 1), ("prepare", 1),
                                                           ("train", 1)]
    prepared = jobs[jobs["kind"] == "prepare"]["result"].iloc[0]
    assert prepared["synthetic"] is True
    pixels = attacks["settings"].map(lambda s: s["pixels"])
    assert sorted(attacks.groupby([attacks["attack"], pixels]).size().items()) == [
        (("pixel", 1), 6), (("pixel", 9), 6), (("sparse-rs", 1), 6), (("sparse-rs", 9), 6)]
    assert set(attacks[attacks["attack"] == "pixel"]["query_budget"]) == {1 + 10 * 7}, "one run at 6 iterations"
    index = build_report(tmp_path / "demo")
    assert index.name == "index.html" and index.is_file()
    page = index.read_text()
    assert "synthetic" in page.lower() and "success-vs-queries.png" in page and "side by side at 71 queries" in page

    again = run_demo(tmp_path / "demo", spec=spec, executor=create_executor(workers=0))
    assert again.committed == 0 and again.skipped == summary.total, "a second demo resumes: nothing to redo"
