"""A spare connection: one idle, already connected (TLS done) connection to an origin, kept in
the session's pool while a long answer (a job's status stream) holds another.

fal closes a status stream after COMPLETED, and a connection whose body was not read to its end
cannot be reused either. So without a spare, the call that follows a stream (the result fetch,
the one the caller is waiting for) opens a new connection after the job has completed: a TCP
and a TLS handshake, two or three round trips on a real network. Opening that connection while
the job is still running takes the handshakes off the path; it sends no HTTP request, so a job
still costs the same requests.

The connection is opened on a short-lived background thread, so the stream's events are never
held up by it. ``ensure()`` is cheap when the spare is there (one non-blocking poll of its
socket), so the stream calls it again on every event and keep-alive comment: a spare the server
dropped while idle (a long job outlasting its keep-alive timeout) is replaced before it is needed.
Everything here is best effort: a spare that cannot be opened costs the later call nothing but
the handshake it would have paid anyway.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from typing import Any

from urllib3.util.wait import wait_for_read

log = logging.getLogger("connector.http")
SETTLE = 0.5  # seconds to wait for a TLS 1.3 server's session tickets (they follow the handshake within a round trip)


class LiveFirstQueue(queue.LifoQueue):  # type: ignore[type-arg]  # holds connections or None
    """A pool's idle connections, the ones still connected taken first.

    urllib3 keeps them last in, first out, with ``None`` for a free slot. A streamed answer
    closed before its end comes back closed, on top, above the spare: the next request would
    take it and open a new connection while a connected one waits below. Here a closed
    connection or a free slot goes to the bottom instead.
    """

    def _put(self, item: Any) -> None:
        if item is None or getattr(item, "sock", None) is None:
            self.queue.insert(0, item)
        else:
            self.queue.append(item)


class SpareConnection:
    """Keeps one connected idle connection in ``pool`` (a urllib3 connection pool)."""

    def __init__(self, pool: Any, connect_timeout: float) -> None:
        self._pool = pool
        self._connect_timeout = connect_timeout
        self._opening = threading.Lock()  # held while a connection is being opened

    def ensure(self) -> None:
        """Start opening a spare unless the pool already holds a live idle connection (or one is
        being opened); returns at once."""
        if self._pool is None or not self._opening.acquire(blocking=False):
            return
        try:
            conn = self._take()
        except Exception:
            self._opening.release()
            return
        if conn is None or _connected(conn):
            self._put(conn)
            self._opening.release()
            return
        threading.Thread(target=self._open, args=(conn,), name="fal-connector-spare", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """For tests: True once no spare is being opened."""
        if self._opening.acquire(timeout=timeout):
            self._opening.release()
            return True
        return False

    def _open(self, conn: Any) -> None:
        try:
            conn.timeout = self._connect_timeout  # the pool's default would wait forever
            conn.connect()
            if not _settle(conn.sock):
                conn.close()
        except Exception as exc:  # best effort: the later call opens its own connection
            log.debug("no spare connection to %s: %s", getattr(self._pool, "host", "?"), exc)
            conn.close()
        finally:
            self._put(conn)  # a closed connection goes back too: the pool's slot is not lost
            self._opening.release()

    # The pool's own checkout and return, as a request makes them: the checkout closes a
    # connection the server has dropped and gives a fresh, unconnected one when none is idle;
    # the return makes it the next one a request takes (the pool is last in, first out).
    def _take(self) -> Any:
        return self._pool._get_conn(timeout=0)

    def _put(self, conn: Any) -> None:
        if conn is not None:
            try:
                self._pool._put_conn(conn)
            except Exception:
                conn.close()


def _connected(conn: Any) -> bool:
    return getattr(conn, "sock", None) is not None and bool(conn.is_connected)


def _settle(sock: Any) -> bool:
    """Read what a TLS 1.3 server sends right after the handshake (session tickets); False if
    the connection is unusable (closed, or data nobody asked for).

    A connection that has carried a request read them with its answer. A spare has not: left
    unread they make its socket readable, which is how the pool spots a connection the server
    closed, so the pool would throw the spare away unused.
    """
    if not isinstance(sock, ssl.SSLSocket) or sock.version() != "TLSv1.3":
        return True
    timeout = sock.gettimeout()
    until = time.monotonic() + SETTLE
    while True:
        left = until - time.monotonic()
        if left <= 0 or not wait_for_read(sock, timeout=left):
            return True  # nothing (more) arrived
        sock.settimeout(0)
        try:
            data = sock.recv(1)
        except ssl.SSLWantReadError:
            data = None  # only handshake messages: read and done with
        finally:
            sock.settimeout(timeout)
        if data is not None:
            return False  # b"": closed; anything else: not an answer to any request of ours
        until = min(until, time.monotonic() + 0.05)  # a second ticket may follow in its own packet
