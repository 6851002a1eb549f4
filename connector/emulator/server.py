"""HTTP plumbing: the threaded server, response writing and fault application (routing is
routes.py).

Performance notes (a status call must cost well under 1 ms of server time):
* ``disable_nagle_algorithm``: without TCP_NODELAY a keep-alive response can wait ~40 ms for a
  delayed ACK.
* Each response is one ``sendall`` of status line + headers + body where it fits.
* No access log, no per-request locks on the hot path (fault matching is lock-free when
  there are no rules; ``requests_log`` is a bounded deque).
"""

from __future__ import annotations

import http
import json
import selectors
import socket
import socketserver
import ssl
import struct
import sys
import threading
import traceback
import uuid
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from .auth import platform_error
from .faults import BODY_ACTIONS, FaultRule
from .jobs import clock
from .outputs import PaddedBody
from .routes import Route, resolve
from .slow import SLOW_BODY_ACTIONS, drip_headers, slow_body
from .wire import Drop, Request, Response, detail, json_response

REASONS = {499: "Client Closed Request"}
NGINX_PAGE = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
              "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
QUIET_ERRORS = (OSError,)  # resets, TLS and timeout errors are all OSErrors: a client went away


# --- faults ----------------------------------------------------------------------------------

def _reason(code: int) -> str:
    try:
        return http.HTTPStatus(code).phrase
    except ValueError:
        return REASONS.get(code, "Unknown")


def fault_response(rule: FaultRule, route: Route) -> Response:
    """The answer a status/ingress rule gives instead of doing the work."""
    code = rule.status if rule.status is not None else 502
    if rule.ingress and rule.body is None:
        page = NGINX_PAGE.format(code=code, reason=_reason(code)).encode()
        return Response(code, page, {"Content-Type": "text/html", "Server": "nginx"})
    body = rule.body
    if body is None:
        if route.platform:
            types = {401: "authorization_error", 403: "authorization_error", 404: "not_found",
                     429: "rate_limited", 501: "not_implemented"}
            kind = types.get(code, "server_error" if code >= 500 else "validation_error")
            return platform_error(code, kind, _reason(code))
        return detail(code, _reason(code))
    if isinstance(body, (dict, list)):
        return json_response(code, body)
    raw = body.encode() if isinstance(body, str) else bytes(body)
    try:
        json.loads(raw)
        ctype = "application/json"
    except (ValueError, RecursionError):  # RecursionError: a deeply nested test body
        ctype = "text/plain; charset=utf-8"
    return Response(code, raw, {"Content-Type": ctype})


