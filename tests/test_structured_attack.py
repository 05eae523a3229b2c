"""The structured attack sees what an isolated-pixel attack cannot: behind a 3x3 median filter, which
removes any isolated pixel by construction, scattered pixels change nothing (the recall drop the defences
table used to show), while one solid 3x3 square survives the filter and flips images. So a worst case taken
over both is not vacuous."""

from __future__ import annotations

import numpy as np
import pytest

from attack_targets import MagentaTarget, grey_images
from fasrobust.attacks import apply_perturbation, create_attack
from fasrobust.defences import defend

SIZE = 16


def test_behind_a_median_filter_isolated_pixels_fail_and_a_square_flips_images():
    images = grey_images(6, seed=11, size=SIZE)
    pipeline = defend(MagentaTarget(input_size=SIZE), ["median:3"])
    assert not any(pipeline(images) >= 0.5), "every image is called spoof before the attack"
    # One pixel is at most four of a 3x3 window (a corner pixel, which the filter's edge padding repeats), so
    # no placement of it survives the median: the isolated-pixel attacks report a recall drop of 0, whatever
    # their budget. (Two pixels in a corner can: six of that window. Sparse-RS finds that at 4 pixels.)
    for name, settings in (("sparse-rs", {"queries": 300}), ("pixel", {"population": 20, "iterations": 14})):
        isolated = create_attack(name, pixels=1, **settings).run(pipeline, images, seed=0)
        assert not any(r.success for r in isolated), name
    square = create_attack("patch", pixels=9, side=3, queries=300).run(pipeline, images, seed=0)
    flipped = [r for r in square if r.success]
    assert flipped, "a solid square survives the filter"
    for r in flipped:  # re-scored through the whole pipeline from the uint8 image
        adversarial = apply_perturbation(images[r.index], r.perturbation)
        assert r.verified and pipeline(adversarial[None])[0] >= 0.5 and r.pixels_changed == 9
        xs, ys = r.perturbation[:, 0], r.perturbation[:, 1]
        assert xs.max() - xs.min() == 2 and ys.max() - ys.min() == 2, "one 3x3 square"


@pytest.mark.parametrize(("settings", "problem"), [({"pixels": 10, "side": 3}, "multiple of side x side"),
                                                   ({"side": 40, "pixels": 1600}, "less than or equal to 32")])
def test_bad_patch_settings_are_one_line(settings, problem):
    from fasrobust.errors import AttackError

    with pytest.raises(AttackError, match=problem):
        create_attack("patch", **settings)


def test_per_pixel_and_any_colour_squares_keep_the_contract():
    images = grey_images(3, seed=2, size=SIZE)
    for fill, colours in (("per-pixel", "corners"), ("solid", "any")):
        results = create_attack("patch", pixels=8, side=2, queries=80, fill=fill, colours=colours).run(
            MagentaTarget(), images, seed=1)
        for r in results:
            assert len(r.perturbation) == 8 and r.queries <= 80
            assert np.all((r.perturbation[:, 2:] >= 0) & (r.perturbation[:, 2:] <= 255))
