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
than JSON; none at all is read as JSON, as older clients send). 500 means the model failed.

Hostile requests cost little: each image's size is read from its PNG header (IHDR) and checked against
the model's input size, and the request's total pixels against max_pixels, before any image is
decoded; the body is refused from its Content-Length before it is read; JSON nesting is bounded by
the parser's recursion limit (an error, not a crash).

Two front ends speak it over one `ScoreService`:
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
import base64
import binascii
import io
import json
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import FasrobustError, require
from .base import Target
from .http_target import HEALTH_PATH, SCORE_PATH

#: Default request limits: 64 MiB of JSON, 1024 images (about 25 MB of 224x224 PNGs).
MAX_BYTES = 64 << 20
MAX_IMAGES = 1024
#: Most decoded pixels one request may ask for (2**26 = 192 MiB as uint8 RGB; 1024 images of 256x256).
MAX_PIXELS = 1 << 26
#: Largest image side the server decodes when the model does not say its input size.
MAX_SIDE = 4096
#: Pending connections the kernel holds for us (http.server's default of 5 reset clients under load).
BACKLOG = 2048
#: Request bodies held in memory at once, as multiples of max_bytes (the ASGI front end).
INFLIGHT_BODIES = 4
#: Seconds a client may take to send its body once it has its share of that memory (then 408), so a
#: client that trickles bytes cannot hold the share for ever.
BODY_SECONDS = 60.0

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGB, _EIGHT_BITS = 2, 8  # IHDR colour type and bit depth of the one format accepted
JSON_TYPES = ("application/json",)


class RequestError(Exception):
    """A request the server refuses; carries the HTTP status."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(" ".join(message.split()))
        self.status = status


# ----- one request: body -> images --------------------------------------------------------------
def check_content_type(value: str | None) -> None:
    """JSON, or no Content-Type at all (older clients); anything else is 415, so a form or text body
    is not read as if it were ours."""
    if value is None or not value.strip():
        return
    if value.split(";")[0].strip().lower() not in JSON_TYPES:
        raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                           f"Content-Type {value[:60]!r} is not supported; send application/json")


def parse_body(body: bytes) -> list[Any]:
    """The request's list of images (still base64 text)."""
    try:
        request = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
    except RecursionError:  # the parser's recursion limit: '[[[[...' a hundred thousand deep
        raise RequestError(HTTPStatus.BAD_REQUEST, "body is not JSON we accept: nested too deep") from None
    images = request.get("images") if isinstance(request, dict) else None
    if not isinstance(images, list) or not images:
        raise RequestError(HTTPStatus.BAD_REQUEST, "body must be {\"images\": [base64 PNG, ...]}")
    return images


def png_bytes(text: Any, index: int) -> bytes:
    if not isinstance(text, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a readable PNG: {exc}") from None


def png_header(data: bytes, index: int) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which the PNG format puts first; refuses anything but 8-bit
    RGB before a pixel is decoded (converting other modes would change pixels behind the caller's back)."""
    if len(data) < 33 or data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a readable PNG (no PNG header)")
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    if depth != _EIGHT_BITS or colour != _RGB:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is a PNG of colour type {colour} at {depth} "
                           "bits, expected an 8-bit RGB PNG")
    return width, height


def check_sizes(sizes: list[tuple[int, int]], input_size: int | None, max_pixels: int) -> None:
    """Every image the model's input size (or at most MAX_SIDE when it has none), all alike, and the
    request's pixels within max_pixels: all from the headers, before decoding."""
    for index, (width, height) in enumerate(sizes):
        if input_size is not None and (width, height) != (input_size, input_size):
            raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is {width}x{height}; the model takes "
                               f"{input_size}x{input_size}")
        if max(width, height) > MAX_SIDE:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"image {index} is {width}x{height}, larger than {MAX_SIDE}")
    if len(set(sizes)) != 1:
        raise RequestError(HTTPStatus.BAD_REQUEST, "images in one request must all have the same size")
    pixels = sum(width * height for width, height in sizes)
    if pixels > max_pixels:
        raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                           f"{len(sizes)} images of {sizes[0][0]}x{sizes[0][1]} are {pixels} pixels; at most "
                           f"{max_pixels} per request")


