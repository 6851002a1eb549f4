"""Webhook verification: Ed25519 over fal's message, checked by the
cryptography library (constant-time; the package compares no signature bytes itself), and a
time window that is enforced. Every malformed delivery is a ``WebhookVerificationError`` /
``signature_invalid`` — never another exception.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import math
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import connector
import connector.fal.webhook as webhook_module
from connector import Connector
from connector.webhooks import WebhookVerificationError, verify_webhook

PRIVATE = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def jwks_of(*keys: Ed25519PrivateKey) -> dict[str, Any]:
    def x(key: Ed25519PrivateKey) -> str:
        raw = key.public_key().public_bytes_raw()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x(k), "kid": str(i)} for i, k in enumerate(keys)]}


JWKS = jwks_of(PRIVATE)
BODY = b'{"request_id":"req-1","status":"OK","payload":{"images":[]}}'


def signed(body: bytes = BODY, *, request_id: str = "req-1", user_id: str = "user-1", timestamp: int | None = None,
           key: Ed25519PrivateKey = PRIVATE) -> dict[str, str]:
    """fal's headers, signed as fal documents it (built here, not by the package)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    message = "\n".join([request_id, user_id, stamp, hashlib.sha256(body).hexdigest()]).encode()
    return {
        "X-Fal-Webhook-Request-Id": request_id,
        "X-Fal-Webhook-User-Id": user_id,
        "X-Fal-Webhook-Timestamp": stamp,
        "X-Fal-Webhook-Signature": key.sign(message).hex(),
    }


@pytest.fixture(scope="module")
def conn():
    c = Connector(api_key="wh-key-id:wh-key-secret-0123456789", environ={}, load_entry_points=False,
                  jwks_url="http://127.0.0.1:9/jwks.json", timeout=1, retry_deadline=2, max_retries=0)
    yield c
    c.close()


def action(conn: Connector, headers: dict[str, str], body: bytes, **extra: Any) -> dict[str, Any]:
    return conn.run("verify_webhook", {"headers": headers, "body_base64": base64.b64encode(body).decode(), "jwks": JWKS, **extra})


def test_a_genuine_delivery_verifies(conn):
    headers = signed()
    assert verify_webhook(headers, BODY, jwks=JWKS)["request_id"] == "req-1"
    out = action(conn, headers, BODY)
    assert out["success"] and out["valid"] is True and out["payload"]["status"] == "OK"


@pytest.mark.parametrize("index", [0, 1, 31, 32, 62, 63])
@pytest.mark.parametrize("bit", [0x01, 0x80])
def test_a_signature_differing_in_one_bit_fails(conn, index, bit):
    headers = signed()
    signature = bytearray(bytes.fromhex(headers["X-Fal-Webhook-Signature"]))
    signature[index] ^= bit
    forged = {**headers, "X-Fal-Webhook-Signature": signature.hex()}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(forged, BODY, jwks=JWKS)
    out = action(conn, forged, BODY)
    assert out["success"] is False and out["valid"] is False and out["failure"]["type"] == "signature_invalid"


def test_the_last_byte_alone_is_checked(conn):
    """A comparison that stopped early (or compared a prefix) would accept this."""
    headers = signed()
    signature = bytes.fromhex(headers["X-Fal-Webhook-Signature"])
    forged = {**headers, "X-Fal-Webhook-Signature": (signature[:-1] + bytes([signature[-1] ^ 0xFF])).hex()}
    assert action(conn, forged, BODY)["failure"]["type"] == "signature_invalid"


@pytest.mark.parametrize(
    "change",
    [
        lambda h, b: ({**h, "X-Fal-Webhook-Request-Id": "req-2"}, b),
        lambda h, b: ({**h, "X-Fal-Webhook-User-Id": "user-2"}, b),
        lambda h, b: ({**h, "X-Fal-Webhook-Timestamp": str(int(h["X-Fal-Webhook-Timestamp"]) - 1)}, b),
        lambda h, b: (h, b[:-1] + b" "),
        lambda h, b: (h, b + b"\n"),
        lambda h, b: (h, b""),
        lambda h, b: (signed(b, key=OTHER), b),  # signed, but not by a key of the JWKS
    ],
    ids=["request-id", "user-id", "timestamp", "body-byte", "body-appended", "body-empty", "other-key"],
)
def test_every_signed_part_is_covered(conn, change):
    headers, body = change(signed(), BODY)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, jwks=JWKS)
    assert action(conn, headers, body)["failure"]["type"] == "signature_invalid"


class SpyKey:
    def __init__(self, key: Any, calls: list[tuple[bytes, bytes]]) -> None:
        self.key, self.calls = key, calls

    def verify(self, signature: bytes, message: bytes) -> None:
        self.calls.append((signature, message))
        self.key.verify(signature, message)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpyKey) and other.key == self.key


def test_the_decision_is_ed25519_verify(conn, monkeypatch):
    """The check is cryptography's Ed25519 ``verify`` on the exact signature bytes and fal's
    message — the library's constant-time check, not a comparison in this package."""
    calls: list[tuple[bytes, bytes]] = []
    real = webhook_module.public_keys
    monkeypatch.setattr(webhook_module, "public_keys", lambda jwks: [SpyKey(k, calls) for k in real(jwks)])
    headers = signed()
    out = action(conn, headers, BODY)
    assert out["success"], out["error"]
    expected = "\n".join([headers["X-Fal-Webhook-Request-Id"], headers["X-Fal-Webhook-User-Id"],
                          headers["X-Fal-Webhook-Timestamp"], hashlib.sha256(BODY).hexdigest()]).encode()
    assert calls == [(bytes.fromhex(headers["X-Fal-Webhook-Signature"]), expected)]
    calls.clear()
    bad = {**headers, "X-Fal-Webhook-Signature": "00" * 64}
    assert action(conn, bad, BODY)["failure"]["type"] == "signature_invalid"
    assert calls and all(sig == bytes(64) for sig, _ in calls)  # refused by verify, not before


