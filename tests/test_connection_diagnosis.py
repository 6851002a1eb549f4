"""Connection failures say what failed (DNS, refused, connect timeout, TLS, reset, proxy) and
where (host:port); retries show up as ``retrying`` events before each wait."""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Any

import pytest
import requests
import urllib3.exceptions
from urllib3.connection import HTTPSConnection

from connector.emulator import Emulator
from connector.http.diagnose import diagnose, host_port
from connector.testing import connector_for

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
STATUS_URL = f"https://queue.test/fal-ai/flux/requests/{RID}/status"
STATUS = ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": RID})


def _chain(outer: BaseException, *inner: BaseException) -> BaseException:
    """``outer`` raised from ``inner[0]`` raised from ``inner[1]`` ..., as urllib3 builds them."""
    current = outer
    for exc in inner:
        current.__cause__ = exc
        current = exc
    return outer


def _conn() -> Any:
    return HTTPSConnection("queue.test", 443)


def _wrapped(reason: BaseException, kind: type[requests.exceptions.RequestException] = requests.exceptions.ConnectionError) -> BaseException:
    return kind(urllib3.exceptions.MaxRetryError(None, "/x", reason=reason))  # type: ignore[arg-type]


def _dns() -> BaseException:
    return _wrapped(urllib3.exceptions.NameResolutionError("queue.test", _conn(), socket.gaierror(-2, "Name or service not known")))


def _refused() -> BaseException:
    reason = _chain(urllib3.exceptions.NewConnectionError(_conn(), "Failed to establish a new connection"),
                    ConnectionRefusedError(111, "Connection refused"))
    return _wrapped(reason)


def _connect_timeout() -> BaseException:
    reason = _chain(urllib3.exceptions.ConnectTimeoutError(_conn(), "timed out (connect timeout=5)"), TimeoutError("timed out"))
    return _wrapped(reason, requests.exceptions.ConnectTimeout)


def _tls() -> BaseException:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
    return _wrapped(urllib3.exceptions.SSLError(cause), requests.exceptions.SSLError)


def _reset() -> BaseException:
    return requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer")))


def _proxy() -> BaseException:
    inner = _chain(urllib3.exceptions.NewConnectionError(_conn(), "Failed to establish a new connection"),
                   ConnectionRefusedError(111, "Connection refused"))
    return _wrapped(urllib3.exceptions.ProxyError("Unable to connect to proxy", inner), requests.exceptions.ProxyError)


def _unreachable() -> BaseException:
    reason = _chain(urllib3.exceptions.NewConnectionError(_conn(), "Failed to establish a new connection"),
                    OSError(101, "Network is unreachable"))
    return _wrapped(reason)


CASES = [
    (_dns, "DNS lookup failed for queue.test"),
    (_refused, "connection refused by queue.test:443"),
    (_connect_timeout, "connecting to queue.test:443 timed out"),
    (_tls, "the TLS handshake with queue.test:443 failed"),
    (_reset, "the connection to queue.test:443 was reset"),
    (_proxy, "the proxy failed on the way to queue.test:443: connection refused"),
    (_unreachable, "could not connect to queue.test:443: Network is unreachable"),
]


@pytest.mark.parametrize(("make", "says"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_diagnose_names_the_failure_and_the_host(make, says):
    assert says in diagnose(make(), STATUS_URL)


@pytest.mark.parametrize(("make", "says"), CASES, ids=[c[0].__name__.strip("_") for c in CASES])
def test_the_action_error_says_what_failed(make_conn, mocked, check_output, make, says):
    conn = make_conn(max_retries=0)
    mocked.get(STATUS_URL, body=make())
    out = conn.run(*STATUS)
    check_output(conn, STATUS[0], out)
    assert out["failure"]["type"] in ("connection_error", "timeout")
    assert says in out["error"]


def test_host_port_defaults_and_ipv6():
    assert host_port("http://127.0.0.1/x") == "127.0.0.1:80"
    assert host_port("https://[::1]:8443/x") == "[::1]:8443"


def test_refused_port_against_a_real_socket():
    emu = Emulator().start()
    try:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        conn = connector_for(emu, queue_url=f"http://127.0.0.1:{port}", max_retries=1, backoff_base=0)
        try:
            out = conn.run("get_request_status", {"app_id": "fal-ai/echo", "request_id": RID})
        finally:
            conn.close()
    finally:
        emu.stop()
    assert out["failure"]["type"] == "connection_error"
    assert f"connection refused by 127.0.0.1:{port}" in out["error"]


def test_retrying_events_come_before_each_wait(make_conn, mocked):
    conn = make_conn(max_retries=2)
    log: list[Any] = []
    conn.http.sleep = lambda seconds: log.append(("sleep", seconds))
    mocked.get(STATUS_URL, body=_refused())
    out = conn.run(*STATUS, on_event=lambda e: log.append(e) if e["type"] == "retrying" else None)
    assert out["failure"]["type"] == "connection_error"
    kinds = ["sleep" if isinstance(item, tuple) else "event" for item in log]
    assert kinds == ["event", "sleep", "event", "sleep"]
    first, second = log[0], log[2]
    assert first["attempt"] == 1 and first["next_attempt"] == 2 and first["max_attempts"] == 3
    assert second["attempt"] == 2 and second["next_attempt"] == 3
    assert first["failure_type"] == "connection_error"
    assert "connection refused by queue.test:443" in first["reason"]
    assert first["wait"] == pytest.approx(log[1][1], abs=0.001)


def test_follow_prints_each_retry(make_conn, mocked, capsys):
    from connector import cli_progress

    conn = make_conn(max_retries=1)
    conn.http.sleep = lambda seconds: None
    mocked.get(STATUS_URL, status=503, headers={"x-fal-request-id": "r"}, json={"detail": "busy"})
    with cli_progress.Follower(sys.stderr, STATUS[0], live=False) as follower:
        conn.run(*STATUS, on_event=follower)
    err = capsys.readouterr().err
    assert "retrying (attempt 2/2) in" in err and "after server_error" in err and "HTTP 503" in err
