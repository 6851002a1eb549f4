"""Small local servers for the security tests: one that records what it receives (a host the
key must never reach) and a forward proxy that records what goes through it."""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        outer = self

        class Bound(handler):  # type: ignore[misc, valid-type]
            server_ref = outer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Bound)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.seen.append(entry)

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def authorization_seen(self) -> list[str]:
        return [e["headers"].get("authorization") for e in self.seen if e["headers"].get("authorization")]


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server_ref.record({"method": self.command, "path": self.path, "body": body,
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
        payload = json.dumps({"status": "COMPLETED", "request_id": "evil-1", "models": [], "prices": [],
                              "keys": [], "total_cost": 0, "access_url": "http://evil/x", "token": "t"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class Recorder(_Server):
    """An HTTP server on 127.0.0.1 that records every request (method, path, headers, body)
    and answers 200 with a JSON object that would satisfy most actions."""

    def __init__(self) -> None:
        super().__init__(_RecordingHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_ref: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection", "keep-alive")}
        self.server_ref.record({"method": self.command, "target": self.path,
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
        target = urlsplit(self.path)  # a forward proxy gets the absolute URI
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=10)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            conn.request(self.command, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_DELETE = _forward

    def do_CONNECT(self) -> None:
        """A tunnel: the proxy sees only the host and port, never what goes through."""
        self.server_ref.record({"method": "CONNECT", "target": self.path,
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        client = self.connection
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except OSError:
            return
        finally:
            upstream.close()


class RecordingProxy(_Server):
    """A forward HTTP proxy (absolute-URI requests and CONNECT tunnels) that records what
    passes through it."""

    def __init__(self) -> None:
        super().__init__(_ProxyHandler)
