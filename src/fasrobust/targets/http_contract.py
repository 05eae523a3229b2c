"""The pieces of a web service's own contract that `HttpTarget` needs: image encodings, JSON paths into
requests and answers, headers read from the environment, and a rate limit shared by all request threads."""

from __future__ import annotations

import base64
import io
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ConfigError, TargetError
from .contract import Encoding

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+|\*)\]")
#: What `--encoding jpeg` does to an attack, measured on FaceSet crops (README, "Attacking your own model").
JPEG_WARNING = ("--encoding jpeg: JPEG is lossy, so the service scores an image that differs from the one "
                "the attack wrote; at quality 95 under 1 % of changed pixels keep their colour (README, "
                "'Attacking your own model') and a 'success' may not reproduce. Use PNG unless the service "
                "refuses it.")


def encode_image(image: np.ndarray, encoding: Encoding = Encoding.PNG, quality: int = 95) -> tuple[bytes, str]:
    """One uint8 (H, W, 3) RGB image as (file bytes, MIME type). PNG level 1: lossless at any level."""
    from PIL import Image

    buffer = io.BytesIO()
    picture = Image.fromarray(np.ascontiguousarray(image), mode="RGB")
    if encoding is Encoding.JPEG:
        picture.save(buffer, format="JPEG", quality=quality, subsampling=0)
        return buffer.getvalue(), "image/jpeg"
    picture.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue(), "image/png"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def parse_path(path: str) -> list[str | int]:
    """'result.scores[0]', '$.data[*].live' -> tokens; '*' maps over a list (one entry per image)."""
    text = path.strip().removeprefix("$")
    tokens: list[str | int] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConfigError(f"--score-path {path!r} is not a JSON path like 'result.live' or 'scores[*].p'")
        key, index = match.groups()
        tokens.append(key if key is not None else ("*" if index == "*" else int(index)))
        position = match.end()
    if not tokens:
        raise ConfigError(f"--score-path {path!r} is empty; name the field that holds the score")
    return tokens


class MissingField(LookupError):
    """The answer has no value at the path; the message says where the walk stopped."""


def read_path(data: Any, tokens: list[str | int]) -> Any:
    """The value at `tokens` in parsed JSON; a '*' returns a list, one value per element."""
    for i, token in enumerate(tokens):
        if token == "*":
            if not isinstance(data, list):
                raise MissingField(f"expected a list at {_where(tokens[:i])}, found {type(data).__name__}")
            return [read_path(item, tokens[i + 1:]) for item in data]
        if isinstance(token, int):
            if not isinstance(data, list) or token >= len(data):
                raise MissingField(f"no element {token} at {_where(tokens[:i])}")
        elif not isinstance(data, dict) or token not in data:
            keys = ", ".join(map(str, data)) if isinstance(data, dict) else type(data).__name__
            raise MissingField(f"no field {token!r} at {_where(tokens[:i])} (found: {keys or 'nothing'})")
        data = data[token]
    return data


def _where(tokens: list[str | int]) -> str:
    if not tokens:
        return "the top level"
    return "".join(f"[{t}]" if isinstance(t, int) else f".{t}" for t in tokens).lstrip(".")


def set_key(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """body with `value` at a dotted key ('payload.image' nests)."""
    *parents, last = key.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return body


def headers_from_env(names: Mapping[str, str]) -> dict[str, str]:
    """{header: environment variable} -> {header: value}. Values never come from the command line, where
    they would leak into shell history and `ps`."""
    headers = {}
    for header, variable in names.items():
        value = os.environ.get(variable)
        if value is None:
            raise ConfigError(f"--header-env {header}={variable}: the environment variable {variable} is not "
                              "set; export it first")
        headers[header] = value
    return headers


def as_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TargetError(f"the score at {where!r} is {str(value)[:40]!r}, not a number; set --score-path to "
                          "the numeric field")
    return float(value)


class RateLimiter:
    """At most `rate` requests per second over all threads: each request takes the next free slot."""

    def __init__(self, rate: float | None):
        self.interval = 1.0 / rate if rate else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)
