"""`fasrobust serve` against hostile and crowded clients, on 127.0.0.1 only: decompression bombs, deep
JSON, the wrong Content-Type and oversized images answer 4xx without decoding (the server's memory
stays put), and 200 concurrent clients are all answered, with their requests merged into few model
calls and the query count exact. Every probe is bounded in count and time."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from fasrobust.models import create_model, save_checkpoint
from fasrobust.targets import TorchTarget
from fasrobust.targets.server import Batcher, start_server_in_thread
from test_serve import read_line

SIZE = 16
CLIENTS = 200
TIMEOUT = 20.0  # seconds any one probe may take


def png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def declared_png(width: int, height: int) -> str:
    """A PNG whose header declares width x height RGB and whose data is a few bytes: what a
    decompression bomb looks like to a server that reads headers (one deflated row, then IEND)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return base64.b64encode(data + chunk(b"IEND", b"")).decode()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    torch.manual_seed(5)
    root = tmp_path_factory.mktemp("serve")
    save_checkpoint(root / "run", create_model("tiny-cnn", input_size=SIZE))
    return root / "run"


@pytest.fixture(scope="module")
def served(run_dir):
    """The real command in its own process (so its memory is its own), with its pid and URL."""
    env = {**os.environ, "FASROBUST_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "fasrobust", "serve", str(run_dir), "--port", "0",
                             "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = read_line(proc, timeout=120)
        assert url.startswith("http://127.0.0.1:")
        yield proc, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    pytest.skip(f"no {field} in /proc")


def hostile_requests(rng) -> list[tuple[str, dict, int, str]]:
    """(what, httpx request arguments, expected status, text in the error)."""
    face = png(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8))
    big = png(np.zeros((4096, 4096, 3), np.uint8))  # a real PNG: 50 MB decoded, 50 kB sent
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    return [
        ("PNG declaring 30000x30000", {"json": {"images": [declared_png(30000, 30000)]}}, 400, "the model takes 16x16"),
        ("ten real 4096x4096 PNGs", {"json": {"images": [big] * 10}}, 400, "4096x4096"),
        ("JSON nested 100,000 deep", {"content": deep, "headers": {"Content-Type": "application/json"}}, 400,
         "nested too deep"),
        ("valid JSON as text/plain", {"content": json.dumps({"images": [face]}).encode(),
                                      "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ("a form body", {"data": {"images": face}}, 415, "application/json"),
        ("16-bit PNG", {"json": {"images": [png_16bit()]}}, 400, "8-bit RGB"),
        ("images not a list", {"json": {"images": "x"}}, 400, "images"),
        ("image not base64", {"json": {"images": ["%%%"]}}, 400, "PNG"),
        ("bytes that are not a PNG", {"json": {"images": [base64.b64encode(b"GIF89a" * 20).decode()]}}, 400, "PNG"),
        ("a mix of sizes", {"json": {"images": [face, png(np.zeros((SIZE, SIZE + 1, 3), np.uint8))]}}, 400,
         "the model takes"),
    ]


def png_16bit() -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((SIZE, SIZE), np.uint16)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_hostile_requests_get_4xx_and_the_server_memory_stays_put(served, rng):
    proc, url = served
    cases = hostile_requests(rng)
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        assert http.get("/v1/health").status_code == 200
        before = memory_kib(proc.pid, "VmHWM")
        for what, request, status, text in cases:
            response = http.post("/v1/score", **request)
            assert response.status_code == status, (what, response.text[:200])
            assert text in response.json()["error"], (what, response.json())
        for method, path, status in (("GET", "/v1/score", 405), ("DELETE", "/v1/health", 405),
                                     ("GET", "/nowhere", 404), ("POST", "/v1/nowhere", 404)):
            response = http.request(method, path)
            assert response.status_code == status and "error" in response.json(), (method, path)
        chunked = http.post("/v1/score", content=iter([b'{"images": []}']),
                            headers={"Content-Type": "application/json"})
        assert chunked.status_code == 411
        peak = memory_kib(proc.pid, "VmHWM")
        assert http.post("/v1/score", json={"images": [png(np.zeros((SIZE, SIZE, 3), np.uint8))]}).status_code == 200
    assert proc.poll() is None, "the server is still up"
    # Ten 4096x4096 images decoded would be 480 MiB; refused from their headers they cost their JSON.
    assert peak - before < 64 * 1024, f"peak RSS grew by {(peak - before) / 1024:.0f} MiB"


def test_oversized_body_is_refused_from_its_length(served):
    _, url = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 999999999999\r\n\r\n")
        answer = b""
        while not (b"\r\n\r\n" in answer and answer.endswith(b"}")) and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"at most" in answer


def _post_many(url: str, bodies: list[bytes]) -> list[tuple[int, bytes] | BaseException]:
    """One thread and one fresh connection per body, all released at once."""
    host, port = url.removeprefix("http://").split(":")
    start = threading.Barrier(len(bodies))
    results: list = [None] * len(bodies)

    def client(i: int) -> None:
        try:
            start.wait(TIMEOUT)
            with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
                sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(bodies[i]), bodies[i]))
                data = b""
                while chunk := sock.recv(65536):
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            results[i] = (int(head.split()[1]), body)
        except BaseException as exc:  # a reset, a refusal, a timeout: what this test counts
            results[i] = exc

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 3)
    return results


