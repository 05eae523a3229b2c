"""The folder and CSV readers: a user's own data, with the errors a user can make."""

from __future__ import annotations

from pathlib import Path

import pytest

from fasrobust.data.readers import get_reader
from fasrobust.errors import ConfigError, DataError
from fasrobust.labels import BONA_FIDE, Label


def touch(root: Path, *names: str) -> Path:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    return root


def test_folder_tree_with_split_folders_and_aliases(tmp_path):
    root = touch(tmp_path, "Train/Real/alice/1.mp4", "Train/Real/bob/2.png", "Train/attack/print/alice/3.avi",
                 "val/genuine/carol/1.mov", "val/fake/4.jpg", "test/live/dave.JPG", "test/spoof/replay/eve/x.webm",
                 "test/spoof/replay/eve/x.face", "test/readme.md", "loose.mp4", "other/clip.mkv")
    scan = get_reader("folder").scan(root)
    by_source = {r.source: r for r in scan.recordings}
    assert len(by_source) == 7
    assert (by_source["Train/attack/print/alice/3.avi"].attack_type, by_source["Train/attack/print/alice/3.avi"]
            .subject) == ("print", "alice")
    assert by_source["Train/Real/bob/2.png"].extras["medium"] == "image"
    fake = by_source["val/fake/4.jpg"]
    assert (fake.split.value, fake.label, fake.attack_type, fake.subject) == ("dev", Label.SPOOF, "spoof", "4")
    assert (by_source["test/live/dave.JPG"].attack_type, by_source["test/live/dave.JPG"].subject) == (BONA_FIDE,
                                                                                                     "dave")
    assert by_source["test/spoof/replay/eve/x.webm"].annotations.name == "x.face"
    assert dict(scan.unplaced) == {"loose.mp4": "not under a live/ or spoof/ folder",
                                   "other/clip.mkv": "not under a live/ or spoof/ folder"}


def test_folder_without_splits_is_test_unless_subjects_are_assigned(tmp_path):
    names = [f"live/s{i:02d}_{k}.png" for i in range(10) for k in range(2)]
    names += [f"spoof/print/s{i:02d}_{k}.png" for i in range(10) for k in range(3)]
    root = touch(tmp_path, *names)
    plain = get_reader("folder", subject="stem-prefix").scan(root)
    assert {r.split.value for r in plain.recordings} == {"test"}
    assert len({r.subject for r in plain.recordings}) == 10
    split = get_reader("folder", subject="stem-prefix", assign_split="subjects").scan(root)
    subjects = {s: {r.subject for r in split.recordings if r.split.value == s} for s in ("train", "dev", "test")}
    assert [len(subjects[s]) for s in ("train", "dev", "test")] == [6, 2, 2]
    assert not (subjects["train"] & subjects["dev"] or subjects["train"] & subjects["test"])
    again = get_reader("folder", subject="stem-prefix", assign_split="subjects").scan(root)
    assert [r.split for r in again.recordings] == [r.split for r in split.recordings], "deterministic"
    with pytest.raises(ConfigError, match="at most 1"):
        get_reader("folder", train_fraction=0.9, dev_fraction=0.2)


MANIFEST = "path,label,split,subject,attack_type,camera\n"


def test_csv_manifest_reads_rows_and_reports_missing_files(tmp_path):
    touch(tmp_path, "clips/a.mp4", "clips/b.mp4", "clips/c.png")
    (tmp_path / "list.csv").write_text(MANIFEST + "clips/a.mp4,real,train,s1,,webcam\n\n"
                                       "clips/b.mp4,attack,devel,s2,print,phone\nclips/c.png,FAKE,test,,,\n"
                                       "clips/gone.mp4,live,test,s3,,\nclips/a.mp4,live,train,s1,,\n")
    scan = get_reader("csv").scan(tmp_path / "list.csv")
    by_source = {r.source: r for r in scan.recordings}
    assert list(by_source) == ["clips/a.mp4", "clips/b.mp4", "clips/c.png"]
    a, b, c = by_source.values()
    assert (a.label, a.attack_type, a.split.value, dict(a.extras)) == (Label.LIVE, BONA_FIDE, "train",
                                                                      {"camera": "webcam"})
    assert (b.attack_type, b.split.value, b.subject) == ("print", "dev", "s2")
    assert (c.label, c.attack_type, c.subject) == (Label.SPOOF, "spoof", "c")
    assert a.path == tmp_path.resolve() / "clips/a.mp4"
    assert dict(scan.unplaced) == {"clips/gone.mp4": "line 6: file not found",
                                   "clips/a.mp4": "line 7: listed twice (first at line 2)"}
    folder_scan = get_reader("csv", manifest="list.csv").scan(tmp_path)
    assert [r.source for r in folder_scan.recordings] == list(by_source)


@pytest.mark.parametrize(("text", "message"), [
    ("path,label\nx.mp4,live\n", "missing required column(s) split"),
    ("path,label,split\nx.mp4,maybe,train\n", "line 2: unknown label 'maybe'"),
    ("path,label,split\nx.mp4,live,holdout\n", "line 2: unknown split 'holdout'"),
    ("path,label,split,attack_type\nx.mp4,live,train,print\n", "line 2: a live row cannot have attack_type"),
    ("path,label,split\n,live,train\n", "line 2: empty 'path'"),
    ("path,label,split\nx.mp4,live\n", "line 2: 2 cells for 3 columns"),
    ("", "empty manifest"),
])
def test_bad_manifests_are_one_line_errors_naming_the_csv(tmp_path, text, message):
    touch(tmp_path, "x.mp4")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DataError) as err:
        get_reader("csv").scan(tmp_path / "m.csv")
    assert message in str(err.value) and str(tmp_path / "m.csv") in str(err.value)
    assert "\n" not in str(err.value)


def test_csv_folder_without_manifest(tmp_path):
    with pytest.raises(DataError, match="no manifest.csv in this folder"):
        get_reader("csv").scan(tmp_path)
