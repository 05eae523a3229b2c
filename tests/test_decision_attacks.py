"""What the decision-based attacks and the decision targets promise beyond every attack's contract
(test_attacks_contract.py): the documented start rule, the pixel goal, targets that answer only live or
spoof (a label-only view, booleans and class indices from a callable, the top class of an ONNX model),
score attacks refused on them, and `pixels: auto` giving each image's smallest pixel count."""

from __future__ import annotations

import numpy as np
import pytest

import fasrobust
from attack_targets import BrightnessTarget, MagentaTarget, grey_images
from fasrobust.attacks import StartPool, create_attack
from fasrobust.attacks.engines.rng import image_generator, problem_keys
from fasrobust.errors import AttackError, TargetError
from fasrobust.targets import load_target
from fasrobust.targets.python_target import PythonTarget

DECIDERS = ["sparse-evo", "pointwise"]


def bright_starts(n: int = 6, size: int = 12) -> StartPool:
    images = np.random.default_rng(5).integers(150, 256, (n, size, size, 3)).astype(np.uint8)
    return StartPool.of(images, ids=range(500, 500 + n), subjects=[f"s{i % 3}" for i in range(n)])


# ----- the start rule ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DECIDERS)
def test_the_start_is_the_first_live_image_of_another_subject_in_the_seeded_order(name):
    pool = bright_starts()
    target = BrightnessTarget()
    images = grey_images(3, seed=1)
    subjects = ["s0", "s1", "s2"]
    results = create_attack(name, queries=60).run(target, images, seed=4, ids=[7, 8, 9], starts=pool,
                                                  subjects=subjects)
    keys = problem_keys(4, [7, 8, 9])
    for r, key, subject, image_id in zip(results, keys, subjects, [7, 8, 9], strict=True):
        order = pool.candidates(image_generator(int(key)), subject, 20, image_id)
        assert r.start_id == int(pool.ids[order[0]]), "every bright start is live: the first is taken"
        assert pool.subjects[order[0]] != subject and subject not in set(pool.subjects[order])
        assert r.extra["start_tries"] == 1 and r.l0_trajectory[0, 0] == 2  # the clean query, then the start


@pytest.mark.parametrize("name", DECIDERS)
def test_no_live_start_is_a_failure_after_its_tries_with_a_note(name):
    dark = StartPool.of(grey_images(4, seed=2))
    results = create_attack(name, queries=100, start_tries=3).run(BrightnessTarget(), grey_images(2), starts=dark)
    for r in results:
        assert not r.success and r.queries == 1 + 3 and r.start_id is None and len(r.perturbation) == 0
        assert "none of the 3 start images tried is called live" in r.note


def test_a_decision_attack_without_starts_says_how_to_give_them():
    with pytest.raises(AttackError, match="give start images"):
        create_attack("sparse-evo", queries=50).run(MagentaTarget(), grey_images(1))


# ----- the pixel goal, and how close to the fewest pixels -------------------------------------------------------
def test_sparse_evo_gets_close_to_the_fewest_pixels_and_pointwise_stops_at_a_local_minimum():
    target = BrightnessTarget()
    images = grey_images(4, seed=3)
    fewest = [target.fewest_pixels(image) for image in images]
    evo = create_attack("sparse-evo", queries=400).run(target, images, starts=bright_starts())
    point = create_attack("pointwise", queries=400).run(target, images, starts=bright_starts())
    for e, p, least in zip(evo, point, fewest, strict=True):
        assert e.success and e.verified and least <= e.pixels_changed <= least + 2, (e.pixels_changed, least)
        assert p.success and p.pixels_changed > e.pixels_changed  # start colours only: many more pixels
        if p.queries < 400:  # it stopped early: a whole pass could put no single pixel back
            assert p.extra["moves"]["revert"][0] >= p.pixels_changed


@pytest.mark.parametrize("name", DECIDERS)
def test_the_pixel_goal_stops_an_image_once_reached_and_success_means_reached(name):
    target = BrightnessTarget()
    images = grey_images(3, seed=3)
    reached = create_attack(name, queries=400, pixels=60).run(target, images, starts=bright_starts())
    for r in reached:
        assert r.success and r.pixels_changed <= 60 and r.queries < 400
        assert r.l0_trajectory[-1, 1] == r.pixels_changed
    missed = create_attack(name, queries=60, pixels=2).run(target, images, starts=bright_starts())
    for r in missed:
        assert not r.success and r.verified and r.pixels_changed > 2, "called live, with more pixels than asked"


