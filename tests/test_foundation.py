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

from fasrobust.attacks import AttackSpec
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
    return AttackResult(index=i, success=success, queries=10 * i + 1, query_budget=41, p_live_before=0.1,
                        p_live_after=0.7 if success else 0.2, perturbation=np.array([[1, 2, 3, 4, 5]]),
                        trajectory=np.array([[1, 0.9], [10 * i + 1, 0.5]]), wall_time_s=0.01, seed=0, threshold=0.5)


def _row(i: int, success: bool) -> AttackRow:
    return AttackRow(image_id=i, source="v.mov", split="test", attack_type="print",
                     attack=AttackSpec(name="pixel", settings={"pixels": 1, "population": 20, "iterations": 1}),
                     result=_result(i, success))


def test_store_commits_a_job_once_and_reads_it_back(tmp_path):
    settings = {"pixels": 1, "shard": 0}
    job = job_id("attack", settings)
    assert job == job_id("attack", dict(reversed(list(settings.items())))), "ids ignore key order"
    rows = [_row(i, i == 1) for i in range(3)]
    with ResultsStore(tmp_path / "results.sqlite") as store:
        assert store.commit_job(job, "attack", settings, {"n": 3}, attack_rows=rows)
        assert not store.commit_job(job, "attack", settings, {"n": 3}, attack_rows=rows), "second commit is a no-op"
    with ResultsStore(tmp_path / "results.sqlite") as store:
        frame = store.attacks()
        assert len(frame) == 3 and frame["success"].tolist() == [False, True, False]
        assert frame["perturbation"][0] == [[1, 2, 3, 4, 5]] and frame["trajectory"][2] == [[1, 0.9], [21, 0.5]]
        assert frame["attack"][0] == "pixel" and frame["settings"][0]["population"] == 20
        assert store.jobs("attack")["result"][0] == {"n": 3}
        assert store.is_done(job)


def test_store_rolls_back_a_job_whose_rows_fail(tmp_path):
    bad = _row(0, False)
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(sqlite3.IntegrityError):
            store.commit_job("j", "attack", {}, {}, attack_rows=[bad, bad])  # duplicate primary key
        assert not store.is_done("j") and store.attacks().empty


def test_store_refuses_a_foreign_sqlite_file_and_leaves_it_untouched(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
        db.execute("INSERT INTO customers VALUES ('ada')")
    before = path.read_bytes()
    with pytest.raises(DataError, match="not a fasrobust results store .*customers.*left untouched"):
        ResultsStore(path)
    assert path.read_bytes() == before


SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, settings TEXT NOT NULL, result TEXT NOT NULL,
    wall_s REAL NOT NULL, host TEXT NOT NULL, finished_utc TEXT NOT NULL);
CREATE TABLE attacks (job_id TEXT NOT NULL, image_id INTEGER NOT NULL, source TEXT NOT NULL, split TEXT NOT NULL,
    attack_type TEXT NOT NULL, pixels INTEGER NOT NULL, iterations INTEGER NOT NULL, population INTEGER NOT NULL,
    seed INTEGER NOT NULL, success INTEGER NOT NULL, already_live INTEGER NOT NULL, verified INTEGER,
    queries INTEGER NOT NULL, generations INTEGER NOT NULL, p_live_before REAL NOT NULL, p_live_after REAL NOT NULL,
    perturbation TEXT NOT NULL, fitness_history TEXT NOT NULL, wall_s REAL NOT NULL, png TEXT,
    note TEXT NOT NULL DEFAULT '', PRIMARY KEY (job_id, image_id));
CREATE TABLE failures (job_id TEXT NOT NULL, time_utc TEXT NOT NULL, message TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO jobs VALUES ('attack-1', 'attack', '{"attack": "pixel", "f": 0.7, "cr": 0.9, "strategy": "best1"}',
    '{}', 1.0, 'h', '2026-01-01');
INSERT INTO attacks VALUES ('attack-1', 7, 'v.mov', 'test', 'print', 3, 2, 10, 0, 1, 0, 1, 21, 1, 0.1, 0.6,
    '[[1, 2, 3, 4, 5]]', '[0.9, 0.4]', 0.5, 'adversarial/x/7.png', '');
INSERT INTO attacks VALUES ('attack-1', 8, 'v.mov', 'test', 'print', 3, 2, 10, 0, 0, 0, NULL, 31, 2, 0.2, 0.3,
    '[[1, 1, 3, 4, 5]]', '[0.8, 0.75, 0.7]', 0.5, NULL, '');
INSERT INTO failures VALUES ('attack-2', '2026-01-01', 'endpoint down');
"""


def test_a_schema_1_store_is_migrated_with_every_row_and_a_backup(tmp_path):
    path = tmp_path / "results.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_1)
    with ResultsStore(path) as store:
        rows = store.attacks().set_index("image_id")
        (job,) = store.done_jobs("attack")  # named again from its migrated settings, so a re-run finds it
        assert len(rows) == 2 and len(store.failures()) == 1 and set(rows["job_id"]) == {job}
    assert (tmp_path / "results.schema1-backup.sqlite").is_file()
    won, lost = rows.loc[7], rows.loc[8]
    assert won["attack"] == "pixel" and won["settings"] == {"pixels": 3, "population": 10, "iterations": 2,
                                                            "f": 0.7, "cr": 0.9, "strategy": "best1", "eot": 1}
    assert won["query_budget"] == 1 + 10 * 3 and won["queries"] == 21 and won["threshold"] == 0.5
    assert won["trajectory"] == [[1, 0.9], [11, 0.9], [21, 0.4]] and won["png"] == "adversarial/x/7.png"
    assert won["extra"]["generations"] == 1 and bool(won["success"]) and won["verified"] == 1
    assert lost["trajectory"][-1] == [31, 0.7] and not lost["success"]
    assert won["pixels_changed"] == len({(x, y) for x, y, *_ in won["perturbation"]}) and won["answer"] == "score"
    with ResultsStore(path) as store:  # opened again: already schema 3, nothing changes
        pd.testing.assert_frame_equal(store.attacks().set_index("image_id"), rows)


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
