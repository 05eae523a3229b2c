"""The liveness server behind `fasrobust serve`: any `Target` (a checkpoint, an ONNX file) exposed over
HTTP, so the black-box setting can be run end to end and `HttpTarget` has a reference to talk to.

Protocol (JSON, UTF-8):

    GET  /v1/health  -> 200 {"status": "ok", "model": {...input contract...}, "max_images": n,
                             "max_bytes": b, "max_pixels": p, "fasrobust": "<version>",
                             "batching": {"requests": r, "model_calls": c}}
    POST /v1/score   Content-Type: application/json
                     body {"images": ["<base64 PNG>", ...]}   (8-bit RGB PNGs, all the same size)
                     -> 200 {"p_live": [float, ...]}          (same order; P(live), higher = more genuine)

PNG is lossless, so the model scores exactly the 8-bit pixels the attack wrote. Every client error
answers 4xx with {"error": "<one line>"}: 400 (bad JSON, JSON nested too deep, bad image, wrong size),
404 (unknown path), 405 (wrong method), 408 (body too slow, ASGI front end), 411 (no Content-Length),
413 (body over max_bytes, more than max_images images or max_pixels pixels), 415 (a Content-Type other
than JSON, or none). 500 means the model failed.

Hostile requests cost little: each image's size is read from its PNG header (IHDR) and checked against
the model's input size, and the request's total pixels against max_pixels, before any image is
decoded; the body is refused from its Content-Length before it is read; JSON nesting is bounded by
the parser's recursion limit (an error, not a crash).

The request checks live in `server_requests.py`, the transport-free protocol and the batching in
`server_service.py`. Two front ends speak it over one `ScoreService`:
- `AsgiServer` (what `make_server` and `fasrobust serve` use): Starlette on uvicorn, from the `http`
  extra. Its listen backlog (2048) and event loop take hundreds of concurrent clients without a
  reset; bodies held in memory at once are bounded by a byte budget (`max_inflight_bytes`), so many
  clients wait their turn instead of growing the process.
- `LivenessServer`: the standard library's ThreadingHTTPServer, dependency-free, with the same checks
  and a raised backlog; tests subclass its handler to script endpoint faults.

Requests from concurrent clients are merged into one model call (`Batcher`): whoever holds the model
takes every waiting request of the same image size with it, so throughput follows the model's batch
speed rather than the request rate, and the target's query count stays exact (each image once).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import FasrobustError, require
from .base import Target
from .http_target import HEALTH_PATH, SCORE_PATH
from .server_requests import (
    BACKLOG,
    BODY_SECONDS,
    INFLIGHT_BODIES,
    MAX_BYTES,
    MAX_IMAGES,
    MAX_PIXELS,
    RequestError,
    check_content_type,
)
from .server_service import Batcher, ScoreService

__all__ = ["AsgiServer", "Batcher", "LivenessHandler", "LivenessServer", "RequestError", "ScoreService",
           "asgi_app", "make_server", "start_server_in_thread"]



def _unknown_path(method: str, path: str) -> RequestError:
    if path.split("?")[0] in (HEALTH_PATH, SCORE_PATH):
        allowed = "GET" if path.split("?")[0] == HEALTH_PATH else "POST"
        return RequestError(HTTPStatus.METHOD_NOT_ALLOWED, f"{method} {path} is not served; use {allowed}")
    return RequestError(HTTPStatus.NOT_FOUND, f"unknown path {path}; try GET {HEALTH_PATH} or POST {SCORE_PATH}")


# ----- front end 1: Starlette on uvicorn --------------------------------------------------------
class _ByteBudget:
    """At most `limit` bytes of request bodies in memory at once; a request waits for its share."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._changed: asyncio.Condition | None = None  # made on the server's loop, at first use

    async def acquire(self, n: int) -> None:
        self._changed = self._changed or asyncio.Condition()
        async with self._changed:
            await self._changed.wait_for(lambda: self.used + n <= self.limit)
            self.used += n

    async def release(self, n: int) -> None:
        async with self._changed:
            self.used -= n
            self._changed.notify_all()


