"""The augmentation settings (the paper's eight, impulse noise, and their combinations): each changes what it
should and nothing else. Equality with the real Keras libraries is tests/test_augment_keras.py."""

from __future__ import annotations

import math
import re

import pytest
import torch

from fasrobust.errors import ConfigError
from fasrobust.training.augment import (
    AffineParams,
    AugmentSetting,
    augment_names,
    build_augmenter,
    canonical_augment,
)
from fasrobust.training.train_settings import TrainSettings


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 8, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=_generator(seed)) * 255


def test_none_is_identity():
    batch = _batch()
    assert torch.equal(build_augmenter("none")(batch, _generator()), batch)


def test_shift_moves_a_bright_pixel_by_the_drawn_amount():
    batch = torch.zeros(2, 3, 16, 16)
    batch[:, :, 8, 5] = 255.0
    aug = build_augmenter("shift")
    params = aug.sample_params(2, _generator(), size=(16, 16))
    params["affine"] = AffineParams(theta=torch.zeros(2), tx=torch.tensor([3.0, -2.0]), ty=torch.tensor([-1.0, 4.0]),
                                    shear=torch.zeros(2), zx=torch.ones(2), zy=torch.ones(2))
    out = aug.apply(batch, params)
    # Keras: output (r, c) samples input (r + tx, c + ty), so content moves by (-tx, -ty).
    for i, (row, col) in enumerate([(5, 6), (10, 1)]):
        bright = (out[i, 0] > 127).nonzero().tolist()
        assert bright == [[row, col]]
        assert torch.allclose(out[i, :, row, col], torch.full((3,), 255.0))


def test_shift_draws_fractions_of_the_size_and_touches_nothing_else():
    params = build_augmenter("shift", width_shift=0.25, height_shift=0.1).sample_params(
        2000, _generator(), size=(40, 20))["affine"]
    assert params.tx.abs().max() <= 4.0 and params.tx.abs().max() > 3.8  # height: 0.1 * 40
    assert params.ty.abs().max() <= 5.0 and params.ty.abs().max() > 4.8  # width: 0.25 * 20
    assert not params.theta.any() and not params.shear.any()
    assert torch.equal(params.zx, torch.ones(2000)) and torch.equal(params.zy, torch.ones(2000))
    in_pixels = build_augmenter("shift", width_shift=3.0, height_shift=0).sample_params(
        2000, _generator(), size=(40, 20))["affine"]
    assert in_pixels.ty.abs().max() <= 3.0 and in_pixels.ty.abs().max() > 2.9  # a float >= 1: pixels
    assert not in_pixels.tx.any()


def test_integer_shift_ranges_draw_integer_pixels():
    params = build_augmenter("shift", width_shift=3, height_shift=1).sample_params(
        2000, _generator(), size=(40, 20))["affine"]
    assert set(params.ty.tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}  # Keras: choice(range(3)) * +-1
    assert not params.tx.any()  # range 1: choice(range(1)) is always 0


@pytest.mark.parametrize(("setting", "field", "low", "high"), [
    ("rotation", "theta", -math.radians(40), math.radians(40)),
    ("shear", "shear", -math.radians(0.2), math.radians(0.2)),  # Keras 2 reads shear_range in degrees
    ("zoom", "zx", 0.8, 1.2),
    ("zoom", "zy", 0.8, 1.2),
])
def test_affine_parameters_stay_in_range_and_use_it(setting, field, low, high):
    params = build_augmenter(setting).sample_params(4000, _generator(), size=(32, 32))["affine"]
    values = getattr(params, field)
    assert values.min() >= low - 1e-6 and values.max() <= high + 1e-6
    assert values.min() < low + 0.02 * (high - low) and values.max() > high - 0.02 * (high - low)
    assert not params.tx.any() and not params.ty.any()


def test_zoom_draws_axes_independently_and_shear_unit_is_honoured():
    zoom = build_augmenter("zoom").sample_params(500, _generator(), size=(32, 32))["affine"]
    assert not torch.allclose(zoom.zx, zoom.zy)
    shear = build_augmenter("shear", shear=0.3, shear_unit="radians").sample_params(4000, _generator(), size=(8, 8))
    assert shear["affine"].shear.abs().max() <= 0.3 + 1e-6
    assert shear["affine"].shear.abs().max() > 0.29


def test_flip_only_moves_pixels():
    batch = _batch(n=32)
    out = build_augmenter("flip")(batch, _generator())
    for before, after in zip(batch, out, strict=True):
        assert torch.equal(before.flatten().sort().values, after.flatten().sort().values)
    flipped = [not torch.equal(a, b) for a, b in zip(batch, out, strict=True)]
    assert 0 < sum(flipped) < 32  # each image flips with p = 1/2 per axis: some do, some do not


def test_flip_follows_its_draws():
    batch = _batch(n=4)
    aug = build_augmenter("flip")
    params = aug.sample_params(4, _generator(3), size=(16, 16))
    out = aug.apply(batch, params)
    for i in range(4):
        expected = batch[i]
        if params["flip"].horizontal[i]:
            expected = expected.flip(-1)
        if params["flip"].vertical[i]:
            expected = expected.flip(-2)
        assert torch.equal(out[i], expected)


