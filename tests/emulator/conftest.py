"""Fixtures for the emulator's own tests. They talk to it with plain ``requests`` only (never
the connector), so a mistake shared by the connector and the emulator cannot hide."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from emu_helpers import poll

from connector.emulator import Emulator


@pytest.fixture
def keyed_emu():
    """A running emulator that requires the key ``kid:secret``."""
    e = Emulator(api_key="kid:secret").start()
    yield e
    e.stop()


@pytest.fixture
def http():
    """A ``requests.Session`` for talking to the emulator directly."""
    with requests.Session() as s:
        yield s


@pytest.fixture
def submit(emu, http):
    """submit(app, input, **kw) -> submit response JSON (asserts a 200)."""

    def _submit(app: str, data: dict | None = None, **kw):
        r = http.post(f"{emu.url}/{app}", json={} if data is None else data, **kw)
        assert r.status_code == 200, r.text
        return r.json()

    return _submit


@pytest.fixture
def wait_done(http):
    """Poll a status URL until COMPLETED; returns the last status JSON."""

    def _wait(status_url: str, timeout: float = 5.0, params=None):
        def check():
            r = http.get(status_url, params=params)
            return r.json() if r.json()["status"] == "COMPLETED" else None

        return poll(check, timeout)

    return _wait


class _Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        srv = self.server
        with srv.lock:
            srv.received.append({"headers": dict(self.headers.items()), "body": body, "path": self.path})
            code = srv.codes.pop(0) if srv.codes else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    """A tiny webhook receiver; ``receiver.codes`` lists status codes to answer first."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    srv.daemon_threads = True
    srv.received, srv.codes, srv.lock = [], [], threading.Lock()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()
