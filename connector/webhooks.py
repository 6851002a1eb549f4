"""Verify fal webhooks in any web framework: a plain function of the headers and raw body.

    from connector.webhooks import verify_webhook, WebhookVerificationError

    def receive(request):                       # Flask, Django, FastAPI, ... alike
        try:
            delivery = verify_webhook(request.headers, request.get_data())   # raw bytes
        except WebhookVerificationError as exc:
            return "forbidden: " + exc.reason, 403
        handle(delivery["request_id"], delivery["payload"])      # idempotent on request_id
        return "", 204

The JWKS is fetched without the API key and kept at most 24 hours per URL; when no key
verifies, it is fetched once more to follow a key rotation. It is fetched by the ``get_jwks``
action (a Connector per URL that reads no settings from the environment), so the fetch has what
every action has: one deadline over the whole of it (``timeout`` seconds, retries included), a
size cap on the answer, no redirects and no key. A key set that cannot be fetched is a
``WebhookVerificationError`` too: the delivery cannot be trusted (fal retries it later).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connector.fal.webhook import JwksCache, WebhookVerificationError, jwks_source, verify_delivery
from connector.fal.webhook_wire import DEFAULT_JWKS_URL, TOLERANCE_SECONDS

if TYPE_CHECKING:
    from connector.runner import Connector

_caches: dict[str, JwksCache] = {}

__all__ = ["WebhookVerificationError", "verify_webhook"]


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    jwks: Mapping[str, Any] | None = None,
    jwks_url: str | None = None,
    tolerance_seconds: float = TOLERANCE_SECONDS,
    timeout: float = 10,
) -> dict[str, Any]:
    """Return ``{request_id, user_id, timestamp, payload}`` of a genuine delivery, or raise
    ``WebhookVerificationError`` (``.reason`` says which check failed)."""
    url = jwks_url or os.environ.get("FAL_JWKS_URL") or DEFAULT_JWKS_URL
    cache = _caches.setdefault(url, JwksCache())

    return verify_delivery(headers, body, jwks_source(jwks, cache, lambda: _fetch_jwks(url, timeout)),
                           tolerance=tolerance_seconds).as_dict()


@functools.cache
def _connector(url: str, timeout: float) -> Connector:
    """The Connector that fetches the key set at ``url`` (one per URL and timeout, for the process)."""
    from connector.runner import Connector  # here: a verification with a given key set sends nothing

    return Connector(jwks_url=url, timeout=timeout, retry_deadline=timeout, environ={})


def _fetch_jwks(url: str, timeout: float) -> dict[str, Any]:
    out = _connector(url, timeout).run("get_jwks", {})
    if not out["success"]:
        raise WebhookVerificationError(f"fal's JWKS could not be fetched: {out['error']}")
    return {"keys": out["keys"]}
