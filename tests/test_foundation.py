"""The shared contracts every stage relies on: one-line errors, the FaceSet format, the results
store's resume rule, the Target's validation and query counting, the CLI's entry points."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from fasrobust.attacks.result import AttackResult, apply_perturbation
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.errors import DataError, TargetError
from fasrobust.experiments.store import AttackRow, ResultsStore, job_id
from fasrobust.labels import Label
from fasrobust.targets import QueryBudgetExceeded, Target


def small_faceset(n: int = 6, size: int = 8) -> FaceSet:
    images = np.arange(n * size * size * 3, dtype=np.uint32).reshape(n, size, size, 3).astype(np.uint8)
    rows = [dict(id=i, label="live" if i % 2 == 0 else "spoof", attack_type="bona_fide" if i % 2 == 0 else "print",
                 subject=f"s{i // 2}", split="train" if i < 4 else "test", source=f"v{i}.mov", frame=0,
                 box_x=0, box_y=0, box_w=size, box_h=size, detector="test") for i in range(n)]
    return FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"})


def test_faceset_round_trip_keeps_images_meta_and_counts(tmp_path):
    faces = small_faceset()
    faces.write(tmp_path / "fs")
    loaded = FaceSet.load(tmp_path / "fs")
    np.testing.assert_array_equal(loaded.images, faces.images)
    assert loaded.labels[:2] == [Label.LIVE, Label.SPOOF]
    assert loaded.counts() == {"train": {"live": 2, "spoof": 2}, "test": {"live": 1, "spoof": 1}}
    assert loaded.split("test").meta["id"].tolist() == [4, 5]
    assert not list(tmp_path.glob(".fs.*")), "no temporary directory left behind"


def test_faceset_load_rejects_truncated_images_with_one_line(tmp_path):
    small_faceset().write(tmp_path / "fs")
    data = (tmp_path / "fs" / "images.npy").read_bytes()
    (tmp_path / "fs" / "images.npy").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as err:
        FaceSet.load(tmp_path / "fs")
    assert "images.npy" in str(err.value) and "\n" not in str(err.value)


def test_faceset_refuses_wrong_dtype():
    faces = small_faceset()
    with pytest.raises(DataError, match="uint8"):
        FaceSet(faces.images.astype(np.float32), faces.meta, {})


def _result(i: int, success: bool) -> AttackResult:
    return AttackResult(index=i, success=success, queries=10 * i, generations=i, p_live_before=0.1,
                        p_live_after=0.7 if success else 0.2, perturbation=np.array([[1, 2, 3, 4, 5]]),
                        fitness_history=np.array([0.9, 0.5]), wall_time_s=0.01, seed=0, pixels=1)


def test_store_commits_a_job_once_and_reads_it_back(tmp_path):
    settings = {"pixels": 1, "shard": 0}
    job = job_id("attack", settings)
    assert job == job_id("attack", dict(reversed(list(settings.items())))), "ids ignore key order"
    rows = [AttackRow(image_id=i, source="v.mov", split="test", attack_type="print", iterations=5,
                      population=20, result=_result(i, i == 1)) for i in range(3)]
    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert store.commit_job(job, "attack", settings, {"n": 3}, attack_rows=rows)
        assert not store.commit_job(job, "attack", settings, {"n": 3}, attack_rows=rows), "second commit is a no-op"
    with ResultsStore(tmp_path / "results.sqlite") as store:
        frame = store.attacks()
        assert len(frame) == 3 and frame["success"].tolist() == [False, True, False]
        assert frame["perturbation"][0] == [[1, 2, 3, 4, 5]]
        assert store.jobs("attack")["result"][0] == {"n": 3}
        assert store.is_done(job)


def test_store_rolls_back_a_job_whose_rows_fail(tmp_path):
    bad = AttackRow(image_id=0, source="v", split="test", attack_type="print", iterations=5, population=20,
                    result=_result(0, False))
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.commit_job("j", "attack", {}, {}, attack_rows=[bad, bad])  # duplicate primary key
        assert not store.is_done("j") and store.attacks().empty


def test_store_rejects_a_file_that_is_not_sqlite(tmp_path):
    path = tmp_path / "results.sqlite"
    path.write_text("not a database" * 100)
    with pytest.raises(DataError, match="results store"):
        ResultsStore(path)


class ConstantTarget(Target):
    def __init__(self, value, **kw):
        super().__init__(**kw)
        self.value = value

    def _predict(self, images):
        return torch.full((len(images),), self.value)


def test_target_counts_every_image_and_chunks():
    target = ConstantTarget(0.25, max_batch=3)
    scores = target(np.zeros((7, 4, 4, 3), np.uint8))
    assert scores.dtype == np.float64 and scores.shape == (7,) and target.queries == 7
    tensor_scores = target(torch.zeros((2, 4, 4, 3), dtype=torch.uint8))
    assert isinstance(tensor_scores, torch.Tensor) and target.queries == 9


@pytest.mark.parametrize("value, message", [(float("nan"), "NaN"), (1.5, "outside"), (-0.2, "outside")])
def test_target_rejects_unusable_scores(value, message):
    with pytest.raises(TargetError, match=message):
        ConstantTarget(value)(np.zeros((2, 4, 4, 3), np.uint8))


def test_target_rejects_float_images_and_enforces_budget():
    target = ConstantTarget(0.5, query_budget=4)
    with pytest.raises(TargetError, match="uint8"):
        target(np.zeros((1, 4, 4, 3), np.float32))
    target(np.zeros((4, 4, 4, 3), np.uint8))
    with pytest.raises(QueryBudgetExceeded):
        target(np.zeros((1, 4, 4, 3), np.uint8))


def test_apply_perturbation_writes_integer_pixels_only_where_asked():
    image = np.zeros((4, 4, 3), np.uint8)
    out = apply_perturbation(image, np.array([[3, 1, 255, 128, 7]]))
    assert out[1, 3].tolist() == [255, 128, 7] and out.sum() == 255 + 128 + 7 and image.sum() == 0


def test_cli_prints_version_and_help():
    done = subprocess.run([sys.executable, "-m", "fasrobust", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("fasrobust ")
    done = subprocess.run([sys.executable, "-m", "fasrobust", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "Usage" in done.stdout
