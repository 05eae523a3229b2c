"""The embedded SYNTHETIC sample database: Replay-Attack layout the real reader accepts, real H.264
videos with true face boxes, deterministic in the seed, cached, labelled synthetic everywhere. That it is
worth attacking (the demo's FASNet scores high but not perfectly) is test_demo's, on the shared demo run."""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import fasrobust.data.sample as sample
from fasrobust.data.readers import get_reader
from fasrobust.data.sample import SAMPLE_DATABASE_VERSION, ensure_sample_database
from fasrobust.data.sample.build import MANIFEST, render_clip
from fasrobust.data.sample.domain import SITES, Domain
from fasrobust.data.sample.layout import CLIENTS, plan
from fasrobust.data.sample.scene import FRAME_SIZE, Lighting, illumination
from fasrobust.data.sample.writer import read_video, write_video
from fasrobust.errors import ConfigError, DataError

SUBJECTS, FRAMES = 3, 3  # one subject per split: the smallest database with every split and attack
REAL = re.compile(
    r"^(train|devel|test)/real/client(\d{3})_session01_webcam_authenticate_(adverse|controlled)_[12]\.mov$"
)
ATTACK = re.compile(
    r"^(train|devel|test)/attack/(fixed|hand)/attack_(print|mobile|highdef)_client(\d{3})_session01_"
    r"(highdef|mobile)_(photo|video)_(adverse|controlled)\.mov$"
)


@pytest.fixture(scope="module")
def database(tmp_path_factory) -> Path:
    return ensure_sample_database(
        tmp_path_factory.mktemp("sample") / "db", subjects=SUBJECTS, frames=FRAMES, workers=1
    )


def _boxes(path: Path) -> np.ndarray:
    rows = [line.split() for line in path.read_text().splitlines()]
    assert [int(r[0]) for r in rows] == list(range(len(rows)))  # one line per frame, numbered from 0
    return np.asarray([[int(v) for v in r[1:]] for r in rows])


def test_plan_follows_replay_attack_names_and_client_lists():
    specs = plan(15)
    assert len(specs) == 15 * 9
    splits = {"train": "train", "devel": "dev", "test": "test"}
    for spec in specs:
        match = (REAL if spec.label == "live" else ATTACK).match(str(spec.path))
        assert match, spec.path
        assert splits[match.group(1)] == spec.split and spec.client in CLIENTS[spec.split]
        assert str(spec.face_path) == f"face-locations/{spec.path.with_suffix('.face')}"
    kinds = Counter((s.split.value, s.device or "live") for s in specs)
    for split in ("train", "dev", "test"):  # 5 subjects each: 4 live + one of each attack combination
        assert kinds[(split, "live")] == 20 and kinds[(split, "print")] == 5
        assert kinds[(split, "mobile")] == kinds[(split, "highdef")] == 10
    clients = {split: {s.client for s in specs if s.split == split} for split in ("train", "dev", "test")}
    assert all(len(ids) == 5 for ids in clients.values())
    assert not (
        clients["train"] & clients["dev"]
        or clients["train"] & clients["test"]
        or clients["dev"] & clients["test"]
    )
    assert {(s.support, s.lighting) for s in specs if s.device} == {
        (a, b) for a in ("fixed", "hand") for b in ("adverse", "controlled")
    }
    assert plan(3) == [s for s in specs if s.subject < 3]  # a small database is a prefix of a larger one


def test_the_replay_attack_reader_reads_it(database):
    scan = get_reader("replay-attack").scan(database)
    assert scan.unplaced == []
    table = scan.to_frame()
    assert len(table) == SUBJECTS * 9
    counts = table.groupby(["split", "label"]).size().to_dict()
    assert counts == {
        (s, label): n for s in ("train", "dev", "test") for label, n in (("live", 4), ("spoof", 5))
    }
    assert sorted(table[table.label == "spoof"].attack_type.value_counts().items()) == [
        ("highdef", 6),
        ("mobile", 6),
        ("print", 3),
    ]
    assert table.groupby("subject").split.nunique().max() == 1  # subject-disjoint splits
    assert all(r.annotations is not None and r.annotations.is_file() for r in scan.recordings)


