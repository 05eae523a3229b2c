"""The few-pixel attack on small targets built here: it finds the one pixel that fools a target, never
reports what it cannot re-verify, counts queries exactly, and gives each image the same result
whichever batch it is attacked in."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasrobust.attacks import PixelAttack, apply_perturbation, create_attack, list_attacks
from fasrobust.attacks.canvas import Canvas, decode
from fasrobust.attacks.verify import decode_png, encode_png
from fasrobust.errors import AttackError
from fasrobust.targets.base import Target

SIZE = 12
SECRET_XY = (5, 7)  # x (column), y (row)
SECRET_RGB = torch.tensor([255.0, 0.0, 255.0])


class SecretPixelTarget(Target):
    """Called live only when pixel (x=5, y=7) is near magenta (within 110 in RGB distance). Elsewhere
    P(live) < 0.5, rising smoothly as any pixel gets closer to magenta and to (5, 7), so DE has a slope
    to follow. The images it is given are flat grey (128) with a little noise."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        colour = 1 - (x - SECRET_RGB).norm(dim=-1) / 442.0  # (n, H, W)
        ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        place = torch.exp(-((xs - SECRET_XY[0]) ** 2 + (ys - SECRET_XY[1]) ** 2) / 18.0)
        slope = 0.45 * (colour * place).flatten(1).max(dim=1).values
        hit = (x[:, SECRET_XY[1], SECRET_XY[0]] - SECRET_RGB).norm(dim=-1) < 110
        return torch.where(hit, 0.9, slope)


class UnfoolableTarget(Target):
    """P(live) = 0.45 * mean brightness: no few-pixel change gets it to 0.5 on a mid-grey image."""

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return 0.45 * images.float().mean(dim=(1, 2, 3)) / 255.0


class LiarTarget(SecretPixelTarget):
    """Like SecretPixelTarget, but answers 0.2 the second time it is shown an image it called live:
    a re-check through the PNG must catch it."""

    def __init__(self):
        super().__init__()
        self.live_seen: set[bytes] = set()

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        scores = super()._predict(images)
        for i in (scores >= 0.5).nonzero().flatten().tolist():
            key = images[i].cpu().numpy().tobytes()
            if key in self.live_seen:
                scores[i] = 0.2
            self.live_seen.add(key)
        return scores


def grey_images(n: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-8, 9, (n, SIZE, SIZE, 3))
    return (128 + noise).astype(np.uint8)


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
        assert r.p_live_after >= 0.5 and r.p_live_before < 0.5 and r.generations < 40
        # The PNG of the adversarial image, read back, is still called live.
        adversarial = decode_png(encode_png(apply_perturbation(images[r.index], r.perturbation)))
        assert target(adversarial[None])[0] >= 0.5


def test_a_target_no_few_pixel_change_can_fool_gets_no_success_and_full_budget():
    target = UnfoolableTarget()
    attack = PixelAttack(pixels=3, population=16, iterations=7)
    results = attack.run(target, grey_images(3), seed=0)
    for r in results:
        assert not r.success and r.verified is None and r.generations == 7
        assert r.queries == 1 + 16 * (7 + 1)
        assert len(r.fitness_history) == 8 and r.perturbation.shape == (3, 5)
        assert r.perturbation.dtype.kind == "i" and r.perturbation[:, 2:].max() <= 255
    assert target.queries == sum(r.queries for r in results)


def test_batched_results_equal_one_image_at_a_time():
    images = grey_images(5, seed=1)
    ids = [40, 41, 42, 43, 44]
    attack = small_attack(pixels=2, iterations=15)
    together = attack.run(SecretPixelTarget(), images, seed=9, ids=ids)
    squeezed = small_attack(pixels=2, iterations=15, max_active=2).run(SecretPixelTarget(), images, seed=9, ids=ids)
    for i in range(5):
        alone = attack.run(SecretPixelTarget(), images[i:i + 1], seed=9, ids=ids[i:i + 1])[0]
        for other in (together[i], squeezed[i]):
            assert (other.success, other.queries, other.generations) == (alone.success, alone.queries,
                                                                         alone.generations)
            np.testing.assert_array_equal(other.perturbation, alone.perturbation)
            np.testing.assert_array_equal(other.fitness_history, alone.fitness_history)


@pytest.mark.parametrize("strategy", ["rand1", "best1"])
def test_the_device_paths_give_the_results_of_the_cpu_fast_paths(monkeypatch, strategy):
    """On a CPU the random draws, the start population's sort and the bound redraws go through numpy;
    every other device takes the torch code. Both must attack identically (run here on the CPU)."""
    from fasrobust.attacks import rng

    images = grey_images(4, seed=3)
    attack = small_attack(pixels=3, iterations=12, strategy=strategy, cr=0.7, max_active=3)
    fast = attack.run(SecretPixelTarget(), images, seed=4)
    monkeypatch.setattr(rng, "NUMPY_FAST_PATHS", False)
    device_path = attack.run(SecretPixelTarget(), images, seed=4)
    for a, b in zip(fast, device_path, strict=True):
        assert (a.success, a.queries, a.generations, a.p_live_after) == (b.success, b.queries, b.generations,
                                                                          b.p_live_after)
        np.testing.assert_array_equal(a.perturbation, b.perturbation)
        np.testing.assert_array_equal(a.fitness_history, b.fitness_history)


def test_query_counts_are_exact_and_verification_is_counted_apart():
    target = SecretPixelTarget()
    images = grey_images(4)
    images[3, SECRET_XY[1], SECRET_XY[0]] = (250, 5, 250)  # already live before any change
    results = small_attack(iterations=30).run(target, images, seed=2)
    live = results[3]
    assert live.already_live and live.success and live.queries == 1 and live.generations == 0
    assert live.perturbation.shape == (0, 5) and live.verified is None
    attack_queries = sum(r.queries for r in results)
    checks = sum(r.extra.get("verification_queries", 0) for r in results)
    assert checks == sum(1 for r in results if r.verified is not None) == 3
    assert target.queries == attack_queries + checks
    for r in results[:3]:
        assert r.queries == 1 + 40 * (r.generations + 1)


def test_a_target_that_changes_its_answer_on_the_recheck_is_not_a_success():
    results = small_attack().run(LiarTarget(), grey_images(2), seed=3)
    for r in results:
        assert r.verified is False and r.success is False
        assert r.p_live_after >= 0.5, "the search did see it called live"
        assert "re-check" in r.note and r.extra["p_live_verified"] == pytest.approx(0.2)


def test_a_smaller_iteration_budget_is_exactly_a_prefix():
    images = grey_images(3, seed=4)
    short = PixelAttack(pixels=2, population=12, iterations=5).run(UnfoolableTarget(), images, seed=1)
    long = PixelAttack(pixels=2, population=12, iterations=10).run(UnfoolableTarget(), images, seed=1)
    for s, lg in zip(short, long, strict=True):
        np.testing.assert_array_equal(s.fitness_history, lg.fitness_history[:6])


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
    assert repr(attack) == "PixelAttack(pixels=3, population=50, iterations=200, f=0.5, cr=1.0, strategy='rand1')"
    with pytest.raises(AttackError, match="unknown attack"):
        create_attack("nope")
    with pytest.raises(AttackError, match="pixel"):
        create_attack("pixel", colours=3)
