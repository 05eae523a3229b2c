"""Target adapter for a liveness model behind an HTTP endpoint: the black-box setting of the paper, where
the attacker sees only the scores a service answers.

By default it speaks the protocol documented in `fasrobust.targets.server` (POST /v1/score with base64
PNGs, which keep the 8-bit pixels exact). With a service contract (`contract.ServiceContract`) it speaks
the service's own: a JSON body with base64 image(s) at a key the user names, or a multipart/form-data
upload; the score read from the answer at a JSON path, with a direction and a threshold; headers from
environment variables; at most `rate_limit` requests per second.

Large batches go out as several requests, at most `concurrency` at a time. Timeouts, connection errors,
429 and 5xx answers are retried with exponential backoff and, when retries run out, raise
TransientTargetError (a later run may get through); other 4xx answers and unusable bodies raise
TargetError at once (the service answers every call that way). What is read from the service is bounded
(`http_answers`): at most `max_answer_bytes` per answer and `deadline` seconds per request, body included;
no redirect is followed; JSON with NaN or deep nesting, scores outside [0, 1] and unknown decision labels
are refused, each in one line naming the URL. Every failed attempt is appended to
`failures` as (unix time, message), so an attack can store endpoint trouble apart from its own results;
queries are counted only for answered images.
"""

from __future__ import annotations

import base64
import io
import threading
import time
import warnings
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import TargetError, TransientTargetError, require
from .adapters import register_adapter
from .base import Target
from .contract import Channels, Contract, Encoding, Layout, OutputKind, RequestKind
from .http_answers import (
    CONNECT_TIMEOUT_S,
    MAX_ANSWER_BYTES,
    READ_TIMEOUT_S,
    REQUEST_DEADLINE_S,
    AnswerReader,
    BadAnswer,
    Limits,
    Stalled,
    parse_json,
    read_body,
)
from .http_contract import JPEG_WARNING, RateLimiter, b64, encode_image, headers_from_env, set_key
from .inputs import InputFeeder, ResolvedInput
from .outputs import ResolvedOutput

if TYPE_CHECKING:  # torch is imported where it is used, so declaring adapters stays light
    import torch

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
    """An attempt that may succeed if repeated (timeout, connection error, 429, 5xx)."""


_RETRY_STATUS = {408, 429}  # request timeout, too many requests: the service asks to be asked again later
#: Bytes of an error answer kept for its message.
_ERROR_BYTES = 4096


@register_adapter("http", description="an HTTP liveness service (the http extra)", prefixes=("http://", "https://"),
                  option="url")
