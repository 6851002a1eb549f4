"""Verifying a fal webhook delivery: the checks, and the JWKS cache they use.

The wire format (headers, signed message, JWKS fields, time windows) is
``connector.fal.webhook_wire``'s; here the hex signature must verify under at least one
Ed25519 key of the set (fal sends no key id). Verification itself is constant-time (it is
Ed25519's own check; nothing compares secrets byte by byte).
"""

from __future__ import annotations

import base64
import binascii
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from connector.errors import ActionError
from connector.fal.webhook_wire import (
    CURVE,
    ED25519,
    JWKS_KEYS,
    JWKS_MAX_AGE,
    JWKS_REFRESH_GAP,
    KEY_TYPE,
    OKP,
    PUBLIC_KEY,
    SIGNATURE_HEADER,
    SIGNED_HEADERS,
    TIMESTAMP_HEADER,
    TOLERANCE_SECONDS,
    signed_message,
)
from connector.strict_json import parse_json

if TYPE_CHECKING:  # cryptography is imported when a signature is checked, not by every run
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HEADERS = tuple(name.lower() for name in SIGNED_HEADERS)  # as looked up in a delivery's headers


class WebhookVerificationError(ActionError):
    """A delivery that is not provably from fal; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__("signature_invalid", f"webhook not verified: {reason}", partial={"valid": False})
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    request_id: str
    user_id: str
    timestamp: int
    payload: Any = None  # the parsed JSON body (once the signature verified), or None when not JSON

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "user_id": self.user_id, "timestamp": self.timestamp, "payload": self.payload}


def public_keys(jwks: Any) -> list[Ed25519PublicKey]:
    """The Ed25519 keys of a JWKS; other kinds and malformed entries are skipped."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    keys = []
    entries = jwks.get(JWKS_KEYS) if isinstance(jwks, dict) else None
    for entry in entries if isinstance(entries, list) else []:  # a null or numeric "keys" holds none
        if not isinstance(entry, dict) or entry.get(KEY_TYPE, OKP) != OKP or entry.get(CURVE, ED25519) != ED25519:
            continue
        x = entry.get(PUBLIC_KEY)
        if not isinstance(x, str):
            continue
        try:
            raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
        except (ValueError, binascii.Error):
            continue
    return keys


def check_delivery(headers: Mapping[str, str], body: bytes, *, now: float | None = None, tolerance: float = TOLERANCE_SECONDS) -> tuple[bytes, bytes, Delivery]:
    """Check headers and timestamp; return (message, signature, delivery) to verify (the
    delivery without its payload: a body is parsed only once its signature verified)."""
    lowered = {str(k).lower(): v for k, v in headers.items()}
    missing = [name for name in HEADERS if not isinstance(lowered.get(name), str) or not lowered[name]]
    if missing:
        raise WebhookVerificationError(f"missing header {', '.join(SIGNED_HEADERS[HEADERS.index(m)] for m in missing)}")
    request_id, user_id, stamp, signature_hex = (lowered[name] for name in HEADERS)
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} {stamp[:40]!r} is not a Unix time in seconds") from None
    try:
        skew = abs((time.time() if now is None else now) - timestamp)
    except OverflowError:  # a timestamp of thousands of digits: no float holds it
        skew = math.inf
    if not skew <= tolerance:  # written so that a NaN tolerance refuses, never accepts
        raise WebhookVerificationError(f"timestamp is {skew:.0f} s away from now, outside the ±{tolerance:g} s tolerance (stale or replayed)")
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER} is not valid hex") from None
    if len(signature) != 64:
        raise WebhookVerificationError(f"{SIGNATURE_HEADER} has {len(signature)} bytes, an Ed25519 signature has 64")
    return signed_message(request_id, user_id, stamp, body), signature, Delivery(request_id, user_id, timestamp)


def _with_payload(delivery: Delivery, body: bytes) -> Delivery:
    try:
        payload = parse_json(body) if body else None  # bounded depth: no RecursionError
    except (ValueError, UnicodeDecodeError):
        payload = None
    return replace(delivery, payload=payload)


def signed_by_any(keys: list[Ed25519PublicKey], message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def verify_delivery(
    headers: Mapping[str, str],
    body: bytes,
    fetch_jwks: Callable[[bool], Any],
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Delivery:
    """Verify one delivery. ``fetch_jwks(force)`` returns the key set; it is asked again with
    ``force=True`` once when no cached key verifies, to follow a key rotation."""
    message, signature, delivery = check_delivery(headers, body, now=now, tolerance=tolerance)
    keys = public_keys(fetch_jwks(False))
    if signed_by_any(keys, message, signature):
        return _with_payload(delivery, body)
    refreshed = public_keys(fetch_jwks(True))
    if refreshed != keys and signed_by_any(refreshed, message, signature):
        return _with_payload(delivery, body)
    raise WebhookVerificationError("the signature does not verify under any key of fal's JWKS" if refreshed else "the JWKS holds no Ed25519 key")


def jwks_source(given: Any, cache: JwksCache, fetch: Callable[[], Any]) -> Callable[[bool], Any]:
    """The ``fetch_jwks(force)`` of ``verify_delivery``: the key set the caller gave, else the
    cached one (``fetch`` fills the cache)."""
    return lambda force: given if given is not None else cache.get(fetch, force)


class JwksCache:
    """The JWKS, kept at most 24 h, re-fetched on demand; shared by a Connector's threads."""

    def __init__(self, max_age: float = JWKS_MAX_AGE, refresh_gap: float = JWKS_REFRESH_GAP) -> None:
        self.max_age = max_age
        self.refresh_gap = refresh_gap
        self._lock = threading.Lock()
        self._jwks: Any = None
        self._fetched_at = 0.0
        self._forced_at: float | None = None

    def get(self, fetch: Callable[[], Any], force: bool = False) -> Any:
        with self._lock:
            now = time.monotonic()
            fresh = self._jwks is not None and now - self._fetched_at < self.max_age
            if force and fresh and self._forced_at is not None and now - self._forced_at < self.refresh_gap:
                force = False  # re-fetched moments ago: the keys cannot have rotated again
            if force or not fresh:
                self._jwks = fetch()
                self._fetched_at = time.monotonic()
                if force:
                    self._forced_at = self._fetched_at
            return self._jwks

