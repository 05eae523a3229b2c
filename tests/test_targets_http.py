"""HttpTarget against a real liveness server on 127.0.0.1: same scores as the model in process, and the
endpoint trouble a black-box attack meets (timeouts, 503s, garbage) retried or reported as it should."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
from http import HTTPStatus

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from fasrobust.errors import TargetError
from fasrobust.models import create_model
from fasrobust.targets import HttpTarget, QueryBudgetExceeded, TorchTarget, load_target
from fasrobust.targets.server import LivenessHandler, LivenessServer, start_server_in_thread

SIZE = 16


@pytest.fixture
def model_target() -> TorchTarget:
    torch.manual_seed(4)
    return TorchTarget(create_model("tiny-cnn", input_size=SIZE).eval(), input_size=SIZE)


@pytest.fixture
def images(rng) -> np.ndarray:
    return rng.integers(0, 256, (11, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.fixture
def served(model_target):
    url, stop = start_server_in_thread(model_target)
    yield url
    stop()


class FaultyHandler(LivenessHandler):
    """Answers the next scripted fault for each POST, then behaves."""

    def do_POST(self) -> None:  # noqa: N802
        self.server.posts += 1
        fault = self.server.faults.pop(0) if self.server.faults else None
        if fault == "sleep":  # say nothing until well past the client's timeout (or the test ends)
            self.server.release.wait(10)
            self.close_connection = True
            return None
        if fault == "503":
            self._read_body()
            return self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "warming up"})
        elif fault == "garbage":
            self._read_body()
            data = b"<html>oops</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        elif fault == "short":
            self._read_body()
            return self._send(HTTPStatus.OK, {"p_live": [0.5, 0.5]})
        return super().do_POST()


class FaultyServer(LivenessServer):
    handler_class = FaultyHandler

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.faults: list[str] = []
        self.release = threading.Event()
        self.posts = 0


@pytest.fixture
def faulty(model_target):
    server = FaultyServer(("127.0.0.1", 0), model_target)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def client(url, **options) -> HttpTarget:
    options = {"timeout": 5.0, "retries": 2, "backoff": 0.01, **options}
    return HttpTarget(url, **options)


def test_scores_equal_the_model_in_process(served, model_target, images):
    with load_target(served, max_batch=3, concurrency=2) as target:
        assert isinstance(target, HttpTarget)
        got = target(images)
        assert target.queries == len(images) and not target.failures
        health = target.health()
    np.testing.assert_allclose(got, model_target(images), atol=1e-6)  # PNG keeps every pixel exact
    assert health["status"] == "ok" and health["model"]["input_size"] == SIZE


def test_timeout_then_success_on_retry(faulty, model_target, images):
    faulty.faults = ["sleep"]
    with client(faulty.url, timeout=1.0) as target:
        np.testing.assert_allclose(target(images[:3]), model_target(images[:3]), atol=1e-6)
        assert len(target.failures) == 1 and "timed out" in target.failures[0][1]
        assert target.queries == 3


def test_503_then_success(faulty, images):
    faulty.faults = ["503"]
    with client(faulty.url) as target:
        assert target(images[:3]).shape == (3,)
        assert [m for _, m in target.failures] == ["HTTP 503: warming up"]
    assert faulty.posts == 2


def test_persistent_5xx_gives_up_after_retries_with_failures_recorded(faulty, images):
    faulty.faults = ["503"] * 5
    with client(faulty.url, retries=2) as target, pytest.raises(TargetError, match="after 3 attempts") as info:
        target(images[:3])
    assert "\n" not in str(info.value)
    assert len(target.failures) == 3 and target.queries == 0 and faulty.posts == 3


@pytest.mark.parametrize(("fault", "message"), [("garbage", "not JSON"), ("short", "2 scores for 3 images")])
def test_unusable_answers_are_one_line_errors_without_retry(faulty, images, fault, message):
    faulty.faults = [fault]
    with client(faulty.url) as target, pytest.raises(TargetError, match=message) as info:
        target(images[:3])
    assert "\n" not in str(info.value) and faulty.posts == 1 and len(target.failures) == 1


def test_client_errors_are_not_retried(served, images):
    with client(served) as target, pytest.raises(TargetError, match="HTTP 400: .*16x16"):
        target(np.zeros((2, 8, 8, 3), np.uint8))  # the model takes 16x16
    assert len(target.failures) == 1


def test_connection_refused_is_retried_then_reported():
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with client(f"http://127.0.0.1:{port}", retries=1) as target, pytest.raises(TargetError, match="2 attempts"):
        target(np.zeros((1, SIZE, SIZE, 3), np.uint8))
    assert len(target.failures) == 2


def test_query_budget_stops_before_sending(faulty, images):
    with client(faulty.url, query_budget=5) as target:
        target(images[:4])
        with pytest.raises(QueryBudgetExceeded):
            target(images[:2])
        assert target.queries == 4 and faulty.posts == 1


def test_bad_url_is_refused():
    with pytest.raises(TargetError, match="http"):
        HttpTarget("ftp://example.org")


def png(image: np.ndarray, mode: str = "RGB") -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).convert(mode).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_server_answers_errors_as_json(served, images):
    with httpx.Client(base_url=served, timeout=5) as http:
        cases = [
            (http.post("/v1/score", content=b"{not json", headers={"Content-Type": "application/json"}), 400,
             "not JSON"),
            (http.post("/v1/score", content=b'{"images": []}'), 415, "no Content-Type"),
            (http.post("/v1/score", json={"pictures": []}), 400, "images"),
            (http.post("/v1/score", json={"images": [png(images[0], "RGBA")]}), 400, "RGB"),
            (http.post("/v1/score", json={"images": ["%%%"]}), 400, "PNG"),
            (http.post("/v1/score", json={"images": [png(images[0])] * 1025}), 413, "at most 1024"),
            (http.get("/v2/anything"), 404, "unknown path"),
        ]
        for response, status, text in cases:
            assert response.status_code == status
            assert text in response.json()["error"]
        ok = http.post("/v1/score", json={"images": [png(images[0]), png(images[1])]})
        assert ok.status_code == 200 and len(json.loads(ok.content)["p_live"]) == 2
