"""One line that says what failed in a connection, and to which host: DNS, refused, connect
timeout, TLS, reset, or the proxy.

``requests`` wraps the real cause several layers deep (``ConnectionError`` → ``MaxRetryError``
→ ``NewConnectionError`` → ``ConnectionRefusedError``), and its own text is a long repr that
names the pool rather than the problem; this walks the chain and names the problem.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from http.client import RemoteDisconnected
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from connector.config import origin_of


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (arguments, ``reason``, cause, context), once each."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        item = stack.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        linked = [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]
        stack.extend(x for x in linked if isinstance(x, BaseException))


def host_port(url: str) -> str:
    """``host:port`` of ``url``'s origin (the scheme's default port when none is given)."""
    try:
        _, host, port = origin_of(url)
    except ValueError:  # a port that is no number: the scheme's default port is named
        parts = urlsplit(url)
        _, host, port = origin_of(f"{parts.scheme}://{parts.netloc.rpartition(':')[0]}")
    host = host or "?"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def diagnose(exc: BaseException, url: str) -> str:
    """What failed, naming ``url``'s host and port, e.g. ``connection refused by 127.0.0.1:9``."""
    chain = list(causes(exc))
    target = host_port(url)
    reason = _reason(chain, target)
    if any(isinstance(e, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)) for e in chain):
        return f"the proxy failed on the way to {target}: {reason}"
    return reason


def _reason(chain: list[BaseException], target: str) -> str:
    def has(*types: type[BaseException]) -> bool:
        return any(isinstance(e, types) for e in chain)

    if has(socket.gaierror, urllib3.exceptions.NameResolutionError):
        return f"DNS lookup failed for {target.rpartition(':')[0]} (the host name does not resolve)"
    if has(ConnectionRefusedError):
        return f"connection refused by {target} (nothing is listening there)"
    # urllib3's NewConnectionError subclasses ConnectTimeoutError: only a real timeout counts.
    if has(requests.exceptions.ConnectTimeout) or any(
        isinstance(e, urllib3.exceptions.ConnectTimeoutError) and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in chain
    ):
        return f"connecting to {target} timed out"
    if has(ssl.SSLError, requests.exceptions.SSLError, urllib3.exceptions.SSLError):
        return f"the TLS handshake with {target} failed"
    if has(ConnectionResetError):
        return f"the connection to {target} was reset"
    if has(RemoteDisconnected, ConnectionAbortedError, BrokenPipeError):
        return f"{target} closed the connection without answering"
    if has(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return f"{target} sent no answer within the read timeout"
    os_error = next((e for e in chain if isinstance(e, OSError) and e.strerror), None)
    if os_error is not None:  # e.g. "Network is unreachable"
        return f"could not connect to {target}: {os_error.strerror}"
    return f"could not connect to {target} or the connection dropped ({type(chain[0]).__name__})"
