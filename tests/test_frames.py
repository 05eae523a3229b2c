"""Frame sampling on real files the tests write: which frames, how many, still images of every
mode, and a one-line DataError naming the file for each kind of unreadable input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import write_video
from fasrobust.data.frames import ImagePolicy, read_frames, read_image, sample_indices
from fasrobust.errors import DataError


def test_sample_indices_are_centres_of_equal_segments():
    assert sample_indices(10, 4) == [1, 3, 6, 8]
    assert sample_indices(375, 3) == [62, 187, 312]
    assert sample_indices(5, 8) == [0, 1, 2, 3, 4]
    assert sample_indices(0, 3) == []


def _square_column(frame: np.ndarray) -> int:
    """Left edge of the moving orange square make_video draws (x = 2 + 3 * index)."""
    columns = np.flatnonzero((frame[10:18, :, 0] > 150).mean(axis=0) > 0.5)
    return int(columns[0])


@pytest.mark.parametrize("suffix", [".mov", ".avi"])
def test_video_gives_the_uniformly_spaced_frames(tmp_path, make_video, suffix):
    path = make_video(tmp_path / f"clip{suffix}", n_frames=15, size=(64, 48))
    frames = read_frames(path, 4)
    assert frames.total == 15
    assert frames.indices == sample_indices(15, 4) == [1, 5, 9, 13]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames.images)
    # the frames are the ones named, not their neighbours: the square moves 3 pixels a frame
    for index, frame in zip(frames.indices, frames.images, strict=True):
        assert abs(_square_column(frame) - (2 + 3 * index)) <= 1


def test_hdf5_color_data_is_sampled_and_transposed(tmp_path, rng):
    data = rng.integers(0, 256, (12, 3, 10, 14), dtype=np.uint8)
    with h5py.File(tmp_path / "01_01_01.hdf5", "w") as handle:
        handle["Color_Data"] = data
    frames = read_frames(tmp_path / "01_01_01.hdf5", 3)
    assert frames.indices == [2, 6, 10] and frames.total == 12
    np.testing.assert_array_equal(frames.images[1], data[6].transpose(1, 2, 0))


def _save(path, array, mode=None):
    Image.fromarray(array, mode=mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_still_images_of_every_mode_become_8bit_rgb(tmp_path, rng):
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full((6, 5), 7, np.uint8)])
    deep = np.array([[0, 32896, 65535]], dtype=np.uint16)
    image, notes = read_image(_save(tmp_path / "rgb.png", rgb))
    np.testing.assert_array_equal(image, rgb)
    assert notes == []
    image, notes = read_image(_save(tmp_path / "gray.png", gray))
    np.testing.assert_array_equal(image, np.dstack([gray] * 3))
    assert "'L'" in notes[0]
    image, notes = read_image(_save(tmp_path / "rgba.png", rgba))
    np.testing.assert_array_equal(image, rgb)
    assert "RGBA" in notes[0]
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image, notes = read_image(tmp_path / "deep.png")
    assert image.dtype == np.uint8 and image.shape == (1, 3, 3)
    assert image[0, :, 0].tolist() == [0, 128, 255] and notes
    frames = read_frames(tmp_path / "gray.png", 10)
    assert frames.indices == [0] and frames.images[0].shape == (6, 5, 3)


def test_reject_policy_refuses_non_rgb_images(tmp_path):
    path = _save(tmp_path / "gray.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="gray.png.*mode 'L'"):
        read_frames(path, 1, images=ImagePolicy.REJECT)


def _bad_inputs(tmp_path, make_video):
    """name -> a file that cannot be read, built the way such files arise."""
    bad = {}
    (tmp_path / "empty.mov").write_bytes(b"")
    bad["zero-byte video"] = (tmp_path / "empty.mov", "0 bytes")
    data = make_video(tmp_path / "good.mov", n_frames=20).read_bytes()
    (tmp_path / "cut.mov").write_bytes(data[: len(data) // 2])  # the index (moov) is lost
    bad["truncated mov"] = (tmp_path / "cut.mov", "cannot decode")
    frames = np.random.default_rng(1).integers(0, 256, (30, 48, 64, 3), dtype=np.uint8)
    avi = write_video(tmp_path / "good.avi", frames, codec="mpeg4").read_bytes()
    (tmp_path / "cut.avi").write_bytes(avi[: len(avi) // 2])  # header says 30 frames, few remain
    bad["truncated avi"] = (tmp_path / "cut.avi", "truncated")
    (tmp_path / "codec.avi").write_bytes(avi.replace(b"FMP4", b"QQZZ"))
    bad["unknown codec"] = (tmp_path / "codec.avi", "codec")
    (tmp_path / "noise.png").write_bytes(bytes(range(256)) * 4)
    bad["unreadable image"] = (tmp_path / "noise.png", "cannot read image")
    (tmp_path / "corrupt.hdf5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(500))
    bad["corrupt hdf5"] = (tmp_path / "corrupt.hdf5", "HDF5")
    with h5py.File(tmp_path / "nocolor.hdf5", "w") as handle:
        handle["Depth_Data"] = np.zeros((2, 1, 4, 4), np.uint16)
    bad["hdf5 without Color_Data"] = (tmp_path / "nocolor.hdf5", "Color_Data")
    with h5py.File(tmp_path / "flat.hdf5", "w") as handle:
        handle["Color_Data"] = np.zeros((2, 4, 4), np.uint8)
    bad["oddly shaped hdf5"] = (tmp_path / "flat.hdf5", "shape")
    with h5py.File(tmp_path / "deep.hdf5", "w") as handle:
        handle["Color_Data"] = np.full((2, 3, 4, 4), 2047, np.uint16)
    with h5py.File(tmp_path / "nothing.hdf5", "w") as handle:
        handle["Color_Data"] = np.zeros((0, 3, 4, 4), np.uint8)
    bad["hdf5 without frames"] = (tmp_path / "nothing.hdf5", "no frames")
    bad["hdf5 beyond 8 bits"] = (tmp_path / "deep.hdf5", "outside 0..255")
    (tmp_path / "notes.txt").write_text("hello")
    bad["unknown file type"] = (tmp_path / "notes.txt", "unknown file type")
    return bad


def test_each_bad_input_is_a_one_line_error_naming_the_file(tmp_path, make_video):
    for name, (path, reason) in _bad_inputs(tmp_path, make_video).items():
        with pytest.raises(DataError) as caught:
            read_frames(path, 3)
            pytest.fail(f"{name}: no error")
        message = str(caught.value)
        assert str(path) in message and reason in message and "\n" not in message, (name, message)
