"""Stand-in database trees with the real file names of the four databases (see
/work/shared/reference/DATASETS.md), for tests of the readers and of the data pipeline.

Readers never decode, so by default videos are empty files. Pass `video_writer` (any callable taking
the path, e.g. the `make_video` fixture) to write real tiny videos instead. The facts here (client
lists, codes, counts) are written out again on purpose rather than imported from the readers, so a
mistake in a reader shows up as a failing count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

VideoWriter = Callable[[Path], object]

REPLAY_CLIENTS = {
    "train": (1, 2, 4, 6, 7, 8, 12, 16, 18, 25, 27, 103, 105, 108, 110),
    "devel": (3, 5, 10, 15, 17, 22, 29, 30, 101, 111, 113, 114, 116, 118, 119),
    "test": (9, 11, 13, 14, 19, 20, 21, 23, 24, 26, 28, 31, 102, 104, 106, 107, 109, 112, 115, 117),
}
#: (attack device, device that captured the original, medium): the five combinations of the release.
REPLAY_ATTACKS = (("print", "highdef", "photo"), ("mobile", "mobile", "photo"), ("mobile", "mobile", "video"),
                  ("highdef", "highdef", "photo"), ("highdef", "highdef", "video"))
LIGHTS = ("adverse", "controlled")

CASIA_CODES = ("1", "2", "3", "4", "5", "6", "7", "8", "HR_1", "HR_2", "HR_3", "HR_4")

ROSE_SUBJECTS = (2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23)
ROSE_CODES = ("G", "Ps", "Pq", "Vl", "Vm", "Mc", "Mf", "Mu")


def _write(path: Path, video_writer: VideoWriter | None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if video_writer is None:
        path.touch()
    else:
        video_writer(path)
    return path


def write_face_file(path: Path, frames: int, box: tuple[int, int, int, int], no_face: Iterable[int] = ()) -> Path:
    """A bob `.face` file: `frame x y w h` per frame, `n 0 0 0 0` for the frames in `no_face`."""
    missing = set(no_face)
    lines = [f"{i} 0 0 0 0" if i in missing else f"{i} {' '.join(map(str, box))}" for i in range(frames)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def make_replay_attack_tree(root: Path, *, full: bool = False, clients_per_split: int | None = None,
                            video_writer: VideoWriter | None = None, face_locations: bool = False,
                            face_frames: int = 5, face_box: tuple[int, int, int, int] = (8, 6, 24, 24),
                            enroll: bool = True) -> Path:
    """Replay-Attack: per client 4 real clips and 20 attacks (5 combinations x fixed/hand x 2 lights).
    `full` writes all 50 clients (real 60/60/80, attacks 300/300/400); otherwise `clients_per_split`
    (default 1) clients of each split. `face_locations` adds `face-locations/<path>.face` files."""
    root = Path(root)
    per_split = None if full else (clients_per_split or 1)
    for split, clients in REPLAY_CLIENTS.items():
        for client in clients[:per_split]:
            names = [f"real/client{client:03d}_session01_webcam_authenticate_{light}_{take}.mov"
                     for light in LIGHTS for take in (1, 2)]
            names += [f"attack/{support}/attack_{device}_client{client:03d}_session01_{capture}_{medium}_{light}.mov"
                      for support in ("fixed", "hand") for device, capture, medium in REPLAY_ATTACKS
                      for light in LIGHTS]
            for name in names:
                _write(root / split / name, video_writer)
                if face_locations:
                    write_face_file(root / "face-locations" / split / Path(name).with_suffix(".face"),
                                    face_frames, face_box)
            if enroll and split != "test":  # enrolment clips (bob: enroll/<split>/) are not PAD data
                for light in LIGHTS:
                    _write(root / "enroll" / split / f"client{client:03d}_session01_enroll_{light}.mov", None)
    return root


def make_casia_tree(root: Path, *, train_subjects: Sequence[int] = range(1, 21),
                    test_subjects: Sequence[int] = range(1, 31), video_writer: VideoWriter | None = None,
                    face_files: bool = False, face_frames: int = 5,
                    face_box: tuple[int, int, int, int] = (8, 6, 24, 24)) -> Path:
    """CASIA-FASD: train_release/<s>/ and test_release/<s>/ with the 12 videos each (600 in all by
    default). `face_files` writes bob-style `<video>.face` files next to the videos."""
    root = Path(root)
    for release, subjects in (("train_release", train_subjects), ("test_release", test_subjects)):
        for subject in subjects:
            for code in CASIA_CODES:
                video = _write(root / release / str(subject) / f"{code}.avi", video_writer)
                if face_files:
                    write_face_file(video.with_suffix(".face"), face_frames, face_box)
    return root


def default_3dmad_frames(client: int, session: int, shot: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    """(T, H, W, 3) uint8: a grey background with a lighter 'face' square that moves a little."""
    w, h = size
    images = np.full((frames, h, w, 3), 60 + 10 * session, dtype=np.uint8)
    for t in range(frames):
        x0, y0 = w // 4 + t % 3, h // 5
        images[t, y0:y0 + h // 2, x0:x0 + w // 2] = (190, 150, 120)
    return images


def make_3dmad_tree(root: Path, *, frames: int = 3, clients: Iterable[int] = range(1, 18),
                    sessions: Iterable[int] = (1, 2, 3), shots: Iterable[int] = range(1, 6),
                    size: tuple[int, int] = (64, 48), folder: str = "Data",
                    frame_maker: Callable[..., np.ndarray] | None = None) -> Path:
    """3DMAD: `<folder>/{client:02d}_{session:02d}_{shot:02d}.hdf5` with tiny Color_Data (T, 3, H, W) uint8,
    Depth_Data (T, 1, H, W) uint16 and Eye_Pos (T, 4) [reye_x, reye_y, leye_x, leye_y] on the 'face'
    (255 files by default). `frame_maker(client, session, shot, frames, size)` -> (T, H, W, 3) uint8."""
    import h5py

    root = Path(root)
    (root / folder).mkdir(parents=True, exist_ok=True)
    make = frame_maker or default_3dmad_frames
    w, h = size
    for client in clients:
        for session in sessions:
            for shot in shots:
                colour = make(client, session, shot, frames, size)
                eyes = np.tile([0.38 * w, 0.4 * h, 0.62 * w, 0.4 * h], (frames, 1)).astype(np.int16)
                with h5py.File(root / folder / f"{client:02d}_{session:02d}_{shot:02d}.hdf5", "w") as f:
                    f["Color_Data"] = colour.transpose(0, 3, 1, 2)
                    f["Depth_Data"] = np.full((frames, 1, h, w), 700, dtype=np.uint16)
                    f["Eye_Pos"] = eyes
    return root


def rose_name(code: str, subject: int, device: str, index: int) -> str:
    """A ROSE-Youtu file name; talking and glasses vary with the index so both values occur."""
    talking = "T" if index % 2 else "NT"
    glasses = "g" if index % 3 == 0 else "wg"
    return f"{code}_{talking}_{device}_{glasses}_E_{subject}_{index}.mp4"


def make_rose_youtu_tree(root: Path, *, subjects: Sequence[int] = ROSE_SUBJECTS, devices: Sequence[str] = ("HW",),
                         codes: Sequence[str] = ROSE_CODES, video_writer: VideoWriter | None = None) -> Path:
    """ROSE-Youtu: `<subject>/<L>_<S>_<D>_<x>_E_<subject>_<N>.mp4`, one video per (code, device) per subject
    (by default 20 subjects x 8 codes x 1 device = 160 videos)."""
    root = Path(root)
    for subject in subjects:
        index = 0
        for device in devices:
            for code in codes:
                index += 1
                _write(root / str(subject) / rose_name(code, subject, device, index), video_writer)
    return root