def asgi_app(service: ScoreService, *, max_inflight_bytes: int | None = None):
    """The Starlette application for `service`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    budget = _ByteBudget(max(max_inflight_bytes or INFLIGHT_BODIES * service.max_bytes, service.max_bytes))

    def answer(error: RequestError) -> JSONResponse:
        return JSONResponse({"error": str(error)}, status_code=int(error.status))

    async def health(request: Request) -> JSONResponse:
        return JSONResponse(service.health())

    async def score(request: Request) -> JSONResponse:
        try:
            check_content_type(request.headers.get("content-type"))
            length = service.check_length(request.headers.get("content-length"))
            await budget.acquire(length)
            try:
                body = await asyncio.wait_for(_read_exactly(request, length), BODY_SECONDS)
                # Parsing, decoding and the model run off the event loop, which keeps accepting clients.
                return JSONResponse(await run_in_threadpool(service.score, body))
            finally:
                await budget.release(length)
        except RequestError as exc:
            return answer(exc)
        except TimeoutError:
            return answer(RequestError(HTTPStatus.REQUEST_TIMEOUT, f"body not received within {BODY_SECONDS:g} s"))
        except ClientDisconnect:
            return answer(RequestError(HTTPStatus.BAD_REQUEST, "client went away mid-body"))

    async def not_served(request: Request, exc: HTTPException) -> JSONResponse:
        error = _unknown_path(request.method, request.url.path)
        if exc.status_code not in (404, 405):
            error = RequestError(HTTPStatus(exc.status_code), str(exc.detail))
        return answer(error)

    async def failed(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"scoring failed: {type(exc).__name__}"}, status_code=500)

    routes = [Route(HEALTH_PATH, health, methods=["GET"]), Route(SCORE_PATH, score, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_served, Exception: failed})


async def _read_exactly(request: Any, length: int) -> bytes:
    """The body, never more than the declared Content-Length (a body that runs on is refused)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > length:
            raise RequestError(HTTPStatus.BAD_REQUEST, "body is longer than its Content-Length")
        chunks.append(chunk)
    return b"".join(chunks)