def test_videos_decode_and_face_boxes_lie_inside_frames(database):
    manifest = json.loads((database / MANIFEST).read_text())
    width, height = FRAME_SIZE
    for clip in manifest["clips"]:
        frames = read_video(database / clip["path"])
        assert frames.shape == (FRAMES, height, width, 3) and frames.dtype == np.uint8
        assert frames.std() > 10  # a picture, not a blank
        boxes = _boxes(database / clip["face_file"])
        assert len(boxes) == FRAMES
        x, y, w, h = boxes.T
        assert (x >= 0).all() and (y >= 0).all() and (x + w <= width).all() and (y + h <= height).all()
        assert (w >= 40).all() and (h >= 40).all()  # webcam-sized faces, live and presented alike


def test_it_is_labelled_synthetic_everywhere(database):
    assert (database / "README.txt").read_text().startswith("SYNTHETIC DATA")
    manifest = json.loads((database / MANIFEST).read_text())
    assert manifest["synthetic"] is True and manifest["version"] == SAMPLE_DATABASE_VERSION
    assert (manifest["seed"], manifest["subjects"], manifest["frames"]) == (0, SUBJECTS, FRAMES)
    assert set(manifest["sources"]) == {"astronaut", "cameraman", "hopper"}
    assert "SYNTHETIC" in sample.__doc__


def test_second_call_is_a_cache_hit(database):
    stamp = (database / MANIFEST).stat().st_mtime_ns
    start = time.perf_counter()
    assert ensure_sample_database(database, subjects=SUBJECTS, frames=FRAMES) == database
    assert time.perf_counter() - start < 1.0
    assert (database / MANIFEST).stat().st_mtime_ns == stamp
    assert not list(database.parent.glob(".sample-partial-*"))  # nothing left from generating


def test_same_seed_same_frames_in_any_number_of_processes(database, tmp_path):
    again = ensure_sample_database(tmp_path / "again", subjects=SUBJECTS, frames=FRAMES, workers=2)
    for clip in json.loads((database / MANIFEST).read_text())["clips"]:
        first, second = read_video(database / clip["path"]), read_video(again / clip["path"])
        difference = np.abs(first.astype(int) - second)  # 0 here; a tolerance for other x264 builds
        assert difference.mean() < 0.05 and difference.max() <= 8, clip["path"]
        assert (database / clip["face_file"]).read_text() == (again / clip["face_file"]).read_text()


def test_the_seed_changes_every_clip():
    for spec in plan(3)[::4]:
        (a, _), (b, _), (c, _) = render_clip(spec, 0, 2), render_clip(spec, 0, 2), render_clip(spec, 1, 2)
        assert np.array_equal(a.frames, b.frames) and np.array_equal(a.boxes, b.boxes)
        assert np.abs(a.frames.astype(int) - c.frames).mean() > 3


def test_refuses_to_overwrite_what_it_did_not_make(database, tmp_path):
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match="not a fasrobust sample database"):
        ensure_sample_database(stranger, subjects=SUBJECTS, frames=FRAMES)
    assert (stranger / "thesis.tex").read_text() == "precious"
    with pytest.raises(DataError, match="force=True"):  # a sample database, but other settings
        ensure_sample_database(database, subjects=SUBJECTS, frames=FRAMES, seed=1)
    with pytest.raises(ConfigError, match="subjects"):
        ensure_sample_database(tmp_path / "x", subjects=2)
    with pytest.raises(ConfigError, match="frames"):
        ensure_sample_database(tmp_path / "x", frames=0)


def test_face_boxes_are_where_a_face_detector_finds_the_face(database):
    """MTCNN (the paper's detector) on the first frame of each subject's live clips agrees with the
    .face box the generator wrote."""
    mtcnn = pytest.importorskip("mtcnn")
    detector = mtcnn.MTCNN()
    ious = []
    for path in sorted((database).glob("*/real/*controlled_1.mov")):
        frame = read_video(path)[0]
        truth = _boxes(database / "face-locations" / path.relative_to(database).with_suffix(".face"))[0]
        found = [d["box"] for d in detector.detect_faces(frame) if d["confidence"] > 0.9]
        ious.append(max((_iou(truth, np.asarray(box)) for box in found), default=0.0))
    assert len(ious) == SUBJECTS and min(ious) > 0.4, ious


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)



def _generate_in_daemon(root: str, queue) -> None:
    try:
        ensure_sample_database(Path(root), subjects=SUBJECTS, frames=FRAMES, workers=2)
        queue.put("ok")
    except BaseException as exc:  # reported to the test, which fails with it
        queue.put(repr(exc))


