"""Data-stage speed: decoding (frames/s), face detection (ms/frame for mtcnn and cascade at 320x240
and 640x480), and `prepare` with 1 vs 2 worker processes, cold and in steady state, in one run.

    python benchmarks/prepare_speed.py [--videos 8] [--frames 60] [--per-video 10] [--detector cascade]
                                       [--repeats 10] [--runs 3]

Inputs are built here (the astronaut photograph from scikit-image pasted into moving frames and
written as H.264 with PyAV), so the numbers are comparable between machines. The last lines are
the ratios.

`prepare` is reported two ways, each the median of `--runs` runs into a fresh output folder (no cache):
- cold: sampled frames / wall time of `prepare_recordings` on N videos, end to end. This includes
  the fixed costs: building the detector (MTCNN builds its TensorFlow graphs), with workers spawning
  them (each re-imports this script and fasrobust before building its own), and writing the FaceSet.
  This process's own imports are done before timing, as a command's are for 1 and 2 workers alike;
  but TensorFlow, which a `fasrobust prepare --detector mtcnn` imports when it builds the detector,
  is already loaded here (by the detector timings), so the 1-worker MTCNN cold rate is optimistic.
- steady state: the marginal rate, (frames of 2N videos - frames of N) / (time of 2N - time of N).
  Fixed costs appear in both runs and cancel; what is left is the per-recording cost of the real
  code path (decode, detect, crop, cache write, results back to the parent), i.e. the rate a large
  database sees. The fixed cost itself, 2 t(N) - t(2N), is printed too.
With 2 workers on 2 cores, a steady-state ratio near 2x with a cold ratio well below it means
start-up, not the work, is what a small run measures.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FASROBUST_QUIET", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import av  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data  # noqa: E402

from fasrobust.data import pool  # noqa: E402
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


def time_prepare(paths: list[Path], work: Path, detector: str, per_video: int, workers: int) -> tuple[int, float]:
    """(frames sampled, seconds) of one `prepare_recordings` run into a fresh folder."""
    recordings = [Recording(path=p, label=Label.LIVE if i % 2 == 0 else Label.SPOOF,
                            attack_type=BONA_FIDE if i % 2 == 0 else "print", subject=f"s{i // 2}",
                            split=Split.TRAIN, database="bench", source=p.name) for i, p in enumerate(paths)]
    out = work / f"fs-{workers}-{len(paths)}"
    shutil.rmtree(out, ignore_errors=True)
    # With 1 worker, extraction runs in this process, which keeps its detector between calls; forget
    # it, so every run builds its detector once, as a `fasrobust prepare` command (and each worker) does.
    pool._STATE.clear()
    settings = PrepareSettings.build({"database": "bench", "root": work, "out": out, "detector": detector,
                                      "frames_per_video": per_video, "workers": workers, "balance": False})
    start = time.perf_counter()
    faces = prepare_recordings(settings, recordings)
    elapsed = time.perf_counter() - start
    shutil.rmtree(out)
    return faces.info["no_face"]["frames_sampled"], elapsed


def prepare_rates(paths: list[Path], work: Path, detector: str, per_video: int, workers: int,
                  runs: int) -> dict[str, float]:
    """Cold and steady-state frames/s (see the module docstring), and the fixed cost in seconds."""
    half = len(paths) // 2
    small, large = [], []
    for _ in range(runs):  # interleaved, so a change in machine load hits both sizes alike
        small.append(time_prepare(paths[:half], work, detector, per_video, workers))
        large.append(time_prepare(paths, work, detector, per_video, workers))
    frames_small, frames_large = small[0][0], large[0][0]
    t_small = statistics.median(t for _, t in small)
    t_large = statistics.median(t for _, t in large)
    marginal = t_large - t_small
    return {"cold": frames_small / t_small,
            "steady": (frames_large - frames_small) / marginal if marginal > 0 else float("nan"),  # noise won
            "fixed_s": 2 * t_small - t_large}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="N: videos of the cold run (steady state adds N more)")
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--per-video", type=int, default=10, help="frames sampled per video")
    parser.add_argument("--repeats", type=int, default=10, help="detector calls timed per setting")
    parser.add_argument("--runs", type=int, default=3, help="prepare runs per setting (median)")
    parser.add_argument("--detector", default="cascade", help="detector for the prepare runs (cascade, mtcnn)")
    args = parser.parse_args()
    print(f"cpus {os.cpu_count()}, mtcnn installed: {mtcnn_available()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = [write_clip(work / f"clip{i}.mp4", args.frames, (320, 240)) for i in range(2 * args.videos)]
        decode_fps = time_decoding(paths[:args.videos], args.per_video)
        print(f"decode 320x240 H.264 (straight through, {args.per_video} kept per video): {decode_fps:.0f} frames/s")
        timings = {}
        for name in ("cascade", "mtcnn") if mtcnn_available() else ("cascade",):
            for size in ((320, 240), (640, 480)):
                timings[name, size] = time_detector(name, size, args.repeats)
                print(f"detect {name:8s} {size[0]}x{size[1]}: {timings[name, size]:.1f} ms/frame")
        rates = {w: prepare_rates(paths, work, args.detector, args.per_video, w, args.runs) for w in (1, 2)}
        for workers, rate in rates.items():
            steady = ("unmeasurable (2N ran no slower than N: use more --videos)" if math.isnan(rate["steady"])
                      else f"{rate['steady']:.1f} frames/s")
            print(f"prepare ({args.detector}, {workers} worker(s)): cold {rate['cold']:.1f} frames/s "
                  f"({args.videos} videos, incl. start-up), steady state {steady} "
                  f"(videos {args.videos + 1}-{2 * args.videos}); fixed cost {rate['fixed_s']:.2f} s")
    print("--- ratios ---")
    for size in ((320, 240), (640, 480)):
        if ("mtcnn", size) in timings:
            ratio = timings["mtcnn", size] / timings["cascade", size]
            print(f"mtcnn / cascade time per frame at {size[0]}x{size[1]}: {ratio:.2f}x")
    print(f"prepare 2 workers / 1 worker throughput, cold: {rates[2]['cold'] / rates[1]['cold']:.2f}x")
    print(f"prepare 2 workers / 1 worker throughput, steady state: {rates[2]['steady'] / rates[1]['steady']:.2f}x")


if __name__ == "__main__":
    main()
