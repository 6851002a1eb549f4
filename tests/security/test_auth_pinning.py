"""``Authorization`` goes only to the configured hosts: the
origins (scheme, host, port) of the queue, run, api and rest base URLs. Never to the JWKS or
CDN (even on the same origin), never to a URL taken from an answer, never along a redirect,
and not even when a plugin rewrites a request's URL.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest
import responses
from sec_support import Recorder

from connector import Connector, hookimpl
from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "pinning-key-id:pinning-key-secret-0123456789"


@pytest.fixture(scope="module")
def emu():
    e = Emulator(api_key=KEY).start()
    yield e
    e.stop()


@pytest.fixture
def conn(emu):
    emu.faults.clear()
    emu.requests_log.clear()
    c = connector_for(emu, api_key=KEY, timeout=2, retry_deadline=3, backoff_base=0.01, backoff_max=0.02)
    yield c
    c.close()
    emu.faults.clear()
    emu.set_model("fal-ai/echo", queue_seconds=0)


@pytest.fixture
def recorder():
    with Recorder() as r:
        yield r


def completed_job(conn: Connector, data: Any) -> str:
    job = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": data, "timeout": 10})
    assert job["success"], job["error"]
    return job["request_id"]


def test_the_key_goes_to_keyed_hosts_only_even_on_one_origin(emu, conn):
    """The emulator serves every host from one origin: JWKS and CDN requests still carry no
    key (the CDN gets its short-lived token), every queue/run/api/rest request carries it."""
    body = b'{"ok": true}'
    runs = [
        ("subscribe", {"app_id": "fal-ai/echo", "data": {"x": 1}}),
        ("run_model", {"app_id": "fal-ai/echo", "data": {"x": 1}}),
        ("get_models", {}),
        ("get_pricing", {"endpoint_id": "fal-ai/flux/dev"}),
        ("estimate_pricing", {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 1}}}),
        ("get_jwks", {}),
        ("verify_webhook", {"headers": emu.sign_webhook(body, "r"), "body": body.decode()}),
        ("upload_file", {"data_base64": base64.b64encode(b"hi").decode(), "file_name": "a.txt"}),
    ]
    for action, inputs in runs:
        out = conn.run(action, inputs)
        assert out["success"], (action, out["error"])
    seen = {"keyed": 0, "jwks": 0, "cdn": 0}
    for method, target, headers in list(emu.requests_log):
        auth = headers.get("Authorization")
        if target.startswith("/.well-known/jwks.json"):
            seen["jwks"] += 1
            assert auth is None, "the JWKS request carried Authorization"
        elif target.startswith("/cdn/"):
            seen["cdn"] += 1
            assert auth is not None and auth.startswith("Bearer ") and KEY not in auth
        else:
            seen["keyed"] += 1
            assert auth == f"Key {KEY}", (method, target)
    assert all(seen.values()), seen


def test_urls_in_a_submit_answer_are_never_used(emu, conn, recorder):
    """fal's answer names status/response/cancel URLs on another host: subscribe follows and
    fetches the job on the configured queue host (by app_id), and the other host gets
    nothing. The action reports fal's URLs as data only."""
    job = completed_job(conn, {"mine": 1})
    evil = {"request_id": job, "status": "IN_QUEUE", "queue_position": 0, "status_url": f"{recorder.url}/status",
            "response_url": f"{recorder.url}/result", "cancel_url": f"{recorder.url}/cancel"}
    emu.faults.add("submit", status=200, body=evil, times=None)
    out = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": {"ignored": 1}, "timeout": 10})
    assert out["success"], out["error"]
    assert out["request_id"] == job and out["data"] == {"echo": {"mine": 1}}
    submitted = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})
    assert submitted["status_url"] == evil["status_url"]  # reported, not followed
    assert recorder.seen == []


def test_the_deadline_cancel_goes_to_the_configured_host(emu, conn, recorder):
    emu.set_model("fal-ai/echo", queue_seconds=30)
    queued = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {}})
    evil = {"request_id": queued["request_id"], "status_url": f"{recorder.url}/s", "response_url": f"{recorder.url}/r",
            "cancel_url": f"{recorder.url}/c"}
    emu.faults.add("submit", status=200, body=evil, times=None)
    out = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": {}, "timeout": 1})
    assert out["failure"]["type"] == "timeout" and out["cancelled"] is True
    cancels = [t for m, t, _ in list(emu.requests_log) if m == "PUT"]
    assert cancels == [f"/fal-ai/echo/requests/{queued['request_id']}/cancel"]
    assert recorder.seen == []


