"""bob `.face` files: the face locations Replay-Attack and CASIA-FASD ship."""

from __future__ import annotations

import pytest

from fasrobust.data.annotations import read_face_file
from fasrobust.data.records import Box
from fasrobust.errors import DataError
from standin_trees import write_face_file


def test_face_file_with_a_no_face_frame(tmp_path):
    path = write_face_file(tmp_path / "clip.face", frames=4, box=(112, 60, 98, 98), no_face=[2])
    assert read_face_file(path) == {0: Box(112, 60, 98, 98), 1: Box(112, 60, 98, 98), 2: None,
                                    3: Box(112, 60, 98, 98)}


def test_blank_lines_comments_and_float_coordinates(tmp_path):
    (tmp_path / "a.face").write_text("# frame x y w h\n\n0 10.0 20 30 30\n5 1 2 0 0  # lost\n")
    assert read_face_file(tmp_path / "a.face") == {0: Box(10, 20, 30, 30), 5: None}


@pytest.mark.parametrize(("text", "message"), [("0 1 2 3 4\n1 1 2 x 4\n", "line 2"),
                                               ("0 1 2 3\n", "line 1: expected 5 numbers"),
                                               ("0 1 2 3 4\n0 1 2 3 4\n", "frame 0 is listed twice"),
                                               ("-1 1 2 3 4\n", "negative frame")])
def test_malformed_face_files_name_file_and_line(tmp_path, text, message):
    (tmp_path / "bad.face").write_text(text)
    with pytest.raises(DataError, match=message) as err:
        read_face_file(tmp_path / "bad.face")
    assert "bad.face" in str(err.value) and "\n" not in str(err.value)


def test_missing_face_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_face_file(tmp_path / "none.face")
