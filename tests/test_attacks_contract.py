"""What every registered attack promises a user, checked for each one the moment it is registered: the
result's shape, exact query counts within the budget, reproducibility by seed, results that do not
depend on the batch, a smaller budget that is exactly the start of a larger one, successes that survive
a PNG round trip, and the target's own live threshold. A decision-based attack is given start images the
magenta targets call live; where it differs (it minimises pixels over its whole budget, and stops after its
start tries when no start is live), the test says so."""

from __future__ import annotations

import numpy as np
import pytest

from attack_targets import SIZE, LiarTarget, MagentaTarget, UnfoolableTarget, grey_images, magenta_starts
from fasrobust.attacks import (
    ATTACKS,
    AttackResult,
    apply_perturbation,
    attack_class,
    create_attack,
    list_attacks,
    score_at,
)
from fasrobust.attacks.base import DECISION
from fasrobust.attacks.verify import decode_png, encode_png

#: Each registered attack's declared smoke settings: enough budget to fool MagentaTarget on most images.
SMALL = {entry.name: entry.smoke for entry in ATTACKS.entries()}
NAMES = list_attacks()


class WithStarts:
    """An attack, given start images (`magenta_starts`) when it is decision-based."""

    def __init__(self, attack):
        self.attack = attack

    def __getattr__(self, name):
        return getattr(self.attack, name)

    def run(self, target, images, **kw):
        if self.attack.reads == DECISION:
            kw.setdefault("starts", magenta_starts())
        return self.attack.run(target, images, **kw)


def small(name: str, **kw):
    return WithStarts(create_attack(name, **{**SMALL[name], **kw}))


def spent_when_unfoolable(attack) -> int:
    """Queries an image costs when nothing is ever called live: the whole budget, or for a decision-based
    attack the clean query and its start tries."""
    if attack.reads == DECISION:
        return min(attack.query_budget, 1 + attack.config.start_tries)
    return attack.query_budget


def l0_at(result, queries):
    rows = np.asarray(result.l0_trajectory).reshape(-1, 2)
    at = np.searchsorted(rows[:, 0], queries, side="right") - 1
    return rows[at, 1] if at >= 0 else None


def same(a: AttackResult, b: AttackResult) -> None:
    assert (a.success, a.queries, a.p_live_after, a.verified) == (b.success, b.queries, b.p_live_after, b.verified)
    np.testing.assert_array_equal(a.perturbation, b.perturbation)
    np.testing.assert_array_equal(a.trajectory, b.trajectory)


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_attack_declares_a_description_and_valid_smoke_settings(name):
    entry = ATTACKS.entry(name)
    assert entry.description and entry.smoke, "declare them in register_attack(description=..., smoke=...)"
    assert attack_class(name).Settings.parse(entry.smoke, attack=name).query_budget() <= 1_000


@pytest.mark.parametrize("name", NAMES)
def test_results_keep_the_contract(name):
    attack = small(name)
    images = grey_images(5, seed=1)
    results = attack.run(MagentaTarget(), images, seed=0)
    assert any(r.success for r in results) and [r.index for r in results] == list(range(5))
    for r in results:
        assert isinstance(r, AttackResult) and isinstance(r.success, bool) and r.threshold == 0.5
        assert r.query_budget == attack.query_budget == attack.config.query_budget()
        assert 1 <= r.queries <= r.query_budget and r.queries == r.trajectory[-1, 0]
        assert r.perturbation.dtype.kind == "i" and r.perturbation.shape[1] == 5
        assert 1 <= len(r.perturbation) <= (attack.config.pixels or SIZE * SIZE)
        assert r.pixels_changed == len({(x, y) for x, y in r.perturbation[:, :2].tolist()})
        x, y, rgb = r.perturbation[:, 0], r.perturbation[:, 1], r.perturbation[:, 2:]
        assert (x >= 0).all() and (x < SIZE).all() and (y >= 0).all() and (y < SIZE).all()
        assert (rgb >= 0).all() and (rgb <= 255).all()
        assert tuple(r.trajectory[0]) == (1.0, 1.0 - r.p_live_before)
        assert np.all(np.diff(r.trajectory[:, 0]) > 0) and np.all(np.diff(r.trajectory[:, 1]) <= 0)
        # The perturbation, written into the image, is what the attack reports the target said about it.
        p_live = float(MagentaTarget()(apply_perturbation(images[r.index], r.perturbation)[None])[0])
        assert p_live == pytest.approx(r.p_live_after) and r.success == (p_live >= 0.5)
        if r.success:
            assert r.verified and r.trajectory[-1, 1] <= 0.5


@pytest.mark.parametrize("name", NAMES)
def test_query_counts_are_exact_and_the_budget_is_never_exceeded(name):
    for target in (MagentaTarget(), UnfoolableTarget()):
        attack = small(name)
        results = attack.run(target, grey_images(4), seed=2)
        checks = sum(r.extra["verification_queries"] for r in results)
        assert checks == sum(r.verified is not None for r in results)
        assert target.queries == sum(r.queries for r in results) + checks
        assert all(r.queries <= attack.query_budget for r in results)
    assert all(not r.success and r.queries == spent_when_unfoolable(attack) for r in results), "unfoolable"


