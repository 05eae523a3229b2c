"""What the liveness server accepts (targets stage, under `server.py`): the request limits and the checks
that run before any image is decoded: Content-Type, JSON body, base64, the PNG header's size against
the model's input size, the request's total pixels. Every refusal is a `RequestError` with its 4xx."""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
from http import HTTPStatus
from typing import Any

import numpy as np

#: Default request limits: 16 MiB of JSON (about 600 224x224 PNGs, 5,000 32x32 ones; a client sends
#: batches well below that), 1024 images. With INFLIGHT_BODIES, the bodies held at once stay within 64 MiB.
MAX_BYTES = 16 << 20
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
    """JSON only: anything else, a missing Content-Type included, is 415, so a form, a text body or an
    unlabelled upload is never read as if it were ours."""
    if value is None or not value.strip():
        raise RequestError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "no Content-Type; send application/json")
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
