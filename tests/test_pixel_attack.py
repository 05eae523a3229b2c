"""The DE few-pixel attack on small targets built here: it finds the one pixel that fools a target, spends
the paper's budget (population per generation) exactly, draws the same numbers on every device path, and
paints candidates exactly as `apply_perturbation` does. What every attack promises (batch independence,
prefix budgets, PNG re-verification, thresholds) is checked in test_attacks_contract.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_targets import SECRET_RGB, SECRET_XY, SIZE, SecretPixelTarget, UnfoolableTarget, grey_images
from fasrobust.attacks import apply_perturbation, create_attack, list_attacks
from fasrobust.attacks.engines.canvas import Canvas, decode
from fasrobust.attacks.pixel import PixelAttack
from fasrobust.attacks.verify import decode_png, encode_png
from fasrobust.errors import AttackError


def small_attack(**kw) -> PixelAttack:
    return PixelAttack(**{"pixels": 1, "population": 40, "iterations": 40, **kw})


def test_finds_the_one_pixel_that_fools_the_target():
    target = SecretPixelTarget()
    images = grey_images(4)
    results = small_attack().run(target, images, seed=3)
    assert all(r.success and r.verified for r in results)
    for r in results:
        (x, y, *rgb), = r.perturbation
        assert (x, y) == SECRET_XY
        assert np.linalg.norm(np.array(rgb) - SECRET_RGB.numpy()) < 110
        assert r.p_live_after >= 0.5 and r.p_live_before < 0.5 and r.extra["generations"] < 40
        # The PNG of the adversarial image, read back, is still called live.
        adversarial = decode_png(encode_png(apply_perturbation(images[r.index], r.perturbation)))
        assert target(adversarial[None])[0] >= 0.5


def test_a_target_no_few_pixel_change_can_fool_gets_no_success_and_full_budget():
    target = UnfoolableTarget()
    attack = PixelAttack(pixels=3, population=16, iterations=7)
    results = attack.run(target, grey_images(3), seed=0)
    for r in results:
        assert not r.success and r.verified is None and r.extra["generations"] == 7
        assert r.queries == r.query_budget == 1 + 16 * (7 + 1)
        # One trajectory point per generation at most, each at the queries spent when it ended.
        assert set(r.trajectory[1:, 0]) <= {1 + 16 * (g + 1) for g in range(8)} and r.trajectory[-1, 0] == r.queries
        assert r.perturbation.shape == (3, 5)
        assert r.perturbation.dtype.kind == "i" and r.perturbation[:, 2:].max() <= 255
    assert target.queries == sum(r.queries for r in results)


@pytest.mark.parametrize("strategy", ["rand1", "best1"])
def test_the_device_paths_give_the_results_of_the_cpu_fast_paths(monkeypatch, strategy):
    """On a CPU the random draws, the start population's sort and the bound redraws go through numpy;
    every other device takes the torch code. Both must attack identically (run here on the CPU)."""
    from fasrobust.attacks.engines import rng

    images = grey_images(4, seed=3)
    attack = small_attack(pixels=3, iterations=12, strategy=strategy, cr=0.7, max_active=3)
    fast = attack.run(SecretPixelTarget(), images, seed=4)
    monkeypatch.setattr(rng, "NUMPY_FAST_PATHS", False)
    device_path = attack.run(SecretPixelTarget(), images, seed=4)
    for a, b in zip(fast, device_path, strict=True):
        assert (a.success, a.queries, a.p_live_after) == (b.success, b.queries, b.p_live_after)
        assert a.extra["generations"] == b.extra["generations"]
        np.testing.assert_array_equal(a.perturbation, b.perturbation)
        np.testing.assert_array_equal(a.trajectory, b.trajectory)


def test_a_success_counts_every_candidate_of_its_last_generation():
    target = SecretPixelTarget()
    results = small_attack(iterations=30).run(target, grey_images(3), seed=2)
    for r in results:
        assert r.success and r.queries == 1 + 40 * (r.extra["generations"] + 1)
    assert target.queries == sum(r.queries + r.extra["verification_queries"] for r in results)


def test_painted_candidates_equal_apply_perturbation_even_with_repeated_pixels():
    gen = torch.Generator().manual_seed(0)
    originals = torch.randint(0, 256, (3, 6, 5, 3), dtype=torch.uint8, generator=gen)
    canvas = Canvas(originals, capacity=3, population=4)
    slots, problems = torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1])
    canvas.load(slots, problems)
    unit = torch.rand(3, 4, 15, generator=gen, dtype=torch.float64)
    unit[..., 5:7] = unit[..., 0:2]  # pixel 2 lands where pixel 1 is: the later one must win
    pixels = decode(unit, 6, 5)
    painted = canvas.paint(slots, pixels, dense=True).clone()
    for k in range(3):
        for m in range(4):
            expected = apply_perturbation(originals[problems[k]].numpy(), pixels[k, m].numpy())
            np.testing.assert_array_equal(painted[k * 4 + m].numpy(), expected)
    canvas.restore()
    np.testing.assert_array_equal(canvas.buffer.numpy(), originals[problems].unsqueeze(1).expand(-1, 4, -1, -1, -1))


def test_decode_maps_the_unit_cube_onto_every_integer_equally():
    unit = torch.tensor([[0.0, 0.0, 0.0, 0.5, 0.999], [1.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    assert decode(unit, 10, 20).tolist() == [[[0, 0, 0, 128, 255]], [[19, 9, 255, 255, 255]]]


@pytest.mark.parametrize("bad", [dict(pixels=0), dict(pixels=2.5), dict(iterations=0), dict(population=3),
                                 dict(f=0), dict(f=3.0), dict(cr=2), dict(strategy="best2"), dict(max_active=0)])
def test_settings_out_of_range_are_one_line_errors(bad):
    with pytest.raises(AttackError) as err:
        PixelAttack(**bad)
    assert "\n" not in str(err.value)
    if "max_active" not in bad:
        assert str(err.value).startswith("attack 'pixel': ")


def test_a_bad_setting_names_the_attack_the_field_and_the_rule():
    with pytest.raises(AttackError, match=r"^attack .pixel.: pixels: Value error, pixels must lie in \[1, 1024\]"):
        PixelAttack(pixels=0)


def test_bad_inputs_are_one_line_errors():
    attack = small_attack()
    with pytest.raises(AttackError, match="no images"):
        attack.run(UnfoolableTarget(), np.zeros((0, SIZE, SIZE, 3), np.uint8))
    with pytest.raises(AttackError, match="uint8"):
        attack.run(UnfoolableTarget(), np.zeros((1, SIZE, SIZE, 3), np.float32))
    with pytest.raises(AttackError, match="unique"):
        attack.run(UnfoolableTarget(), grey_images(2), ids=[1, 1])


def test_registry_and_repr_show_the_settings():
    assert "pixel" in list_attacks()
    attack = create_attack("pixel", pixels=3, population=50)
    assert repr(attack) == "PixelAttack(pixels=3, population=50, iterations=200, f=0.5, cr=1.0, strategy='rand1', eot=None)"
    with pytest.raises(AttackError, match="unknown attack"):
        create_attack("nope")
    with pytest.raises(AttackError, match="pixel"):
        create_attack("pixel", colours=3)
