"""Our batched augmentations equal the real Keras ImageDataGenerator at fixed transform parameters:
keras-preprocessing 1.1.2 (the Keras 2 line the paper used; our default) and Keras 3's legacy generator
(`convention: keras3`).

Tolerance: 1e-3 grey levels on float images, not "1 grey level after rounding". Keras works on float32
(its `flow` casts to float32), so it is exact up to float32 rounding (~1e-5 at 255); any semantic slip
(a centre off by a pixel, swapped axes, a different fill) moves pixels by whole grey levels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fasrobust.training.augment import (
    AffineParams,
    ChannelShiftParams,
    FillMode,
    FlipParams,
    KerasConvention,
    build_augmenter,
)

TOLERANCE = 1e-3

# Both Keras lines call scipy.ndimage.interpolation, deprecated in SciPy >= 1.8: their warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:Please import `affine_transform`:DeprecationWarning")

#: Keras transform parameters (degrees, pixels, factors), as `get_random_transform` returns them.
PARAMETER_SETS = {
    "rotation": {"theta": 25.0},
    "shift": {"tx": 3.0, "ty": -2.0},
    "fractional-shift": {"tx": -1.6, "ty": 2.3},
    "shear": {"shear": 12.0},
    "zoom": {"zx": 0.85, "zy": 1.15},
    "flips-and-channel-shift": {"flip_horizontal": True, "flip_vertical": True, "channel_shift_intensity": -40.0},
    "everything": {"theta": -30.0, "tx": 2.5, "ty": -1.5, "shear": 8.0, "zx": 1.1, "zy": 0.9,
                   "flip_horizontal": True, "flip_vertical": False, "channel_shift_intensity": 35.0},
}


@pytest.fixture(scope="module")
def keras2():
    return pytest.importorskip("keras_preprocessing.image").ImageDataGenerator


@pytest.fixture(scope="module")
def keras3():
    # Imports TensorFlow (~10 s), so once per module.
    pytest.importorskip("keras")
    return pytest.importorskip("keras.src.legacy.preprocessing.image").ImageDataGenerator


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    # Non-square, so a swap of rows and columns cannot pass unseen.
    return np.random.default_rng(0).integers(0, 256, (24, 32, 3)).astype(np.float32)


def _ours(image: np.ndarray, keras_params: dict, convention: KerasConvention, fill_mode: FillMode) -> np.ndarray:
    p = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, "flip_horizontal": False,
         "flip_vertical": False, "channel_shift_intensity": 0.0, **keras_params}
    aug = build_augmenter("all", convention=convention, fill_mode=fill_mode)

    def one(value) -> torch.Tensor:
        return torch.tensor([value], dtype=torch.float64)

    params = {
        "affine": AffineParams(theta=one(math.radians(p["theta"])), tx=one(p["tx"]), ty=one(p["ty"]),
                               shear=one(math.radians(p["shear"])), zx=one(p["zx"]), zy=one(p["zy"])),
        "channel_shift": ChannelShiftParams(one(p["channel_shift_intensity"])),
        "flip": FlipParams(torch.tensor([p["flip_horizontal"]]), torch.tensor([p["flip_vertical"]])),
    }
    batch = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    return aug.apply(batch, params)[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("fill_mode", list(FillMode))
@pytest.mark.parametrize("name", list(PARAMETER_SETS))
@pytest.mark.parametrize("convention", list(KerasConvention))
def test_apply_equals_keras_at_fixed_parameters(convention, name, fill_mode, image, request):
    generator_class = request.getfixturevalue(convention.value)
    reference = generator_class(fill_mode=fill_mode.value).apply_transform(image.copy(), PARAMETER_SETS[name])
    ours = _ours(image, PARAMETER_SETS[name], convention, fill_mode)
    assert np.abs(ours - reference).max() <= TOLERANCE


def test_conventions_really_differ(image):
    # Guards the test above: if both conventions gave one image, matching both libraries would be vacuous.
    params = PARAMETER_SETS["everything"]
    keras2_out = _ours(image, params, KerasConvention.KERAS2, FillMode.NEAREST)
    keras3_out = _ours(image, params, KerasConvention.KERAS3, FillMode.NEAREST)
    assert np.abs(keras2_out - keras3_out).max() > 50


@pytest.mark.parametrize("convention", list(KerasConvention))
def test_shift_ranges_draw_the_values_keras_draws(convention, request):
    """An int range n draws integer pixels in -(n-1)..n-1, a float >= 1 continuous pixels, a float < 1 a
    fraction of the size: the same sets of values as Keras' get_random_transform."""
    generator_class = request.getfixturevalue(convention.value)
    np.random.seed(0)
    for height_shift, width_shift in [(3, 2), (3.0, 0.25)]:
        keras = generator_class(height_shift_range=height_shift, width_shift_range=width_shift)
        draws = [keras.get_random_transform((40, 20, 3)) for _ in range(600)]
        theirs_tx, theirs_ty = (np.array([d[k] for d in draws]) for k in ("tx", "ty"))
        params = build_augmenter("shift", height_shift=height_shift, width_shift=width_shift).sample_params(
            600, torch.Generator().manual_seed(0), size=(40, 20))["affine"]
        ours_tx, ours_ty = params.tx.numpy(), params.ty.numpy()
        if isinstance(height_shift, int):
            assert set(ours_tx.tolist()) == set(theirs_tx.tolist()) == {-2.0, -1.0, 0.0, 1.0, 2.0}
            assert set(ours_ty.tolist()) == set(theirs_ty.tolist()) == {-1.0, 0.0, 1.0}
        else:
            assert not np.array_equal(ours_tx, np.round(ours_tx))
            for ours, theirs, bound in [(ours_tx, theirs_tx, 3.0), (ours_ty, theirs_ty, 0.25 * 20)]:
                assert np.abs(ours).max() <= bound and np.abs(theirs).max() <= bound
                assert np.abs(ours).max() > 0.95 * bound and np.abs(theirs).max() > 0.95 * bound
