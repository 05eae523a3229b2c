"""The paper's five findings judged on results stores the test fills itself: a planted effect must give
"holds", a planted null (or opposite) effect "does not hold", and a store with 6 images "cannot be
judged", with a reason that names the count. Stores are real (ResultsStore + load_run); nothing is
attacked: each image's outcome is written as the attack would have stored it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fasrobust.attacks import AttackSpec
from fasrobust.attacks.result import AttackResult
from fasrobust.experiments.store import AttackRow, ResultsStore, job_id
from fasrobust.paper import published
from fasrobust.report.findings import MIN_IMAGES, FindingKey, Verdict, judge_findings
from fasrobust.report.results import load_results as load_run

POPULATION = 8
IMAGES = 60  # 30 videos of 2 frames: enough for a 5-point margin
TINY = 6
RESAMPLES = 500


def commit(store: ResultsStore, n: int, *, fooled_share: float = 0.0, augment: str = "none", steps: int = 1000,
           pixels: int = 3, iterations: int = 50, hit_generation=lambda i: 5, trajectory=None,
           database: str = "sample", **job) -> None:
    """One attack job on images 0..n-1 (the same ids under every setting: paired). Image i is fooled iff
    i < fooled_share * n, at generation `hit_generation(i)`; the others keep `trajectory(i)` (queries,
    best spoof confidence) or a flat one. `job`: more job settings (defences, train_database)."""
    attack = AttackSpec(name="pixel", settings={"pixels": pixels, "population": POPULATION, "f": 0.5, "cr": 1.0,
                                                "strategy": "rand1", "iterations": iterations, "eot": 1})
    train = f"train-{augment}-{steps}-{json.dumps(job, sort_keys=True)}"
    system = {"database": database, "augment": augment, "steps": steps, "train_seed": 0, "model": "fasnet",
              "train_job": train, **{k: v for k, v in job.items() if k != "defences"}}
    settings = {"system": system, "attack": attack.as_json(), "seed": 0, "target": train, "faceset": "fs",
                "split": "test", "shard": 0, "image_ids": list(range(n)), "labels": "spoof",
                **({"defences": job["defences"]} if job.get("defences") else {})}
    budget = 1 + POPULATION * (iterations + 1)
    rows = []
    for i in range(n):
        fooled = i < fooled_share * n
        if fooled:
            spent = 1 + POPULATION * (hit_generation(i) + 1)
            history = np.array([[1, 0.9], [spent, 0.45]])
        else:
            history = trajectory(i) if trajectory else np.array([[1, 0.9]])
            spent = budget
        result = AttackResult(index=i, success=fooled, queries=spent, query_budget=budget, p_live_before=0.1,
                              p_live_after=0.55 if fooled else 0.2, perturbation=np.zeros((0, 5), int),
                              trajectory=history, wall_time_s=0.0, seed=0, threshold=0.5)
        rows.append(AttackRow(i, f"spoof/v{i // 2}.avi", "test", "print", attack, result))
    store.commit_job(job_id("attack", settings), "attack", settings, {"images": n}, attack_rows=rows)


def declining(iterations: int):
    """A DE trajectory whose best spoof confidence falls by the same step every generation."""
    generations = np.arange(iterations + 1)
    return lambda i: np.vstack([[1, 0.9], np.column_stack([1 + POPULATION * (generations + 1),
                                                           np.linspace(0.85 - 0.001 * i, 0.55, iterations + 1)])])


# Per finding: what each planted case stores.  effect=True plants the paper's finding, False its opposite
# or its absence.
def plant_pixels(store, n, effect):
    for pixels, share in zip((1, 3, 9), (0.1, 0.4, 0.8) if effect else (0.3, 0.3, 0.3), strict=True):
        commit(store, n, pixels=pixels, fooled_share=share)


def plant_iterations(store, n, effect):
    # fooled at generations 0, 5, ..., 235 (all before 300) or never: the drop grows, then stays
    commit(store, n, iterations=400, fooled_share=0.8 if effect else 0.0, hit_generation=lambda i: 5 * i)


def plant_steps(store, n, effect):
    for steps, share in zip((1000, 10000, 100000), (0.4, 0.4, 0.45) if effect else (0.8, 0.4, 0.05), strict=True):
        commit(store, n, steps=steps, fooled_share=share)


def plant_augmentation(store, n, effect):
    for augment, share in zip(("none", "shift", "all"), (0.3, 0.4, 0.5) if effect else (0.6, 0.1, 0.55),
                              strict=True):
        commit(store, n, augment=augment, fooled_share=share)


def plant_fitness(store, n, effect):
    commit(store, n, iterations=40, trajectory=declining(40) if effect else None)


PLANTS = {FindingKey.PIXELS: plant_pixels, FindingKey.ITERATIONS: plant_iterations, FindingKey.STEPS: plant_steps,
          FindingKey.AUGMENTATION: plant_augmentation, FindingKey.FITNESS: plant_fitness}
CASES = {"holds": (IMAGES, True, Verdict.HOLDS), "null": (IMAGES, False, Verdict.DOES_NOT_HOLD),
         "tiny": (TINY, True, Verdict.CANNOT_BE_JUDGED)}


def judged(tmp_path: Path, plant, n: int, effect: bool) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        plant(store, n, effect)
    return {f.key: f for f in judge_findings(load_run(tmp_path), resamples=RESAMPLES)}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("key", list(FindingKey), ids=[k.value for k in FindingKey])
def test_planted_effects_give_their_verdict(tmp_path, key, case):
    n, effect, verdict = CASES[case]
    finding = judged(tmp_path, PLANTS[key], n, effect)[key.value]
    assert finding.verdict is verdict, (finding.reason, finding.estimate, finding.interval)
    if verdict is Verdict.CANNOT_BE_JUDGED:
        assert f"{TINY} spoof images" in finding.reason and str(MIN_IMAGES) in finding.reason
        assert "spoof images per setting" in finding.decide
    else:
        assert finding.reason == "" and finding.interval is not None
        lo, hi = finding.interval
        assert lo - 1e-9 <= finding.estimate <= hi + 1e-9
    assert finding.test and finding.claim and finding.image_set
    assert json.loads(json.dumps(finding.as_json()))["verdict"] == verdict.value


def test_an_axis_the_study_did_not_vary_cannot_be_judged_and_says_which_study_would(tmp_path):
    findings = judged(tmp_path, lambda store, n, effect: commit(store, n, fooled_share=0.5), IMAGES, True)
    for key, words in (("pixels", "one pixel count (3)"), ("steps", "one step count (1,000)"),
                       ("augmentation", "no model without augmentation beside one with it")):
        assert findings[key].verdict is Verdict.CANNOT_BE_JUDGED and not findings[key].designed
        assert words in findings[key].reason, findings[key].reason
        assert "the `study` preset" in findings[key].decide


def test_a_budget_below_300_iterations_cannot_judge_saturation(tmp_path):
    plant = lambda store, n, effect: commit(store, n, iterations=60, fooled_share=0.8,  # noqa: E731
                                            hit_generation=lambda i: i)
    finding = judged(tmp_path, plant, IMAGES, True)["iterations"]
    assert finding.verdict is Verdict.CANNOT_BE_JUDGED
    assert "60 iterations" in finding.reason and "saturation cannot be judged" in finding.reason
    assert finding.interval[0] > 0  # the growth itself is resolved


def test_defended_and_cross_database_rows_are_left_out(tmp_path):
    def plant(store, n, effect):
        plant_pixels(store, n, effect)
        for pixels, share in zip((1, 3, 9), (0.9, 0.5, 0.0), strict=True):  # the opposite trend, twice
            commit(store, n, pixels=pixels, fooled_share=share, defences=[{"name": "median", "size": 3}])
            commit(store, n, pixels=pixels, fooled_share=share, train_database="other")

    finding = judged(tmp_path, plant, IMAGES, True)["pixels"]
    assert finding.verdict is Verdict.HOLDS and finding.details["judged on the attack"] == "pixel"
    assert finding.n_images == IMAGES
    assert finding.details["recall drop (points) at each pixel count"] == pytest.approx({"1": 10.0, "3": 40.0,
                                                                                         "9": 80.0})


def test_the_papers_number_stands_beside_ours_on_its_databases_only(tmp_path):
    def plant(store, n, effect):
        for steps, share in zip((10000, 50000), (0.4, 0.5), strict=True):
            commit(store, n, steps=steps, fooled_share=share, database=database)

    table_7 = published()["training_steps"]["casia-fasd"]["columns"]
    paper_slope = np.polyfit(np.log10([float(k) for k in table_7]), [v["recall_drop"] for v in table_7.values()], 1)[0]
    for database, expected in (("casia-fasd", pytest.approx(paper_slope)), ("sample", None)):
        finding = judged(tmp_path / database, plant, IMAGES, True)["steps"]
        assert finding.paper == expected
        assert finding.estimate == pytest.approx(10.0 / np.log10(5))  # 40 -> 50 points over log10(5)


def test_image_sets_that_differ_between_settings_are_named(tmp_path):
    def plant(store, n, effect):
        for pixels, count in ((1, n), (3, n), (9, n - 20)):
            commit(store, count, pixels=pixels, fooled_share=pixels / 10)

    finding = judged(tmp_path, plant, IMAGES, True)["pixels"]
    assert f"{IMAGES - 20} are in all of them" in finding.image_set


def test_a_run_without_attacks_cannot_judge_anything(tmp_path):
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.commit_job("train-x", "train", {"database": "sample"}, {"model_dir": "m"})
    findings = judge_findings(load_run(tmp_path), resamples=RESAMPLES)
    assert [f.key for f in findings] == [k.value for k in FindingKey]
    assert all(f.verdict is Verdict.CANNOT_BE_JUDGED and "no undefended spoof image" in f.reason for f in findings)


def commit_sparse_rs(store: ResultsStore, n: int, *, pixels: int, fooled_share: float) -> None:
    """One Sparse-RS job (150 queries) on images 0..n-1 of the undefended standard model."""
    attack = AttackSpec(name="sparse-rs", settings={"pixels": pixels, "queries": 150, "eot": 1})
    system = {"database": "sample", "augment": "none", "steps": 1000, "train_seed": 0, "model": "fasnet",
              "train_job": "train-none"}
    settings = {"system": system, "attack": attack.as_json(), "seed": 0, "target": "train-none", "faceset": "fs",
                "split": "test", "shard": 0, "image_ids": list(range(n)), "labels": "spoof"}
    rows = []
    for i in range(n):
        fooled = i < fooled_share * n
        result = AttackResult(index=i, success=fooled, queries=20 if fooled else 150, query_budget=150,
                              p_live_before=0.1, p_live_after=0.55 if fooled else 0.2,
                              perturbation=np.zeros((0, 5), int), trajectory=np.array([[1, 0.9]]),
                              wall_time_s=0.0, seed=0, threshold=0.5)
        rows.append(AttackRow(i, f"spoof/v{i // 2}.avi", "test", "print", attack, result))
    store.commit_job(job_id("attack", settings), "attack", settings, {"images": n}, attack_rows=rows)


def test_a_finding_the_des_rows_cannot_judge_is_judged_on_the_attack_that_varied_its_axis(tmp_path):
    """The study preset varies pixels with Sparse-RS and keeps one DE setting for its generations: finding 1
    must come from Sparse-RS's rows, and say so, instead of "cannot be judged" from the DE's."""
    def plant(store, n, effect):
        commit(store, n, pixels=9, fooled_share=0.5)
        for pixels, share in zip((1, 3, 9), (0.1, 0.4, 0.8), strict=True):
            commit_sparse_rs(store, n, pixels=pixels, fooled_share=share)

    finding = judged(tmp_path, plant, IMAGES, True)[FindingKey.PIXELS.value]
    assert finding.verdict is Verdict.HOLDS and finding.details["judged on the attack"] == "sparse-rs"
    assert finding.details["the other attacks"]["pixel"].startswith(Verdict.CANNOT_BE_JUDGED.value)
