"""Face detectors on the real face photographs that ship with scikit-image and matplotlib."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image
from skimage import data

from fasrobust.data.detect import (
    Detection,
    FrameContext,
    best_detection,
    create_detector,
    mtcnn_available,
    registered_detectors,
    resolve_detector_name,
)
from fasrobust.data.records import Box
from fasrobust.errors import ConfigError

# Where the faces are (x0, y0, x1, y1), read off the photographs: a detection's centre must fall inside.
ASTRONAUT_FACE = (180, 60, 270, 175)
GRACE_HOPPER_FACE = (180, 120, 360, 330)


def grace_hopper() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def _centre_inside(box: Box, region) -> bool:
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return region[0] <= cx <= region[2] and region[1] <= cy <= region[3]


def test_registry_names_every_detector_and_resolves_auto():
    assert {"annotations", "cascade", "mtcnn"} <= set(registered_detectors())
    expected = "mtcnn" if mtcnn_available() else "cascade"
    assert resolve_detector_name("auto") == expected
    with pytest.raises(ConfigError, match="unknown detector 'haar'"):
        create_detector("haar")


def test_best_detection_prefers_confidence_then_size():
    small_sure = Detection(Box(0, 0, 10, 10), 0.99)
    big_unsure = Detection(Box(0, 0, 50, 50), 0.80)
    big_sure = Detection(Box(5, 5, 40, 40), 0.99)
    assert best_detection([big_unsure, small_sure]) is small_sure
    assert best_detection([small_sure, big_sure, big_unsure]) is big_sure
    assert best_detection([]) is None


def test_cascade_finds_the_astronauts_face():
    detector = create_detector("cascade")
    best = best_detection(detector.detect(data.astronaut()))
    assert best is not None and _centre_inside(best.box, ASTRONAUT_FACE)
    assert 60 <= best.box.w <= 140
    assert detector.detect(np.full((120, 160, 3), 128, np.uint8)) == []


@pytest.fixture(scope="module")
def mtcnn():
    if not mtcnn_available():
        pytest.skip("the mtcnn extra is not installed")
    return create_detector("mtcnn")


@pytest.mark.parametrize("name, image, region", [("astronaut", data.astronaut, ASTRONAUT_FACE),
                                                  ("grace_hopper", grace_hopper, GRACE_HOPPER_FACE)])
def test_mtcnn_finds_the_face_in_the_bundled_photographs(mtcnn, name, image, region):
    found = mtcnn.detect(image())
    best = best_detection(found)
    assert best is not None and best.score > 0.95, name
    assert _centre_inside(best.box, region), (name, best.box)
    assert best.landmarks is not None and best.landmarks.shape == (5, 2)
    left_eye, right_eye = best.landmarks[0], best.landmarks[1]
    assert _centre_inside(Box(int(left_eye[0]), int(left_eye[1]), 0, 0), region)
    assert abs(left_eye[1] - right_eye[1]) < best.box.h / 4  # eyes level on these upright portraits


def test_mtcnn_batch_matches_single_frames_and_finds_nothing_in_a_blank(mtcnn):
    face = data.astronaut()[:256, 100:356]
    blank = np.full_like(face, 200)
    single = [mtcnn.detect(face), mtcnn.detect(blank)]
    batch = mtcnn.detect_batch([face, blank])
    assert batch[1] == [] and single[1] == []
    assert [d.box for d in batch[0]] == [d.box for d in single[0]]


def test_annotation_detector_without_annotations_finds_nothing():
    detector = create_detector("annotations")
    assert detector.detect(data.astronaut(), FrameContext(None, 0)) == []
    assert detector.detect(data.astronaut()) == []
