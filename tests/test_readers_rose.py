"""ROSE-Youtu reader: the seven-field names, the packaged Gradiant split and a user's split file."""

from __future__ import annotations

from collections import Counter

import pytest

from fasrobust.data.readers import get_reader
from fasrobust.errors import ConfigError
from fasrobust.labels import BONA_FIDE, Label
from standin_trees import ROSE_SUBJECTS, make_rose_youtu_tree


@pytest.fixture(scope="module")
def rose_root(tmp_path_factory):
    return make_rose_youtu_tree(tmp_path_factory.mktemp("rose"))


def test_default_split_is_gradiants(rose_root):
    scan = get_reader("rose-youtu").scan(rose_root)
    subjects = {split: sorted({int(r.subject) for r in scan.recordings if r.split.value == split})
                for split in ("train", "dev", "test")}
    assert subjects == {"train": [2, 3, 4, 5, 6, 7, 9, 10], "dev": [11, 12],
                        "test": [13, 14, 15, 16, 17, 18, 20, 21, 22, 23]}
    assert len(scan.recordings) == len(ROSE_SUBJECTS) * 8 and scan.unplaced == []
    assert Counter((r.split.value, r.label.value) for r in scan.recordings) == {
        ("train", "live"): 8, ("train", "spoof"): 56, ("dev", "live"): 2, ("dev", "spoof"): 14,
        ("test", "live"): 10, ("test", "spoof"): 70}


def test_codes_become_attack_types_and_extras(rose_root):
    scan = get_reader("rose").scan(rose_root)
    assert {r.attack_type for r in scan.recordings} == {
        BONA_FIDE, "print_still", "print_quivering", "replay_lenovo", "replay_mac", "mask_cut", "mask_full",
        "mask_upper"}
    clip = next(r for r in scan.recordings if r.source == "3/Mc_NT_HW_g_E_3_6.mp4")
    assert (clip.label, clip.attack_type, clip.subject) == (Label.SPOOF, "mask_cut", "3")
    assert dict(clip.extras) == {"code": "Mc", "talking": "no", "device": "huawei", "glasses": "yes"}


def test_split_file_option_and_subjects_outside_it(tmp_path):
    root = make_rose_youtu_tree(tmp_path / "db", subjects=[2, 3, 4], codes=["G", "Mf"])
    (root / "4" / "Ml_T_ZTE_wg_E_3_9.mp4").touch()  # name says subject 3, folder 4
    (root / "4" / "Xx_T_HW_wg_E_4_9.mp4").touch()
    splits = tmp_path / "splits.yaml"
    splits.write_text("train: [2]\ntest: [3]\n")
    scan = get_reader("rose-youtu", splits=str(splits)).scan(root)
    assert Counter(r.split.value for r in scan.recordings) == {"train": 2, "test": 2}
    reasons = dict(scan.unplaced)
    assert reasons["4/G_T_HW_wg_E_4_1.mp4"].startswith("subject 4 is in no split of")
    assert "folder '4'" in reasons["4/Ml_T_ZTE_wg_E_3_9.mp4"]
    assert "unknown presentation code 'Xx'" in reasons["4/Xx_T_HW_wg_E_4_9.mp4"]


def test_bad_split_files_are_config_errors(tmp_path):
    overlap = tmp_path / "overlap.yaml"
    overlap.write_text("train: [2, 3]\ndev: [3]\ntest: [4]\n")
    with pytest.raises(ConfigError, match="subject 3 is in both train and dev"):
        get_reader("rose-youtu", splits=overlap)
    with pytest.raises(ConfigError, match="not found"):
        get_reader("rose-youtu", splits=tmp_path / "missing.yaml")


def test_stand_in_trees_can_hold_real_videos(tmp_path, make_video):
    root = make_rose_youtu_tree(tmp_path, subjects=[5], codes=["G", "Pq"], video_writer=make_video)
    scan = get_reader("rose-youtu").scan(root)
    assert [r.attack_type for r in scan.recordings] == [BONA_FIDE, "print_quivering"]
    assert all(r.path.stat().st_size > 0 for r in scan.recordings)
