"""Crops (square, margin, borders, anti-aliased resize) and balanced, subject-disjoint sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fasrobust.data.balance import balance, check_subject_disjoint
from fasrobust.data.crop import BorderMode, crop_face, square_box
from fasrobust.data.records import Box
from fasrobust.errors import DataError
from fasrobust.paper import TABLE1_CAPS


def test_square_box_is_centred_with_margin_on_each_side():
    region = square_box(Box(100, 50, 40, 60), margin=0.2, frame_shape=(480, 640, 3), border=BorderMode.SHIFT)
    assert region == Box(78, 38, 84, 84)  # side 60 * 1.4, centre (120, 80) kept


def test_shift_keeps_the_square_inside_the_frame_and_pad_fills_black():
    frame = np.full((100, 120, 3), 200, np.uint8)
    corner = Box(0, 0, 30, 30)
    shifted = square_box(corner, margin=0.5, frame_shape=frame.shape, border=BorderMode.SHIFT)
    assert shifted == Box(0, 0, 60, 60)
    too_big = square_box(Box(10, 10, 100, 90), margin=0.2, frame_shape=frame.shape, border=BorderMode.SHIFT)
    assert too_big.w == too_big.h == 100 and too_big.x + too_big.w <= 120
    crop, region = crop_face(frame, corner, size=16, margin=0.5, border=BorderMode.PAD)
    assert region == Box(-15, -15, 60, 60)
    assert crop[0, 0].tolist() == [0, 0, 0] and crop[-1, -1].tolist() == [200, 200, 200]
    crop, _ = crop_face(frame, corner, size=16, margin=0.5, border=BorderMode.SHIFT)
    assert (crop == 200).all()  # only real pixels


def test_crop_is_uint8_rgb_of_the_asked_size_and_antialiased():
    stripes = np.zeros((200, 200, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: subsampling would give solid black or white
    crop, _ = crop_face(stripes, Box(20, 20, 150, 150), size=32, margin=0.1)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert abs(float(crop.mean()) - 127.5) < 10 and float(crop.std()) < 20


def _meta(spec: dict[str, dict[str, list[tuple[str, int, int]]]]) -> pd.DataFrame:
    """spec: split -> label -> [(subject, n_recordings, frames_per_recording)]."""
    rows = []
    for split, per_label in spec.items():
        for label, subjects in per_label.items():
            for subject, n_rec, n_frames in subjects:
                for r in range(n_rec):
                    for f in range(n_frames):
                        rows.append({"label": label, "split": split, "subject": subject,
                                     "source": f"{split}/{label}/{subject}_{r}.mov", "frame": f})
    return pd.DataFrame(rows)


META = _meta({
    "train": {"live": [("1", 2, 5), ("2", 2, 5)], "spoof": [("1", 4, 5), ("2", 4, 5), ("3", 2, 5)]},
    "test": {"live": [("7", 3, 4)], "spoof": [("7", 2, 4), ("8", 2, 4)]},
})


def _counts(meta: pd.DataFrame, keep: np.ndarray) -> dict:
    return meta.iloc[keep].groupby(["split", "label"]).size().to_dict()


def test_balance_equalises_classes_per_split_and_applies_caps():
    keep, warnings = balance(META, seed=0)
    assert _counts(META, keep) == {("test", "live"): 12, ("test", "spoof"): 12,
                                   ("train", "live"): 20, ("train", "spoof"): 20}
    assert warnings == []
    caps = {"train": {"live": 6, "spoof": 6}, "test": {"live": 20, "spoof": 20}}
    keep, warnings = balance(META, seed=0, caps=caps)
    assert _counts(META, keep)[("train", "live")] == 6 and _counts(META, keep)[("test", "spoof")] == 12
    assert any("fewer than the cap 20" in w for w in warnings)
    keep, _ = balance(META, seed=0, equalise=False)
    assert len(keep) == len(META)
    assert TABLE1_CAPS["3dmad"] == {"train": {"live": 240, "spoof": 240}, "test": {"live": 100, "spoof": 100}}


def test_balance_spreads_over_subjects_and_recordings():
    keep, _ = balance(META, seed=3, caps={"train": {"live": 4, "spoof": 10}})
    kept = META.iloc[keep]
    live = kept[(kept.split == "train") & (kept.label == "live")]
    assert live["source"].nunique() == 4  # one crop from each of the 4 live recordings
    spoof = kept[(kept.split == "train") & (kept.label == "spoof")]
    assert spoof["source"].nunique() == 10 and spoof["subject"].nunique() == 3


def test_balance_is_deterministic_under_a_seed_whatever_the_row_order():
    first, _ = balance(META, seed=7)
    again, _ = balance(META, seed=7)
    shuffled = META.sample(frac=1.0, random_state=1)
    from_shuffled, _ = balance(shuffled, seed=7)
    other, _ = balance(META, seed=8)
    np.testing.assert_array_equal(first, again)
    assert sorted(shuffled.index[from_shuffled]) == sorted(META.index[first])
    assert not np.array_equal(first, other)


def test_a_subject_in_two_splits_is_an_error_naming_it():
    leaked = pd.concat([META, _meta({"test": {"live": [("2", 1, 1)]}})], ignore_index=True)
    with pytest.raises(DataError, match="subject '2' appears in splits test and train"):
        check_subject_disjoint(leaked)
    check_subject_disjoint(META)


def test_a_split_without_one_class_is_an_error_or_a_warning_when_allowed():
    no_spoof_dev = pd.concat([META, _meta({"dev": {"live": [("5", 1, 3)]}})], ignore_index=True)
    with pytest.raises(DataError, match="split 'dev' has no spoof samples") as caught:
        balance(no_spoof_dev, seed=0)
    assert "\n" not in str(caught.value)
    keep, warnings = balance(no_spoof_dev, seed=0, allow_missing_class=True)
    assert _counts(no_spoof_dev, keep)[("dev", "live")] == 3 and "dev" in warnings[0]
