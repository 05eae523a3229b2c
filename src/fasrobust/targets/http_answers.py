"""What fasrobust reads from a web service it queries, which is as untrusted as any input: the body within
a size and a time limit, JSON without NaN or deep nesting, and scores or decisions checked one by one.

Every problem is a `TargetError` of one line that names the URL (through the target's name) and what was
wrong; the caller stores nothing from such an answer, and keeps everything stored before it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import TargetError
from .contract import OutputContract, OutputKind
from .http_contract import MissingField, parse_path, read_path

#: The most bytes read from one answer: a decision or a score takes a few dozen bytes, so an answer may hold
#: 64 KiB plus 4 KiB per image it answers for (a service's own fields, ids, a message), and never more
#: than MAX_ANSWER_BYTES.
MAX_ANSWER_BYTES = 1 << 20
ANSWER_BASE_BYTES, ANSWER_BYTES_PER_IMAGE = 64 << 10, 4 << 10
#: Seconds to connect, and to wait for each piece of an answer (a liveness API answers within a few).
CONNECT_TIMEOUT_S, READ_TIMEOUT_S = 5.0, 30.0
#: The most seconds one request may take, body included (a service that trickles bytes never times out
#: between reads, so the read timeout alone does not bound it).
REQUEST_DEADLINE_S = 60.0
#: JSON nested deeper than this is refused before Python's parser recurses into it.
MAX_JSON_DEPTH = 64


class BadAnswer(Exception):
    """The service answered something fasrobust will not read (the message says what)."""


class Stalled(BadAnswer):
    """The answer did not finish within the deadline: the service may be slow now and fine later."""


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_ANSWER_BYTES
    deadline_s: float = REQUEST_DEADLINE_S

    def for_images(self, n: int) -> Limits:
        """The limits of an answer for n images: its bytes derived from n, within `max_bytes`."""
        return Limits(min(self.max_bytes, ANSWER_BASE_BYTES + ANSWER_BYTES_PER_IMAGE * max(1, n)), self.deadline_s)

    def __post_init__(self) -> None:
        if self.max_bytes < 1 or not self.deadline_s > 0:
            raise TargetError(f"answer limits must be positive (max_bytes {self.max_bytes}, deadline "
                              f"{self.deadline_s} s)")


def read_body(response: Any, limits: Limits, started: float) -> bytes:
    """The body of a streamed httpx response, refused as soon as it passes `limits.max_bytes` or the request
    passes `limits.deadline_s` seconds from `started` (time.monotonic()). Content-Encoding (gzip) is
    undone while reading, so the limit counts decoded bytes."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_bytes:
        raise BadAnswer(f"answer of {int(declared):,} bytes refused (at most {limits.max_bytes:,} are read)")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limits.max_bytes:
            raise BadAnswer(f"answer longer than {limits.max_bytes:,} bytes refused")
        if time.monotonic() - started > limits.deadline_s:
            raise Stalled(f"answer still arriving after {limits.deadline_s:g} s (--deadline); stopped reading")
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse_constant(name: str) -> float:
    raise BadAnswer(f"answer holds {name}, which is not a number JSON allows")


def parse_json(data: bytes) -> Any:
    """JSON without NaN or Infinity, nested at most MAX_JSON_DEPTH deep."""
    _check_depth(data)
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        text = data[:60].decode("utf-8", "replace")
        raise BadAnswer(f"answer is not JSON: {text!r}") from None


def _check_depth(data: bytes) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH: brackets outside strings, counted in one pass."""
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise BadAnswer(f"answer nests JSON deeper than {MAX_JSON_DEPTH} levels; refused")
        elif byte in (0x5D, 0x7D):
            depth -= 1


class AnswerReader:
    """Reads P(live) or a decision per image from a service's parsed answer, at the contract's JSON path."""

    def __init__(self, path: str, output: OutputContract):
        self.path = path
        self.tokens = parse_path(path)
        self.output = output
        self.decision = output.kind is OutputKind.DECISION
        self.live = {v.lower() for v in output.live_values or ()}
        self.spoof = {v.lower() for v in output.spoof_values or ()}

    def read(self, answer: Any, n: int, batched: bool) -> np.ndarray:
        """One value per image: P(live) before the contract's direction is applied (the raw score), or
        1.0 / 0.0 for a decision."""
        try:
            value = read_path(answer, self.tokens)
        except MissingField as exc:
            what = "decision" if self.decision else "score"
            raise BadAnswer(f"the answer has no {what} at --score-path {self.path!r}: {exc}") from None
        values = value if isinstance(value, list) else [value]
        if batched != isinstance(value, list) or len(values) != n:
            got = f"a list of {len(values)}" if isinstance(value, list) else "one value"
            raise BadAnswer(f"--score-path {self.path!r} gave {got} for {n} image(s); " + (
                "point it at the list (e.g. 'scores' or 'results[*].score')" if batched
                else "point it at one value, or set --batch-per-request"))
        read = self._decision if self.decision else self._score
        return np.asarray([read(v) for v in values], dtype=np.float64)

    def _score(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BadAnswer(f"the score at {self.path!r} is {str(value)[:40]!r}, not a number; set --score-path "
                            "to the numeric field, or --output decision for a label")
        number = float(value)
        if not np.isfinite(number):
            raise BadAnswer(f"the score at {self.path!r} is {number}, not a finite number")
        if self.output.kind in (None, OutputKind.PROBABILITY) and not 0.0 <= number <= 1.0:
            raise BadAnswer(f"the score at {self.path!r} is {number:.6g}, outside [0, 1]; for a raw score set "
                            "--output logit")
        return number

    def _decision(self, value: Any) -> float:
        if isinstance(value, bool) and not (self.live or self.spoof):
            return float(value != self.output.spoof_score)
        if isinstance(value, dict | list) or value is None:
            raise BadAnswer(f"the decision at {self.path!r} is {json.dumps(value)[:40]}, not a label")
        label = (json.dumps(value) if isinstance(value, bool) else str(value)).strip().lower()
        if not (self.live and self.spoof):
            raise BadAnswer(f"the decision at {self.path!r} is the label {str(value)[:40]!r}; name the labels "
                            "with --live-value and --spoof-value")
        if label in self.live:
            return 1.0
        if label in self.spoof:
            return 0.0
        raise BadAnswer(f"unknown decision label {str(value)[:40]!r} at {self.path!r} (live: "
                        f"{', '.join(sorted(self.live))}; spoof: {', '.join(sorted(self.spoof))}); add it with "
                        "--live-value or --spoof-value")
