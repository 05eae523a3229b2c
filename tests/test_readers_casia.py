"""CASIA-FASD reader: codes, global subject ids, the dev-split choices, .face files next to videos."""

from __future__ import annotations

from collections import Counter

import pytest

from fasrobust.data.readers import get_reader
from fasrobust.errors import ConfigError
from fasrobust.labels import BONA_FIDE
from standin_trees import make_casia_tree


@pytest.fixture(scope="module")
def casia_root(tmp_path_factory):
    return make_casia_tree(tmp_path_factory.mktemp("casia"))


def test_full_tree_counts_and_attack_types(casia_root):
    scan = get_reader("casia-fasd").scan(casia_root)
    assert Counter(r.split.value for r in scan.recordings) == {"train": 240, "test": 360}
    assert Counter((r.split.value, r.attack_type) for r in scan.recordings) == {
        (split, kind): n for split, n in (("train", 60), ("test", 90))
        for kind in (BONA_FIDE, "warped_photo", "cut_photo", "video_replay")}
    assert scan.unplaced == []


def test_subjects_are_global_and_quality_is_only_what_the_name_proves(casia_root):
    by_source = {r.source: r for r in get_reader("casia").scan(casia_root).recordings}
    assert by_source["train_release/20/HR_4.avi"].subject == "20"
    test_clip = by_source["test_release/1/HR_1.avi"]
    assert (test_clip.subject, test_clip.attack_type, test_clip.extras["quality"]) == ("21", BONA_FIDE, "HR")
    assert by_source["test_release/30/5.avi"].extras == {"code": "5", "quality": "numbered", "folder": "30"}
    assert by_source["test_release/30/5.avi"].attack_type == "cut_photo"


@pytest.mark.parametrize(("dev_split", "dev_subjects"), [("gradiant", {"17", "18", "19", "20"}),
                                                         ("bob-fold-1", {"10", "14", "16", "20"}),
                                                         ("bob-fold-5", {"2", "3", "9", "12"})])
def test_dev_split_moves_train_subjects_to_dev(casia_root, dev_split, dev_subjects):
    scan = get_reader("casia-fasd", dev_split=dev_split).scan(casia_root)
    dev = [r for r in scan.recordings if r.split.value == "dev"]
    assert {r.subject for r in dev} == dev_subjects and len(dev) == 48
    train_subjects = {r.subject for r in scan.recordings if r.split.value == "train"}
    assert len(train_subjects) == 16 and not train_subjects & dev_subjects


def test_unknown_dev_split_is_a_config_error():
    with pytest.raises(ConfigError, match="dev_split"):
        get_reader("casia-fasd", dev_split="bob-fold-6")


def test_odd_files_unplaced_and_face_files_next_to_videos(tmp_path):
    root = make_casia_tree(tmp_path, train_subjects=[1], test_subjects=[1], face_files=True)
    (root / "train_release/1/9.avi").touch()
    (root / "train_release/21").mkdir()
    (root / "train_release/21/1.avi").touch()
    scan = get_reader("casia-fasd").scan(root)
    assert len(scan.recordings) == 24
    assert dict(scan.unplaced) == {"train_release/1/9.avi": "unknown file code '9' (expected 1..8 or HR_1..HR_4)",
                                   "train_release/21/1.avi": "subject folder must be 1..20"}
    clip = scan.recordings[0]
    assert clip.annotations == clip.path.with_suffix(".face")


def test_release_folders_linked_from_another_disk_are_followed(tmp_path):
    elsewhere = make_casia_tree(tmp_path / "disk", train_subjects=[3], test_subjects=[4])
    root = tmp_path / "db"
    root.mkdir()
    for release in ("train_release", "test_release"):
        (root / release).symlink_to(elsewhere / release, target_is_directory=True)
    (elsewhere / "test_release/4/again").symlink_to(root, target_is_directory=True)  # a loop must not hang
    scan = get_reader("casia-fasd").scan(root)
    assert {r.subject for r in scan.recordings} == {"3", "24"} and len(scan.recordings) == 24
    assert all(r.source.startswith(("train_release/", "test_release/")) for r in scan.recordings)