class HttpTarget(Target):
    """Scores images by asking an HTTP endpoint. `max_batch` is images per request (the service contract's
    `batch_per_request` when it has one); one call sends up to `concurrency` requests in parallel.
    `retries=3` means up to 4 attempts per request, waiting backoff * 2**k seconds before attempt k+1.
    `connect_timeout` bounds connecting, `timeout` each read, `deadline` the whole request, answer included;
    a request past any of them is retried, then a transient failure a re-run may resume. TLS certificates are verified
    unless `verify_tls=False`."""

    @classmethod
    def fingerprint(cls, source: str) -> str:
        return f"url:{source}"

    def __init__(self, url: str, contract: Contract | Mapping[str, Any] | None = None, *,
                 timeout: float = READ_TIMEOUT_S, connect_timeout: float = CONNECT_TIMEOUT_S,
                 retries: int = 3, backoff: float = 0.5, max_batch: int = 64, concurrency: int = 4,
                 query_budget: int | None = None, verify_tls: bool = True, headers: dict[str, str] | None = None,
                 input_size: int | None = None, name: str = "", max_answer_bytes: int = MAX_ANSWER_BYTES,
                 deadline: float = REQUEST_DEADLINE_S):
        httpx = require("httpx", "http", "Attacking an HTTP endpoint")
        if not url.startswith(("http://", "https://")):
            raise TargetError(f"target URL must start with http:// or https://, got {url!r}")
        if retries < 0 or not timeout > 0 or not connect_timeout > 0 or backoff < 0 or concurrency < 1 or \
                max_batch < 1 or not deadline > 0:
            raise TargetError("HttpTarget needs retries >= 0, timeouts and deadline > 0, backoff >= 0, "
                              "concurrency >= 1, max_batch >= 1")
        self.contract = contract = Contract.coerce(contract)
        self.service = service = contract.service
        self.custom = service.request is not RequestKind.FASROBUST
        self.url = url.rstrip("/") if self.custom else base_url(url)
        self._setup_contract(input_size)
        if self.custom:
            max_batch = service.batch_per_request or 1
        size = None if self.resolved_input.resize else self.resolved_input.input_size
        # The base class hands _predict up to one round of concurrent requests at a time.
        super().__init__(max_batch=max_batch * concurrency, device="cpu", input_size=size,
                         query_budget=query_budget, name=name or f"http:{self.url}",
                         threshold=contract.output.threshold)
        self.request_batch = int(max_batch)
        self.concurrency = int(concurrency)
        self.timeout, self.retries, self.backoff = float(timeout), int(retries), float(backoff)
        self.connect_timeout = float(connect_timeout)
        self.limits = Limits(int(max_answer_bytes), float(deadline))
        self._decisions = self.resolved_output.decision
        self.failures: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._limiter = RateLimiter(service.rate_limit)
        if service.encoding is Encoding.JPEG:
            warnings.warn(f"{self.name}: {JPEG_WARNING}", RuntimeWarning, stacklevel=2)
        self._httpx = httpx
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=connect_timeout), verify=verify_tls,
                                    follow_redirects=False,
                                    headers={**(headers or {}), **headers_from_env(service.headers_env)},
                                    limits=httpx.Limits(max_connections=concurrency))
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="fasrobust-http")

    def _setup_contract(self, input_size: int | None) -> None:
        """The parts of the contract a service can use: channel order, size, resize; direction, threshold."""
        given_in, out, service = self.contract.input, self.contract.output, self.service
        for option in ("layout", "scale", "mean", "std"):
            if getattr(given_in, option) is not None:
                raise TargetError(f"{self.url}: --{option} does not apply to an HTTP service (it gets image "
                                  "files and decodes them itself); drop it")
        size = given_in.input_size or input_size
        if given_in.resize and size is None:
            raise TargetError(f"{self.url}: --resize needs the size to resize to; set --input-size")
        self.resolved_input = ResolvedInput(layout=Layout.NHWC, channels=given_in.channels or Channels.RGB, uint8=True,
                                            preprocessing=None, input_size=size, resize=given_in.resize)
        self._feeder = InputFeeder(self.resolved_input)
        if out.kind in (OutputKind.SOFTMAX, OutputKind.LOGITS) or out.live_index is not None:
            raise TargetError(f"{self.url}: an HTTP service answers one score or decision per image; use --output "
                              "probability, logit or decision (with --live-value, --spoof-value)")
        if not self.custom and (out.kind not in (None, OutputKind.PROBABILITY) or out.spoof_score
                                or service.score_path or service.encoding is not Encoding.PNG):
            raise TargetError(f"{self.url}: fasrobust's own protocol takes PNGs and answers P(live); --output, "
                              "--spoof-score, --score-path and --encoding need --request json or multipart")
        if self.custom and not service.score_path:
            raise TargetError(f"{self.url}: the service's answer needs a place to read the score from; set "
                              "--score-path (e.g. 'result.live_score' or 'scores[*]')")
        self._reader = AnswerReader(service.score_path, out) if self.custom else None
        self.resolved_output = ResolvedOutput(kind=out.kind or OutputKind.PROBABILITY, name=service.score_path,
                                              live_index=None, spoof_score=out.spoof_score)

    def health(self) -> dict[str, Any]:
        """The server's GET /v1/health answer (model info); raises TargetError if it does not answer."""
        return self._with_retries(lambda: self._client.build_request("GET", self.url + HEALTH_PATH), expect=None)

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        array = self._feeder(images)
        pieces = [array[i:i + self.request_batch] for i in range(0, len(array), self.request_batch)]
        score = self._score_custom if self.custom else self._score_piece
        raw = np.concatenate(list(self._pool.map(score, pieces)))
        if self._decisions:  # already 1.0 (live) or 0.0 (spoof), read label by label
            import torch

            return torch.from_numpy(raw.astype(np.float32))
        return self.resolved_output.scores(raw, self.name)

    def _score_piece(self, piece: np.ndarray) -> np.ndarray:
        body = {"images": [encode_png(image) for image in piece]}
        answer = self._with_retries(lambda: self._client.build_request("POST", self.url + SCORE_PATH, json=body),
                                    expect=len(piece), images=len(piece))
        return np.asarray(answer["p_live"], dtype=np.float64)

    def _score_custom(self, piece: np.ndarray) -> np.ndarray:
        """One request in the service's own contract, and the scores read from its answer."""
        service = self.service
        files = [encode_image(image, service.encoding, service.jpeg_quality) for image in piece]
        batched = service.batch_per_request is not None
        if service.request is RequestKind.JSON:
            texts = [b64(data) for data, _ in files]
            body = set_key({}, service.image_key, texts if batched else texts[0])
            send = lambda: self._client.build_request("POST", self.url, json=body)  # noqa: E731
        else:
            suffix = "jpg" if service.encoding is Encoding.JPEG else "png"
            upload = [(service.image_key, (f"image{i}.{suffix}", data, mime)) for i, (data, mime) in enumerate(files)]
            send = lambda: self._client.build_request("POST", self.url, files=upload)  # noqa: E731
        answer = self._with_retries(send, expect=None, any_json=True, images=len(piece))
        try:
            return self._reader.read(answer, len(piece), batched)
        except BadAnswer as exc:
            raise TargetError(f"{self.name}: " + self._fail(str(exc))) from None

    def _with_retries(self, send, *, expect: int | None, any_json: bool = False, images: int = 1) -> Any:
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                return self._attempt(send, expect, any_json, images)
            except _Retryable as exc:
                last = str(exc)
        raise TransientTargetError(f"{self.name}: no answer after {self.retries + 1} attempts; last: {last}")

    def _attempt(self, build, expect: int | None, any_json: bool = False, images: int = 1) -> Any:
        """One request (`build()` makes it), its answer streamed within the limits and parsed."""
        httpx = self._httpx
        self._limiter.wait()
        started = time.monotonic()
        try:
            response = self._client.send(build(), stream=True)
            try:
                status = response.status_code
                if 300 <= status < 400:
                    where = response.headers.get("location", "nowhere")[:120]
                    raise TargetError(f"{self.name}: " + self._fail(
                        f"HTTP {status}: redirected to {where}; fasrobust follows no redirect (to another host, "
                        "port or scheme it would send your images there): give the final URL"))
                if status >= 400:
                    text = _error_text(self._body(response, Limits(_ERROR_BYTES, self.limits.deadline_s), started,
                                                  error=True), response.reason_phrase)
                    if status >= 500 or status in _RETRY_STATUS:
                        raise _Retryable(self._fail(f"HTTP {status}: {text}"))
                    raise TargetError(f"{self.name}: " + self._fail(f"HTTP {status}: {text}"))
                body = self._body(response, self.limits.for_images(images), started)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            what = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the answer"
            limit = self.connect_timeout if isinstance(exc, httpx.ConnectTimeout) else self.timeout
            raise _Retryable(self._fail(f"timed out {what} after {limit:g} s")) from None
        except httpx.TransportError as exc:  # refused, reset, DNS, TLS: the request may not have arrived
            raise _Retryable(self._fail(f"{type(exc).__name__}: {exc}")) from None
        try:
            answer = parse_json(body)
        except BadAnswer as exc:
            raise TargetError(f"{self.name}: " + self._fail(str(exc))) from None
        return self._check_answer(answer, expect, any_json)

    def _body(self, response: Any, limits: Limits, started: float, *, error: bool = False) -> bytes:
        try:
            return read_body(response, limits, started)
        except Stalled as exc:  # slow now, maybe fine later: a re-run may get through
            raise _Retryable(self._fail(str(exc))) from None
        except BadAnswer as exc:
            if error:  # an error answer's message is only for display: keep what fits
                return b""
            raise TargetError(f"{self.name}: " + self._fail(str(exc))) from None

    def _check_answer(self, answer: Any, expect: int | None, any_json: bool = False) -> Any:
        if any_json:
            return answer
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
        if not all(0.0 <= s <= 1.0 for s in scores):
            raise TargetError(f"{self.name}: " + self._fail("'p_live' holds values outside [0, 1]"))
        return answer

    def _fail(self, message: str) -> str:
        message = " ".join(message.split())
        with self._lock:
            self.failures.append((time.time(), message))
        return message

    def describe(self) -> dict[str, Any]:
        service = self.service
        info: dict[str, Any] = {"adapter": "http", "name": self.name, "source": self.url,
                                "request": service.request.value}
        if self.custom:
            info.update(image_key=service.image_key, score_path=service.score_path,
                        batch_per_request=service.batch_per_request, encoding=service.encoding.value,
                        headers_from_env=sorted(service.headers_env))  # the names only, never the values
        else:
            info.update(endpoint=self.url + SCORE_PATH)
        info.update(inputs=[{"name": service.image_key if self.custom else "images",
                             "shape": ["N", self.resolved_input.input_size, self.resolved_input.input_size, 3],
                             "dtype": f"uint8 as {service.encoding.value.upper()}"}],
                    outputs=[{"name": service.score_path or "p_live", "shape": ["N"]}],
                    **self.resolved_input.describe(), **self.resolved_output.describe(),
                    threshold=self.threshold, rate_limit=service.rate_limit, retries=self.retries,
                    timeout=self.timeout, max_batch=self.request_batch, contract=self.contract.given())
        info["range"] = "uint8 pixels, " + ("PNG (lossless)" if service.encoding is Encoding.PNG
                                            else f"JPEG quality {service.jpeg_quality} (lossy)")
        out = self.contract.output
        if self._decisions and (out.live_values or out.spoof_values):
            info["live_direction"] = (f"live iff the label at {service.score_path!r} is one of "
                                      f"{', '.join(out.live_values or ())}; spoof: {', '.join(out.spoof_values or ())}")
            info["decision"] = info["live_direction"] + "; any other label stops the run"
        info.update(max_answer_bytes=self.limits.max_bytes, deadline=self.limits.deadline_s)
        return info

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()

    def __repr__(self) -> str:
        return (f"HttpTarget({self.url!r}, max_batch={self.request_batch}, concurrency={self.concurrency}, "
                f"timeout={self.timeout:g}, retries={self.retries})")


def _error_text(body: bytes, reason: str) -> str:
    """The server's one-line error if it sent our JSON error body, else the start of the body."""
    try:
        data = parse_json(body)
        if isinstance(data, dict) and "error" in data:
            return " ".join(str(data["error"]).split())[:200]
    except BadAnswer:
        pass
    return " ".join(body[:120].decode("utf-8", "replace").split()) or reason
