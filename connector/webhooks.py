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
verifies, it is fetched once more to follow a key rotation.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from connector.fal.webhook import JwksCache, WebhookVerificationError, jwks_source, verify_delivery
from connector.fal.webhook_wire import DEFAULT_JWKS_URL, TOLERANCE_SECONDS
from connector.strict_json import parse_json

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

    def fetch() -> Any:
        response = requests.get(url, timeout=(min(5, timeout), timeout), allow_redirects=False)
        response.raise_for_status()
        return parse_json(response.content)

    return verify_delivery(headers, body, jwks_source(jwks, cache, fetch), tolerance=tolerance_seconds).as_dict()
