"""Webhooks end to end: submit with ``webhook_url`` pointing at a real
local receiver, let the emulator deliver a signed POST, then verify the raw headers and body
with the ``verify_webhook`` action (JWKS fetched from the emulator) and with the framework
helper ``connector.webhooks.verify_webhook``."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

import connector.webhooks
from connector.webhooks import WebhookVerificationError
from connector.webhooks import verify_webhook as verify_helper

APP = "fal-ai/flux/dev"
JWKS_PATH = "/.well-known/jwks.json"
HELPER_FETCHES: list[str] = []  # the JWKS URLs the helper fetched (counted in setup)


def _jwks_requests(emu) -> list[dict]:
    """The headers of every JWKS request the emulator saw."""
    return [headers for method, target, headers in list(emu.requests_log) if method == "GET" and target.split("?")[0] == JWKS_PATH]


def _jwks_fetches(emu, helper: bool) -> int:
    """How many JWKS fetches the helper made (helper=True), or the Connector (False)."""
    return len(HELPER_FETCHES) if helper else len(_jwks_requests(emu)) - len(HELPER_FETCHES)


def _deliver(emu, conn, receiver, n: int, prompt: str = "a fox") -> tuple[str, dict[str, str], bytes]:
    """Submit one job with a webhook and return (request_id, headers, raw body) of its delivery."""
    out = conn.run("add_request_to_queue", {"app_id": APP, "data": {"prompt": prompt}, "webhook_url": receiver.url})
    assert out["success"], out
    headers, body = receiver.wait(n)[n - 1]
    assert headers["X-Fal-Webhook-Request-Id"] == out["request_id"]
    return out["request_id"], headers, body


@pytest.fixture
def setup(keyed_emu, make_conn, webhook_receiver, monkeypatch):
    # The helper caches JWKS per URL for the process; a later emulator may get an earlier one's
    # port, so each test starts with an empty cache (fetch counts stay exact).
    monkeypatch.setattr(connector.webhooks, "_caches", {})
    fetch = connector.webhooks._fetch_jwks
    HELPER_FETCHES.clear()

    def counted(url, timeout):
        HELPER_FETCHES.append(url)
        return fetch(url, timeout)

    monkeypatch.setattr(connector.webhooks, "_fetch_jwks", counted)
    keyed_emu.set_model(APP, queue_seconds=0.02, run_seconds=0.05)
    return keyed_emu, make_conn(keyed_emu), webhook_receiver


def test_delivery_verifies_with_the_action_and_the_helper(setup, check_output):
    emu, conn, receiver = setup
    rid, headers, body = _deliver(emu, conn, receiver, 1)
    job = emu.job(rid)
    assert job.webhook_url == receiver.url
    submit = [t for m, t, _ in list(emu.requests_log) if m == "POST" and t.startswith("/" + APP)]
    assert parse_qs(urlsplit(submit[0]).query)["fal_webhook"] == [receiver.url]

    out = conn.run("verify_webhook", {"headers": headers, "body": body.decode()})
    check_output(conn, "verify_webhook", out)
    assert out["success"] and out["valid"] is True, out
    assert (out["request_id"], out["user_id"]) == (rid, emu.user_id)
    assert abs(out["timestamp"] - time.time()) < 30
    result = conn.run("get_request_response", {"app_id": APP, "request_id": rid})
    assert result["success"], result
    payload = out["payload"]
    assert payload["status"] == "OK" and payload["error"] is None and payload["request_id"] == rid
    assert payload["payload"] == result["data"]  # the delivery carries exactly the result

    # the raw bytes as base64, and header names in any case
    lowered = {k.lower(): v for k, v in headers.items()}
    out = conn.run("verify_webhook", {"headers": lowered, "body_base64": base64.b64encode(body).decode()})
    assert out["success"] and out["payload"] == payload, out

    delivery = verify_helper(headers, body, jwks_url=emu.env()["FAL_JWKS_URL"])
    assert delivery == {"request_id": rid, "user_id": emu.user_id, "timestamp": out["timestamp"], "payload": payload}

    # the JWKS is public: fetched once by each verifier, and never with the API key, although
    # the emulator serves it from the same origin as the queue (a keyed origin)
    fetches = _jwks_requests(emu)
    assert _jwks_fetches(emu, helper=False) == 1 and _jwks_fetches(emu, helper=True) == 1
    assert all("Authorization" not in h for h in fetches)
    assert any(h.get("Authorization") == f"Key {emu.api_key}" for _, _, h in list(emu.requests_log))


def test_failed_job_delivery_verifies_and_carries_the_error(setup):
    _, conn, receiver = setup
    out = conn.run("add_request_to_queue", {"app_id": "fal-ai/always-fails", "data": {}, "webhook_url": receiver.url})
    headers, body = receiver.wait(1)[0]
    verified = conn.run("verify_webhook", {"headers": headers, "body": body.decode()})
    assert verified["success"] and verified["request_id"] == out["request_id"], verified
    assert verified["payload"]["status"] == "ERROR" and verified["payload"]["error"] == "Invalid status code: 422"
    assert verified["payload"]["payload"]["detail"][0]["type"] == "value_error.always_fails"


def _tampered(emu, rid, headers, body):
    return headers, body.replace(b'"a fox"', b'"a cat"')


def _stale(emu, rid, headers, body):
    return emu.sign_webhook(body, rid, timestamp=int(time.time()) - 3600), body


def _future(emu, rid, headers, body):
    return emu.sign_webhook(body, rid, timestamp=int(time.time()) + 3600), body


def _missing(emu, rid, headers, body):
    return {k: v for k, v in headers.items() if k != "X-Fal-Webhook-Signature"}, body


def _malformed_hex(emu, rid, headers, body):
    return {**headers, "X-Fal-Webhook-Signature": "zz" * 64}, body


def _short_signature(emu, rid, headers, body):
    return {**headers, "X-Fal-Webhook-Signature": headers["X-Fal-Webhook-Signature"][:64]}, body


def _other_request(emu, rid, headers, body):
    return {**headers, "X-Fal-Webhook-Request-Id": "another-request"}, body


def _other_timestamp(emu, rid, headers, body):  # a replay with a fresh timestamp but the old signature
    return {**headers, "X-Fal-Webhook-Timestamp": str(int(headers["X-Fal-Webhook-Timestamp"]) + 1)}, body


@pytest.mark.parametrize(
    "forge, reason",
    [
        (_tampered, "signature does not verify"),
        (_stale, "tolerance"),
        (_future, "tolerance"),
        (_missing, "missing header X-Fal-Webhook-Signature"),
        (_malformed_hex, "not valid hex"),
        (_short_signature, "64"),
        (_other_request, "signature does not verify"),
        (_other_timestamp, "signature does not verify"),
    ],
)
def test_forged_or_stale_deliveries_are_signature_invalid(setup, check_output, forge, reason):
    emu, conn, receiver = setup
    rid, headers, body = _deliver(emu, conn, receiver, 1)
    assert conn.run("verify_webhook", {"headers": headers, "body": body.decode()})["valid"] is True
    bad_headers, bad_body = forge(emu, rid, headers, body)
    out = conn.run("verify_webhook", {"headers": bad_headers, "body": bad_body.decode()})
    check_output(conn, "verify_webhook", out)
    assert not out["success"] and out["valid"] is False, out
    assert out["failure"]["type"] == "signature_invalid" and out["failure"]["retryable"] is False
    assert reason in out["error"] and out["payload"] is None
    with pytest.raises(WebhookVerificationError) as caught:
        verify_helper(bad_headers, bad_body, jwks_url=emu.env()["FAL_JWKS_URL"])
    assert reason in caught.value.reason


def test_tolerance_seconds_is_honoured(setup):
    emu, conn, _ = setup
    body = json.dumps({"request_id": "r", "status": "OK", "payload": {}}).encode()
    old = emu.sign_webhook(body, "r", timestamp=int(time.time()) - 600)
    assert conn.run("verify_webhook", {"headers": old, "body": body.decode()})["failure"]["type"] == "signature_invalid"
    assert conn.run("verify_webhook", {"headers": old, "body": body.decode(), "tolerance_seconds": 900})["valid"] is True
    assert verify_helper(old, body, jwks_url=emu.env()["FAL_JWKS_URL"], tolerance_seconds=900)["request_id"] == "r"


def test_key_rotation_refetches_the_jwks_once(setup):
    emu, conn, receiver = setup
    jwks_url = emu.env()["FAL_JWKS_URL"]
    rid_a, headers_a, body_a = _deliver(emu, conn, receiver, 1, prompt="first")
    assert conn.run("verify_webhook", {"headers": headers_a, "body": body_a.decode()})["valid"] is True
    assert verify_helper(headers_a, body_a, jwks_url=jwks_url)["request_id"] == rid_a
    assert conn.run("verify_webhook", {"headers": headers_a, "body": body_a.decode()})["valid"] is True
    assert _jwks_fetches(emu, helper=False) == 1  # cached

    old_keys = emu.jwks()["keys"]
    emu.rotate_key(keep_old=False)
    assert emu.jwks()["keys"][0]["x"] != old_keys[0]["x"] and len(emu.jwks()["keys"]) == 1
    rid_b, headers_b, body_b = _deliver(emu, conn, receiver, 2, prompt="second")
    out = conn.run("verify_webhook", {"headers": headers_b, "body": body_b.decode()})
    assert out["success"] and out["request_id"] == rid_b, out
    assert _jwks_fetches(emu, helper=False) == 2  # the cached set failed: fetched once more
    assert conn.run("verify_webhook", {"headers": headers_b, "body": body_b.decode()})["valid"] is True
    assert _jwks_fetches(emu, helper=False) == 2  # and cached again

    assert verify_helper(headers_b, body_b, jwks_url=jwks_url)["request_id"] == rid_b
    assert _jwks_fetches(emu, helper=True) == 2
    assert all("Authorization" not in h for h in _jwks_requests(emu))

    # the old key is gone from the JWKS: the first delivery no longer verifies
    out = conn.run("verify_webhook", {"headers": headers_a, "body": body_a.decode()})
    assert out["failure"]["type"] == "signature_invalid", out


def test_rotation_keeping_the_old_key_verifies_both_without_refetch(setup):
    emu, conn, receiver = setup
    _, headers_a, body_a = _deliver(emu, conn, receiver, 1, prompt="first")
    emu.rotate_key(keep_old=True)
    assert conn.run("verify_webhook", {"headers": headers_a, "body": body_a.decode()})["valid"] is True
    _, headers_b, body_b = _deliver(emu, conn, receiver, 2, prompt="second")
    assert conn.run("verify_webhook", {"headers": headers_b, "body": body_b.decode()})["valid"] is True
    assert _jwks_fetches(emu, helper=False) == 1  # both keys were in the first set