def test_an_answer_cannot_steer_the_cdn_token_to_the_key(emu, conn, recorder):
    """fal's storage protocol names the upload host in its answer (base_url): that host gets
    the short-lived CDN token, never the API key."""
    token = {"token": "cdn-token-1", "token_type": "Bearer", "base_url": recorder.url,
             "expires_at": "2999-01-01T00:00:00+00:00"}
    emu.faults.add("storage_token", status=200, body=token, times=None)
    out = conn.run("upload_file", {"data_base64": base64.b64encode(b"hello").decode(), "file_name": "a.txt"})
    assert out["success"], out["error"]
    assert recorder.seen and all(e["headers"].get("authorization") == "Bearer cdn-token-1" for e in recorder.seen)
    assert not any(KEY in str(e["headers"]) for e in recorder.seen)


KEYED = [
    ("get_request_status", "status", "job"),
    ("get_request_response", "result", "job"),
    ("cancel_request", "cancel", "job"),
    ("add_request_to_queue", "submit", None),
    ("run_model", "run", None),
    ("get_models", "models", None),
    ("get_pricing", "pricing", None),
    ("estimate_pricing", "estimate", None),
    ("get_jwks", "jwks", None),
    ("upload_file", "storage_token", None),
]


def inputs_for(action: str, job: str) -> dict[str, Any]:
    return {
        "get_request_status": {"app_id": "fal-ai/echo", "request_id": job},
        "get_request_response": {"app_id": "fal-ai/echo", "request_id": job},
        "cancel_request": {"app_id": "fal-ai/echo", "request_id": job},
        "add_request_to_queue": {"app_id": "fal-ai/echo", "data": {}},
        "run_model": {"app_id": "fal-ai/echo", "data": {}},
        "get_models": {},
        "get_pricing": {"endpoint_id": "fal-ai/flux/dev"},
        "estimate_pricing": {"estimate_type": "unit_price", "endpoints": {"fal-ai/flux/dev": {"unit_quantity": 1}}},
        "get_jwks": {},
        "upload_file": {"data_base64": base64.b64encode(b"hi").decode(), "file_name": "a.txt"},
    }[action]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(("action", "route", "_"), KEYED, ids=[k[0] for k in KEYED])
def test_an_off_host_redirect_is_not_followed(emu, conn, recorder, action, route, _, status):
    """The redirect is not followed at all (the other host receives nothing, with or without
    the key): the action fails with ``http_error`` carrying the 3xx, and is not retried."""
    job = "80e732af-660e-45cd-bd63-580e4f2a94cc"
    emu.faults.add(route, status=status, headers={"Location": f"{recorder.url}/steal?from={route}"}, times=None)
    out = conn.run(action, inputs_for(action, job))
    assert recorder.seen == [], recorder.seen
    if action == "upload_file":  # no CDN token: the upload took the storage fallback instead
        return
    failure = out["failure"]
    assert failure["type"] == "http_error" and failure["status_code"] == status, out["error"]
    assert failure["retryable"] is False and failure["attempts"] == 1


def test_a_same_host_redirect_is_not_followed_either(emu, conn):
    emu.faults.add("status", status=307, headers={"Location": "/fal-ai/echo/requests/other/status"}, times=None)
    out = conn.run("get_request_status", {"app_id": "fal-ai/echo", "request_id": "abc"})
    assert out["failure"]["status_code"] == 307
    assert [t for _, t, _ in list(emu.requests_log)] == ["/fal-ai/echo/requests/abc/status"]


class Rewrite:
    """A plugin that points every request somewhere else."""

    def __init__(self, url: str) -> None:
        self.url = url

    @hookimpl
    def prepare_request(self, action: Any, request: Any, context: Any) -> None:
        request.url = self.url


def test_a_plugin_that_rewrites_the_url_cannot_take_the_key_along(emu, recorder):
    """The key is attached last, for the final URL's origin: a rewritten URL gets none."""
    conn = connector_for(emu, api_key=KEY, plugins=[Rewrite(f"{recorder.url}/elsewhere")], max_retries=0)
    try:
        out = conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
    finally:
        conn.close()
    assert out["success"]  # the recorder answered
    assert len(recorder.seen) == 1 and recorder.authorization_seen() == []


