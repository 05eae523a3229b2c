"""Attack shards: rows for the store, PNGs that re-verify, job ids that name the work, resumption after a
transient target failure that ends with the same rows as a run that never failed, and a contract failure
that stops the evaluation with its one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from fasrobust.attacks import AttackSpec
from fasrobust.attacks.pixel import PixelAttack
from fasrobust.attacks.verify import decode_png
from fasrobust.data.faceset import META_COLUMNS, FaceSet
from fasrobust.errors import AttackError, TargetError, TransientTargetError
from fasrobust.experiments.attack_job import plan_attack_jobs, run_attack_shard, select_image_ids
from fasrobust.experiments.attack_stats import attack_stats
from fasrobust.experiments.evaluation import evaluate_attack
from fasrobust.experiments.spec import ImageSelection
from fasrobust.experiments.store import ResultsStore
from fasrobust.targets.base import Target

SIZE = 10


class SecretPixel(Target):
    """Live iff pixel (x=2, y=3) is near white and the image is not bright overall (bright images are
    'shielded': nothing fools them). A slope towards white at any pixel helps DE find the place."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        whiteness = x.mean(-1) / 255.0
        ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        place = torch.exp(-((xs - 2) ** 2 + (ys - 3) ** 2) / 8.0)
        slope = 0.4 * (whiteness * place).flatten(1).max(1).values
        hit = x[:, 3, 2].min(-1).values > 200
        shielded = x.mean((1, 2, 3)) > 150
        return torch.where(hit & ~shielded, 0.8, torch.where(shielded, 0.05, slope))


class FailingOnce(SecretPixel):
    """A flaky endpoint: the first call after `limit` queries raises a transient error, later calls work."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.failed = limit, False

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        if self.queries >= self.limit and not self.failed:
            self.failed = True
            raise TransientTargetError("endpoint answered 503 after 3 retries")
        return super()._predict(images)


class WrongShapeAfter(SecretPixel):
    """A target that starts answering nonsense (a contract error: it would do so on every later call)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        if self.queries >= self.limit:
            raise TargetError("answered 2 scores for 24 images")
        return super()._predict(images)


def faceset(n: int = 12) -> FaceSet:
    rng = np.random.default_rng(0)
    images = (60 + rng.integers(0, 20, (n, SIZE, SIZE, 3))).astype(np.uint8)
    images[1::4] = 210  # shielded spoofs: the attack must fail on them
    rows = [dict(id=100 + i, label="live" if i % 4 == 3 else "spoof",
                 attack_type="bona_fide" if i % 4 == 3 else "print", subject=f"s{i % 3}",
                 split="test" if i < 10 else "train", source=f"v{i // 2}.mov", frame=i, box_x=0, box_y=0,
                 box_w=SIZE, box_h=SIZE, detector="test") for i in range(n)]
    return FaceSet(images, pd.DataFrame(rows, columns=META_COLUMNS), {"database": "unit"})


ATTACK = PixelAttack(pixels=1, population=24, iterations=12)
SPEC = AttackSpec.from_settings("pixel", ATTACK.config)


def test_shard_rows_pngs_and_side_by_side(tmp_path):
    faces = faceset()
    ids = [100, 101, 102, 104]
    rows = run_attack_shard(SecretPixel(), faces, ids, ATTACK, tmp_path, seed=1)
    assert [r.image_id for r in rows] == ids
    by_id = {r.image_id: r for r in rows}
    assert not by_id[101].result.success and by_id[101].png is None, "a shielded image cannot be fooled"
    wins = [r for r in rows if r.result.success]
    assert wins, "the attack must fool the unshielded spoofs"
    for row in wins:
        assert row.result.verified and row.split == "test" and row.attack_type == "print"
        png = decode_png((tmp_path / row.png).read_bytes())
        assert SecretPixel()(png[None])[0] >= 0.5, "the PNG on disk is still called live"
        original = faces.images[faces.meta["id"].tolist().index(row.image_id)]
        assert (png != original).any(axis=-1).sum() <= 1, "one pixel changed"
        side = decode_png((tmp_path / row.png.replace(".png", "_side.png")).read_bytes())
        assert side.shape[0] >= 192 and side.shape[1] > 3 * side.shape[0]
    assert all(r.attack.name == "pixel" and r.attack.settings["iterations"] == 12
               and r.attack.settings["population"] == 24 for r in rows)


def test_rows_do_not_depend_on_how_images_are_sharded(tmp_path):
    faces = faceset()
    whole = run_attack_shard(SecretPixel(), faces, [100, 102, 104, 105], ATTACK, tmp_path / "a", seed=4)
    split = (run_attack_shard(SecretPixel(), faces, [100, 102], ATTACK, tmp_path / "b", seed=4)
             + run_attack_shard(SecretPixel(), faces, [104, 105], ATTACK, tmp_path / "b", seed=4))
    for a, b in zip(whole, split, strict=True):
        assert (a.image_id, a.result.success, a.result.queries) == (b.image_id, b.result.success, b.result.queries)
        np.testing.assert_array_equal(a.result.perturbation, b.result.perturbation)


def _rows(path) -> pd.DataFrame:
    with ResultsStore(path / "results.sqlite") as store:
        frame = store.attacks()
    return frame.drop(columns=["wall_s"]).sort_values("image_id").reset_index(drop=True)


def saved_faceset(tmp_path) -> FaceSet:
    faceset().write(tmp_path / "faces")
    return FaceSet.load(tmp_path / "faces")


