"""Fixtures for the end-to-end tests: the connector against the local fal.ai emulator over
real loopback sockets (no ``responses``, no mocks).

    emu               (tests/conftest.py) a running keyless Emulator, quick pings and webhook retries
    keyed_emu         a running Emulator that enforces ``KEY``
    make_conn         ``make_conn(emulator=None, **options)`` -> a Connector pointed at it, with
                      small timeouts and backoff; closed at teardown
    conn              ``make_conn()`` on ``emu``
    wait_for          ``wait_for(predicate, timeout=5)`` -> the predicate's first truthy value
    webhook_receiver  a tiny HTTP server on 127.0.0.1 recording raw deliveries (see Receiver)
    free_port         a TCP port on 127.0.0.1 that nothing listens on (at the time of the call)
    cli_env           ``cli_env(emulator=None, **extra)`` -> an environment for a subprocess that
                      carries no FAL_* variable of the outer process (``emulator`` adds its own)

``fal_emulator`` / ``fal_connector`` are the product's own fixtures (``connector.testing``),
imported by tests/conftest.py so that they exist in a bare checkout too (installed, they also
come from its pytest11 entry point; the conftest definition shadows the identical plugin one).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from suite_helpers import closed_at_teardown, poll, subprocess_env

from connector.emulator import Emulator
from connector.testing import connector_for

KEY = "e2e-key-id:e2e-key-secret-0123456789"

# Quick but not instant: every connector call has a small read timeout and backoff, so the
# failure paths finish in well under a second per retry.
CONN_DEFAULTS: dict[str, Any] = {"timeout": 2.0, "retry_deadline": 10.0, "backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def keyed_emu() -> Iterator[Emulator]:
    """A running emulator that requires ``KEY``, with quick pings and webhook retries."""
    e = Emulator(api_key=KEY, ping_interval=0.05, webhook_retry_delay=0.05, webhook_timeout=2.0).start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def make_conn(emu: Emulator) -> Iterator[Callable[..., Any]]:
    """``make_conn(emulator=None, **options)``: a connector for ``emu`` (or the emulator given) with
    short timeouts and backoff; every one is closed at the end of the test."""
    yield from closed_at_teardown(
        lambda emulator=None, **options: connector_for(emulator or emu, **{**CONN_DEFAULTS, **options}))


@pytest.fixture
def conn(make_conn: Callable[..., Any]) -> Any:
    """``make_conn()``: a connector for the keyless ``emu`` with short timeouts."""
    return make_conn()


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """``wait_for(fn, timeout=5.0)``: call ``fn`` until it returns something truthy, and return that."""
    return poll


class Receiver:
    """Records every POST (raw header pairs and raw body bytes) and answers 200.

    ``url`` is where to point ``webhook_url``; ``wait(n)`` blocks until n deliveries arrived.
    The server thread is a daemon and the fixture shuts it down, so it never outlives the test.
    """

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._cond:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fal/webhook"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def wait(self, n: int = 1, timeout: float = 5.0) -> list[tuple[dict[str, str], bytes]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.deliveries) >= n, timeout):
                raise AssertionError(f"{len(self.deliveries)} webhook deliveries within {timeout} s, expected {n}")
            return list(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(2)


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """A local HTTP server that records the webhook deliveries it receives (``Receiver``)."""
    receiver = Receiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def free_port() -> int:
    """A 127.0.0.1 TCP port that was free a moment ago (nothing listens on it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def cli_env() -> Callable[..., dict[str, str]]:
    """An environment for ``python -m connector`` subprocesses: the outer FAL_* variables and
    proxies removed, the checkout importable, and (optionally) an emulator's FAL_* lines."""
    return subprocess_env


@pytest.fixture
def python() -> list[str]:
    """The command that runs the CLI in a subprocess: ``[sys.executable, '-m', 'connector']``."""
    return [sys.executable, "-m", "connector"]