CONFIGURED = {"queue_url": "https://queue.test/prefix", "run_url": "https://run.test", "api_url": "https://api.test/v1",
              "rest_url": "https://rest.test", "jwks_url": "https://rest.test/.well-known/jwks.json", "cdn_url": "https://cdn.test"}


@pytest.mark.parametrize(
    ("url", "keyed"),
    [
        ("https://queue.test/prefix/x", True),
        ("https://queue.test:443/other-path", True),  # same origin: the default port spelled out
        ("https://QUEUE.test/x", True),  # host names are case-insensitive
        ("https://api.test/v1/models", True),
        ("https://rest.test/storage", True),
        ("http://queue.test/x", False),  # another scheme is another origin
        ("https://queue.test:8443/x", False),  # another port
        ("https://queue.test.evil.example/x", False),
        ("https://evil.example/https://queue.test/x", False),
        ("https://evil.example/?u=https://queue.test", False),
        ("https://queue.test@evil.example/x", False),  # userinfo trick: the host is evil.example
        ("https://cdn.test/files/upload", False),  # the CDN never gets the key
        ("https://xn--queue-test.example/x", False),
    ],
)
def test_origin_matching(url, keyed):
    conn = Connector(api_key=KEY, environ={}, load_entry_points=False, plugins=[Rewrite(url)], max_retries=0, **CONFIGURED)
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add(responses.GET, url=__import__("re").compile(r".*"), json={"prices": []})
            conn.run("get_pricing", {"endpoint_id": "fal-ai/flux/dev"})
            assert len(rsps.calls) == 1
            header = rsps.calls[0].request.headers.get("Authorization") or ""
    finally:
        conn.close()
    assert (header == f"Key {KEY}") is keyed, header
    if not keyed:
        assert KEY not in header


def test_module_level_webhook_helper_fetches_jwks_without_key_or_redirects(emu, recorder, monkeypatch):
    """connector.webhooks.verify_webhook (for web frameworks) fetches the JWKS with no key and
    does not follow a redirect off-host."""
    from connector import webhooks

    monkeypatch.setattr(webhooks, "_caches", {})
    emu.faults.add("jwks", status=302, headers={"Location": f"{recorder.url}/jwks"}, times=None)
    body = b"{}"
    with pytest.raises(webhooks.WebhookVerificationError):
        webhooks.verify_webhook(emu.sign_webhook(body, "r"), body, jwks_url=emu.env()["FAL_JWKS_URL"], timeout=2)
    emu.faults.clear()
    time.sleep(0.01)
    assert recorder.seen == []
    jwks_requests = [h for _, t, h in list(emu.requests_log) if t.startswith("/.well-known/jwks.json")]
    assert jwks_requests and all("Authorization" not in h for h in jwks_requests)


def test_download_file_never_sends_the_key_even_on_the_keyed_origin(emu, conn, recorder, tmp_path):
    """The emulator's file URLs share the origin that receives the key for every other action;
    downloading one (through a same-origin redirect) sends no Authorization at all, and a
    redirect to another plain-http host is refused, not followed."""
    image = f"{emu.url}/cdn/images/32x32/00ff00.png"
    emu.faults.add("file", status=302, headers={"Location": "/cdn/images/32x32/00ff00.png?hop=2"}, path="hop=1")
    before = len(emu.requests_log)
    out = conn.run("download_file", {"url": image + "?hop=1", "dest": str(tmp_path / "a.png")})
    assert out["success"], out["error"]
    gets = list(emu.requests_log)[before:]
    assert [t for _, t, _ in gets] == ["/cdn/images/32x32/00ff00.png?hop=1", "/cdn/images/32x32/00ff00.png?hop=2"]
    assert all("Authorization" not in headers for _, _, headers in gets)
    emu.faults.add("file", status=302, headers={"Location": f"{recorder.url}/steal"}, path="hop=3")
    out = conn.run("download_file", {"url": image + "?hop=3", "dest": str(tmp_path / "b.png")})
    assert out["failure"]["type"] == "invalid_response" and "redirected to" in out["error"]
    assert recorder.seen == []
