"""Shared fixtures: small real inputs built by the tests themselves, and a rule that no test
reaches the network (only loopback addresses, for the HTTP target's local server)."""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("FASROBUST_QUIET", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Each pytest-xdist worker takes its share of the cores (two workers on two cores: one thread each).
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))))


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost would need DNS: not allowed either


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """No test downloads anything: connections are allowed to loopback and Unix sockets only."""
    original = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"test tried to reach the network: {address!r}")
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def write_video(path: Path, frames: np.ndarray, fps: int = 25, codec: str = "libx264") -> Path:
    """Write uint8 (T, H, W, 3) RGB frames as a real video file with PyAV."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    t, h, w, _ = frames.shape
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":  # the sample writer's settings: one thread, no AVX-512, so encodes repeat exactly
            from fasrobust.data.sample.writer import x264_options

            stream.options = x264_options()
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame[: stream.height, : stream.width], format="rgb24")
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
    return path


@pytest.fixture
def make_video(rng):
    """Factory: make_video(path, n_frames=8, size=(64, 48)) writes a small real H.264 video whose
    frames differ (a moving square), and returns its path."""

    def _make(path: Path, n_frames: int = 8, size: tuple[int, int] = (64, 48)) -> Path:
        w, h = size
        frames = np.full((n_frames, h, w, 3), 90, dtype=np.uint8)
        for i in range(n_frames):
            x = 2 + (i * 3) % max(1, w - 14)
            frames[i, 8:20, x:x + 12] = (200, 120, 60)
        frames = np.clip(frames.astype(int) + rng.integers(-6, 7, frames.shape), 0, 255).astype(np.uint8)
        return write_video(Path(path), frames)

    return _make


def pytest_collection_modifyitems(items):
    """test_demo.py first: with `--dist loadfile` one worker starts the shared demo run (the suite's longest
    piece of work) at once while the others take the rest."""
    items.sort(key=lambda item: item.nodeid.split("::")[0] != "tests/test_demo.py")


# ----- one demo run, shared -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`fasrobust demo` once for the whole session, into its own folder and sample cache: the SYNTHETIC sample
    database prepared and FASNet trained exactly as the demo does (the one trained FASNet of the suite), then
    both attacks at 1 and 9 pixels on 6 spoofs with small budgets (the demo's own 12 spoofs at 221 queries
    would only add minutes of the same work), and the report as the command line builds it. Tests read it
    and never write into it. Every test that uses it lives in test_demo.py: with `--dist loadfile` they share
    one xdist worker, so it is made once."""
    from fasrobust.experiments.demo import demo_spec, run_demo
    from fasrobust.experiments.executors import create_executor
    from fasrobust.report import build_report

    base = demo_spec()
    spec = demo_spec(
        training={**base.training, "eval_every": 0, "checkpoint_every": 0},
        grid={**base.grid.model_dump(), "attacks": [
            {"name": "pixel", "pixels": [1, 9], "population": [10], "iterations": [3, 6]},
            {"name": "sparse-rs", "pixels": [1, 9], "queries": [71]}]},
        images={**base.images.model_dump(), "limit": 6, "shard_size": 3},
        outputs={**base.outputs.model_dump(), "trajectory_images": 6})
    root = tmp_path_factory.mktemp("demo-session")
    previous = os.environ.get("FASROBUST_CACHE")
    os.environ["FASROBUST_CACHE"] = str(root / "cache")
    try:
        with create_executor(workers=0) as executor:
            summary = run_demo(root / "demo", spec=spec, executor=executor)
    finally:
        if previous is None:
            os.environ.pop("FASROBUST_CACHE", None)
        else:
            os.environ["FASROBUST_CACHE"] = previous
    assert not summary.failed and not summary.blocked, (summary.failed, summary.blocked)
    build_report(root / "demo")
    return root / "demo"