def test_resume_after_a_failing_target_gives_the_rows_of_an_uninterrupted_run(tmp_path):
    faces = saved_faceset(tmp_path)
    options = dict(attack=SPEC, target_id="unit-model", seed=2,
                   selection=ImageSelection(split="test", shard_size=3, seed=2))
    clean = evaluate_attack(SecretPixel(), faces, run_dir=tmp_path / "clean", **options)
    assert clean.jobs_run == 3 and clean.jobs_failed == 0 and clean.images == 8  # shards of 3, 3, 2
    with ResultsStore(tmp_path / "clean" / "results.sqlite") as store:
        jobs = store.jobs("attack")
        first_shard = jobs[jobs["settings"].map(lambda s: s["shard"] == 0)]["result"].iloc[0]
        shard0 = first_shard["queries"] + first_shard["verification_queries"]

    # The endpoint fails once, early in the second shard: that shard is recorded, no further shard is sent
    # to a target that just failed, and the summary says the failure was transient.
    first = evaluate_attack(FailingOnce(limit=shard0 + 30), faces, run_dir=tmp_path / "flaky", **options)
    assert (first.jobs_run, first.jobs_failed, first.images) == (1, 2, 3)
    assert [kind for _, kind in first.failures.values()] == ["transient"]
    with ResultsStore(tmp_path / "flaky" / "results.sqlite") as store:
        failures = store.failures()
        assert len(failures) == 1 and "shard 2/3" in failures["message"][0] and "503" in failures["message"][0]
    second = evaluate_attack(SecretPixel(), faces, run_dir=tmp_path / "flaky", **options)
    assert (second.jobs_resumed, second.jobs_run, second.jobs_failed) == (1, 2, 0)
    pd.testing.assert_frame_equal(_rows(tmp_path / "flaky"), _rows(tmp_path / "clean"))
    assert second.stats == clean.stats
    assert clean.stats["recall"] == 100.0 and clean.stats["recall_after"] < 100.0


def test_a_contract_error_stops_the_evaluation_with_its_line(tmp_path):
    faces = saved_faceset(tmp_path)
    summary = evaluate_attack(WrongShapeAfter(limit=40), faces, run_dir=tmp_path / "run", attack=SPEC,
                              target_id="broken", selection=ImageSelection(split="test", shard_size=3))
    (message, kind), = summary.failures.values()
    assert kind == "contract" and "answered 2 scores" in message
    assert summary.jobs_run == 0 and summary.jobs_failed == 3, "the other shards are never sent"


def test_a_target_that_fails_its_sanity_check_is_refused_before_any_shard(tmp_path):
    class Noisy(SecretPixel):
        def _predict(self, images):
            return torch.rand(len(images)) * 0.4

    with pytest.raises(TargetError, match="nondeterministic"):
        evaluate_attack(Noisy(), saved_faceset(tmp_path), run_dir=tmp_path / "run", attack=SPEC, target_id="n",
                        selection=ImageSelection(split="test"))
    assert not (tmp_path / "run" / "adversarial").exists()


def test_job_plan_names_each_shard_by_its_settings():
    ids = [1, 2, 3, 4, 5]
    plan = plan_attack_jobs(target_id="m", faceset_id="f", split="test", labels="spoof", image_ids=ids, attack=SPEC,
                            seed=0, shard_size=2)
    assert [j.image_ids for j in plan] == [(1, 2), (3, 4), (5,)]
    again = plan_attack_jobs(target_id="m", faceset_id="f", split="test", labels="spoof", image_ids=ids, attack=SPEC,
                             seed=0, shard_size=2)
    assert [j.job_id for j in plan] == [j.job_id for j in again]
    other = plan_attack_jobs(target_id="m", faceset_id="f", split="test", labels="spoof", image_ids=ids,
                             attack=SPEC.with_settings(pixels=2), seed=0, shard_size=2)
    assert not {j.job_id for j in plan} & {j.job_id for j in other}
    assert plan[0].settings["attack"] == {"name": "pixel", "settings": SPEC.settings}, "the attack, nested"
    assert SPEC.settings["pixels"] == 1 and plan[0].settings["image_ids"] == [1, 2]


def test_image_selection():
    faces = faceset()
    spoofs = select_image_ids(faces, split="test")
    assert spoofs == [100, 101, 102, 104, 105, 106, 108, 109]
    assert len(select_image_ids(faces, split="test", labels="all")) == 10
    sample = select_image_ids(faces, split="test", limit=3, seed=5)
    assert len(sample) == 3 and set(sample) <= set(spoofs) and sample == sorted(sample)
    assert sample == select_image_ids(faces, split="test", limit=3, seed=5)
    with pytest.raises(AttackError):
        select_image_ids(faces.select(faces.meta["label"] == "live"), split="test")


def test_attack_stats_follow_the_paper_with_wilson_intervals():
    frame = pd.DataFrame({"attack_type": ["print", "print", "print", "print", "bona_fide"],
                          "p_live_before": [0.1, 0.2, 0.7, 0.3, 0.9], "threshold": 0.5,
                          "success": [True, False, True, False, True],
                          "already_live": [False, False, True, False, True], "queries": [30, 50, 1, 50, 1],
                          "verified": [1, None, None, None, None]})
    stats = attack_stats(frame)
    assert stats["spoofs"] == 4 and stats["attacked"] == 3 and stats["successes"] == 2
    assert stats["recall"] == 75.0 and stats["recall_after"] == 50.0
    assert stats["recall_drop"] == pytest.approx(25.0)  # percentage points
    lo, hi = stats["recall_after_ci"]  # Wilson 95 % for 2 of 4: 15.0 - 85.0
    assert lo == pytest.approx(15.0, abs=0.1) and hi == pytest.approx(85.0, abs=0.1)
    assert attack_stats(frame, queries=20)["recall_after"] == 75.0, "the success at 30 queries is past 20"