def _truncate(chunks: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """Yield ``limit`` bytes of ``chunks``, then cut the connection."""
    for chunk in chunks:
        if len(chunk) >= limit:
            yield chunk[:limit]
            break
        limit -= len(chunk)
        yield chunk
    raise Drop()


def body_fault(rule: FaultRule, resp: Response) -> Response:
    """Replace a worked answer with a broken 200 (or cut it short)."""
    keep = {k: v for k, v in resp.headers.items() if k.lower() == "x-fal-request-id"}
    if rule.action == "invalid_json":
        return Response(200, b'{"status": "IN_QUEUE", "request_id": "', {"Content-Type": "application/json", **keep})
    if rule.action == "html":
        page = b"<!DOCTYPE html><html><head><title>fal.ai</title></head><body><h1>Upstream error</h1></body></html>"
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8", **keep})
    if rule.action == "empty":
        return Response(200, b"", {"Content-Type": "application/json", **keep})
    if rule.action == "big_body":
        padded = PaddedBody(rule.size)
        return Response(200, padded, {"Content-Type": "application/json", **keep}, padded.length)
    if rule.action == "short_body":
        if isinstance(resp.body, (bytes, bytearray)):
            full = len(resp.body)
            return Response(resp.status, _truncate([bytes(resp.body)], full // 2), resp.headers, max(full, 1))
        if resp.length is not None:
            return Response(resp.status, _truncate(resp.body, resp.length // 2), resp.headers, resp.length)
        return Response(resp.status, _truncate(resp.body, 0), resp.headers, 1 << 20)
    return resp


# --- the handler -----------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True  # see module docstring
    server_version = "fal-emulator"
    sys_version = ""
    timeout = 300  # an idle keep-alive connection is closed after this
    server: Server  # always our Server (it is the only one built with this handler)

    def log_message(self, format: str, *args: Any) -> None:  # no access log: speed, quiet tests
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(16)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            raise ConnectionError("client closed before sending the whole body")
        return data

    def _dispatch(self) -> None:
        emu = self.server.emulator
        self._headers_sent = False
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._send(detail(400, "Malformed request body framing"))
            return
        except QUIET_ERRORS:
            self.close_connection = True
            return
        target = self.path
        path = target.partition("?")[0]
        emu.requests_log.append((self.command, target, dict(self.headers.items())))
        req = Request(self.command, path, target, self.headers, body)
        route = resolve(emu, self.command, path)
        rule = emu.faults.match(route.name, route.app_id, route.endpoint_id, target)
        req.fault = rule
        try:
            if rule is not None:
                if rule.delay and emu._stopping.wait(rule.delay):
                    return self._abort(False)
                if rule.action in ("drop_before", "reset"):
                    return self._abort(rule.action == "reset")
                if rule.status is not None or rule.ingress:
                    return self._send(self._finish(fault_response(rule, route), route, rule))
            resp = route.call(req)
            if rule is not None:
                if rule.action in ("drop_after", "reset_after"):
                    return self._abort(rule.action == "reset_after")
                if rule.action in BODY_ACTIONS:
                    resp = body_fault(rule, resp)
                elif rule.action in SLOW_BODY_ACTIONS:
                    resp = slow_body(rule, resp, emu._stopping)
                elif rule.action == "drip_headers":
                    self._headers_sent = True
                    return drip_headers(self.wfile.write, rule, emu._stopping)
            self._send(self._finish(resp, route, rule))
        except Drop as drop:
            self._abort(drop.rst)
        except QUIET_ERRORS:  # the client went away mid-answer
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)  # an emulator bug: make it loud
            if self._headers_sent:
                self._abort(False)
            else:
                self.close_connection = True
                self._send(detail(500, "Internal Server Error (emulator bug)"))

    @staticmethod
    def _finish(resp: Response, route: Route, rule: FaultRule | None) -> Response:
        if route.fal_host and resp.header("x-fal-request-id") is None:
            resp.headers["x-fal-request-id"] = str(uuid.uuid4())
        if rule is not None:
            for name, value in (rule.headers or {}).items():
                resp.set_header(name, value)
            if rule.drops_request_id:
                resp.set_header("x-fal-request-id", None)
        return resp

    def _send(self, resp: Response) -> None:
        lines = [f"HTTP/1.1 {resp.status} {_reason(resp.status)}\r\nServer: fal-emulator\r\n"]
        body = resp.body
        if isinstance(body, (bytes, bytearray)):
            lines.append(f"Content-Length: {len(body)}\r\n")
        elif resp.length is not None:
            lines.append(f"Content-Length: {resp.length}\r\n")
        else:
            lines.append("Transfer-Encoding: chunked\r\n")
        for name, value in resp.headers.items():
            if name.lower() != "server" or value != "fal-emulator":
                lines.append(f"{name}: {value}\r\n")
        if self.close_connection:
            lines.append("Connection: close\r\n")
        head = "".join(lines).encode("latin-1") + b"\r\n"
        write = self.wfile.write
        self._headers_sent = True
        if isinstance(body, (bytes, bytearray)):
            write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                write(body)
            return
        write(head)
        if resp.length is not None:
            for chunk in body:
                write(chunk)
            return
        for chunk in body:  # chunked: every event reaches the client at once
            if chunk:
                write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
        write(b"0\r\n\r\n")

    def _abort(self, rst: bool) -> None:
        """Close without (finishing) a response: FIN, or RST when ``rst`` (SO_LINGER 0)."""
        self.close_connection = True
        sock = self.connection
        try:
            if rst:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()  # the fd closes (with RST) when the handler's files close, no FIN first
            else:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections so stop() can close and join them, and
    does the TLS handshake in the connection's thread (not in the accept loop)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], emulator: Any, ssl_context: ssl.SSLContext | None) -> None:
        self.emulator = emulator
        self.ssl_context = ssl_context
        self._conns: dict[Any, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        self._stopped = False
        self._wake_r, self._wake_w = socket.socketpair()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, Handler)

    def serve(self) -> None:
        """Accept loop. Unlike serve_forever (which polls for shutdown every poll_interval),
        it sleeps in select() until a connection arrives or stop() writes to the wake pipe,
        so stop() returns at once and an idle emulator burns no CPU."""
        with selectors.DefaultSelector() as sel:
            sel.register(self, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopped:
                for key, _ in sel.select():
                    if key.fileobj is self and not self._stopped:
                        # typeshed omits this private BaseServer method; it exists in every CPython 3.
                        self._handle_request_noblock()  # type: ignore[attr-defined]

    def stop_serving(self) -> None:
        self._stopped = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def server_close(self) -> None:
        super().server_close()
        for sock in (self._wake_r, self._wake_w):
            sock.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can stall.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = cast(str, host), port  # AF_INET/AF_INET6: host is a str

    def get_request(self) -> tuple[Any, Any]:
        sock, addr = self.socket.accept()
        self.emulator.connections_log.append(clock())
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(target=self._serve, args=(request, client_address), daemon=True,
                             name="fal-emulator-conn")
        with self._conns_lock:
            self._conns[request] = t
        t.start()

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            if self.ssl_context is not None:
                request.settimeout(10)
                request.do_handshake()
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._conns_lock:
                self._conns.pop(request, None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], QUIET_ERRORS):
            traceback.print_exc(file=sys.stderr)

    def close_connections(self, timeout: float = 2.0) -> None:
        with self._conns_lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for _, t in conns:
            t.join(timeout)
