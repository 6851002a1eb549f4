"""A server that accepts TCP and never finishes the TLS handshake (silent, or dripping one byte
at a time): the action ends at its deadline or its connect timeout, never hangs, and reports
that nothing was sent, so even a submit stays safe to repeat."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from connector import Connector

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
BOUND = 4.0  # seconds: far above every deadline below, far below a hang


@pytest.fixture(params=["silent", "drip"])
def stalled_tls(request: pytest.FixtureRequest) -> Iterator[str]:
    """https://127.0.0.1:<port> of a listener that reads the ClientHello and then says nothing
    (silent) or sends a TLS record header and one byte of it every 0.1 s (drip)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    peers: list[socket.socket] = []

    def serve(peer: socket.socket) -> None:
        try:
            peer.recv(65536)
            if request.param == "drip":
                peer.sendall(b"\x16\x03\x03\x40\x00")  # a handshake record of 16 KiB, that never completes
                while not stop.wait(0.1):
                    peer.sendall(b"\x02")
            else:
                stop.wait()
        except OSError:
            pass

    def accept() -> None:
        while True:
            try:
                peer, _ = server.accept()
            except OSError:
                return
            peers.append(peer)
            threading.Thread(target=serve, args=(peer,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
        for peer in peers:
            peer.close()


def _run(url: str, action: str, **options: float) -> tuple[dict, float]:
    conn = Connector(api_key="k", queue_url=url, load_entry_points=False, environ={}, backoff_base=0.01, **options)
    inputs = {"app_id": "fal-ai/flux/dev", "data": {}} if action == "add_request_to_queue" else {"app_id": "fal-ai/flux/dev", "request_id": RID}
    started = time.monotonic()
    try:
        return conn.run(action, inputs), time.monotonic() - started
    finally:
        conn.close()


def test_the_deadline_cuts_a_handshake_and_a_submit_stays_repeatable(stalled_tls):
    # The connect timeout (5 s) is longer than the deadline: only the watchdog can end it in time.
    out, took = _run(stalled_tls, "add_request_to_queue", timeout=30, retry_deadline=1.0)
    assert took < BOUND
    assert out["failure"]["type"] == "timeout" and out["failure"]["retryable"] is True, out
    assert "never opened" in out["error"] and "nothing was sent" in out["error"]


def test_a_handshake_past_the_connect_timeout_is_a_connection_error_retried_until_the_deadline(stalled_tls):
    # A deadline of several connect timeouts, so a loaded machine still has room for a second try.
    out, took = _run(stalled_tls, "add_request_to_queue", timeout=0.3, retry_deadline=2.0)
    assert took < BOUND
    assert out["failure"]["type"] in ("connection_error", "timeout") and out["failure"]["retryable"] is True, out
    assert out["failure"]["attempts"] >= 2  # nothing was sent: even a submit is tried again
    out, took = _run(stalled_tls, "get_request_status", timeout=0.3, retry_deadline=1.0)
    assert took < BOUND and out["failure"]["type"] in ("connection_error", "timeout") and out["failure"]["retryable"] is True
