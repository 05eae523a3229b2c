"""The eight augmentation settings: each changes what it should and nothing else, with Keras semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from fasrobust.errors import ConfigError
from fasrobust.training.augment import (
    AffineParams,
    AugmentSetting,
    build_augmenter,
)
from fasrobust.training.augment.affine import AffineAugment


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 8, size: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=_generator(seed)) * 255


def _keras_affine(image: np.ndarray, rotation, shift_rows, shift_cols, shear, zoom_rows, zoom_cols) -> np.ndarray:
    """Keras ImageDataGenerator's transform, written out as Keras does it with scipy (reference)."""
    c, s = math.cos(rotation), math.sin(rotation)
    matrix = (np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
              @ np.array([[1, 0, shift_rows], [0, 1, shift_cols], [0, 0, 1]])
              @ np.array([[1, -math.sin(shear), 0], [0, math.cos(shear), 0], [0, 0, 1]])
              @ np.diag([zoom_rows, zoom_cols, 1.0]))
    o_r, o_c = image.shape[0] / 2 - 0.5, image.shape[1] / 2 - 0.5
    matrix = np.array([[1, 0, o_r], [0, 1, o_c], [0, 0, 1]]) @ matrix @ np.array([[1, 0, -o_r], [0, 1, -o_c], [0, 0, 1]])
    return np.stack([ndimage.affine_transform(image[..., k], matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest")
                     for k in range(image.shape[-1])], axis=-1)


def test_none_is_identity():
    batch = _batch()
    assert torch.equal(build_augmenter("none")(batch, _generator()), batch)


@pytest.mark.parametrize("draw", [(0.3, 2.5, -3.1, 0.2, 0.9, 1.15), (-0.6, 0, 0, 0, 1, 1), (0, 0, 0, 0.35, 1.2, 0.8)])
def test_affine_matches_keras_scipy_reference(draw):
    image = np.random.default_rng(0).uniform(0, 255, (20, 28, 3))
    params = AffineParams(*(torch.tensor([v], dtype=torch.float64) for v in draw))
    ours = AffineAugment().apply(torch.from_numpy(image).permute(2, 0, 1)[None], params)[0].permute(1, 2, 0)
    np.testing.assert_allclose(ours.numpy(), _keras_affine(image, *draw), atol=1e-6)


def test_shift_moves_a_bright_pixel_by_the_drawn_amount():
    batch = torch.zeros(2, 3, 16, 16)
    batch[:, :, 8, 5] = 255.0
    aug = build_augmenter("shift")
    params = aug.sample_params(2, _generator(), size=(16, 16))
    params["affine"] = AffineParams(rotation=torch.zeros(2), shift_rows=torch.tensor([3.0, -2.0]),
                                    shift_cols=torch.tensor([-1.0, 4.0]), shear=torch.zeros(2),
                                    zoom_rows=torch.ones(2), zoom_cols=torch.ones(2))
    out = aug.apply(batch, params)
    # Keras: output (r, c) samples input (r + tx, c + ty), so content moves by (-tx, -ty).
    for i, (row, col) in enumerate([(5, 6), (10, 1)]):
        bright = (out[i, 0] > 127).nonzero().tolist()
        assert bright == [[row, col]]
        assert torch.allclose(out[i, :, row, col], torch.full((3,), 255.0))


def test_shift_draws_fractions_of_the_size_and_touches_nothing_else():
    params = build_augmenter("shift", width_shift=0.25, height_shift=0.1).sample_params(
        2000, _generator(), size=(40, 20))["affine"]
    assert params.shift_rows.abs().max() <= 4.0 and params.shift_rows.abs().max() > 3.8  # 0.1 * 40
    assert params.shift_cols.abs().max() <= 5.0 and params.shift_cols.abs().max() > 4.8  # 0.25 * 20
    assert not params.rotation.any() and not params.shear.any()
    assert torch.equal(params.zoom_rows, torch.ones(2000)) and torch.equal(params.zoom_cols, torch.ones(2000))
    in_pixels = build_augmenter("shift", width_shift=3, height_shift=0).sample_params(
        2000, _generator(), size=(40, 20))["affine"]
    assert in_pixels.shift_cols.abs().max() <= 3.0 and in_pixels.shift_cols.abs().max() > 2.9  # >= 1: pixels
    assert not in_pixels.shift_rows.any()


@pytest.mark.parametrize(("setting", "field", "low", "high"), [
    ("rotation", "rotation", -math.radians(40), math.radians(40)),
    ("shear", "shear", -0.2, 0.2),
    ("zoom", "zoom_rows", 0.8, 1.2),
    ("zoom", "zoom_cols", 0.8, 1.2),
])
def test_affine_parameters_stay_in_range_and_use_it(setting, field, low, high):
    params = build_augmenter(setting).sample_params(4000, _generator(), size=(32, 32))["affine"]
    values = getattr(params, field)
    assert values.min() >= low - 1e-6 and values.max() <= high + 1e-6
    assert values.min() < low + 0.02 * (high - low) and values.max() > high - 0.02 * (high - low)
    assert not params.shift_rows.any() and not params.shift_cols.any()


def test_zoom_draws_axes_independently_and_shear_unit_is_honoured():
    zoom = build_augmenter("zoom").sample_params(500, _generator(), size=(32, 32))["affine"]
    assert not torch.allclose(zoom.zoom_rows, zoom.zoom_cols)
    shear = build_augmenter("shear", shear=20, shear_unit="degrees").sample_params(4000, _generator(), size=(8, 8))
    assert shear["affine"].shear.abs().max() <= math.radians(20) + 1e-6
    assert shear["affine"].shear.abs().max() > math.radians(19.5)


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
    assert affine.rotation.any() and affine.shift_rows.any() and affine.shear.any() and (affine.zoom_rows != 1).any()


@pytest.mark.parametrize("setting", list(AugmentSetting))
def test_every_setting_is_seeded_batched_and_shape_preserving(setting):
    batch = _batch(n=64, size=32)
    aug = build_augmenter(setting)
    first, second = aug(batch, _generator(7)), aug(batch, _generator(7))
    assert first.shape == batch.shape and first.dtype == batch.dtype and first.device == batch.device
    assert torch.equal(first, second)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 255.0
    if setting is not AugmentSetting.NONE:
        assert not torch.equal(aug(batch, _generator(8)), first)


def test_bad_settings_are_one_line_config_errors():
    with pytest.raises(ConfigError, match="unknown augmentation 'blur'"):
        build_augmenter("blur")
    with pytest.raises(ConfigError, match="zoom"):
        build_augmenter("zoom", zoom=1.5)
    with pytest.raises(ConfigError, match="spin"):
        build_augmenter("rotation", spin=3)
    assert build_augmenter("Channel-Shift").setting is AugmentSetting.CHANNEL_SHIFT
