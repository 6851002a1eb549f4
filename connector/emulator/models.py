"""The model catalogue, by endpoint id: every emulated endpoint and its platform metadata.

One data table (``CATALOGUE``), copied per emulator into a :class:`Catalogue` that the other parts
query by endpoint id: the queue resolves a submitted path to its entry, the platform API lists,
prices and documents entries, usage and billing price finished jobs with ``unit_price``/``unit``,
and the workflows API lists the ``workflows/`` entries. What a model *answers* is outputs.py.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from dataclasses import dataclass

from .outputs import IMAGE_SIZES, MISSING_PROMPT_DETAIL, Outcome

__all__ = ["CATALOGUE", "FIXED_DATE", "IMAGE_SIZES", "MISSING_PROMPT_DETAIL", "NAMESPACES", "Catalogue",
           "ModelSpec"]

NAMESPACES = ("workflows", "comfy")  # app ids of three segments: namespace/owner/app
FIXED_DATE = "2025-01-15T00:00:00Z"  # deterministic catalogue dates


@dataclass
class ModelSpec:
    """One catalogue endpoint. ``kind`` picks the behaviour; the rest is platform metadata."""

    endpoint_id: str
    kind: str  # "image" | "echo" | "fail" | "sized"
    queue_seconds: float
    run_seconds: float
    display_name: str
    category: str
    description: str
    tags: tuple[str, ...] = ()
    status: str = "active"  # "active" | "deprecated"
    unit_price: float = 0.0
    unit: str = "request"
    image_size: str = "landscape_4_3"

    @property
    def app_id(self) -> str:
        """owner/app (with the workflows/comfy namespace): what status/result URLs use."""
        parts = self.endpoint_id.split("/")
        n = 3 if parts[0] in NAMESPACES else 2
        return "/".join(parts[:n])

    def units(self, outcome: Outcome) -> float:
        """Billed units of one finished job: images for per-image models, else one request.
        A failed job (no 2xx answer) bills nothing, as fal never charges server errors."""
        if not outcome.ok:
            return 0.0
        if self.unit in ("image", "megapixel") and isinstance(outcome.body, bytes):
            body = json.loads(outcome.body)
            images = body.get("images") if isinstance(body, dict) else None
            if isinstance(images, list):
                if self.unit == "image":
                    return float(len(images))
                return round(sum(int(i["width"]) * int(i["height"]) for i in images) / 1e6, 6)
        return 1.0


# The catalogue. Timings are small so tests are fast; Emulator.set_model changes them.
CATALOGUE: tuple[ModelSpec, ...] = (
    ModelSpec("fal-ai/fast-sdxl", "image", 0.1, 0.3, "Fast SDXL", "text-to-image",
              "Stable Diffusion XL, fast. Emulated: returns a solid-colour PNG.",
              ("stylized", "sdxl"), unit_price=0.0025, unit="image", image_size="square_hd"),
    ModelSpec("fal-ai/flux/dev", "image", 0.1, 0.3, "FLUX.1 [dev]", "text-to-image",
              "FLUX.1 [dev] text-to-image. Emulated.", ("flux", "realism"), unit_price=0.025, unit="image"),
    ModelSpec("fal-ai/flux/dev/image-to-image", "image", 0.1, 0.3, "FLUX.1 [dev] Image-to-Image",
              "image-to-image", "FLUX.1 [dev] image-to-image. Emulated.", ("flux", "editing"),
              unit_price=0.03, unit="megapixel"),
    ModelSpec("fal-ai/flux/schnell", "image", 0.05, 0.1, "FLUX.1 [schnell]", "text-to-image",
              "FLUX.1 [schnell], few-step text-to-image. Emulated.", ("flux", "fast"),
              unit_price=0.003, unit="megapixel"),
    ModelSpec("fal-ai/echo", "echo", 0.0, 0.05, "Echo", "utility",
              "Returns its input as {\"echo\": input}.", ("test",), unit_price=0.0001),
    ModelSpec("fal-ai/always-fails", "fail", 0.0, 0.05, "Always Fails", "utility",
              "Every request fails with a 422 validation error.", ("test",), unit_price=0.0001),
    ModelSpec("fal-ai/slow", "echo", 2.0, 8.0, "Slow", "utility",
              "Echo with a long queue and run time, for timeout and cancel tests.", ("test",),
              unit_price=0.0001),
    ModelSpec("fal-ai/sized", "sized", 0.0, 0.05, "Sized", "utility",
              "Returns a JSON body of about input.bytes bytes.", ("test", "benchmark"),
              unit_price=0.0001),
    ModelSpec("fal-ai/stable-diffusion-v15", "image", 0.1, 0.3, "Stable Diffusion v1.5", "text-to-image",
              "Legacy Stable Diffusion v1.5. Deprecated.", ("legacy",), status="deprecated",
              unit_price=0.001, unit="image", image_size="square"),
    ModelSpec("workflows/fal-ai/echo-workflow", "echo", 0.0, 0.05, "Echo Workflow", "workflow",
              "A workflow (namespace workflows/) that echoes its input.", ("test", "workflow"),
              unit_price=0.0001),
    ModelSpec("comfy/fal-ai/echo-comfy", "echo", 0.0, 0.05, "Echo Comfy", "workflow",
              "A ComfyUI workflow (namespace comfy/) that echoes its input.", ("test", "comfy"),
              unit_price=0.0001),
)


class Catalogue:
    """Per-emulator copy of the table, so set_model on one emulator never leaks into another."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._specs = {s.endpoint_id: dataclasses.replace(s) for s in CATALOGUE}

    def all(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def get(self, endpoint_id: str) -> ModelSpec | None:
        return self._specs.get(endpoint_id)

    def resolve(self, endpoint_id: str) -> ModelSpec | None:
        """Exact endpoint, else the longest catalogue endpoint that is a segment prefix of it
        (``fal-ai/echo/anything`` is served by ``fal-ai/echo``)."""
        parts = endpoint_id.split("/")
        for n in range(len(parts), 1, -1):
            spec = self._specs.get("/".join(parts[:n]))
            if spec is not None:
                return spec
        return None

    def workflows(self) -> list[ModelSpec]:
        """The ``workflows/{owner}/{name}`` entries: what the workflows API lists."""
        return [s for s in self._specs.values() if s.endpoint_id.startswith("workflows/")]

    def app_exists(self, app_id: str) -> bool:
        return any(s.app_id == app_id for s in self._specs.values())

    def set_timings(self, app_id: str, queue_seconds: float | None = None,
                    run_seconds: float | None = None) -> list[str]:
        """Change timings of an endpoint, or of every endpoint of an owner/app. Affects jobs
        submitted afterwards (a job keeps the timings it was submitted with)."""
        for value in (queue_seconds, run_seconds):
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValueError("timings must be numbers >= 0")
        with self._lock:
            targets = [s for s in self._specs.values() if s.endpoint_id == app_id] or \
                      [s for s in self._specs.values() if s.app_id == app_id]
            if not targets:
                raise KeyError(f"unknown model {app_id!r}")
            for spec in targets:
                if queue_seconds is not None:
                    spec.queue_seconds = float(queue_seconds)
                if run_seconds is not None:
                    spec.run_seconds = float(run_seconds)
        return [s.endpoint_id for s in targets]