def _names(node: ast.AST) -> set[str]:
    """Names a comparison touches, except inside ``len(...)`` (a length is not a secret)."""
    skip = {id(n) for call in ast.walk(node) if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
            and call.func.id == "len" for arg in call.args for n in ast.walk(arg)}
    names = set()
    for sub in ast.walk(node):
        if id(sub) in skip:
            continue
        if isinstance(sub, ast.Name):
            names.add(sub.id.lower())
        elif isinstance(sub, ast.Attribute):
            names.add(sub.attr.lower())
    return names


def test_no_signature_or_digest_is_compared_with_an_operator():
    """Static: in the webhook code no ``==``/``!=``/``in`` touches a signature, message or
    digest (a byte-by-byte comparison would leak timing)."""
    root = Path(connector.__file__).parent
    offences = []
    for rel in ("fal/webhook.py", "webhooks.py", "default_plugins/webhooks.py"):
        tree = ast.parse((root / rel).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                touched = {n for n in _names(node) if any(w in n for w in ("sig", "digest", "message", "mac"))}
                if touched:
                    offences.append(f"{rel}:{node.lineno} compares {sorted(touched)}")
    assert not offences, offences


# -- the time window --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "tolerance", "ok"),
    [(0, 300, True), (-290, 300, True), (290, 300, True), (-310, 300, False), (310, 300, False),
     (-86400, 300, False), (-50, 60, True), (-70, 60, False), (-5, 0, False)],
)
def test_the_time_window_is_enforced(conn, offset, tolerance, ok):
    headers = signed(timestamp=int(time.time()) + offset)
    out = action(conn, headers, BODY, tolerance_seconds=tolerance)
    assert out["success"] is ok, out["error"]
    if not ok:
        assert out["failure"]["type"] == "signature_invalid" and "tolerance" in out["error"]
        with pytest.raises(WebhookVerificationError, match="tolerance"):
            verify_webhook(headers, BODY, jwks=JWKS, tolerance_seconds=tolerance)


def test_the_window_is_checked_before_any_key_is_fetched(monkeypatch):
    """A stale delivery is refused without asking fal's JWKS (no request to amplify)."""
    fetched = []
    monkeypatch.setattr(webhook_module, "public_keys", lambda jwks: fetched.append(jwks) or [])
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        webhook_module.verify_delivery(signed(timestamp=1), BODY, lambda force: fetched.append(force) or JWKS)
    assert fetched == []


def test_a_nan_tolerance_refuses_everything():
    """Library callers can pass any float: NaN must not switch the window off (the action
    refuses NaN and infinity as input already)."""
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(signed(), BODY, jwks=JWKS, tolerance_seconds=math.nan)


@pytest.mark.parametrize("tolerance", [math.nan, math.inf, -math.inf])
def test_the_action_refuses_non_finite_tolerances(conn, tolerance):
    out = action(conn, signed(timestamp=1), BODY, tolerance_seconds=tolerance)
    assert out["failure"]["type"] == "invalid_input" and "tolerance_seconds" in out["error"]


# -- malformed deliveries are refusals, never crashes -----------------------------------------


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, BODY),
        ({**signed(), "X-Fal-Webhook-Signature": "zz" * 64}, BODY),
        ({**signed(), "X-Fal-Webhook-Signature": "00" * 63}, BODY),
        ({**signed(), "X-Fal-Webhook-Signature": ""}, BODY),
        ({**signed(), "X-Fal-Webhook-Timestamp": "9" * 5000}, BODY),
        ({**signed(), "X-Fal-Webhook-Timestamp": "-" + "9" * 400}, BODY),
        ({**signed(), "X-Fal-Webhook-Timestamp": "1e9"}, BODY),
        ({**signed(), "X-Fal-Webhook-Timestamp": "nan"}, BODY),
        (signed(), b"[" * 100_000),  # parsed before the signature check: must not crash
        (signed(b"\xff\xfe\x00"), b"\xff\xfe\x00garbage"),
    ],
    ids=["no-headers", "not-hex", "63-bytes", "empty-signature", "huge-timestamp", "huge-negative", "float-timestamp",
         "nan-timestamp", "deep-body", "binary-body"],
)
def test_malformed_deliveries_are_refused_cleanly(conn, headers, body):
    with pytest.raises(WebhookVerificationError):
        verify_webhook(headers, body, jwks=JWKS)
    out = action(conn, headers, body)
    assert out["success"] is False and out["failure"]["type"] == "signature_invalid", out["error"]


def test_a_deeply_nested_but_genuine_body_verifies_without_crashing(conn):
    body = b"[" * 100_000 + b"]" * 100_000
    out = action(conn, signed(body), body)
    assert out["success"] and out["payload"] is None  # verified; too deep to hand over as JSON


header_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200) | st.sampled_from(["0" * 128, "9" * 5000, ""])


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    headers=st.dictionaries(
        st.sampled_from(["X-Fal-Webhook-Request-Id", "x-fal-webhook-user-id", "X-FAL-WEBHOOK-TIMESTAMP",
                         "X-Fal-Webhook-Signature", "Other"]),
        header_text, max_size=5),
    body=st.binary(max_size=300),
)
def test_arbitrary_deliveries_never_raise_anything_else(conn, headers, body):
    try:
        verify_webhook(headers, body, jwks=JWKS)
    except WebhookVerificationError:
        pass
    else:
        pytest.fail("an unsigned delivery verified")
    out = action(conn, headers, body)
    assert out["success"] is False and out["failure"]["type"] in ("signature_invalid", "invalid_input"), out["error"]
