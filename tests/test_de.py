"""The batched DE engine: statistically the same optimiser as scipy's differential_evolution, and
reproducible per problem (independent of batch company, capacity, and iteration budget)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import differential_evolution
from scipy.stats import ks_2samp

from fasrobust.attacks.engines import rng
from fasrobust.attacks.engines.de import BatchedDE, DEConfig, Step, Strategy, _argsort_rows, minimize
from fasrobust.errors import AttackError


def sphere(x: np.ndarray) -> np.ndarray:
    return (x ** 2).sum(-1)


def rastrigin(x: np.ndarray) -> np.ndarray:
    return 10 * x.shape[-1] + (x ** 2 - 10 * np.cos(2 * np.pi * x)).sum(-1)


def rosenbrock(x: np.ndarray) -> np.ndarray:
    return (100 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2).sum(-1)


SEEDS = 48
POPULATION = 20
GENERATIONS = 15


@pytest.mark.parametrize(("func", "dim", "limit"), [(sphere, 4, 5.0), (rastrigin, 2, 5.12), (rosenbrock, 2, 2.0)])
@pytest.mark.parametrize(("strategy", "cr"), [("rand1", 1.0), ("rand1", 0.7), ("best1", 0.7)])
def test_best_value_distribution_matches_scipy(func, dim, limit, strategy, cr):
    """Tolerance: over 48 seeds each, the best values after 15 generations pass a two-sample KS test
    against scipy's (p > 0.01), and each median lies inside the other's interquartile range (the values
    spread over decades, so a fixed ratio would be too tight for some functions). Same strategy, F, CR,
    population (scipy's popsize is a multiplier of D, so popsize = 20 / D), Latin hypercube start,
    deferred updating, no polish, no tolerance stop."""
    bounds = [(-limit, limit)] * dim
    config = DEConfig(population=POPULATION, iterations=GENERATIONS, f=0.5, cr=cr, strategy=strategy)
    outcomes = minimize(func, bounds, seeds=range(SEEDS), config=config)
    ours = np.array([o.fitness for o in outcomes])
    theirs = np.array([
        differential_evolution(lambda x: func(x.T), bounds, strategy=f"{strategy}bin", popsize=POPULATION // dim,
                               mutation=0.5, recombination=cr, maxiter=GENERATIONS, polish=False, tol=0, atol=0,
                               init="latinhypercube", vectorized=True, updating="deferred", rng=seed).fun
        for seed in range(SEEDS)])
    start = np.median([o.history[0] for o in outcomes])
    assert np.median(ours) < start / 3, "the engine must actually optimise"
    assert ks_2samp(ours, theirs).pvalue > 0.01
    for a, b in ((ours, theirs), (theirs, ours)):
        low, high = np.quantile(b, [0.25, 0.75])
        assert low <= np.median(a) <= high
    assert all(o.generations == GENERATIONS and o.evaluations == POPULATION * (GENERATIONS + 1) for o in outcomes)
    assert all(np.all(np.diff(o.history) <= 0) for o in outcomes), "the best fitness never gets worse"


def _engine(population=12, iterations=6, dim=3, **kw) -> BatchedDE:
    return BatchedDE(DEConfig(population=population, iterations=iterations, **kw), dim=dim)


def test_start_population_is_a_latin_hypercube():
    engine = _engine(population=16, dim=5)
    pop = engine._latin_hypercube(rng.problem_keys(3, [0, 1]))
    assert pop.shape == (2, 16, 5)
    strata = (pop * 16).floor().long()
    for p in range(2):
        for d in range(5):
            assert sorted(strata[p, :, d].tolist()) == list(range(16)), "one point per stratum"


@pytest.mark.parametrize("numpy_paths", [True, False], ids=["cpu-numpy", "device-torch"])
def test_fast_random_paths_draw_exactly_the_defined_numbers(monkeypatch, numpy_paths):
    monkeypatch.setattr(rng, "NUMPY_FAST_PATHS", numpy_paths)
    gen = torch.Generator().manual_seed(0)
    keys = torch.randint(-2**63, 2**63 - 1, (6,), dtype=torch.int64, generator=gen)
    generation = torch.tensor([0, 1, 7, 2**20, 2**26 - 1, 3])
    for stream, shape in [(0, (5, 300)), (5, (1,)), (2, (20000, 7))]:  # the last one spans several CPU pieces
        slot = torch.arange(int(np.prod(shape)))
        expected = rng.uniform_at(keys.view(6, 1), generation.view(6, 1), stream, slot)
        assert torch.equal(rng.uniform(keys, generation, stream, shape).view(6, -1), expected)
        problem = torch.randint(0, 6, (70000,), generator=gen)
        where = torch.randint(0, len(slot), (70000,), generator=gen)
        assert torch.equal(rng.uniform_pairs(keys, generation, stream, problem, slot[where]), expected[problem, where])


def test_start_population_sorts_exactly_like_torch():
    u = rng.uniform(rng.problem_keys(2, range(4)), torch.zeros(4, dtype=torch.int64), 0, (3, 400))
    assert torch.equal(_argsort_rows(u), u.argsort(dim=-1))
    ties = torch.tensor([[0.5, 0.25, 0.5, 0.0, 0.25]], dtype=torch.float64)
    assert _argsort_rows(ties).tolist() == [[3, 1, 4, 0, 2]], "ties in column order, deterministically"


def test_mutation_indices_are_distinct_and_exclude_the_parent():
    engine = _engine(population=7)
    u = rng.uniform(rng.problem_keys(0, range(50)), torch.zeros(50, dtype=torch.int64), 2, (7, 3))
    picks = engine._distinct_indices(u)
    own = torch.arange(7).view(1, 7, 1)
    allidx = torch.cat([picks, own.expand(50, 7, 1)], dim=-1)
    assert int(allidx.sort(dim=-1).values.diff(dim=-1).min()) >= 1, "all four different"
    counts = torch.bincount(picks[..., 0].flatten(), minlength=7).float()
    assert counts.min() > 0.7 * counts.mean(), "roughly uniform over the members"


def _run(keys, *, capacity=None, iterations=6):
    engine = _engine(iterations=iterations)
    return engine.minimize(lambda s: (s.candidates - 0.3).pow(2).sum(-1), keys, capacity=capacity)


def test_a_problem_result_does_not_depend_on_its_batch_or_capacity():
    keys = rng.problem_keys(5, [10, 11, 12, 13, 14])
    together = _run(keys)
    alone = _run(keys[2:3])[0]
    squeezed = _run(keys, capacity=2)
    np.testing.assert_array_equal(together[2].history, alone.history)
    np.testing.assert_array_equal(together[2].x, alone.x)
    for a, b in zip(together, squeezed, strict=True):
        np.testing.assert_array_equal(a.history, b.history)


def test_a_smaller_budget_is_a_prefix_of_a_larger_one():
    keys = rng.problem_keys(1, [0, 1, 2])
    short, long = _run(keys, iterations=5), _run(keys, iterations=10)
    for s, lg in zip(short, long, strict=True):
        assert len(s.history) == 6 and len(lg.history) == 11
        np.testing.assert_array_equal(s.history, lg.history[:6])


def test_stop_at_ends_a_problem_early_and_refills_its_slot():
    seen = []

    def objective(step: Step) -> torch.Tensor:
        seen.append(step.problems.tolist())
        return (step.candidates - 0.5).abs().sum(-1)

    engine = _engine(population=10, iterations=50, dim=1)
    out = engine.minimize(objective, rng.problem_keys(0, range(4)), stop_at=0.05, capacity=2)
    assert all(o.fitness <= 0.05 and o.generations < 50 for o in out)
    assert seen[0] == [0, 1] and any(2 in s for s in seen), "a freed slot takes the next problem"


@pytest.mark.parametrize("bad", [dict(population=3), dict(population=2, strategy="best1"), dict(iterations=0),
                                 dict(f=0.0), dict(f=2.5), dict(f=(0.9, 0.5)), dict(cr=1.5), dict(cr=-0.1),
                                 dict(strategy="rand2")])
def test_bad_settings_are_one_line_attack_errors(bad):
    """Validated once, by the attack's settings model that builds the engine's DEConfig."""
    from fasrobust.attacks import attack_settings

    with pytest.raises(AttackError) as err:
        attack_settings("pixel", bad)
    assert "\n" not in str(err.value) and "attack 'pixel'" in str(err.value)


def test_strategy_names_accept_scipy_spelling():
    assert Strategy.parse("best1bin") is Strategy.BEST1


def test_dithered_f_differs_between_generations_and_still_optimises():
    out = minimize(sphere, [(-1, 1)] * 2, seeds=range(4),
                   config=DEConfig(population=10, iterations=20, f=(0.5, 1.0)))
    assert all(o.fitness < o.history[0] for o in out)
