"""JWKS and signed webhook deliveries as fal's, verified independently with
``cryptography`` against the served JWKS."""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from emu_helpers import poll

from connector.emulator import Emulator


def _public_keys(jwks: dict) -> list[Ed25519PublicKey]:
    keys = []
    for k in jwks["keys"]:
        assert (k["kty"], k["crv"]) == ("OKP", "Ed25519")
        assert "=" not in k["x"]
        raw = base64.urlsafe_b64decode(k["x"] + "=" * (-len(k["x"]) % 4))
        assert len(raw) == 32
        keys.append(Ed25519PublicKey.from_public_bytes(raw))
    return keys


def verify(jwks: dict, headers: dict, body: bytes) -> bool:
    """fal's documented check: message = request_id, user_id, timestamp, sha256(body) joined by
    newlines; hex signature; valid if any JWKS key verifies."""
    h = {k.lower(): v for k, v in headers.items()}
    message = "\n".join([h["x-fal-webhook-request-id"], h["x-fal-webhook-user-id"],
                         h["x-fal-webhook-timestamp"], hashlib.sha256(body).hexdigest()]).encode()
    signature = bytes.fromhex(h["x-fal-webhook-signature"])
    assert len(signature) == 64
    for key in _public_keys(jwks):
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            pass
    return False


def test_jwks_served_without_auth(keyed_emu, http):
    r = http.get(f"{keyed_emu.url}/.well-known/jwks.json")
    assert r.status_code == 200
    assert r.json() == keyed_emu.jwks()
    (key,) = r.json()["keys"]
    assert key["kid"] and _public_keys(r.json())


def test_webhook_delivered_and_verifies(emu, http, submit, receiver):
    job = submit("fal-ai/fast-sdxl", {"prompt": "hook"}, params={"fal_webhook": receiver.url})
    poll(lambda: receiver.received, timeout=5)
    (got,) = receiver.received
    body = json.loads(got["body"])
    assert body["request_id"] == job["request_id"]
    assert body["gateway_request_id"] and body["status"] == "OK" and body["error"] is None
    assert body["payload"] == http.get(job["response_url"]).json()
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert headers["x-fal-webhook-request-id"] == job["request_id"]
    assert headers["x-fal-webhook-user-id"] == "emulator-user"
    assert abs(int(headers["x-fal-webhook-timestamp"]) - time.time()) < 5
    assert headers["content-type"] == "application/json"
    jwks = http.get(f"{emu.url}/.well-known/jwks.json").json()
    assert verify(jwks, got["headers"], got["body"])
    assert not verify(jwks, got["headers"], got["body"] + b" ")  # raw bytes are what is signed
    # the delivery happens when the job completes, not before
    assert emu.job(job["request_id"]).state == "COMPLETED"
    poll(lambda: emu.webhook_deliveries)
    assert len(emu.webhook_deliveries) == 1
    assert emu.webhook_deliveries[0]["status_code"] == 200 and emu.webhook_deliveries[0]["attempt"] == 1


def test_webhook_for_failed_job_is_error(emu, submit, receiver):
    submit("fal-ai/fast-sdxl", {}, params={"fal_webhook": receiver.url})
    poll(lambda: receiver.received)
    body = json.loads(receiver.received[0]["body"])
    assert body["status"] == "ERROR"
    assert body["error"] == "Invalid status code: 422"
    assert body["payload"] == {"detail": [{"loc": ["body", "prompt"], "msg": "field required",
                                           "type": "value_error.missing"}]}


def test_webhook_for_cancelled_job(emu, http, submit, receiver):
    job = submit("fal-ai/slow", {}, params={"fal_webhook": receiver.url})
    assert http.put(job["cancel_url"]).status_code == 200
    poll(lambda: receiver.received, timeout=2)
    body = json.loads(receiver.received[0]["body"])
    assert body["status"] == "ERROR" and body["payload"]["error_type"] == "client_cancelled"


def test_webhook_retries_on_failure(emu, submit, receiver):
    receiver.codes[:] = [500, 503]
    submit("fal-ai/echo", {}, params={"fal_webhook": receiver.url})
    poll(lambda: len(emu.webhook_deliveries) == 3, timeout=5)  # recorded after each answer
    deliveries = emu.webhook_deliveries
    assert [d["status_code"] for d in deliveries] == [500, 503, 200]
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert all(d["url"] == receiver.url for d in deliveries)
    time.sleep(0.15)  # no further attempts after a 2xx
    assert len(receiver.received) == 3


def test_webhook_gives_up_after_configured_retries():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"
    s.close()  # nothing listens there now: connection refused
    with Emulator(webhook_retries=2, webhook_retry_delay=0.02) as emu:
        import requests
        requests.post(f"{emu.url}/fal-ai/echo", json={}, params={"fal_webhook": dead})
        poll(lambda: len(emu.webhook_deliveries) == 3, timeout=5)
        time.sleep(0.1)
        deliveries = emu.webhook_deliveries
        assert len(deliveries) == 3
        assert all(d["status_code"] is None and d["error"] for d in deliveries)


def test_sign_webhook_matches_documented_format(emu, http):
    body = b'{"status": "OK"}'
    headers = emu.sign_webhook(body, "req-1", user_id="user-9", timestamp=1700000000)
    assert set(headers) == {"X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp",
                            "X-Fal-Webhook-Signature"}
    assert headers["X-Fal-Webhook-Timestamp"] == "1700000000"
    assert verify(emu.jwks(), headers, body)
    (key,) = _public_keys(emu.jwks())
    message = b"req-1\nuser-9\n1700000000\n" + hashlib.sha256(body).hexdigest().encode()
    key.verify(bytes.fromhex(headers["X-Fal-Webhook-Signature"]), message)  # raises if wrong
    assert int(emu.sign_webhook(body, "r")["X-Fal-Webhook-Timestamp"]) == pytest.approx(time.time(), abs=5)


def test_key_rotation_keep_old_and_drop_old(emu, http):
    body = b"{}"
    old_headers = emu.sign_webhook(body, "r1")
    old_kid = emu.jwks()["keys"][0]["kid"]
    new_kid = emu.rotate_key(keep_old=True)
    jwks = http.get(f"{emu.url}/.well-known/jwks.json").json()
    assert [k["kid"] for k in jwks["keys"]] == [old_kid, new_kid]
    new_headers = emu.sign_webhook(body, "r1")
    assert new_headers["X-Fal-Webhook-Signature"] != old_headers["X-Fal-Webhook-Signature"]
    assert verify(jwks, old_headers, body) and verify(jwks, new_headers, body)
    emu.rotate_key(keep_old=False)
    jwks = http.get(f"{emu.url}/.well-known/jwks.json").json()
    assert len(jwks["keys"]) == 1
    assert not verify(jwks, old_headers, body) and not verify(jwks, new_headers, body)
    assert verify(jwks, emu.sign_webhook(body, "r1"), body)


def test_bad_webhook_url_is_400(emu, http):
    r = http.post(f"{emu.url}/fal-ai/echo", json={}, params={"fal_webhook": "ftp://x"})
    assert r.status_code == 400