class AsgiServer:
    """uvicorn serving `asgi_app` on a socket bound at construction (so port 0 has its port, and a busy
    port is an error before anything starts). `serve_forever` blocks; `shutdown` stops it from another
    thread; Ctrl-C in the main thread stops it and raises KeyboardInterrupt after."""

    verbose = False

    def __init__(self, address: tuple[str, int], target: Target, *, max_bytes: int = MAX_BYTES,
                 max_images: int = MAX_IMAGES, max_pixels: int = MAX_PIXELS):
        self.uvicorn = require("uvicorn", "http", "Serving a model over HTTP")
        require("starlette", "http", "Serving a model over HTTP")
        self.service = ScoreService(target, max_bytes=max_bytes, max_images=max_images, max_pixels=max_pixels)
        self.target = target
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind(address)
            self.socket.listen(BACKLOG)
        except OSError:
            self.socket.close()
            raise
        self._server: Any = None

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def serve_forever(self, poll_interval: float | None = None) -> None:
        """Serve until `shutdown` (poll_interval: accepted for http.server's signature, unused)."""
        # log_config=None: uvicorn's own dictConfig would close every logging handler already installed in
        # the process (TensorFlow's absl handler closes the stream it was given), breaking the caller's
        # stderr. The uvicorn loggers get a level and propagate to whatever the process has set up.
        import logging

        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).setLevel(logging.INFO if self.verbose else logging.WARNING)
        config = self.uvicorn.Config(asgi_app(self.service), log_config=None,
                                     log_level="info" if self.verbose else "warning",
                                     access_log=self.verbose, backlog=BACKLOG, timeout_keep_alive=30,
                                     timeout_graceful_shutdown=5, lifespan="off")
        self._server = self.uvicorn.Server(config)
        self._server.run(sockets=[self.socket])

    def shutdown(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def server_close(self) -> None:
        self.socket.close()


# ----- front end 2: the standard library --------------------------------------------------------
class LivenessHandler(BaseHTTPRequestHandler):
    server: LivenessServer
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's connection pool is reused
    timeout = 60  # seconds a socket may sit idle or half-sent before its thread is freed
    server_version = f"fasrobust/{__version__}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != HEALTH_PATH:
            return self._error(_unknown_path("GET", self.path))
        self._send(HTTPStatus.OK, self.server.health())

    def do_POST(self) -> None:  # noqa: N802
        self._body_read = False
        try:
            if self.path.split("?")[0] != SCORE_PATH:
                raise _unknown_path("POST", self.path)
            check_content_type(self.headers.get("Content-Type"))
            self._send(HTTPStatus.OK, self.server.score(self._read_body()))
        except RequestError as exc:
            self._error(exc)
        except Exception as exc:  # the model itself failed: a server error, logged with its traceback
            self.log_error("scoring failed: %r", exc)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"scoring failed: {type(exc).__name__}"})

    def _read_body(self) -> bytes:
        try:
            length = self.server.service.check_length(self.headers.get("Content-Length"))
        except RequestError:
            self.close_connection = True
            raise
        self._body_read = True
        return self.rfile.read(length)

    def _error(self, error: RequestError) -> None:
        if not getattr(self, "_body_read", True):
            self.close_connection = True  # an unread body would corrupt the next request on this socket
        self._send(error.status, {"error": str(error)})

    def _send(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        if self.server.verbose:
            super().log_message(format, *args)


class LivenessServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer holding one target and its limits."""

    daemon_threads = True  # a stuck client must not keep the process alive at shutdown
    request_queue_size = BACKLOG  # the listen backlog: http.server's 5 reset concurrent clients
    verbose = False  # log each request to stderr (http.server's format)
    handler_class: type[BaseHTTPRequestHandler] = LivenessHandler  # a subclass may swap it (tests inject faults)

    def __init__(self, address: tuple[str, int], target: Target, *, max_bytes: int = MAX_BYTES,
                 max_images: int = MAX_IMAGES, max_pixels: int = MAX_PIXELS):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, self.handler_class)
        self.service = ScoreService(target, max_bytes=max_bytes, max_images=max_images, max_pixels=max_pixels)
        self.target, self.max_bytes, self.max_images = target, max_bytes, max_images

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def health(self) -> dict[str, Any]:
        return self.service.health()

    def score(self, body: bytes) -> dict[str, Any]:
        return self.service.score(body)


# ----- making one -------------------------------------------------------------------------------
def as_target(target_or_path: Target | str | Path, **options: Any) -> Target:
    """A Target as is, or one loaded from a run directory / .onnx file (see `load_target`)."""
    if isinstance(target_or_path, Target):
        return target_or_path
    from . import load_target

    return load_target(target_or_path, **options)


def make_server(target_or_path: Target | str | Path, host: str = "127.0.0.1", port: int = 8000, *,
                max_bytes: int = MAX_BYTES, max_images: int = MAX_IMAGES, max_pixels: int = MAX_PIXELS,
                verbose: bool = False, **target_options: Any) -> AsgiServer:
    """Bind (port 0 picks a free port) but do not serve yet; call `serve_forever()`."""
    require("uvicorn", "http", "Serving a model over HTTP")  # before loading a model it could not serve
    require("starlette", "http", "Serving a model over HTTP")
    target = as_target(target_or_path, **target_options)
    try:
        server = AsgiServer((host, port), target, max_bytes=max_bytes, max_images=max_images,
                            max_pixels=max_pixels)
    except OSError as exc:
        raise FasrobustError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.verbose = verbose
    return server


def start_server_in_thread(target_or_path: Target | str | Path, host: str = "127.0.0.1", port: int = 0,
                           **options: Any) -> tuple[str, Callable[[], None]]:
    """Serve in a daemon thread; returns (url, stop) once it answers. `stop()` shuts it down and closes it."""
    server = make_server(target_or_path, host, port, **options)
    thread = threading.Thread(target=server.serve_forever, name="fasrobust-serve", daemon=True)
    thread.start()
    _wait_until_started(server, thread)

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()

    return server.url, stop


def _wait_until_started(server: AsgiServer, thread: threading.Thread, timeout: float = 30.0) -> None:
    """uvicorn accepts on the bound socket only once its loop runs; a caller's first request should not
    race it (the kernel would queue it anyway, but a failed start must show here, not as a hang)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and thread.is_alive():
        if server._server is not None and server._server.started:
            return
        time.sleep(0.01)
    if not thread.is_alive():
        raise FasrobustError(f"the server at {server.url} stopped while starting")