def decode_png(data: bytes, index: int, size: tuple[int, int]) -> np.ndarray:
    """PNG bytes whose header was checked -> uint8 (H, W, 3)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode != "RGB" or image.size != size:  # a second IHDR or a lying decoder: refuse
                raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not the 8-bit RGB PNG its "
                                   "header declares")
            return np.asarray(image, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a readable PNG: {exc}") from None


# ----- merging concurrent requests into model calls ---------------------------------------------
@dataclass
class _Pending:
    images: np.ndarray
    done: threading.Event = field(default_factory=threading.Event)
    scores: np.ndarray | None = None
    error: BaseException | None = None


class Batcher:
    """Scores requests from many threads in shared model calls (flat combining): a caller queues its
    images and takes the model lock; whoever holds it runs every queued request of the first one's
    image size (up to `max_images` images) as one call and hands each its scores. No timer waits for
    company, so a lone client pays no latency; under load, requests gather while the model runs.
    Each image is scored once, so the target's query count stays exact."""

    def __init__(self, target: Target, max_images: int):
        self.target, self.max_images = target, max(1, int(max_images))
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._model_lock = threading.Lock()
        self.requests = 0  # requests scored
        self.calls = 0  # model calls made (requests / calls = how much batching happened)

    def score(self, images: np.ndarray) -> np.ndarray:
        item = _Pending(images)
        with self._queue_lock:
            self._queue.append(item)
        while not item.done.is_set():
            with self._model_lock:
                if not item.done.is_set():
                    self._run(self._take())
        if item.error is not None:
            raise item.error
        return item.scores

    def _take(self) -> list[_Pending]:
        """The first queued request and those after it with the same image size, within max_images
        (the first is always taken, however large)."""
        with self._queue_lock:
            first, rest = self._queue[0], self._queue[1:]
            taken, kept, count = [first], [], len(first.images)
            for item in rest:
                if item.images.shape[1:] == first.images.shape[1:] and count + len(item.images) <= self.max_images:
                    taken.append(item)
                    count += len(item.images)
                else:
                    kept.append(item)
            self._queue = kept
        return taken

    def _run(self, batch: list[_Pending]) -> None:
        try:
            scores = np.asarray(self.target(np.concatenate([item.images for item in batch])), dtype=np.float64)
            self.calls, self.requests = self.calls + 1, self.requests + len(batch)
        except BaseException as exc:  # every caller in the batch gets the failure to answer with
            for item in batch:
                item.error = exc
                item.done.set()
            return
        start = 0
        for item in batch:
            item.scores = scores[start:start + len(item.images)]
            start += len(item.images)
            item.done.set()


class ScoreService:
    """The protocol without a transport: limits, health, and body -> scores (raising RequestError)."""

    def __init__(self, target: Target, *, max_bytes: int = MAX_BYTES, max_images: int = MAX_IMAGES,
                 max_pixels: int = MAX_PIXELS):
        self.target, self.max_bytes, self.max_images = target, int(max_bytes), int(max_images)
        self.max_pixels = int(max_pixels)
        self.batcher = Batcher(target, max_images)

    def health(self) -> dict[str, Any]:
        describe = getattr(self.target, "describe", None)
        model = describe() if callable(describe) else {"name": self.target.name,
                                                       "input_size": self.target.input_size}
        return {"status": "ok", "model": model, "max_images": self.max_images, "max_bytes": self.max_bytes,
                "max_pixels": self.max_pixels, "fasrobust": __version__,
                "batching": {"requests": self.batcher.requests, "model_calls": self.batcher.calls}}

    def check_length(self, length: str | None) -> int:
        """The declared body size, refused before reading when missing or over max_bytes."""
        if length is None or not length.strip().isdigit():
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if int(length) > self.max_bytes:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"body of {int(length)} bytes; at most {self.max_bytes}")
        return int(length)

    def images(self, body: bytes) -> np.ndarray:
        """Checked and decoded uint8 (N, H, W, 3): headers and sizes first, then the pixels."""
        texts = parse_body(body)
        if len(texts) > self.max_images:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"{len(texts)} images in one request; at most {self.max_images}")
        blobs = [png_bytes(text, i) for i, text in enumerate(texts)]
        sizes = [png_header(blob, i) for i, blob in enumerate(blobs)]
        check_sizes(sizes, self.target.input_size, self.max_pixels)
        return np.stack([decode_png(blob, i, size) for i, (blob, size) in enumerate(zip(blobs, sizes, strict=True))])

    def score(self, body: bytes) -> dict[str, Any]:
        arrays = self.images(body)
        try:
            scores = self.batcher.score(arrays)
        except FasrobustError as exc:  # wrong size for the model and the like: the client's to fix
            raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return {"p_live": [float(s) for s in scores]}


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
