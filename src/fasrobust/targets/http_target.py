"""Target adapter for a liveness model behind an HTTP endpoint: the black-box setting of the paper, where
the attacker sees only the scores a service answers.

Speaks the protocol documented in `fasrobust.targets.server` (POST /v1/score with base64 PNGs, which keep
the 8-bit pixels exact). Large batches go out as several requests of `max_batch` images, at most
`concurrency` at a time. Timeouts, connection errors and 5xx answers are retried with exponential
backoff; 4xx answers and unusable bodies are not (asking again would not help). Every failed attempt is
appended to `failures` as (unix time, message), so an attack can store endpoint trouble apart from its
own results; queries are counted only for answered images.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from ..errors import TargetError, require
from .base import Target

SCORE_PATH = "/v1/score"
HEALTH_PATH = "/v1/health"


def encode_png(image: np.ndarray) -> str:
    """One uint8 (H, W, 3) image as base64 PNG. Level 1: PNG is lossless at any level, 1 is fastest."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG", compress_level=1)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def base_url(url: str) -> str:
    """Accept the server root or its score URL; return the root without a trailing slash."""
    url = url.rstrip("/")
    return url[: -len(SCORE_PATH)] if url.endswith(SCORE_PATH) else url


class _Retryable(Exception):
    """An attempt that may succeed if repeated (timeout, connection error, 5xx)."""


class HttpTarget(Target):
    """Scores images by asking an HTTP endpoint. `max_batch` is images per request; one call sends up to
    `concurrency` requests in parallel. `retries=3` means up to 4 attempts per request, waiting
    backoff * 2**k seconds before attempt k+1. TLS certificates are verified unless `verify_tls=False`."""

    def __init__(self, url: str, *, timeout: float = 10.0, retries: int = 3, backoff: float = 0.5,
                 max_batch: int = 64, concurrency: int = 4, query_budget: int | None = None,
                 verify_tls: bool = True, headers: dict[str, str] | None = None,
                 input_size: int | None = None, name: str = ""):
        httpx = require("httpx", "http", "Attacking an HTTP endpoint")
        if not url.startswith(("http://", "https://")):
            raise TargetError(f"target URL must start with http:// or https://, got {url!r}")
        if retries < 0 or timeout <= 0 or backoff < 0 or concurrency < 1 or max_batch < 1:
            raise TargetError("HttpTarget needs retries >= 0, timeout > 0, backoff >= 0, concurrency >= 1, "
                              "max_batch >= 1")
        # The base class hands _predict up to one round of concurrent requests at a time.
        super().__init__(max_batch=max_batch * concurrency, device="cpu", input_size=input_size,
                         query_budget=query_budget, name=name or f"http:{base_url(url)}")
        self.url = base_url(url)
        self.request_batch = int(max_batch)
        self.concurrency = int(concurrency)
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.failures: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._httpx = httpx
        self._client = httpx.Client(timeout=timeout, verify=verify_tls, headers=headers or {},
                                    limits=httpx.Limits(max_connections=concurrency))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fasrobust-http")

    def health(self) -> dict[str, Any]:
        """The server's GET /v1/health answer (model info); raises TargetError if it does not answer."""
        return self._with_retries(lambda: self._client.get(self.url + HEALTH_PATH), expect=None)

    def _predict(self, images: torch.Tensor) -> np.ndarray:
        array = images.cpu().numpy()
        pieces = [array[i:i + self.request_batch] for i in range(0, len(array), self.request_batch)]
        return np.concatenate(list(self._pool.map(self._score_piece, pieces)))

    def _score_piece(self, piece: np.ndarray) -> np.ndarray:
        body = {"images": [encode_png(image) for image in piece]}
        answer = self._with_retries(lambda: self._client.post(self.url + SCORE_PATH, json=body),
                                    expect=len(piece))
        return np.asarray(answer["p_live"], dtype=np.float64)

    def _with_retries(self, send, *, expect: int | None) -> dict[str, Any]:
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._attempt(send, expect)
            except _Retryable as exc:
                last = str(exc)
        raise TargetError(f"{self.name}: no answer after {self.retries + 1} attempts; last: {last}")

    def _attempt(self, send, expect: int | None) -> dict[str, Any]:
        httpx = self._httpx
        try:
            response = send()
        except httpx.TimeoutException:
            raise _Retryable(self._fail(f"timed out after {self.timeout:g} s")) from None
        except httpx.TransportError as exc:  # refused, reset, DNS, TLS: the request may not have arrived
            raise _Retryable(self._fail(f"{type(exc).__name__}: {exc}")) from None
        if response.status_code >= 500:
            raise _Retryable(self._fail(f"HTTP {response.status_code}: {_error_text(response)}"))
        if response.status_code >= 400:
            raise TargetError(f"{self.name}: " + self._fail(
                f"HTTP {response.status_code}: {_error_text(response)}"))
        return self._parse(response, expect)

    def _parse(self, response: Any, expect: int | None) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError:
            raise TargetError(f"{self.name}: " + self._fail(
                f"answer is not JSON: {response.text[:60]!r}")) from None
        if not isinstance(answer, dict):
            raise TargetError(f"{self.name}: " + self._fail("answer is not a JSON object"))
        if expect is None:
            return answer
        scores = answer.get("p_live")
        if not isinstance(scores, list) or len(scores) != expect:
            got = f"{len(scores)} scores" if isinstance(scores, list) else "no 'p_live' list"
            raise TargetError(f"{self.name}: " + self._fail(f"answered {got} for {expect} images"))
        if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in scores):
            raise TargetError(f"{self.name}: " + self._fail("'p_live' holds values that are not numbers"))
        return answer

    def _fail(self, message: str) -> str:
        message = " ".join(message.split())
        with self._lock:
            self.failures.append((time.time(), message))
        return message

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def __repr__(self) -> str:
        return (f"HttpTarget({self.url!r}, max_batch={self.request_batch}, concurrency={self.concurrency}, "
                f"timeout={self.timeout:g}, retries={self.retries})")


def _error_text(response: Any) -> str:
    """The server's one-line error if it sent our JSON error body, else the start of the body."""
    try:
        data = response.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:200]
    except ValueError:
        pass
    return response.text[:120] or response.reason_phrase
