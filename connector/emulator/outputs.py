"""What the emulated models answer: deterministic functions of their input.

Every model is a pure function of its input (same input, same output, same seed), so tests can
assert exact bodies. A model answers with an :class:`Outcome` — the HTTP status and body the
result endpoint returns, plus the ``error``/``error_type`` the status endpoint reports for a
COMPLETED job that failed (fal never has a FAILED status). Which model behaves how is the
catalogue's business (models.py); this module only knows behaviours by ``kind``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

# fal's FastAPI-style validation error for a missing prompt, verbatim.
MISSING_PROMPT_DETAIL = [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]
# The status-side error of a model that answered 422, as fal's webhook example shows it .
MODEL_422_ERROR = "Invalid status code: 422"
MODEL_422_ERROR_TYPE = "validation_error"

# fal's named image sizes (the values its image models document).
IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024),
    "landscape_4_3": (1024, 768),
    "landscape_16_9": (1024, 576),
}
MAX_IMAGE_SIDE = 2048  # the served PNG is generated on demand; keep it cheap
MAX_SIZED_BYTES = 1 << 30  # fal-ai/sized refuses more than 1 GiB


class Behaviour(Protocol):
    """What a model function needs of its catalogue entry."""

    kind: str  # "image" | "echo" | "fail" | "sized"
    image_size: str
    run_seconds: float


class PaddedBody:
    """A JSON object of an exact byte length, produced in chunks and never held whole.

    Used by fal-ai/sized (50 MB results for memory benchmarks) and the big_body fault.
    """

    _CHUNK = b"x" * (1 << 20)  # one shared 1 MiB block; every chunk is a slice of it

    def __init__(self, size: int, field_name: str = "padding", extra: dict[str, Any] | None = None):
        head = json.dumps(extra or {})[:-1]
        head = (head + ", " if extra else "{") + json.dumps(field_name) + ': "'
        self._head = head.encode()
        self._tail = b'"}'
        self._pad = max(0, size - len(self._head) - len(self._tail))
        self.length = len(self._head) + self._pad + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self._head
        left = self._pad
        while left > 0:
            n = min(left, len(self._CHUNK))
            yield self._CHUNK if n == len(self._CHUNK) else self._CHUNK[:n]
            left -= n
        yield self._tail

    def to_bytes(self) -> bytes:
        return b"".join(self)


@dataclass
class Outcome:
    """What a finished job answers: result status/body/headers and the status-side error."""

    status_code: int
    body: bytes | PaddedBody
    error: str | None = None
    error_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code < 400

    def body_bytes(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else self.body.to_bytes()


def _json(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def model_error(detail: Any) -> Outcome:
    """A model that answered 422 (what fal's queue reports as a failed COMPLETED job)."""
    return Outcome(422, _json({"detail": detail}), MODEL_422_ERROR, MODEL_422_ERROR_TYPE)


def cancelled_outcome() -> Outcome:
    # client_cancelled is fal's 499 request-error type; the status-side error
    # text is ours (fal documents no status for a cancelled request).
    return Outcome(499, _json({"detail": "Request was cancelled", "error_type": "client_cancelled"}),
                   "Request cancelled", "client_cancelled", {"X-Fal-Error-Type": "client_cancelled"})


def timeout_outcome() -> Outcome:
    # The caller's own start timeout expired in the queue: 504 + X-Fal-Request-Timeout-Type: user.
    return Outcome(504, _json({"detail": "Request timed out", "error_type": "request_timeout"}),
                   "Request timed out", "request_timeout",
                   {"X-Fal-Error-Type": "request_timeout", "X-Fal-Request-Timeout-Type": "user"})


def derive_seed(data: Any) -> int:
    """A stable seed from the input, so the same prompt always gets the same image."""
    canon = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    return int.from_bytes(hashlib.sha256(canon).digest()[:4], "big") & 0x7FFFFFFF


def _image(spec: Behaviour, data: dict[str, Any], base_url: str) -> Outcome:
    if "prompt" not in data:
        return model_error(MISSING_PROMPT_DETAIL)
    prompt = data["prompt"]
    if not isinstance(prompt, str):
        return model_error([{"loc": ["body", "prompt"], "msg": "str type expected", "type": "type_error.str"}])
    size = data.get("image_size", spec.image_size)
    if isinstance(size, str) and size in IMAGE_SIZES:
        width, height = IMAGE_SIZES[size]
    elif (isinstance(size, dict) and all(type(size.get(k)) is int for k in ("width", "height"))
          and 16 <= size["width"] <= MAX_IMAGE_SIDE and 16 <= size["height"] <= MAX_IMAGE_SIDE):
        width, height = size["width"], size["height"]
    else:
        return model_error([{"loc": ["body", "image_size"], "msg": "invalid image size", "type": "value_error"}])
    n = data.get("num_images", 1)
    if type(n) is not int or not 1 <= n <= 4:
        return model_error([{"loc": ["body", "num_images"], "msg": "ensure 1 <= value <= 4",
                             "type": "value_error.number"}])
    seed = data["seed"] if type(data.get("seed")) is int else derive_seed(data)
    images = []
    for i in range(n):
        colour = hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:6]
        images.append({"url": f"{base_url}/cdn/images/{width}x{height}/{colour}.png",
                       "width": width, "height": height, "content_type": "image/png"})
    out = {"images": images, "seed": seed, "prompt": prompt, "has_nsfw_concepts": [False] * n,
           "timings": {"inference": spec.run_seconds}}
    return Outcome(200, _json(out))


def _sized(data: dict[str, Any]) -> Outcome:
    n = data.get("bytes")
    if type(n) is not int or not 0 <= n <= MAX_SIZED_BYTES:
        return model_error([{"loc": ["body", "bytes"], "msg": f"an integer 0..{MAX_SIZED_BYTES} is required",
                             "type": "value_error"}])
    return Outcome(200, PaddedBody(n, extra={"bytes": n}))


def run_model(spec: Behaviour, data: dict[str, Any], base_url: str) -> Outcome:
    """The model's answer for this input (deterministic)."""
    if spec.kind == "image":
        return _image(spec, data, base_url)
    if spec.kind == "echo":
        return Outcome(200, _json({"echo": data}))
    if spec.kind == "sized":
        return _sized(data)
    if spec.kind == "fail":
        return model_error([{"loc": ["body"], "msg": "this model always fails", "type": "value_error.always_fails"}])
    raise ValueError(f"unknown model kind {spec.kind!r}")


@functools.lru_cache(maxsize=16)
def solid_png(width: int, height: int, rgb_hex: str) -> bytes:
    """A real (decodable) PNG of one colour; cached because the same URL is fetched repeatedly."""
    rgb = bytes.fromhex(rgb_hex)
    raw = (b"\x00" + rgb * width) * height

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
