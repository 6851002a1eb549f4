"""The webhook actions: get_jwks (fal's signing keys) and verify_webhook (a delivery checked with them).

The JWKS is public: it never gets the API key.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from connector.errors import InvalidInputError
from connector.fal.webhook_wire import TOLERANCE_SECONDS
from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions, manifest_operation
from connector.models import Action
from connector.operation import perform
from connector.plugin_state import PerConnector

if TYPE_CHECKING:
    from connector.fal.webhook import JwksCache


def _jwks_cache() -> JwksCache:
    from connector.fal.webhook import JwksCache  # here: only a verification needs it (start-up time)

    return JwksCache()


_JWKS = PerConnector(_jwks_cache)  # this plugin's cached key set, one per Connector


def fetch_jwks(ctx: Any) -> dict[str, Any]:
    """The key set, fetched as get_jwks declares it (a null or numeric "keys" is refused there)."""
    return perform(manifest_operation("get_jwks"), {}, ctx)


def verify_webhook(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    if "body_base64" in inputs:
        try:
            body = base64.b64decode(inputs["body_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError("body_base64", "is not valid base64") from None
    else:
        body = inputs["body"].encode("utf-8")
    from connector.fal.webhook import jwks_source, verify_delivery

    keys = jwks_source(inputs.get("jwks"), _JWKS.get(ctx), lambda: fetch_jwks(ctx))
    delivery = verify_delivery(inputs["headers"], body, keys, tolerance=float(inputs.get("tolerance_seconds", TOLERANCE_SECONDS)))
    return {"valid": True, **delivery.as_dict()}


HANDLERS = {"get_jwks": None, "verify_webhook": verify_webhook}  # None: the generic handler


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
