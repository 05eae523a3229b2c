"""`prepare` end to end on a tiny Replay-Attack stand-in tree (exact real file names, `.face` files,
videos of a real face photograph written by the test): counts, no-face statistics, unreadable files,
resume from the cache, interruption, pruning the cache, worker processes, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from conftest import write_video
from fasrobust.data import pool as pool_module
from fasrobust.data.detect import mtcnn_available
from fasrobust.data.faceset import FaceSet
from fasrobust.data.prepare import PrepareSettings, prepare
from fasrobust.errors import ConfigError, DataError

N_FRAMES = 8
FACE_SIZE = 72  # the astronaut's face is ~0.6 of the 120-pixel patch pasted into each frame

REAL = "{split}/real/client{c:03d}_session01_webcam_authenticate_{light}_1.mov"
ATTACK = "{split}/attack/{support}/attack_{device}_client{c:03d}_session01_highdef_photo_{light}.mov"
CLIENTS = {"train": [1, 2], "devel": [3], "test": [9]}


def face_clip(spoof: bool, seed: int) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """Frames (T, 120, 160, 3) with the astronaut's face moving right, and its box per frame."""
    rng = np.random.default_rng(seed)
    patch = np.asarray(Image.fromarray(data.astronaut()[34:214, 134:314]).resize((120, 120)))
    frames, boxes = [], []
    for t in range(N_FRAMES):
        frame = np.full((120, 160, 3), 110, np.uint8)
        x0 = 4 + 4 * t
        frame[0:120, x0:x0 + 120] = patch
        if spoof:  # a washed-out, tinted recapture
            frame = (frame * np.array([0.7, 0.75, 0.8]) + 50).astype(np.uint8)
        frame = np.clip(frame + rng.integers(-4, 5, frame.shape), 0, 255).astype(np.uint8)
        frames.append(frame)
        boxes.append((x0 + 32, 20, 60, 76))  # the face inside the patch, in frame pixels
    return np.stack(frames), boxes


def build_tree(root: Path, *, missing_face_frame: int | None = None) -> Path:
    """Replay-Attack layout: per client one real and two attack videos, with face-locations files."""
    names = []
    for split, clients in CLIENTS.items():
        for c in clients:
            names.append((REAL.format(split=split, c=c, light="controlled"), False))
            names.append((ATTACK.format(split=split, support="fixed", device="print", c=c, light="adverse"), True))
            names.append((ATTACK.format(split=split, support="hand", device="highdef", c=c, light="controlled"), True))
    for i, (name, spoof) in enumerate(names):
        frames, boxes = face_clip(spoof, i)
        write_video(root / name, frames)
        lines = [f"{t} {x} {y} {w} {h}" if t != missing_face_frame else f"{t} 0 0 0 0"
                 for t, (x, y, w, h) in enumerate(boxes)]
        face_file = root / "face-locations" / Path(name).with_suffix(".face")
        face_file.parent.mkdir(parents=True, exist_ok=True)
        face_file.write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("replay"), missing_face_frame=4)


def settings(root: Path, out: Path, **changes) -> PrepareSettings:
    base = {"database": "replay-attack", "root": root, "out": out, "frames_per_video": 3,
            "detector": "annotations"}
    return PrepareSettings.build({**base, **changes})


def test_prepare_writes_a_balanced_faceset_with_its_statistics(tree, tmp_path):
    faces = prepare(settings(tree, tmp_path / "fs", no_face="previous"))
    assert faces.images.dtype == np.uint8 and faces.images.shape[1:] == (32, 32, 3)
    # 3 frames per video (indices 1, 4, 6); frame 4 has no annotated face and reuses the previous box
    assert faces.counts() == {"train": {"live": 6, "spoof": 6}, "dev": {"live": 3, "spoof": 3},
                              "test": {"live": 3, "spoof": 3}}
    info = json.loads((tmp_path / "fs" / "faceset.json").read_text())
    assert info["no_face"] == {"frames_sampled": 36, "face_found": 24, "no_face": 12, "no_face_skipped": 0,
                               "no_face_previous_box": 12, "no_face_annotation": 0}
    assert info["detector"]["name"] == "annotations" and info["synthetic"] is False
    assert info["balance"]["before"]["train"] == {"live": 6, "spoof": 12}
    assert info["settings"]["frames_per_video"] == 3 and info["input_fingerprint"]["files"] == 12
    assert set(faces.meta["detector"]) == {"annotations", "previous:annotations"}
    assert sorted(set(faces.meta["frame"])) == [1, 4, 6]
    row = faces.meta[faces.meta["frame"] == 1].iloc[0]
    assert (row.box_w, row.box_h) == (106, 106)  # 76 * 1.4, square


def test_no_face_frames_are_counted_when_skipped(tree, tmp_path):
    faces = prepare(settings(tree, tmp_path / "fs", no_face="skip", balance=False))
    assert faces.info["no_face"]["no_face_skipped"] == 12 and len(faces) == 24