def test_200_concurrent_clients_are_all_answered_in_merged_calls_with_exact_queries(rng):
    torch.manual_seed(3)
    model = create_model("tiny-cnn", input_size=SIZE).eval()
    target = TorchTarget(model, input_size=SIZE)
    images = rng.integers(0, 256, (CLIENTS, 2, SIZE, SIZE, 3), dtype=np.uint8)
    bodies = [json.dumps({"images": [png(image) for image in pair]}).encode() for pair in images]
    want = TorchTarget(model, input_size=SIZE)(images.reshape(-1, SIZE, SIZE, 3)).reshape(CLIENTS, 2)
    url, stop = start_server_in_thread(target)
    try:
        results = _post_many(url, bodies)
        batching = httpx.get(url + "/v1/health", timeout=TIMEOUT).json()["batching"]
    finally:
        stop()
    failed = [r for r in results if not (isinstance(r, tuple) and r[0] == 200)]
    assert not failed, f"{len(failed)} of {CLIENTS} clients failed, e.g. {failed[0]!r}"
    got = np.array([json.loads(body)["p_live"] for _, body in results])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert target.queries == 2 * CLIENTS  # each image scored once, however the calls were merged
    assert batching["requests"] == CLIENTS and batching["model_calls"] < CLIENTS, batching


def test_batcher_merges_waiting_requests_of_one_size_and_keeps_others_apart():
    calls: list[int] = []
    release = threading.Event()

    def slow_model(batch: np.ndarray) -> np.ndarray:  # scores each image by its side, after a wait
        calls.append(len(batch))
        release.wait(5)
        return np.full(len(batch), float(batch.shape[1]))

    batcher = Batcher(slow_model, max_images=100)
    sizes = [8] + [8, 9, 8, 8, 9, 8, 9, 8]  # the first holds the model; the rest queue behind it
    out: dict[int, np.ndarray] = {}
    for i, side in enumerate(sizes):
        thread = threading.Thread(target=lambda i=i, s=side: out.__setitem__(
            i, batcher.score(np.zeros((2, s, s, 3), np.uint8))), daemon=True)
        thread.start()
        while (len(calls) if i == 0 else len(batcher._queue)) < max(i, 1):  # queued in this order
            release.wait(0.01)
    release.set()
    deadline = time.monotonic() + 10
    while len(out) < len(sizes) and time.monotonic() < deadline:
        release.wait(0.01)
    assert calls == [2, 10, 6], calls  # alone, then the five 8x8 together, then the three 9x9
    assert all(out[i].tolist() == [float(side)] * 2 for i, side in enumerate(sizes))


def test_eight_concurrent_50_mb_bodies_are_refused_unread_and_the_memory_comes_back(served):
    """Each body is over the request limit: refused from its Content-Length (413) before a byte of it is read,
    so the server's peak memory barely moves and its resident memory ends where it was."""
    proc, url = served
    body = b'{"images": ["' + b"A" * (50 << 20) + b'"]}'
    before_peak, before = memory_kib(proc.pid, "VmHWM"), memory_kib(proc.pid, "VmRSS")
    results = _post_many(url, [body] * 8)
    answered = [r for r in results if isinstance(r, tuple)]
    assert all(status == 413 for status, _ in answered), answered[:2]
    assert all(isinstance(r, tuple | ConnectionError | OSError) for r in results)
    grown = (memory_kib(proc.pid, "VmHWM") - before_peak) / 1024
    assert grown < 200, f"peak RSS grew by {grown:.0f} MiB"
    with httpx.Client(base_url=url, timeout=TIMEOUT) as http:
        assert http.post("/v1/score", json={"images": [png(np.zeros((SIZE, SIZE, 3), np.uint8))]}).status_code == 200
    assert memory_kib(proc.pid, "VmRSS") <= before * 1.1 + 16 * 1024, "the memory came back"
