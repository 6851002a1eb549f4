"""Webhook signing keys (FAL_API.md §8). The JWKS is public: it never gets the API key."""

from __future__ import annotations

from typing import Any

from connector.hookspecs import hookimpl
from connector.manifest import manifest_spec
from connector.models import Action


def get_jwks(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    response = ctx.request("GET", ctx.config.jwks_url, auth=False)
    body = ctx.require_fields(ctx.json(response, "jwks"), "jwks", "keys")
    return {"keys": body["keys"]}


HANDLERS = {"get_jwks": get_jwks}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return [Action(manifest_spec(action_id), handler) for action_id, handler in HANDLERS.items()]
