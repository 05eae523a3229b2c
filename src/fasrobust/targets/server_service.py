"""The liveness server's protocol without a transport (targets stage, under `server.py`): `ScoreService`
(limits, health, body -> scores) and the `Batcher` that merges concurrent requests into one model call,
each image counted once, so throughput follows the model's batch speed rather than the request rate."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np

from .. import __version__
from ..errors import FasrobustError
from .base import Target
from .server_requests import (
    MAX_BYTES,
    MAX_IMAGES,
    MAX_PIXELS,
    RequestError,
    check_sizes,
    decode_png,
    parse_body,
    png_bytes,
    png_header,
)


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
