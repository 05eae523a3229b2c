"""Data-stage speed: decoding (frames/s), face detection (ms/frame for mtcnn and cascade at 320x240
and 640x480), and `prepare` end to end with 1 vs 2 worker processes, in one run.

    python benchmarks/prepare_speed.py [--videos 8] [--frames 60] [--per-video 10] [--detector cascade]

Inputs are built here (the astronaut photograph from scikit-image pasted into moving frames and
written as H.264 with PyAV), so the numbers are comparable between machines. The last lines are
the ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FASROBUST_QUIET", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import av  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from fasrobust.data.detect import create_detector, mtcnn_available  # noqa: E402
from fasrobust.data.frames import read_frames  # noqa: E402
from fasrobust.data.prepare import PrepareSettings, prepare_recordings  # noqa: E402
from fasrobust.data.records import Recording, Split  # noqa: E402
from fasrobust.labels import BONA_FIDE, Label  # noqa: E402


def face_frame(width: int, height: int, shift: int = 0) -> np.ndarray:
    side = int(height * 0.75)
    patch = np.asarray(Image.fromarray(data.astronaut()[34:214, 134:314]).resize((side, side)))
    frame = np.full((height, width, 3), 110, np.uint8)
    x0 = (width - side) // 2 + shift
    frame[(height - side) // 2:(height - side) // 2 + side, x0:x0 + side] = patch
    return frame


def write_clip(path: Path, n_frames: int, size: tuple[int, int]) -> Path:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for t in range(n_frames):
            frame = av.VideoFrame.from_ndarray(face_frame(*size, shift=(t % 10) - 5), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def time_decoding(paths: list[Path], per_video: int) -> float:
    start = time.perf_counter()
    decoded = sum(read_frames(p, per_video).total for p in paths)
    return decoded / (time.perf_counter() - start)


def time_detector(name: str, size: tuple[int, int], repeats: int) -> float:
    detector = create_detector(name)
    frame = face_frame(*size)
    detector.detect(frame)  # warm-up (graph tracing for mtcnn)
    start = time.perf_counter()
    for _ in range(repeats):
        assert detector.detect(frame), f"{name} found no face at {size}"
    return (time.perf_counter() - start) / repeats * 1000


def time_prepare(paths: list[Path], work: Path, detector: str, per_video: int, workers: int) -> float:
    recordings = [Recording(path=p, label=Label.LIVE if i % 2 == 0 else Label.SPOOF,
                            attack_type=BONA_FIDE if i % 2 == 0 else "print", subject=f"s{i // 2}",
                            split=Split.TRAIN, database="bench", source=p.name) for i, p in enumerate(paths)]
    out = work / f"fs-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    settings = PrepareSettings.build({"database": "bench", "root": work, "out": out, "detector": detector,
                                      "frames_per_video": per_video, "workers": workers, "balance": False})
    start = time.perf_counter()
    faces = prepare_recordings(settings, recordings)
    elapsed = time.perf_counter() - start
    return faces.info["no_face"]["frames_sampled"] / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--per-video", type=int, default=10, help="frames sampled per video")
    parser.add_argument("--repeats", type=int, default=10, help="detector calls timed per setting")
    parser.add_argument("--detector", default="cascade", help="detector for the prepare runs")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, mtcnn installed: {mtcnn_available()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = [write_clip(work / f"clip{i}.mp4", args.frames, (320, 240)) for i in range(args.videos)]
        decode_fps = time_decoding(paths, args.per_video)
        print(f"decode 320x240 H.264 (straight through, {args.per_video} kept per video): {decode_fps:.0f} frames/s")
        timings = {}
        for name in ("cascade", "mtcnn") if mtcnn_available() else ("cascade",):
            for size in ((320, 240), (640, 480)):
                timings[name, size] = time_detector(name, size, args.repeats)
                print(f"detect {name:8s} {size[0]}x{size[1]}: {timings[name, size]:.1f} ms/frame")
        rates = {w: time_prepare(paths, work, args.detector, args.per_video, w) for w in (1, 2)}
        for workers, rate in rates.items():
            print(f"prepare ({args.detector}, {args.videos} videos, {workers} worker(s)): {rate:.1f} frames/s "
                  "(incl. start-up)")
    print("--- ratios ---")
    for size in ((320, 240), (640, 480)):
        if ("mtcnn", size) in timings:
            ratio = timings["mtcnn", size] / timings["cascade", size]
            print(f"mtcnn / cascade time per frame at {size[0]}x{size[1]}: {ratio:.2f}x")
    print(f"prepare 2 workers / 1 worker throughput: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