def test_channel_shift_keeps_layout_and_clips_to_the_image_range():
    batch = _batch(n=16) * 0.5 + 60  # values in 60..187.5, so shifts of up to 51 are clipped at times
    out = build_augmenter("channel_shift")(batch, _generator())
    params = build_augmenter("channel_shift").sample_params(16, _generator(), size=(16, 16))["channel_shift"]
    assert params.intensity.abs().max() <= 51.0
    for i in range(16):
        low, high = batch[i].min(), batch[i].max()
        expected = (batch[i] + params.intensity[i]).clamp(low, high)
        assert torch.allclose(out[i], expected)
        inside = (batch[i] + params.intensity[i] > low) & (batch[i] + params.intensity[i] < high)
        difference = (out[i] - batch[i])[inside]
        assert torch.allclose(difference, torch.full_like(difference, params.intensity[i].item()), atol=1e-4)


def test_all_composes_the_three_families_in_keras_order():
    aug = build_augmenter("all")
    assert [stage.name for stage in aug.stages] == ["affine", "channel_shift", "flip"]
    batch = _batch(n=6)
    params = aug.sample_params(6, _generator(5), size=(16, 16))
    by_hand = aug.stages[2].apply(aug.stages[1].apply(aug.stages[0].apply(batch, params["affine"]),
                                                      params["channel_shift"]), params["flip"])
    assert torch.allclose(aug(batch, _generator(5)), by_hand)
    affine = params["affine"]
    assert affine.theta.any() and affine.tx.any() and affine.shear.any() and (affine.zx != 1).any()


@pytest.mark.parametrize("setting", augment_names())
def test_every_setting_is_seeded_batched_and_shape_preserving(setting):
    batch = _batch(n=64, size=32)
    aug = build_augmenter(setting)
    first, second = aug(batch, _generator(7)), aug(batch, _generator(7))
    assert first.shape == batch.shape and first.dtype == batch.dtype and first.device == batch.device
    assert torch.equal(first, second)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 255.0
    if setting != AugmentSetting.NONE:
        assert not torch.equal(aug(batch, _generator(8)), first)


def test_bad_settings_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="unknown augmentation 'blur'"):
        build_augmenter("blur")
    with pytest.raises(ConfigError, match="zoom"):
        build_augmenter("zoom", zoom=1.5)
    with pytest.raises(ConfigError, match="spin"):
        build_augmenter("rotation", spin=3)
    assert build_augmenter("Channel-Shift").setting is AugmentSetting.CHANNEL_SHIFT
    with pytest.raises(ConfigError, match="convention"):
        build_augmenter("rotation", convention="keras1")


def _changed_positions(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """(N,) how many (row, col) positions differ in any channel."""
    return (before != after).any(dim=1).flatten(1).sum(dim=1)


@pytest.mark.parametrize("max_pixels", [1, 3, 9])
def test_impulse_sets_between_one_and_max_pixels_to_8_bit_colours(max_pixels):
    batch = _batch(n=200, size=16)  # random floats: an 8-bit colour never equals a pixel by chance
    out = build_augmenter("impulse", impulse_pixels=max_pixels)(batch, _generator(2))
    changed = _changed_positions(batch, out)
    assert changed.min() >= 1 and changed.max() <= max_pixels
    assert set(changed.tolist()) == set(range(1, max_pixels + 1))  # k ~ U{1..max}: every count occurs
    new_values = out[(batch != out)]
    assert torch.equal(new_values, new_values.round()) and new_values.min() >= 0 and new_values.max() <= 255
    colours = out.permute(0, 2, 3, 1)[(batch != out).any(dim=1)]
    assert len(colours.unique(dim=0)) > 0.9 * len(colours)  # a random colour per pixel, not one grey


def test_impulse_is_deterministic_under_a_seed_and_applied_after_the_paper_setting():
    batch = _batch(n=16, size=16)
    combined = build_augmenter("all+impulse")
    assert [stage.name for stage in combined.stages] == ["affine", "channel_shift", "flip", "impulse"]
    assert torch.equal(combined(batch, _generator(4)), combined(batch, _generator(4)))
    assert not torch.equal(combined(batch, _generator(4)), combined(batch, _generator(5)))
    # The same stream: 'all' draws first, the impulse stage continues from where it stopped.
    generator = _generator(4)
    paper = build_augmenter("all")(batch, generator)
    by_hand = combined.stages[-1].apply(paper, combined.stages[-1].sample_params(16, generator, 16, 16))
    assert torch.equal(combined(batch, _generator(4)), by_hand)
    changed = _changed_positions(paper, by_hand)
    assert changed.min() >= 1 and changed.max() <= 9


@pytest.mark.parametrize(("written", "canonical"), [
    ("all+impulse", "all+impulse"), ("none+impulse", "impulse"), ("Impulse", "impulse"),
    ("Channel-Shift + impulse", "channel_shift+impulse"), ("flip", "flip"),
])
def test_names_have_one_canonical_spelling_everywhere(written, canonical):
    assert canonical_augment(written) == canonical
    assert canonical in augment_names()
    assert build_augmenter(written).name == canonical
    assert TrainSettings(augment=written).augment == canonical


def test_every_paper_setting_combines_with_impulse():
    names = augment_names()
    assert len(names) == len(set(names)) == 16
    for setting in AugmentSetting:
        combined = canonical_augment(f"{setting.value}+impulse")
        assert combined in names and build_augmenter(combined).stages[-1].name == "impulse"


@pytest.mark.parametrize("name", ["shift+noise", "impulse+shift", "all+impulse+impulse", "blur"])
def test_unknown_combinations_are_one_line_config_errors(name):
    with pytest.raises(ConfigError, match=re.escape(f"unknown augmentation {name!r}")) as error:
        canonical_augment(name)
    assert "\n" not in str(error.value) and "'<setting>+impulse'" in str(error.value)
    with pytest.raises(ConfigError, match="augment"):
        TrainSettings.build({"augment": name})
