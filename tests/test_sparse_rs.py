"""Sparse-RS on small targets built here: it finds pixels planted in a target, moves as many pixels per
query as the authors' schedule says, paints only the colours it was told to, and rejects bad settings
with one line. (What every attack promises is in test_attacks_contract.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_targets import PlantedPixelsTarget, UnfoolableTarget, grey_images
from fasrobust.attacks import create_attack
from fasrobust.attacks.sparse_rs import SparseRSAttack, SparseRSSettings
from fasrobust.errors import AttackError
from fasrobust.targets.base import Target

SECRETS = [(1, 2, (255, 0, 255)), (7, 3, (0, 255, 0)), (4, 8, (255, 255, 0))]


class ConstantTarget(Target):
    """P(live) 0.3 for every image, and a record of every batch it scored: every candidate ties, so
    every candidate is accepted and each query's image shows exactly what one iteration changed."""

    def __init__(self):
        super().__init__()
        self.batches: list[np.ndarray] = []

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        self.batches.append(images.cpu().numpy().copy())
        return torch.full((len(images),), 0.3, dtype=torch.float64)


def test_finds_the_planted_pixels_and_their_colours():
    images = grey_images(4, seed=2, size=10)
    results = SparseRSAttack(pixels=6, queries=6000).run(PlantedPixelsTarget(SECRETS), images, seed=1)
    for r in results:
        assert r.success and r.verified and r.queries < 6000
        placed = {(x, y): (red, green, blue) for x, y, red, green, blue in r.perturbation.tolist()}
        assert all(placed.get((x, y)) == rgb for x, y, rgb in SECRETS), "every secret pixel, in its colour"
    assert np.median([r.queries for r in results]) < 3000


def test_a_pixel_short_of_the_secret_is_not_a_success():
    images = grey_images(2, seed=2, size=10)
    results = SparseRSAttack(pixels=2, queries=400).run(PlantedPixelsTarget(SECRETS), images, seed=1)
    assert not any(r.success for r in results), "two pixels cannot set three secrets"
    assert all(r.queries == 400 for r in results)


def test_the_schedule_divides_p_init_as_the_authors_l0_schedule():
    s = SparseRSSettings(pixels=9, p_init=0.8)
    at = [0, 1, 50, 51, 200, 201, 500, 501, 1000, 1001, 2000, 2001, 4000, 4001, 6000, 6001, 8000, 8001, 50_000]
    divisors = [1, 2, 2, 4, 4, 5, 5, 6, 6, 8, 8, 10, 10, 12, 12, 15, 15, 20, 20]
    np.testing.assert_allclose(s.fraction(np.array(at)), 0.8 / np.array(divisors))
    # Laid out for 1,000 queries: iteration i counts as i * 10; 0 means "the budget itself" (the authors).
    short = SparseRSSettings(p_init=0.8, schedule_queries=1000)
    assert short.fraction(5) == 0.4 and short.fraction(6) == 0.2
    assert SparseRSSettings(p_init=0.8, queries=1000, schedule_queries=0).fraction(6) == 0.2
    assert SparseRSSettings(p_init=0.8, queries=1000).fraction(6) == 0.4, "the default does not follow queries"
    assert s.moved(np.array([0, 1, 51, 8001])).tolist() == [7, 4, 2, 1]  # max(1, round(p * k))
    assert SparseRSSettings().moved(1) == 1 and SparseRSSettings().p_init == 0.3


def test_each_iteration_moves_the_scheduled_number_of_pixels_and_accepts_ties():
    k, queries = 20, 60
    target = ConstantTarget()
    original = grey_images(1, size=16)
    attack = SparseRSAttack(pixels=k, queries=queries, p_init=0.8, schedule_queries=1000)
    r = attack.run(target, original, seed=0)[0]
    assert not r.success and r.queries == queries
    candidates = np.concatenate(target.batches[1:])[:, :, :, :]  # the clean image's query first
    assert len(candidates) == queries - 1

    def changed(a, b):
        return int((a != b).any(axis=-1).sum())

    assert changed(candidates[0], original[0]) == k, "the start: k distinct pixels"
    for i in range(1, len(candidates)):
        # Ties are accepted, so each candidate starts from the last: m pixels leave, m arrive elsewhere.
        assert changed(candidates[i], candidates[i - 1]) == 2 * attack.config.moved(i)
        assert changed(candidates[i], original[0]) == k
    last = {(x, y) for x, y, *_ in r.perturbation.tolist()}
    assert last == {(x, y) for y, x in zip(*np.nonzero((candidates[-1] != original[0]).any(-1)), strict=True)}


@pytest.mark.parametrize("colours", ["corners", "any"])
def test_new_pixels_take_the_chosen_colours(colours):
    target = ConstantTarget()
    original = grey_images(2, size=16)
    SparseRSAttack(pixels=8, queries=30, colours=colours).run(target, original, seed=3)
    painted = np.concatenate([b[None] for b in target.batches[1:]])  # (queries, 2, H, W, 3)
    values = painted[(painted != original[None]).any(-1)]
    corners = np.isin(values, (0, 255)).all(axis=-1)
    assert len(values) > 0 and (corners.all() if colours == "corners" else not corners.any())


def test_the_device_paths_give_the_results_of_the_cpu_fast_paths(monkeypatch):
    from fasrobust.attacks.engines import rng

    images = grey_images(3, seed=4, size=10)
    attack = SparseRSAttack(pixels=4, queries=300, max_active=2)
    fast = attack.run(PlantedPixelsTarget(SECRETS[:2]), images, seed=5)
    monkeypatch.setattr(rng, "NUMPY_FAST_PATHS", False)
    device_path = attack.run(PlantedPixelsTarget(SECRETS[:2]), images, seed=5)
    for a, b in zip(fast, device_path, strict=True):
        assert (a.success, a.queries, a.p_live_after) == (b.success, b.queries, b.p_live_after)
        np.testing.assert_array_equal(a.perturbation, b.perturbation)
        np.testing.assert_array_equal(a.trajectory, b.trajectory)


@pytest.mark.parametrize("bad", [dict(pixels=0), dict(pixels=2.5), dict(queries=1), dict(queries=True),
                                 dict(p_init=0), dict(p_init=1.5), dict(colours="rainbow"),
                                 dict(schedule_queries=-1), dict(population=40), dict(max_active=0)])
def test_settings_out_of_range_are_one_line_errors(bad):
    with pytest.raises(AttackError) as err:
        SparseRSAttack(**bad)
    assert "\n" not in str(err.value)
    if "max_active" not in bad:
        assert str(err.value).startswith("attack 'sparse-rs': ")


def test_an_image_too_small_for_the_pixels_is_a_one_line_error():
    with pytest.raises(AttackError, match="too few pixels"):
        SparseRSAttack(pixels=9).run(UnfoolableTarget(), grey_images(1, size=4))


def test_registry_budget_and_repr():
    attack = create_attack("sparse-rs", pixels=3, queries=500)
    assert attack.query_budget == 500 and SparseRSSettings.budget_field == "queries"
    assert repr(attack) == ("SparseRSAttack(pixels=3, queries=500, p_init=0.3, colours='corners', "
                            "schedule_queries=10000, eot=None)")
    assert create_attack("sparse-rs", colours="ANY").config.colours == "any"
