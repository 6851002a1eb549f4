"""Platform API v1 under /v1: model search, pricing and cost estimates.

Errors use the platform envelope ``{"error": {"type", "message"}}``; paging and multi-value
parameters are params.py's.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

from . import params
from .auth import Keys, platform_error
from .models import FIXED_DATE, IMAGE_SIZES, Catalogue, ModelSpec
from .params import cursor_for, multi
from .wire import Request, Response, json_response

DEFAULT_LIMIT, MAX_LIMIT, MAX_IDS = 20, 100, 50
EXPANDS = ("openapi-3.0", "enterprise_status")


def _bad(message: str) -> Response:
    return platform_error(400, "validation_error", message)


def _input_schema(spec: ModelSpec) -> dict[str, Any]:
    if spec.kind == "image":
        return {"type": "object", "required": ["prompt"], "properties": {
            "prompt": {"type": "string", "title": "Prompt"},
            "image_size": {"anyOf": [{"type": "string", "enum": list(IMAGE_SIZES)},
                                     {"type": "object", "properties": {"width": {"type": "integer"},
                                                                       "height": {"type": "integer"}}}],
                           "default": spec.image_size},
            "num_images": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
            "seed": {"type": "integer"}}}
    if spec.kind == "sized":
        return {"type": "object", "required": ["bytes"],
                "properties": {"bytes": {"type": "integer", "minimum": 0}}}
    return {"type": "object", "additionalProperties": True}


def _output_schema(spec: ModelSpec) -> dict[str, Any]:
    if spec.kind == "image":
        image = {"type": "object", "properties": {"url": {"type": "string"}, "width": {"type": "integer"},
                                                  "height": {"type": "integer"},
                                                  "content_type": {"type": "string"}}}
        return {"type": "object", "required": ["images", "seed", "prompt"],
                "properties": {"images": {"type": "array", "items": image}, "seed": {"type": "integer"},
                               "prompt": {"type": "string"}}}
    if spec.kind == "echo":
        return {"type": "object", "properties": {"echo": {"type": "object"}}}
    return {"type": "object"}


def openapi_doc(spec: ModelSpec, base_url: str) -> dict[str, Any]:
    """A compact OpenAPI 3.0 document in the shape of fal's per-model queue spec."""
    status = {"type": "object", "required": ["status", "request_id"],
              "properties": {"status": {"type": "string", "enum": ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]},
                             "request_id": {"type": "string"}, "response_url": {"type": "string"},
                             "status_url": {"type": "string"}, "cancel_url": {"type": "string"},
                             "queue_position": {"type": "integer"}, "logs": {"type": "array"},
                             "metrics": {"type": "object"}}}
    ref = {"$ref": "#/components/schemas/QueueStatus"}
    req = {"/requests/{request_id}/status": "get", "/requests/{request_id}/cancel": "put",
           "/requests/{request_id}": "get"}
    paths: dict[str, Any] = {f"/{spec.endpoint_id}": {"post": {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Input"}}}},
        "responses": {"200": {"description": "Queued", "content": {"application/json": {"schema": ref}}}}}}}
    for suffix, method in req.items():
        schema = {"$ref": "#/components/schemas/Output"} if suffix == "/requests/{request_id}" else ref
        paths[f"/{spec.app_id}{suffix}"] = {method: {
            "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}}}
    return {"openapi": "3.0.4",
            "info": {"title": spec.display_name, "version": "1.0.0",
                     "x-fal-metadata": {"endpointId": spec.endpoint_id, "category": spec.category}},
            "servers": [{"url": base_url}], "paths": paths,
            "components": {"schemas": {"Input": _input_schema(spec), "Output": _output_schema(spec),
                                       "QueueStatus": status}}}


def _entry(spec: ModelSpec, base_url: str, expand: list[str]) -> dict[str, Any]:
    colour = hashlib.sha256(spec.endpoint_id.encode()).hexdigest()[:6]
    entry: dict[str, Any] = {"endpoint_id": spec.endpoint_id, "metadata": {
        "display_name": spec.display_name, "category": spec.category, "description": spec.description,
        "status": spec.status, "tags": list(spec.tags), "updated_at": FIXED_DATE, "is_favorited": None,
        "thumbnail_url": f"{base_url}/cdn/images/64x64/{colour}.png",
        "model_url": f"https://fal.ai/models/{spec.endpoint_id}", "date": FIXED_DATE,
        "highlighted": False, "pinned": False, "kind": "inference", "license_type": "commercial",
        "group": {"key": spec.app_id, "label": spec.display_name}}}
    if "openapi-3.0" in expand:
        entry["openapi"] = openapi_doc(spec, base_url)
    if "enterprise_status" in expand:
        entry["enterprise_status"] = "ready" if spec.status == "active" else "pending"
    return entry


class PlatformAPI:
    def __init__(self, catalogue: Catalogue, base_url: Callable[[], str], keys: Keys) -> None:
        self._catalogue, self._base_url, self._keys = catalogue, base_url, keys

    def models(self, req: Request) -> Response:
        denied = self._keys.platform(req, optional=True)
        if denied:
            return denied
        ids, expand = multi(req, "endpoint_id"), multi(req, "expand")
        if len(ids) > MAX_IDS:
            return _bad(f"endpoint_id accepts 1 to {MAX_IDS} ids, got {len(ids)}")
        bad = [e for e in expand if e not in EXPANDS]
        if bad:
            return _bad(f"Unknown expand value(s) {bad}; allowed {list(EXPANDS)}")
        status, category, q = req.arg("status"), req.arg("category"), (req.arg("q") or "").strip().lower()
        if status not in (None, "", "active", "deprecated"):
            return _bad("status must be 'active' or 'deprecated'")
        limit = params.limit(req, DEFAULT_LIMIT, MAX_LIMIT)
        page = params.page(req)

        specs = self._catalogue.all()
        if ids:
            by_id = {s.endpoint_id: s for s in specs}
            specs = [by_id[i] for i in dict.fromkeys(ids) if i in by_id]
            if not specs:
                return platform_error(404, "not_found", "No model found for the given endpoint_id")
        if status:
            specs = [s for s in specs if s.status == status]
        if category:
            specs = [s for s in specs if s.category == category]
        if q:
            specs = [s for s in specs if q in " ".join((s.endpoint_id, s.display_name, s.description,
                                                        s.category, *s.tags)).lower()]
        start = (page - 1) * limit
        chunk, has_more = specs[start:start + limit], start + limit < len(specs)
        base = self._base_url()
        return json_response(200, {"models": [_entry(s, base, expand) for s in chunk],
                                   "next_cursor": cursor_for(page + 1) if has_more else None,
                                   "has_more": has_more})

    def pricing(self, req: Request) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        ids = list(dict.fromkeys(multi(req, "endpoint_id")))
        if not ids:
            return _bad("endpoint_id is required")
        if len(ids) > MAX_IDS:
            return _bad(f"endpoint_id accepts 1 to {MAX_IDS} ids, got {len(ids)}")
        prices = []
        for endpoint_id in ids:
            spec = self._catalogue.get(endpoint_id)
            if spec is None:
                return platform_error(404, "not_found", f"Endpoint not found: {endpoint_id}")
            prices.append({"endpoint_id": endpoint_id, "unit_price": spec.unit_price, "unit": spec.unit,
                           "currency": "USD"})
        return json_response(200, {"prices": prices, "next_cursor": None, "has_more": False})

    def estimate(self, req: Request) -> Response:
        denied = self._keys.platform(req)
        if denied:
            return denied
        try:
            body = req.json()
        except ValueError:
            return _bad("Request body is not valid JSON")
        if not isinstance(body, dict):
            return _bad("Request body must be a JSON object")
        kind, endpoints = body.get("estimate_type"), body.get("endpoints")
        field_names: dict[Any, str] = {"historical_api_price": "call_quantity", "unit_price": "unit_quantity"}
        field_name = field_names.get(kind)
        if field_name is None:
            return _bad("estimate_type must be 'historical_api_price' or 'unit_price'")
        if set(body) - {"estimate_type", "endpoints"}:
            return _bad(f"Unknown field(s) {sorted(set(body) - {'estimate_type', 'endpoints'})}")
        if not isinstance(endpoints, dict) or not 1 <= len(endpoints) <= MAX_IDS:
            return _bad(f"endpoints must be an object of 1 to {MAX_IDS} endpoint ids")
        total = 0.0
        for endpoint_id, quantity in endpoints.items():
            if not isinstance(quantity, dict) or set(quantity) != {field_name}:
                return _bad(f"endpoints[{endpoint_id!r}] must be {{{field_name!r}: ...}}")
            value = quantity[field_name]
            if kind == "historical_api_price":
                if type(value) is not int or value < 1:
                    return _bad(f"endpoints[{endpoint_id!r}].call_quantity must be an integer >= 1")
            elif (type(value) not in (int, float) or not math.isfinite(value) or value < 1e-6):
                return _bad(f"endpoints[{endpoint_id!r}].unit_quantity must be a number >= 0.000001")
            spec = self._catalogue.get(endpoint_id)
            if spec is None:
                return platform_error(404, "not_found", f"Endpoint not found: {endpoint_id}")
            total += value * spec.unit_price
        return json_response(200, {"estimate_type": kind, "total_cost": round(total, 6), "currency": "USD"})
