"""The Platform API actions: models, pricing, pricing estimate."""

from __future__ import annotations

from typing import Any

from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions
from connector.models import Action

# fal accepts list parameters repeated (?endpoint_id=a&endpoint_id=b); requests sends lists so.
_MODEL_PARAMS = ("endpoint_id", "q", "category", "status", "limit", "cursor", "expand")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def get_models(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    params = [(name, str(item)) for name in _MODEL_PARAMS if name in inputs for item in _as_list(inputs[name])]
    response = ctx.request("GET", ctx.url("api", "/models"), params=params or None)  # the key only raises limits
    body = ctx.require_fields(ctx.json(response, "models"), "models", "models")
    return {"models": body["models"], "next_cursor": body.get("next_cursor"), "has_more": body.get("has_more")}


def get_pricing(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    ctx.require_key()
    params = [("endpoint_id", item) for item in _as_list(inputs["endpoint_id"])]
    response = ctx.request("GET", ctx.url("api", "/models/pricing"), params=params)
    body = ctx.require_fields(ctx.json(response, "pricing"), "pricing", "prices")
    return {"prices": body["prices"], "next_cursor": body.get("next_cursor"), "has_more": body.get("has_more")}


def estimate_pricing(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    ctx.require_key()
    payload = {"estimate_type": inputs["estimate_type"], "endpoints": inputs["endpoints"]}
    # A POST, but a read: estimating twice costs nothing, so it retries like one.
    response = ctx.request("POST", ctx.url("api", "/models/pricing/estimate"), json=payload, retry_class="read")
    body = ctx.require_fields(ctx.json(response, "estimate"), "estimate", "total_cost")
    return {"estimate_type": body.get("estimate_type", inputs["estimate_type"]), "total_cost": body["total_cost"], "currency": body.get("currency")}


HANDLERS = {"get_models": get_models, "get_pricing": get_pricing, "estimate_pricing": estimate_pricing}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
