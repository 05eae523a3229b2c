"""3DMAD reader and its HDF5 eye annotations."""

from __future__ import annotations

from collections import Counter

import h5py
import numpy as np
import pytest

from fasrobust.data.annotations import eyes_to_box, read_eye_positions
from fasrobust.data.readers import get_reader
from fasrobust.errors import DataError
from fasrobust.labels import Label
from standin_trees import make_3dmad_tree


def test_full_tree_follows_the_classification_protocol(tmp_path):
    root = make_3dmad_tree(tmp_path, frames=1, size=(8, 8))
    (root / "Data" / "18_01_01.hdf5").touch()
    (root / "Data" / "notes.hdf5").touch()
    scan = get_reader("3dmad").scan(root)
    assert Counter((r.split.value, r.label.value) for r in scan.recordings) == {
        ("train", "live"): 70, ("train", "spoof"): 35, ("dev", "live"): 50, ("dev", "spoof"): 25,
        ("test", "live"): 50, ("test", "spoof"): 25}
    assert {r.attack_type for r in scan.recordings if r.label is Label.SPOOF} == {"mask"}
    assert [path for path, _ in scan.unplaced] == ["Data/18_01_01.hdf5", "Data/notes.hdf5"]
    mask = next(r for r in scan.recordings if r.source == "Data/13_03_05.hdf5")
    assert (mask.subject, mask.split.value, dict(mask.extras)) == ("13", "test", {"session": "3", "shot": "5"})
    assert mask.annotations == mask.path, "the HDF5 file carries its own eye annotations"


def test_same_file_in_two_folders_is_reported_once(tmp_path):
    make_3dmad_tree(tmp_path, clients=[1], sessions=[1], shots=[1], folder="Data")
    make_3dmad_tree(tmp_path, clients=[1], sessions=[1], shots=[1], folder="copy")
    scan = get_reader("3dmad").scan(tmp_path)
    assert len(scan.recordings) == 1
    assert scan.unplaced == [("copy/01_01_01.hdf5", "duplicate of Data/01_01_01.hdf5")]


def test_eye_positions_round_trip_and_give_a_face_box(tmp_path):
    root = make_3dmad_tree(tmp_path, frames=4, clients=[2], sessions=[3], shots=[1], size=(64, 48))
    eyes = read_eye_positions(root / "Data/02_03_01.hdf5")
    assert eyes.shape == (4, 4) and eyes.dtype == np.float64
    np.testing.assert_array_equal(eyes[0], [24, 19, 39, 19])
    box = eyes_to_box(eyes[0], (48, 64, 3))
    assert box.w == box.h == 33  # 2.2 x the 15 px eye distance
    assert box.x <= 24 and box.x + box.w >= 39 and box.y < 19 < box.y + box.h


def test_eye_positions_are_read_defensively(tmp_path):
    with h5py.File(tmp_path / "no_eyes.hdf5", "w") as f:
        f["Color_Data"] = np.zeros((2, 3, 4, 4), np.uint8)
    with pytest.raises(DataError, match="no Eye_Pos dataset \\(found: Color_Data\\)"):
        read_eye_positions(tmp_path / "no_eyes.hdf5")
    with h5py.File(tmp_path / "odd.hdf5", "w") as f:
        f["Eye_Pos"] = np.zeros((5, 3))
    with pytest.raises(DataError, match="shape \\(5, 3\\)"):
        read_eye_positions(tmp_path / "odd.hdf5")
    with h5py.File(tmp_path / "grouped.hdf5", "w") as f:
        f["annotations/Eye_Pos"] = np.ones((2, 1, 4), np.uint16)
    assert read_eye_positions(tmp_path / "grouped.hdf5").shape == (2, 4)
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(DataError, match="not a readable HDF5"):
        read_eye_positions(tmp_path / "text.hdf5")


@pytest.mark.parametrize("row", [[0, 0, 0, 0], [10, 10, 0, 0], [np.nan, 1, 2, 3], [10, 10, 11, 10]])
def test_missing_or_degenerate_eyes_give_no_box(row):
    assert eyes_to_box(row, (48, 64)) is None


def test_eye_box_stays_square_inside_the_frame():
    box = eyes_to_box([2, 2, 60, 2], (48, 64))
    assert (box.w, box.h) == (48, 48) and box.x >= 0 and box.y == 0 and box.x + box.w <= 64
    assert eyes_to_box([70, 10, 80, 10], (48, 64)) is None, "eyes outside the frame"