def test_generation_inside_a_job_worker_runs_in_process(tmp_path):
    """`fasrobust run` executes prepare in daemonic worker processes, which may not start children."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_generate_in_daemon, args=(str(tmp_path / "db"), queue), daemon=True)
    worker.start()
    worker.join(timeout=300)
    assert queue.get(timeout=5) == "ok"
    assert (tmp_path / "db" / "manifest.json").is_file()


def test_the_default_cache_replaces_a_copy_made_with_other_settings(tmp_path, monkeypatch):
    """An upgrade that changes the defaults must not leave users with an error about their own cache."""
    monkeypatch.setenv("FASROBUST_CACHE", str(tmp_path))
    stale = ensure_sample_database(tmp_path / "elsewhere", subjects=SUBJECTS, frames=FRAMES, workers=1)
    default = sample.default_root(subjects=SUBJECTS, frames=FRAMES + 1)
    default.parent.mkdir(parents=True, exist_ok=True)
    stale.rename(default)  # a cache entry whose manifest says frames=FRAMES, where FRAMES + 1 is asked
    assert ensure_sample_database(subjects=SUBJECTS, frames=FRAMES + 1, workers=1) == default
    assert json.loads((default / "manifest.json").read_text())["frames"] == FRAMES + 1


def test_prepare_reads_a_sample_database_already_at_its_root(database):
    """A user who generated a smaller (or larger) sample database points prepare at it; it is read as it
    is, not refused for differing from the defaults nor regenerated."""
    before = json.loads((database / MANIFEST).read_text())
    assert sample.open_sample_database(database) == database
    assert json.loads((database / MANIFEST).read_text()) == before


def test_sample_reader_options_choose_what_is_generated(database, tmp_path):
    root = sample.open_sample_database(
        tmp_path / "custom", {"subjects": str(SUBJECTS), "frames": str(FRAMES), "seed": "0"}
    )
    manifest = json.loads((root / MANIFEST).read_text())
    assert (manifest["subjects"], manifest["frames"], manifest["seed"]) == (SUBJECTS, FRAMES, 0)
    with pytest.raises(ConfigError, match="takes seed, subjects, frames and domain, not 'protocol'"):
        sample.open_sample_database(tmp_path / "other", {"protocol": "print"})
    with pytest.raises(ConfigError, match="subjects of the sample database must be an integer"):
        sample.open_sample_database(tmp_path / "other", {"subjects": "many"})
    with pytest.raises(DataError, match="made with"):  # explicit options that differ never overwrite
        sample.open_sample_database(database, {"subjects": str(SUBJECTS + 3), "frames": str(FRAMES)})


@pytest.mark.slow
def test_every_subjects_face_box_is_where_mtcnn_finds_it():
    """The same check for all 45 default subjects (the 42 LFW faces included, whose box is one rule for
    all crops): the first frame of one live clip each, rendered without writing a video."""
    mtcnn = pytest.importorskip("mtcnn")
    detector = mtcnn.MTCNN()
    ious = {}
    for spec in plan(sample.DEFAULT_SUBJECTS):
        if spec.number != 0:  # the first live clip of each subject
            continue
        clip, _ = render_clip(spec, 0, 1)
        found = [d["box"] for d in detector.detect_faces(clip.frames[0]) if d["confidence"] > 0.9]
        ious[spec.subject] = max((_iou(clip.boxes[0], np.asarray(box)) for box in found), default=0.0)
    assert len(ious) == sample.DEFAULT_SUBJECTS and min(ious.values()) > 0.4, ious


# Domains: a second SYNTHETIC site (another webcam, other lights) for cross-database evaluation.

#: Domain a's clips as the generator made them before domains existed (seed 0, 2 frames; plan(3) index ->
#: mean R, G, B over the frames, their std, the first face box). Recorded from the code before the change.
DOMAIN_A_BEFORE = {
    0: ((119.465, 107.504, 87.636), 48.773, (99.232, 60.477, 88.759, 114.424)),  # live, adverse
    4: ((138.853, 140.06, 132.233), 59.76, (102.382, 44.799, 95.388, 122.939)),  # print
    6: ((78.559, 82.889, 79.436), 38.705, (117.655, 50.994, 74.787, 96.404)),  # phone video
    16: ((91.795, 91.495, 86.624), 36.57, (102.931, 49.474, 80.872, 112.935)),  # tablet photo
}


def _noise(frames: np.ndarray) -> float:
    """Sensor noise in codes: robust spread (MAD) of the horizontal second difference, which edges
    barely touch and white noise of std s turns into std s * sqrt(6)."""
    x = frames.astype(np.float64)
    d = x[:, :, 2:] - 2 * x[:, :, 1:-1] + x[:, :, :-2]
    return float(np.median(np.abs(d - np.median(d))) * 1.4826 / np.sqrt(6))


def _colour_stats(frames: np.ndarray) -> tuple[float, float, float]:
    """(brightness: mean code, warmth: mean red / mean blue, noise) of a clip."""
    means = frames.astype(np.float64).mean(axis=(0, 1, 2))
    return float(means.mean()), float(means[0] / means[2]), _noise(frames)


def _stored_stats(root: Path) -> np.ndarray:
    """`_colour_stats` of the decoded videos of a sample database, averaged over its clips."""
    clips = json.loads((root / MANIFEST).read_text())["clips"]
    return np.mean([_colour_stats(read_video(root / clip["path"])) for clip in clips], axis=0)


@pytest.mark.parametrize("index", sorted(DOMAIN_A_BEFORE))
def test_domain_a_is_the_database_as_it_was(index):
    spec = plan(3)[index]
    (default, quality), (explicit, same_quality) = render_clip(spec, 0, 2), render_clip(spec, 0, 2, Domain.A)
    assert np.array_equal(default.frames, explicit.frames) and quality == same_quality
    means, spread, box = DOMAIN_A_BEFORE[index]
    frames = default.frames.astype(np.float64)
    # a tolerance for other CPUs' float rounding (a code off by one here and there), far below any change
    assert np.allclose(frames.mean(axis=(0, 1, 2)), means, atol=0.02), frames.mean(axis=(0, 1, 2))
    assert abs(frames.std() - spread) < 0.02
    assert np.allclose(default.boxes[0], box, atol=1e-3)


@pytest.mark.parametrize("index", [0, 4, 8])  # live, print, tablet video
def test_domain_b_is_deterministic(index):
    spec = plan(3)[index]
    (first, q1), (second, q2) = render_clip(spec, 1, 2, Domain.B), render_clip(spec, 1, 2, "b")
    assert first.frames.tobytes() == second.frames.tobytes() and np.array_equal(first.boxes, second.boxes)
    assert q1 == q2


def test_domain_b_is_darker_warmer_and_noisier_in_every_clip():
    """Same seed, so the same scenes: what differs is the site's webcam and lamps (domain.py), and it
    shows in every clip, live and attack alike (measured: 14-24 codes darker, red/blue +0.19-0.30,
    noise x1.7-2.0)."""
    for spec in plan(3)[::4]:
        a_clip, _ = render_clip(spec, 0, 2, Domain.A)
        b_clip, _ = render_clip(spec, 0, 2, Domain.B)
        assert np.array_equal(a_clip.boxes, b_clip.boxes)  # the same draw: people and motion unchanged
        (bright_a, warm_a, noise_a), (bright_b, warm_b, noise_b) = map(_colour_stats, (a_clip.frames, b_clip.frames))
        assert bright_a - bright_b > 8, (spec.path, bright_a, bright_b)
        assert warm_b - warm_a > 0.1, (spec.path, warm_a, warm_b)
        assert noise_b > 1.3 * noise_a, (spec.path, noise_a, noise_b)


@pytest.mark.parametrize("lighting", list(Lighting))
def test_domain_b_lamps_are_warm_and_stand_to_the_left(lighting):
    site = SITES[Domain.B]
    (field_a, gain_a), (field_b, gain_b) = (
        illumination(np.random.default_rng(7), lighting, 3, site=SITES[domain]) for domain in Domain
    )
    assert np.array_equal(gain_a, gain_b)
    ratio = field_b / field_a
    assert np.allclose(ratio[:, 0], site.light_tint, rtol=1e-5)  # the left edge: only the lamps' colour
    assert np.allclose(ratio[:, -1], np.multiply(site.light_tint, 1 - site.side_light), rtol=1e-5)
    assert (np.diff(ratio[..., 1], axis=1) < 0).all()  # less light towards the right


def test_domain_b_compresses_harder(tmp_path):
    frames = render_clip(plan(3)[0], 0, 2, Domain.B)[0].frames
    errors, sizes = {}, {}
    for crf in (SITES[Domain.A].crf, SITES[Domain.B].crf):
        path = tmp_path / f"crf{crf}.mov"
        write_video(path, frames, crf=crf)
        errors[crf] = np.abs(read_video(path).astype(int) - frames).mean()
        sizes[crf] = path.stat().st_size
    assert SITES[Domain.B].crf > SITES[Domain.A].crf
    assert errors[SITES[Domain.B].crf] > errors[SITES[Domain.A].crf]
    assert sizes[SITES[Domain.B].crf] < sizes[SITES[Domain.A].crf]


def test_a_spec_prepares_domain_b_through_reader_options(database, tmp_path, monkeypatch):
    """The cross-database spec's second database: `reader_options: {seed: 1, domain: b}`; it lands in its
    own default cache folder, says SYNTHETIC and its domain, and reads like domain a."""
    from fasrobust.data.prepare import PrepareSettings, prepare

    monkeypatch.setenv("FASROBUST_CACHE", str(tmp_path / "cache"))
    options = {"seed": 1, "domain": "b", "subjects": SUBJECTS, "frames": 2}
    faces = prepare(PrepareSettings.build({"database": "sample", "frames_per_video": 2, "detector": "annotations",
                                           "reader_options": options, "out": tmp_path / "faces"}))
    root = Path(faces.info["root"])
    assert root == sample.default_root(seed=1, subjects=SUBJECTS, frames=2, domain="b")
    assert root != sample.default_root(seed=1, subjects=SUBJECTS, frames=2) and root.name.endswith("-domain-b")
    assert sample.default_root().name == f"sample-v{SAMPLE_DATABASE_VERSION}"  # domain a's cache as before
    assert faces.info["synthetic"] is True and faces.info["settings"]["reader_options"]["domain"] == "b"
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["synthetic"] is True and (manifest["domain"], manifest["seed"]) == ("b", 1)
    assert manifest["site"]["crf"] == SITES[Domain.B].crf
    readme = (root / "README.txt").read_text()
    assert readme.startswith("SYNTHETIC DATA") and "Domain b:" in readme
    assert json.loads((database / MANIFEST).read_text())["domain"] == "a"
    # what is stored, after compression, still shows the shift (other seeds: averaged over all clips;
    # measured: brightness 101.7 vs 81.0, red/blue 1.11 vs 1.42, noise 0.54 vs 1.21)
    (bright_a, warm_a, noise_a), (bright_b, warm_b, noise_b) = map(_stored_stats, (database, root))
    assert bright_a - bright_b > 8 and warm_b - warm_a > 0.1 and noise_b > 1.3 * noise_a
    assert faces.counts() == {split: {"live": 4 * 2, "spoof": 4 * 2} for split in ("train", "dev", "test")}


def test_a_cache_made_before_domains_is_domain_a(database, tmp_path):
    """Existing caches (manifests without a domain) stay valid for domain a and are never taken for b."""
    old = tmp_path / "old"
    shutil.copytree(database, old)
    manifest = json.loads((old / MANIFEST).read_text())
    del manifest["domain"], manifest["site"]
    (old / MANIFEST).write_text(json.dumps(manifest))
    stamp = (old / MANIFEST).stat().st_mtime_ns
    assert ensure_sample_database(old, subjects=SUBJECTS, frames=FRAMES, domain="a") == old
    assert (old / MANIFEST).stat().st_mtime_ns == stamp
    with pytest.raises(DataError, match="domain a, not .* domain b"):
        ensure_sample_database(old, subjects=SUBJECTS, frames=FRAMES, domain="b")


@pytest.mark.parametrize(
    "make",
    [
        lambda root: sample.open_sample_database(root, {"domain": "c"}),
        lambda root: ensure_sample_database(root, domain="c"),
    ],
    ids=["reader option", "keyword"],
)
def test_an_unknown_domain_is_a_one_line_config_error(make, tmp_path):
    with pytest.raises(ConfigError, match=r"domain .*must be one of a, b, got 'c'") as error:
        make(tmp_path / "db")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "db").exists()
