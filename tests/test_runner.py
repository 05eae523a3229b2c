"""The runner and its executors on a tiny real spec (a FaceSet built here, tiny-cnn, a few steps, a
small attack): every job committed once, a re-run skips them, a process pool and a local Ray
instance store the same rows as the driver alone, and a driver killed with SIGKILL mid-run and
started again ends with exactly the rows of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.experiments.executors import create_executor
from fasrobust.experiments.runner import run
from fasrobust.experiments.spec import ExperimentSpec
from fasrobust.experiments.store import ResultsStore


def tiny_faceset(root: Path, per_class: int = 10, size: int = 16) -> Path:
    """Live faces brighter than spoof ones, with overlapping brightness so that a few-steps model
    scores some spoof faces near the threshold (attackable) and others far from it; 2 frames per 'video'."""
    rng = np.random.default_rng(7)
    rows, images = [], []
    for split in ("train", "dev", "test"):
        for label, (low, high) in (("live", (120, 200)), ("spoof", (50, 135))):
            for k in range(per_class):
                mean = rng.uniform(low, high)
                images.append(np.clip(rng.normal(mean, 20, (size, size, 3)), 0, 255).astype(np.uint8))
                rows.append({"id": len(rows), "label": label, "attack_type": "bona_fide" if label == "live" else "print",
                             "subject": f"{split}-{k % 3}", "split": split, "source": f"{split}/{label}{k // 2}.mov",
                             "frame": k % 2, "box_x": 0, "box_y": 0, "box_w": size, "box_h": size, "detector": "test"})
    FaceSet(np.stack(images), pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit-test"}).write(root)
    return root


def spec_data(faceset: Path) -> dict:
    return {"name": "tiny", "databases": [{"name": "unit", "faceset": str(faceset)}],
            "model": {"model": "tiny-cnn"},
            "training": {"batch_size": 8, "optimizer": "adam", "lr": 0.02, "eval_every": 0, "checkpoint_every": 0, "threads": 1},
            "grid": {"augment": ["none", "flip"], "steps": [20],
                     "attacks": [{"name": "pixel", "pixels": [1, 3], "iterations": [4, 8], "population": [8]}]},
            "images": {"shard_size": 2},
            "outputs": {"tables": ["augmentation"], "figures": ["pixels", "iterations", "trajectories"]}}


def stored(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's content without what legitimately differs between runs (times, hosts, paths)."""
    with ResultsStore(run_dir / "results.sqlite") as store:
        attacks = store.attacks().drop(columns=["wall_s"])
        jobs = store.jobs().drop(columns=["wall_s", "host", "finished_utc"]).sort_values("job_id")
    jobs["result"] = [r["metrics"]["metrics"] if k == "evaluate" else r for k, r in zip(jobs.kind, jobs.result, strict=True)]
    return attacks.reset_index(drop=True), jobs.reset_index(drop=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A FaceSet, its spec, and a reference run in the driver process (one thread)."""
    base = tmp_path_factory.mktemp("runner")
    spec = ExperimentSpec.build(spec_data(tiny_faceset(base / "faceset")))
    with create_executor(workers=0, threads=1) as executor:
        summary = run(spec, base / "reference", executor=executor)
    return spec, base, summary


def test_inprocess_run_commits_every_job_once_and_a_rerun_skips_them(tiny):
    spec, base, summary = tiny
    assert not summary.failed and not summary.blocked and summary.skipped == 0
    # 1 FaceSet + 2 models x (train + evaluate) + 2 models x 2 pixel counts x 5 shards of 2 spoof images.
    assert summary.committed == summary.total == 1 + 4 + 20
    attacks, jobs = stored(base / "reference")
    assert len(attacks) == 2 * 2 * 10 and not attacks.duplicated(["job_id", "image_id"]).any()
    assert set(attacks["settings"].map(lambda s: s["iterations"])) == {8}, "budgets 4 and 8 share one attack at 8"
    assert attacks["success"].any() and not attacks["success"].all(), "a test that can tell rows apart"
    assert (base / "reference" / "spec.yaml").is_file() and (base / "reference" / "plan.json").is_file()
    with create_executor(workers=0, threads=1) as executor:
        again = run(spec, base / "reference", executor=executor)
    assert again.committed == 0 and again.skipped == summary.total
    pd.testing.assert_frame_equal(stored(base / "reference")[0], attacks)


def test_changed_spec_in_the_same_run_directory_is_refused_unless_updating(tiny, tmp_path):
    spec, base, _ = tiny
    data = spec_data(base / "faceset")
    data["grid"]["attacks"][0]["population"] = [10]
    from fasrobust.errors import ConfigError

    with pytest.raises(ConfigError, match=r"another spec \(first difference: grid.attacks\)"):
        run(ExperimentSpec.build(data), base / "reference")


def test_a_failed_database_is_recorded_and_blocks_only_what_needs_it(tmp_path):
    data = spec_data(tmp_path / "missing-faceset")
    with create_executor(workers=0) as executor:
        summary = run(ExperimentSpec.build(data), tmp_path / "run", executor=executor)
    assert len(summary.failed) == 1 and not summary.bugs
    message = next(iter(summary.failed.values()))
    assert "not a FaceSet directory" in message and "\n" not in message
    assert len(summary.blocked) == 4 + 4  # 2 trains, 2 evaluations, 4 attack groups never sharded
    with ResultsStore(tmp_path / "run" / "results.sqlite") as store:
        assert len(store.failures()) == 1 and store.jobs().empty


@pytest.mark.slow
def test_process_pool_stores_the_same_rows_as_the_driver(tiny):
    spec, base, _ = tiny
    with create_executor(workers=2, threads=1) as executor:
        summary = run(spec, base / "pool", executor=executor)
    assert not summary.failed and not summary.blocked
    for ours, reference in zip(stored(base / "pool"), stored(base / "reference"), strict=True):
        pd.testing.assert_frame_equal(ours, reference)


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.timeout(300)
def test_local_ray_instance_stores_the_same_rows_as_the_driver(tiny):
    ray = pytest.importorskip("ray")
    spec, base, _ = tiny
    executor = create_executor("ray", workers=2)
    try:
        assert executor.slots == 2 and executor.threads == 1
        summary = run(spec, base / "ray", executor=executor)
    finally:
        executor.close()
    assert not ray.is_initialized(), "the instance the executor started is shut down"
    assert not summary.failed and not summary.blocked
    for ours, reference in zip(stored(base / "ray"), stored(base / "reference"), strict=True):
        pd.testing.assert_frame_equal(ours, reference)


def _committed(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM jobs WHERE kind='attack'").fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


@pytest.mark.timeout(300)
def test_sigkill_of_the_driver_mid_run_then_rerun_gives_the_uninterrupted_rows(tiny, tmp_path):
    spec, base, summary = tiny
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    command = [sys.executable, "-m", "fasrobust", "run", str(tmp_path / "spec.yaml"), "--out", str(tmp_path / "run"),
               "--workers", "0", "--threads", "1", "--no-report"]
    env = {**os.environ, "FASROBUST_QUIET": "1"}
    driver = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = tmp_path / "run" / "results.sqlite"
    deadline = time.monotonic() + 240
    while _committed(db) < 3 and driver.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    done_at_kill = _committed(db)
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read().decode()[-2000:]
    assert 3 <= done_at_kill < 20, f"killed with {done_at_kill} of 20 shards committed"
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-2000:]
    ours, reference = stored(tmp_path / "run"), stored(base / "reference")
    for mine, theirs in zip(ours, reference, strict=True):
        pd.testing.assert_frame_equal(mine, theirs)
    assert not ours[0].duplicated(["job_id", "image_id"]).any()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_killed_under_a_job_is_reported_retryable_and_replaced(tiny):
    from fasrobust.experiments.jobs import Task
    from fasrobust.experiments.plan import JobKind, make_plan

    spec, base, _ = tiny
    plan = make_plan(spec)
    train = next(j for j in plan.jobs.values() if j.kind is JobKind.TRAIN)
    prepare = next(j for j in plan.jobs.values() if j.kind is JobKind.PREPARE)
    long_train = Task.of(train, base / "killed", threads=1)
    long_train.inputs["train"] = {**long_train.inputs["train"], "steps": 100_000}
    executor = create_executor(workers=2, threads=1)
    try:
        executor.submit(long_train)
        busy = next(w for w in executor._workers if w.task is not None)
        busy.process.kill()
        outcome = executor.wait(timeout=60)[0]
        assert outcome.job_id == train.id and outcome.retryable and "worker process died" in outcome.error
        executor.submit(Task.of(prepare, base / "killed", threads=1))  # the replacement takes work
        outcome = executor.wait(timeout=120)[0]
        assert outcome.ok and outcome.result["n_images"] == 60
    finally:
        executor.close(cancel=True)
