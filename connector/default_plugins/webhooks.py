"""Webhooks: the signing keys, and verifying a delivery with them.

The JWKS is public: it never gets the API key.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from connector.errors import ActionError, InvalidInputError
from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions
from connector.models import Action
from connector.validation import json_type


def fetch_jwks(ctx: Any) -> dict[str, Any]:
    response = ctx.request("GET", ctx.config.jwks_url, auth=False)
    body: dict[str, Any] = ctx.require_fields(ctx.json(response, "jwks"), "jwks", "keys")
    if not isinstance(body["keys"], list):
        # A null or numeric "keys" is no key set: refused here, so verify_webhook reports it too.
        raise ActionError("invalid_response", f"jwks: fal's answer has 'keys' of type {json_type(body['keys'])}, expected a list of keys",
                          retryable=True)
    return body


def get_jwks(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    return {"keys": fetch_jwks(ctx)["keys"]}


def verify_webhook(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if "body_base64" in inputs:
        try:
            body = base64.b64decode(inputs["body_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError("body_base64", "is not valid base64") from None
    else:
        body = inputs["body"].encode("utf-8")
    from connector.fal.webhook import JwksCache, jwks_source, verify_delivery  # here: only a verification needs it (start-up time)

    keys = jwks_source(inputs.get("jwks"), ctx.connector.state("jwks", JwksCache), lambda: fetch_jwks(ctx))
    delivery = verify_delivery(inputs["headers"], body, keys, tolerance=float(inputs.get("tolerance_seconds", 300)))
    return {"valid": True, **delivery.as_dict()}


HANDLERS = {"get_jwks": get_jwks, "verify_webhook": verify_webhook}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
