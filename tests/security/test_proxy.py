"""The standard proxy variables work: ``HTTP_PROXY``/``http_proxy``/
``ALL_PROXY`` send an http:// base URL's requests through the proxy, ``NO_PROXY`` bypasses it,
and ``HTTPS_PROXY`` tunnels https with CONNECT — the proxy then sees the host and port only,
never the ``Authorization`` header.
"""

from __future__ import annotations

import pytest
from sec_support import RecordingProxy

from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "proxy-key-id:proxy-key-secret-0123456789"
PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


@pytest.fixture
def clean_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="module")
def emu():
    e = Emulator(api_key=KEY).start()
    yield e
    e.stop()


@pytest.fixture
def proxy():
    with RecordingProxy() as p:
        yield p


def status_of_a_job(emu: Emulator, conn_kwargs: dict | None = None) -> tuple[dict, str]:
    conn = connector_for(emu, api_key=KEY, timeout=3, retry_deadline=5, max_retries=0, **(conn_kwargs or {}))
    try:
        job = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"p": 1}})
        assert job["success"], job["error"]
        return conn.run("get_request_status", {"app_id": "fal-ai/echo", "request_id": job["request_id"]}), job["request_id"]
    finally:
        conn.close()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_http_proxy_is_used(emu, proxy, clean_env, variable):
    clean_env.setenv(variable, proxy.url)
    out, request_id = status_of_a_job(emu)
    assert out["success"], out["error"]
    targets = [e["target"] for e in proxy.seen]
    assert targets == [f"{emu.url}/fal-ai/echo", f"{emu.url}/fal-ai/echo/requests/{request_id}/status"]
    # Through a plain-http proxy the proxy can read the request, key included: use https
    # (below) for anything but a local emulator.
    assert all(e["headers"].get("authorization") == f"Key {KEY}" for e in proxy.seen)


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.1,example.com", "*"])
def test_no_proxy_is_respected(emu, proxy, clean_env, no_proxy):
    clean_env.setenv("HTTP_PROXY", proxy.url)
    clean_env.setenv("NO_PROXY", no_proxy)
    out, _ = status_of_a_job(emu)
    assert out["success"], out["error"]
    assert proxy.seen == []


def test_https_goes_through_a_connect_tunnel_the_proxy_cannot_read(proxy, clean_env):
    tls_emu = Emulator(api_key=KEY, tls=True).start()
    try:
        clean_env.setenv("REQUESTS_CA_BUNDLE", tls_emu.cert_file)
        clean_env.setenv("HTTPS_PROXY", proxy.url)
        out, _ = status_of_a_job(tls_emu)
    finally:
        tls_emu.stop()
    assert out["success"], out["error"]
    assert proxy.seen and all(e["method"] == "CONNECT" for e in proxy.seen)
    assert {e["target"] for e in proxy.seen} == {f"127.0.0.1:{tls_emu.port}"}
    assert not any(KEY in str(e) or KEY.split(":")[1] in str(e) for e in proxy.seen)


def test_a_dead_proxy_is_a_connection_error_not_a_hang(emu, clean_env):
    """A proxy that is configured but not there: a typed failure within the deadline."""
    clean_env.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    conn = connector_for(emu, api_key=KEY, timeout=2, retry_deadline=3, max_retries=1, backoff_base=0.01)
    try:
        out = conn.run("get_models", {})
    finally:
        conn.close()
    assert out["failure"]["type"] == "connection_error", out["error"]
    assert out["failure"]["attempts"] == 2
