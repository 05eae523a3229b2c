"""A service fasrobust queries is untrusted: against a hostile FastAPI service on 127.0.0.1, each way of
answering badly is one line naming the URL and the problem, found within bounded bytes and seconds, and
an attack that meets one keeps everything it stored before."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from asgi_servers import free_socket, serving
from fasrobust.errors import TargetError
from fasrobust.targets import load_target

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

SIZE = 8
DEPTH = 10_000  # 20 KB: within the size limit, far past the nesting one


def build_app(other_port: int):
    from fastapi.responses import RedirectResponse, Response, StreamingResponse

    app = fastapi.FastAPI()

    @app.post("/huge")
    async def huge(request: fastapi.Request):
        await request.body()
        return Response(b'{"score": 0.5, "pad": "' + b"x" * (8 << 20) + b'"}', media_type="application/json")

    @app.post("/huge-gzip")
    async def huge_gzip(request: fastapi.Request):
        import gzip

        await request.body()
        body = gzip.compress(b'{"score": 0.5, "pad": "' + b"x" * (64 << 20) + b'"}')
        return Response(body, media_type="application/json", headers={"Content-Encoding": "gzip"})

    @app.post("/endless")
    async def endless(request: fastapi.Request):
        await request.body()

        async def drip():
            yield b'{"score": 0.5, "pad": "'
            while True:
                await asyncio.sleep(0.05)
                yield b"x"

        return StreamingResponse(drip(), media_type="application/json")

    @app.post("/redirect")
    async def redirect(request: fastapi.Request):
        await request.body()
        return RedirectResponse(f"http://127.0.0.1:{other_port}/collect", status_code=307)

    # Small bodies that are each wrong in one way: NaN, a string, out of [0, 1], an unknown label, a nesting bomb.
    fixed = {"/nan": b'{"score": NaN}', "/string": b'{"score": "high"}', "/range": b'{"score": 1.7}',
             "/label": b'{"livenessDecision": "uncertain"}', "/bomb": b"[" * DEPTH + b"]" * DEPTH}
    for path, body in fixed.items():
        app.post(path)(_answer(body))
    return app


def _answer(body: bytes):
    from fastapi.responses import Response

    async def answer(request: fastapi.Request):
        await request.body()
        return Response(body, media_type="application/json")

    return answer


@pytest.fixture(scope="module")
def hostile():
    other = free_socket()  # a port nobody answers: where the redirect points
    with serving(build_app(other.getsockname()[1])) as url:
        yield url
    other.close()


SCORE = {"service": {"request": "json", "image_key": "image", "score_path": "score"}}
DECISION = {"service": {"request": "json", "image_key": "image", "score_path": "livenessDecision"},
            "output": {"kind": "decision", "live_values": ["realface"], "spoof_values": ["spoofface"]}}


@pytest.mark.parametrize(("path", "contract", "problem"), [
    ("/huge", SCORE, "answer of 8,388,6"),
    ("/huge-gzip", SCORE, "answer longer than 69,632 bytes refused"),
    ("/endless", SCORE, "answer still arriving after 2 s (--deadline); stopped reading"),
    ("/redirect", SCORE, "HTTP 307: redirected to http://127.0.0.1:"),
    ("/nan", SCORE, "answer holds NaN"),
    ("/string", SCORE, "the score at 'score' is 'high', not a number"),
    ("/range", SCORE, "the score at 'score' is 1.7, outside [0, 1]"),
    ("/label", DECISION, "unknown decision label 'uncertain' at 'livenessDecision' (live: realface; spoof: "
                         "spoofface)"),
    ("/bomb", SCORE, "answer nests JSON deeper than 64 levels"),
])
def test_each_hostile_answer_is_one_line_naming_the_url(hostile, path, contract, problem):
    images = np.full((1, SIZE, SIZE, 3), 128, dtype=np.uint8)
    started = time.monotonic()
    with load_target(hostile + path, contract, retries=0, deadline=2.0, timeout=1.0) as target:
        with pytest.raises(TargetError) as err:
            target(images)
        assert target.queries == 0, "nothing from a bad answer is counted"
    message = str(err.value)
    assert "\n" not in message and f"{hostile}{path}" in message and problem in message, message
    assert time.monotonic() - started < 8, "bounded in time"


def test_a_redirect_sends_nothing_to_the_other_host(hostile):
    """The redirect target is a port that nothing listens on: following it would be a retryable connection
    error; refusing it is a one-line TargetError at once."""
    images = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    with load_target(hostile + "/redirect", SCORE, retries=2, backoff=0) as target:
        with pytest.raises(TargetError, match="fasrobust follows no redirect"):
            target(images)
        assert len(target.failures) == 1, "refused once, not retried"
