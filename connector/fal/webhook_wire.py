"""fal's webhook wire format: the names and numbers that signer and verifier agree on.

The one place for them, used by the verifier (``connector.fal.webhook``), the public
``connector.webhooks`` helper, the ``get_jwks`` / ``verify_webhook`` actions and the
emulator's signer. A delivery carries four headers; the signature (hex, Ed25519) is over
``request_id \\n user_id \\n timestamp \\n sha256_hex(raw body)`` with the timestamp exactly
as sent; the keys are the Ed25519 entries of a public JWKS. This module imports nothing.
"""

from __future__ import annotations

import hashlib

REQUEST_ID_HEADER = "X-Fal-Webhook-Request-Id"
USER_ID_HEADER = "X-Fal-Webhook-User-Id"
TIMESTAMP_HEADER = "X-Fal-Webhook-Timestamp"  # Unix time in seconds, as text
SIGNATURE_HEADER = "X-Fal-Webhook-Signature"  # hex of the 64-byte Ed25519 signature
SIGNED_HEADERS = (REQUEST_ID_HEADER, USER_ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)

# The JWKS: {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": <base64url of the raw key>, ...}]}.
# fal sends no key id with a delivery: every Ed25519 key of the set is tried.
DEFAULT_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
JWKS_KEYS = "keys"
KEY_TYPE, OKP = "kty", "OKP"
CURVE, ED25519 = "crv", "Ed25519"
PUBLIC_KEY = "x"

TOLERANCE_SECONDS = 300  # a delivery's timestamp may be this far from now (replay window)
JWKS_MAX_AGE = 24 * 3600  # fal: "do not cache longer than 24 hours"
# A forced re-fetch (no key verified) happens at most this often, so a flood of forged
# deliveries cannot become a flood of requests to fal's JWKS URL.
JWKS_REFRESH_GAP = 30.0


def signed_message(request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes the signature is over (``timestamp`` exactly as the header carries it)."""
    return f"{request_id}\n{user_id}\n{timestamp}\n{hashlib.sha256(body).hexdigest()}".encode()