# ----- targets that answer only a decision ---------------------------------------------------------------------
def test_label_only_hides_the_score_and_score_attacks_are_refused_in_one_line():
    images = grey_images(4, seed=1)
    images[0] = 250
    target = BrightnessTarget().hide_score()
    assert target.answers_decisions and target(images).tolist() == [1.0, 0.0, 0.0, 0.0]
    for name in ("pixel", "sparse-rs"):
        with pytest.raises(AttackError) as err:
            create_attack(name).run(target, images)
        assert str(err.value) == (f"{name} reads scores, and {target.name} answers only live or spoof; use a "
                                  "decision-based attack: pointwise, sparse-evo")
    results = fasrobust.attack(target, images, attack="sparse-evo", queries=80,
                               starts=bright_starts().images, check=False)
    assert results["answer"].eq("decision").all() and results["success"].all()
    assert results.loc[1:, "start_id"].notna().all() and results.loc[0, "already_live"]


def _bright(batch: np.ndarray) -> np.ndarray:
    return batch.astype(np.float64).mean(axis=(1, 2, 3)) >= 131


def test_a_callable_answering_booleans_or_class_indices_is_a_decision_target():
    images = grey_images(4, seed=1)
    images[2] = 240
    booleans = PythonTarget(_bright, {"output": {"kind": "decision"}})
    assert booleans.answers_decisions and booleans(images).tolist() == [0.0, 0.0, 1.0, 0.0]
    flipped = PythonTarget(lambda b: ~_bright(b), {"output": {"kind": "decision", "spoof_score": True}})
    assert flipped(images).tolist() == [0.0, 0.0, 1.0, 0.0]
    indices = PythonTarget(lambda b: np.where(_bright(b), 2, 0), {"output": {"kind": "decision", "live_index": 2}})
    assert indices(images).tolist() == [0.0, 0.0, 1.0, 0.0]
    with pytest.raises(TargetError, match="holds class indices, and nothing says which is live; set --live-index"):
        PythonTarget(lambda b: np.where(_bright(b), 2, 0), {"output": {"kind": "decision"}})(images)
    with pytest.raises(TargetError, match="not class indices"):
        PythonTarget(lambda b: b.mean(axis=(1, 2, 3)) / 255, {"output": {"kind": "decision", "live_index": 1}})(images)


def test_an_onnx_model_read_as_a_decision_answers_its_top_class(tmp_path, rng):
    pytest.importorskip("onnxruntime")
    from target_models import Net, onnx_graph, pick_images, reference

    net = Net(classes=2)
    path = onnx_graph(net, tmp_path / "two.onnx", head="softmax")
    want = reference(net, "softmax", live=0)
    images = pick_images(want, rng, spoof=4, live=3)
    decisions = load_target(path, {"output": {"kind": "decision", "live_index": 0}, "input": {"scale": 1 / 255}})
    assert decisions.answers_decisions
    assert decisions(images).tolist() == (want(images) >= 0.5).astype(float).tolist()
    assert "top class" in decisions.description()["decision"]


# ----- pixels: auto -------------------------------------------------------------------------------------------
def test_pixels_auto_doubles_then_bisects_to_each_images_smallest_count():
    target = BrightnessTarget(bright=129.5)
    images = grey_images(3, seed=3)
    fewest = [target.fewest_pixels(image) for image in images]
    results = create_attack("sparse-rs", pixels="auto", queries=1600).run(target, images, seed=1)
    for r, least in zip(results, fewest, strict=True):
        attempts = r.extra["attempts"]
        tried = [k for k, _, _ in attempts]
        assert r.success and r.verified and r.pixels_changed == r.extra["smallest_pixels"] >= least
        doubling = tried[:tried.index(next(k for k, ok, _ in attempts if ok)) + 1]
        assert doubling == [2 ** i for i in range(len(doubling))], tried
        failed = max((k for k, ok, _ in attempts if not ok), default=0)
        assert r.extra["smallest_pixels"] == min(k for k, ok, _ in attempts if ok) and failed < r.pixels_changed
        assert r.queries == sum(q for _, _, q in attempts) <= r.query_budget == 1600
        assert all(q <= 1600 // 8 for _, _, q in attempts)
        assert r.l0_trajectory[-1, 1] == r.pixels_changed


def test_pixels_auto_is_a_setting_the_cli_and_specs_accept_and_a_bad_value_is_one_line():
    assert create_attack("pixel", pixels="auto", iterations=10).config.auto_pixels
    with pytest.raises(AttackError, match="pixels must be a whole number or 'auto'"):
        create_attack("sparse-rs", pixels="many")