def test_unreadable_files_are_counted_and_the_run_goes_on_or_stops(tree, tmp_path):
    broken = build_tree(tmp_path / "db")
    bad = broken / REAL.format(split="train", c=2, light="controlled")
    bad.write_bytes(b"")
    faces = prepare(settings(broken, tmp_path / "fs"))
    assert faces.info["recordings"] == {"scanned": 12, "extracted": 11, "failed": 1, "unplaced": 0}
    assert faces.info["errors"][0]["source"].endswith("client002_session01_webcam_authenticate_controlled_1.mov")
    assert "0 bytes" in faces.info["errors"][0]["error"]
    assert faces.counts()["train"] == {"live": 3, "spoof": 3}
    with pytest.raises(DataError, match="client002.*0 bytes.*on_error: stop"):
        prepare(settings(broken, tmp_path / "fs2", on_error="stop"))
    assert not (tmp_path / "fs2" / "faceset.json").exists()


def test_a_rerun_reuses_the_cache_and_a_killed_run_resumes(tree, tmp_path, monkeypatch):
    out = tmp_path / "fs"
    first = prepare(settings(tree, out))
    assert first.info["cache"] == {"hits": 0, "extracted": 12, "pruned": 0, "pruned_bytes": 0}
    images = np.array(first.images)
    again = prepare(settings(tree, out))
    assert again.info["cache"] == {"hits": 12, "extracted": 0, "pruned": 0, "pruned_bytes": 0}
    np.testing.assert_array_equal(again.images, images)
    changed = prepare(settings(tree, out, size=24))  # other crop settings: nothing reusable
    assert changed.info["cache"]["hits"] == 0 and changed.images.shape[1] == 24

    # A run killed after two recordings leaves no FaceSet, only the two cached recordings.
    real = _interrupt_third_extraction(monkeypatch)
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        prepare(settings(tree, killed, seed=5))
    assert not (killed / "faceset.json").exists() and not (killed / "images.npy").exists()
    assert len(list((killed / ".cache").glob("*.npz"))) == 2
    monkeypatch.setattr(pool_module, "extract_recording", real)
    resumed = prepare(settings(tree, killed, seed=5))
    assert resumed.info["cache"] == {"hits": 2, "extracted": 10, "pruned": 0, "pruned_bytes": 0}
    assert not list(tmp_path.glob(".killed.*")), "no temporary folder left behind"


def test_a_truncated_or_empty_cache_entry_is_a_miss_with_a_note(tree, tmp_path, capsys):
    """A cut .npz (a full disk, a partial copy) and a zero-byte one are re-extracted, noted in
    faceset.json and on the console, and rewritten; the run does not need the user to find them."""
    out = tmp_path / "fs"
    first = prepare(settings(tree, out))
    cut, empty = sorted((out / ".cache").glob("*.npz"))[:2]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    empty.write_bytes(b"")
    capsys.readouterr()
    again = prepare(settings(tree, out))
    assert again.info["cache"] == {"hits": 10, "extracted": 2, "pruned": 0, "pruned_bytes": 0}
    np.testing.assert_array_equal(again.images, first.images)
    notes = [n["note"] for n in again.info["notes"] if "cache entry" in n["note"]]
    assert len(notes) == 2 and any(str(cut) in n for n in notes) and any(str(empty) in n for n in notes)
    err = capsys.readouterr().err
    assert err.count("cache entry cannot be read") == 2 and "extracted again" in err
    assert prepare(settings(tree, out)).info["cache"]["hits"] == 12  # rewritten whole


def _interrupt_third_extraction(monkeypatch):
    """The third recording's extraction raises KeyboardInterrupt, as a Ctrl-C would; returns the real
    function, to put back."""
    calls = {"n": 0}
    real = pool_module.extract_recording

    def dies_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(pool_module, "extract_recording", dies_on_third)
    return real


def _entries(out: Path) -> set[str]:
    return {p.name for p in (out / ".cache").glob("*.npz")}


