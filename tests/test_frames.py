"""Frame sampling on real files the tests write: which frames, how many, still images of every
mode, phone videos with a display rotation turned upright (with shipped boxes turned alike), and a
one-line DataError naming the file for each kind of unreadable input."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import write_video
from fasrobust.data.crop import BorderMode, crop_face
from fasrobust.data.detect import create_detector
from fasrobust.data.detect.annotations import AnnotationDetector
from fasrobust.data.extract import ExtractOptions, NoFacePolicy, extract_recording
from fasrobust.data.frames import ImagePolicy, read_frames, read_image, sample_indices
from fasrobust.data.records import Box, Recording, Split
from fasrobust.errors import DataError
from fasrobust.labels import BONA_FIDE, Label


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


def _landscape_frame() -> np.ndarray:
    """A 64x48 frame no quarter turn or mirror leaves unchanged: a red block top-left (the 'face',
    its left half brighter) and a green one bottom-right."""
    frame = np.full((48, 64, 3), 60, np.uint8)
    frame[4:16, 6:16] = (250, 40, 40)
    frame[4:16, 16:26] = (160, 40, 40)
    frame[30:44, 48:60] = (40, 230, 40)
    return frame


def _write_turned(path, frame: np.ndarray, *, rotation: int | None = None, rotate_tag: str | None = None,
                  n_frames: int = 4):
    """A real H.264 file whose pixels are `frame` as coded, with a display-matrix rotation (degrees
    counterclockwise, as PyAV and FFmpeg count it) or an old-style 'rotate' stream tag."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if rotate_tag is not None:
            stream.metadata["rotate"] = rotate_tag
        for _ in range(n_frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    return path


def _close(decoded: np.ndarray, expected: np.ndarray) -> bool:
    return decoded.shape == expected.shape and np.abs(decoded.astype(int) - expected).mean() < 6


@pytest.mark.parametrize(("suffix", "rotation", "words"), [
    (".mp4", -90, "rotated 90 degrees clockwise"),  # a phone held upright (the old rotate=90 tag)
    (".mov", 90, "rotated 90 degrees counterclockwise"),
    (".mp4", 180, "rotated 180 degrees"),
])
def test_a_video_with_a_display_rotation_comes_out_upright(tmp_path, suffix, rotation, words):
    import av

    coded = _landscape_frame()
    path = _write_turned(tmp_path / f"phone{suffix}", coded, rotation=rotation)
    with av.open(str(path)) as container:  # the rotation is really in the file, pixels as coded
        first = next(container.decode(video=0))
        assert first.rotation % 360 == rotation % 360 and (first.width, first.height) == (64, 48)
    frames = read_frames(path, 2)
    upright = np.rot90(coded, rotation // 90)
    assert all(_close(image, upright) for image in frames.images)
    assert frames.notes == [f"{words} per the video's display matrix (coded 64x48)"]


def test_an_old_rotate_tag_is_honoured_and_a_plain_video_untouched(tmp_path):
    coded = _landscape_frame()
    tagged = _write_turned(tmp_path / "old.mkv", coded, rotate_tag="90")  # clockwise, as ffmpeg wrote it
    frames = read_frames(tagged, 1)
    assert _close(frames.images[0], np.rot90(coded, -1))
    assert frames.notes == ["rotated 90 degrees clockwise per the video's 'rotate' tag (90) (coded 64x48)"]
    plain = read_frames(_write_turned(tmp_path / "plain.mp4", coded), 1)
    assert _close(plain.images[0], coded) and plain.notes == []


@pytest.mark.parametrize("detector", ["annotations", "cascade"])
def test_shipped_boxes_turn_with_the_frame(tmp_path, detector):
    """A .face box is given in the coded frame; the crop must still be the face, upright, whether the
    box is the detector's answer or the no-face fallback (the cascade finds no face in blocks)."""
    coded = _landscape_frame()
    path = _write_turned(tmp_path / "phone.mp4", coded, rotation=-90)
    face_file = tmp_path / "phone.face"
    face_file.write_text("".join(f"{t} 6 4 20 12\n" for t in range(4)))  # the red block, coded pixels
    recording = Recording(path=path, label=Label.LIVE, attack_type=BONA_FIDE, subject="1", split=Split.TRAIN,
                          database="test", source="phone.mp4", annotations=face_file)
    options = ExtractOptions(frames_per_video=2, detector=detector, no_face=NoFacePolicy.ANNOTATION, margin=0.0,
                             border=BorderMode.SHIFT, size=16, images=ImagePolicy.CONVERT)
    extraction = extract_recording(recording, options, create_detector(detector), AnnotationDetector())
    assert len(extraction.crops) == 2 and set(extraction.detectors) == {"annotations"}
    # turned clockwise, the 64x48 frame is 48x64 and the block at x 6..26, y 4..16 is at x 32..44, y 6..26
    expected, region = crop_face(np.rot90(coded, -1), Box(32, 6, 12, 20), size=16, margin=0.0,
                                 border=BorderMode.SHIFT)
    assert extraction.boxes.tolist() == [[region.x, region.y, region.w, region.h]] * 2 == [[28, 6, 20, 20]] * 2
    assert all(_close(crop, expected) for crop in extraction.crops)
    assert "display matrix" in extraction.notes[0]


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
