"""The liveness server behind `fasrobust serve`: any `Target` (a checkpoint, an ONNX file) exposed over
HTTP, so the black-box setting can be run end to end and `HttpTarget` has a reference to talk to.

Protocol (JSON, UTF-8):

    GET  /v1/health  -> 200 {"status": "ok", "model": {...input contract...}, "max_images": n,
                             "max_bytes": b, "fasrobust": "<version>"}
    POST /v1/score   body {"images": ["<base64 PNG>", ...]}   (8-bit RGB PNGs, all the same size)
                     -> 200 {"p_live": [float, ...]}          (same order; P(live), higher = more genuine)

PNG is lossless, so the model scores exactly the 8-bit pixels the attack wrote. Errors answer
{"error": "<one line>"} with 400 (bad JSON, bad image, wrong size), 404 (unknown path), 411 (no
Content-Length), 413 (body over max_bytes or more than max_images images) or 500 (the model failed).

Why the standard library's ThreadingHTTPServer: serving is for local experiments and tests, the model
call dominates every request, and it adds no dependency; requests are scored one at a time under a lock
(the model already uses every core, and the target's query count stays exact).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..errors import FasrobustError
from .base import Target
from .http_target import HEALTH_PATH, SCORE_PATH

#: Default request limits: 64 MiB of JSON, 1024 images (about 25 MB of 224x224 PNGs).
MAX_BYTES = 64 << 20
MAX_IMAGES = 1024
#: Largest image side the server decodes (refuses decompression bombs before decoding).
MAX_SIDE = 4096


class RequestError(Exception):
    """A request the server refuses; carries the HTTP status."""

    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status


def decode_png(text: Any, index: int) -> np.ndarray:
    """base64 PNG -> uint8 (H, W, 3). Only 8-bit RGB is accepted: converting other modes would change
    pixels behind the caller's back."""
    from PIL import Image

    if not isinstance(text, str):
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a base64 string")
    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
            if image.format != "PNG" or image.mode != "RGB":
                raise RequestError(HTTPStatus.BAD_REQUEST,
                                   f"image {index} is {image.format} {image.mode}, expected an 8-bit RGB PNG")
            if max(image.size) > MAX_SIDE:
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                   f"image {index} is {image.size[0]}x{image.size[1]}, larger than {MAX_SIDE}")
            return np.asarray(image, dtype=np.uint8)
    except (binascii.Error, OSError, ValueError) as exc:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"image {index} is not a readable PNG: {exc}") from None


class LivenessHandler(BaseHTTPRequestHandler):
    server: LivenessServer
    protocol_version = "HTTP/1.1"  # keep-alive, so a client's connection pool is reused
    timeout = 60  # seconds a socket may sit idle or half-sent before its thread is freed
    server_version = f"fasrobust/{__version__}"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?")[0] != HEALTH_PATH:
            return self._send(HTTPStatus.NOT_FOUND, {"error": f"unknown path {self.path}; try {HEALTH_PATH}"})
        self._send(HTTPStatus.OK, self.server.health())

    def do_POST(self) -> None:  # noqa: N802
        try:
            if self.path.split("?")[0] != SCORE_PATH:
                raise RequestError(HTTPStatus.NOT_FOUND, f"unknown path {self.path}; POST {SCORE_PATH}")
            self._send(HTTPStatus.OK, self.server.score(self._read_body()))
        except RequestError as exc:
            self._send(exc.status, {"error": str(exc)})
        except Exception as exc:  # the model itself failed: a server error, logged with its traceback
            self.log_error("scoring failed: %r", exc)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"scoring failed: {type(exc).__name__}"})

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            self.close_connection = True
            raise RequestError(HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required")
        if int(length) > self.server.max_bytes:
            self.close_connection = True  # the unread body would corrupt the next request on this socket
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"body of {int(length)} bytes; at most {self.server.max_bytes}")
        return self.rfile.read(int(length))

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
    verbose = False  # log each request to stderr (http.server's format)
    handler_class: type[BaseHTTPRequestHandler] = LivenessHandler  # a subclass may swap it (tests inject faults)

    def __init__(self, address: tuple[str, int], target: Target, *, max_bytes: int = MAX_BYTES,
                 max_images: int = MAX_IMAGES):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, self.handler_class)
        self.target, self.max_bytes, self.max_images = target, max_bytes, max_images
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = f"[{host}]" if ":" in str(host) else host
        return f"http://{host}:{port}"

    def health(self) -> dict[str, Any]:
        describe = getattr(self.target, "describe", None)
        model = describe() if callable(describe) else {"name": self.target.name,
                                                       "input_size": self.target.input_size}
        return {"status": "ok", "model": model, "max_images": self.max_images, "max_bytes": self.max_bytes,
                "fasrobust": __version__}

    def score(self, body: bytes) -> dict[str, Any]:
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RequestError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from None
        images = request.get("images") if isinstance(request, dict) else None
        if not isinstance(images, list) or not images:
            raise RequestError(HTTPStatus.BAD_REQUEST, "body must be {\"images\": [base64 PNG, ...]}")
        if len(images) > self.max_images:
            raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                               f"{len(images)} images in one request; at most {self.max_images}")
        arrays = [decode_png(text, i) for i, text in enumerate(images)]
        if len({a.shape for a in arrays}) != 1:
            raise RequestError(HTTPStatus.BAD_REQUEST, "images in one request must all have the same size")
        try:
            with self.lock:
                scores = self.target(np.stack(arrays))
        except FasrobustError as exc:  # wrong size for the model and the like: the client's to fix
            raise RequestError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        return {"p_live": [float(s) for s in scores]}


def as_target(target_or_path: Target | str | Path, **options: Any) -> Target:
    """A Target as is, or one loaded from a run directory / .onnx file (see `load_target`)."""
    if isinstance(target_or_path, Target):
        return target_or_path
    from . import load_target

    return load_target(target_or_path, **options)


def make_server(target_or_path: Target | str | Path, host: str = "127.0.0.1", port: int = 8000, *,
                max_bytes: int = MAX_BYTES, max_images: int = MAX_IMAGES, verbose: bool = False,
                **target_options: Any) -> LivenessServer:
    """Bind (port 0 picks a free port) but do not serve yet; call `serve_forever()`."""
    try:
        server = LivenessServer((host, port), as_target(target_or_path, **target_options),
                                max_bytes=max_bytes, max_images=max_images)
    except OSError as exc:
        raise FasrobustError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.verbose = verbose
    return server


def start_server_in_thread(target_or_path: Target | str | Path, host: str = "127.0.0.1", port: int = 0,
                           **options: Any):
    """Serve in a daemon thread; returns (url, stop). `stop()` shuts the server down and closes it."""
    server = make_server(target_or_path, host, port, **options)
    # A short poll interval makes stop() return in ~50 ms instead of http.server's 0.5 s.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name="fasrobust-serve", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.url, stop