@pytest.mark.parametrize("name", NAMES)
def test_the_same_seed_gives_the_same_result(name):
    images = grey_images(3, seed=5)
    first, again = (small(name).run(MagentaTarget(), images, seed=7) for _ in range(2))
    for a, b in zip(first, again, strict=True):
        same(a, b)
    # Unfoolable, a score-based search ends where its seed led it; a decision-based one then has no start.
    varied = MagentaTarget if small(name).reads == DECISION else UnfoolableTarget
    other = small(name).run(varied(), images, seed=8)
    assert any(not np.array_equal(a.perturbation, b.perturbation)
               for a, b in zip(small(name).run(varied(), images, seed=7), other, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_a_result_does_not_depend_on_the_batch(name):
    images = grey_images(5, seed=3)
    ids = [20, 21, 22, 23, 24]
    for target_type in (MagentaTarget, UnfoolableTarget):
        together = small(name).run(target_type(), images, seed=4, ids=ids)
        squeezed = small(name, max_active=2).run(target_type(), images, seed=4, ids=ids)
        for i in range(5):
            alone = small(name).run(target_type(), images[i:i + 1], seed=4, ids=ids[i:i + 1])[0]
            same(together[i], alone)
            same(squeezed[i], alone)


@pytest.mark.parametrize("name", NAMES)
def test_a_smaller_budget_is_exactly_the_start_of_a_larger_one(name):
    settings = attack_class(name).Settings(**SMALL[name])
    budget = getattr(settings, settings.budget_field)
    images = grey_images(6, seed=6)
    for make in (lambda: MagentaTarget(region=3), UnfoolableTarget):  # successes early, late, and none
        long = WithStarts(attack_class(name)(settings)).run(make(), images, seed=3)
        short = WithStarts(attack_class(name)(settings.with_budget(budget // 2))).run(make(), images, seed=3)
        for s, lg in zip(short, long, strict=True):
            assert s.query_budget < lg.query_budget
            for q in range(1, s.queries + 1):
                assert score_at(s.trajectory, q) == score_at(lg.trajectory, q)
                assert l0_at(s, q) == l0_at(lg, q)
            if attack_class(name).reads == DECISION:  # it shrinks the pixels to the end of its budget
                assert s.success == lg.success and s.start_id == lg.start_id
                assert s.queries == min(s.query_budget, lg.queries)
            elif lg.success and lg.queries <= s.query_budget:
                same(s, lg)  # found within the smaller budget: the very same result
            else:
                assert not s.success and s.queries == s.query_budget


@pytest.mark.parametrize("name", NAMES)
def test_every_success_is_reverified_from_its_png(name):
    images = grey_images(4, seed=1)
    honest = small(name).run(MagentaTarget(), images, seed=0)
    assert any(r.success for r in honest)
    for r in honest:
        if r.success:
            png = decode_png(encode_png(apply_perturbation(images[r.index], r.perturbation)))
            assert r.verified and MagentaTarget()(png[None])[0] >= 0.5
    lied = small(name).run(LiarTarget(MagentaTarget()), images, seed=0)
    assert any(r.p_live_after >= 0.5 for r in lied), "the search did see successes"
    for r in lied:
        assert not r.success and r.verified is not True
        if r.p_live_after >= 0.5:
            assert r.verified is False and r.extra["p_live_verified"] == pytest.approx(0.2)


@pytest.mark.parametrize("name", NAMES)
def test_an_image_already_called_live_costs_one_query(name):
    images = grey_images(3)
    images[1, 2, 3] = (250, 0, 250)
    target = MagentaTarget()
    results = small(name).run(target, images, seed=0)
    r = results[1]
    assert r.already_live and r.success and r.queries == 1 and r.perturbation.shape == (0, 5)
    assert r.verified is None and r.trajectory.tolist() == [[1.0, pytest.approx(0.1)]]
    assert not (results[0].already_live or results[2].already_live)
    assert target.queries == 1 + sum(r.queries + r.extra["verification_queries"] for r in (results[0], results[2]))


@pytest.mark.parametrize("name", NAMES)
def test_the_targets_own_threshold_decides(name):
    images = grey_images(4, seed=2)
    images[0, 4, 4] = (255, 0, 255)  # P(live) 0.6 from the start: live at 0.5, not at 0.7
    strict = MagentaTarget(live=0.6)
    strict.threshold = 0.7
    results = small(name).run(strict, images, seed=1)
    assert all(r.threshold == 0.7 and not r.success and not r.already_live for r in results)
    assert all(r.queries == spent_when_unfoolable(small(name)) for r in results), "0.6 is not live: to the end"
    lenient = MagentaTarget(live=0.6)
    results = small(name).run(lenient, images, seed=1)
    assert results[0].already_live and any(r.success and not r.already_live for r in results[1:])
    assert all(r.threshold == 0.5 for r in results)