def test_a_finished_run_prunes_the_cache_entries_it_did_not_use(tree, tmp_path, monkeypatch):
    out = tmp_path / "fs"
    prepare(settings(tree, out, frames_per_video=3))
    three = _entries(out)
    cache = out / ".cache"
    (cache / "README.txt").write_text("the user's own note")  # not ours: never touched
    (cache / "backup.npz").write_bytes(b"not one of our entries")
    orphan = cache / f".{'0' * 32}.npz.k1ll3d"  # what a worker killed mid-write leaves
    orphan.write_bytes(b"partial")
    stale_bytes = sum((cache / name).stat().st_size for name in three) + len(b"partial")

    two = prepare(settings(tree, out, frames_per_video=2))
    assert two.info["cache"] == {"hits": 0, "extracted": 12, "pruned": 13, "pruned_bytes": stale_bytes}
    assert len(_entries(out) - {"backup.npz"}) == 12 and not three & _entries(out) and not orphan.exists()
    assert (cache / "README.txt").read_text() == "the user's own note" and (cache / "backup.npz").exists()
    assert prepare(settings(tree, out, frames_per_video=2)).info["cache"] == {
        "hits": 12, "extracted": 0, "pruned": 0, "pruned_bytes": 0}

    # keep_cache: the other settings' entries stay, and switching back costs nothing
    kept = prepare(settings(tree, out, frames_per_video=3, keep_cache=True))
    assert kept.info["cache"]["pruned"] == 0 and len(_entries(out) - {"backup.npz"}) == 24
    assert prepare(settings(tree, out, frames_per_video=2, keep_cache=True)).info["cache"]["hits"] == 12

    # an interrupted run prunes nothing, though it used only two entries
    before = _entries(out)
    _interrupt_third_extraction(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        prepare(settings(tree, out, frames_per_video=4))
    assert before < _entries(out) and len(_entries(out) - before) == 2


def test_two_worker_processes_give_the_same_faceset(tree, tmp_path):
    one = prepare(settings(tree, tmp_path / "one", detector="cascade", frames_per_video=2))
    two = prepare(settings(tree, tmp_path / "two", detector="cascade", frames_per_video=2, workers=2))
    np.testing.assert_array_equal(one.images, two.images)
    assert one.meta.equals(two.meta)
    assert one.info["no_face"]["face_found"] >= 20  # the cascade finds the face in most frames


@pytest.mark.skipif(not mtcnn_available(), reason="the mtcnn extra is not installed")
def test_prepare_with_mtcnn_finds_the_faces_the_annotations_give(tree, tmp_path):
    faces = prepare(settings(tree, tmp_path / "fs", detector="mtcnn", frames_per_video=2, balance=False))
    assert faces.info["no_face"]["face_found"] == 24 and faces.info["detector"]["name"] == "mtcnn"
    centres_x = faces.meta["box_x"] + faces.meta["box_w"] / 2
    expected_x = 4 + 4 * faces.meta["frame"] + 32 + 30  # annotated face centre
    assert np.abs(centres_x - expected_x).max() < 10


def test_settings_are_checked_before_any_work(tree, tmp_path):
    with pytest.raises(ConfigError, match="root"):
        PrepareSettings.build({"database": "replay-attack", "out": tmp_path / "fs"})
    with pytest.raises(ConfigError, match="frames_per_video"):
        settings(tree, tmp_path / "fs", frames_per_video=0)
    with pytest.raises(ConfigError, match="Table 1 has no row for database 'folder'"):
        settings(tree, tmp_path / "fs", database="folder", caps="table1").resolved_caps()
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match="thesis.tex"):
        prepare(settings(tree, tmp_path / "home"))
    assert (tmp_path / "home" / "thesis.tex").exists()


def test_cli_prints_the_summary_and_one_line_errors(tree, tmp_path):
    out = tmp_path / "fs"
    cmd = [sys.executable, "-m", "fasrobust", "prepare", "--database", "replay-attack", "--root", str(tree),
           "--out", str(out), "--detector", "annotations", "--frames", "2", "--caps", "train=2/2"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    assert "no face" in done.stderr and "train" in done.stderr
    assert FaceSet.load(out).counts()["train"] == {"live": 2, "spoof": 2}
    entries = _entries(out)
    kept = subprocess.run(cmd[:-4] + ["--frames", "3", "--keep-cache"], capture_output=True, text=True, timeout=120)
    assert kept.returncode == 0, kept.stderr
    assert entries < _entries(out)  # the 2-frame entries are still there beside the 3-frame ones
    failed = subprocess.run(cmd[:4] + ["--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "fasrobust: error:" in failed.stderr


def test_yaml_settings_with_overrides_and_caps_syntax(tmp_path):
    from fasrobust.cli.prepare_cmd import parse_caps

    path = tmp_path / "prepare.yaml"
    path.write_text("database: 3dmad\nroot: /data/3dmad\nout: faces\ncaps: table1\nno_face: annotation\n")
    loaded = PrepareSettings.load(path, frames_per_video=4)
    assert loaded.frames_per_video == 4 and loaded.no_face == "annotation"
    assert loaded.resolved_caps()["train"] == {"live": 240, "spoof": 240}
    path.write_text("database: 3dmad\nroot: /data\nout: faces\nmargin: -1\n")
    with pytest.raises(ConfigError, match="prepare.yaml: margin"):
        PrepareSettings.load(path)
    assert parse_caps("train=240,test=100/90") == {"train": {"live": 240, "spoof": 240},
                                                   "test": {"live": 100, "spoof": 90}}
    with pytest.raises(ConfigError, match="--caps"):
        parse_caps("train=lots")
