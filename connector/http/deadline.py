"""A hard deadline for one HTTP exchange: connect, headers and body.

A socket read timeout bounds each ``recv``, not the answer: a server that sends one byte
every half second never trips it, and the standard library's buffered reads wait for the
whole line or chunk they asked for. So each exchange is *armed* with the action's deadline
on one shared watchdog thread; when the deadline passes while the exchange still owns its
connection, the watchdog shuts that socket down, which wakes the blocked read at once. The
caller then sees ``Exchange.expired`` and reports the deadline, not a dropped connection.

Which socket belongs to which exchange is tracked by the connection pool itself (the
adapter below): a connection is attached to the calling thread's exchange whenever it
connects or sends a request, and detached the moment it goes back to the pool, so the
watchdog can never touch a connection another request has since picked up.
"""

from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError

from connector.http.spare import LiveFirstQueue

_lock = threading.Lock()  # guards every exchange <-> connection link
_local = threading.local()


class Exchange:
    """One request/answer, armed until ``finish()`` or its connection returns to the pool."""

    __slots__ = ("deadline_at", "conn", "expired", "done", "keep", "unsent")

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at
        self.conn: Any = None  # the urllib3 connection carrying it, while it has one
        self.expired = False  # the watchdog cut it
        self.done = False
        self.keep = False  # a streamed answer still being read: stays armed after the block
        # Its connection failed to open (TCP connect, proxy tunnel or TLS handshake), by itself or
        # cut by the deadline: not one byte of the request was sent.
        self.unsent = False

    def finish(self) -> None:
        with _lock:
            self.done = True
            if self.conn is not None:
                self.conn._exchange = None
                self.conn = None

    def _expire(self) -> None:
        with _lock:
            if self.done:
                return
            self.expired = True
            sock = getattr(self.conn, "sock", None) if self.conn is not None else None
            if sock is not None:
                try:
                    # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would drop
                    # its SSL object under the thread still reading through it.
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed: nothing is blocked on it


def _attach(conn: Any) -> None:
    exchange = getattr(_local, "exchange", None)
    if exchange is None:
        return
    with _lock:
        previous = getattr(conn, "_exchange", None)
        if previous is not None and previous is not exchange:
            previous.conn = None
        conn._exchange = exchange
        exchange.conn = conn
        expired = exchange.expired
    if expired:  # the deadline passed before the connection existed
        exchange._expire()


def _detach(conn: Any) -> None:
    if conn is None:
        return
    with _lock:
        exchange = getattr(conn, "_exchange", None)
        if exchange is not None:
            exchange.conn = None
            conn._exchange = None


class _Watchdog:
    """One daemon thread that expires exchanges at their deadlines (started on first use)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Exchange]] = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._compact_at = 1024

    def arm(self, exchange: Exchange) -> None:
        with self._cond:
            if len(self._heap) >= self._compact_at:
                # Most entries finished long before their deadline: drop them in one sweep
                # (amortised), so thousands of calls a second do not pile up a minute of entries.
                self._heap = [entry for entry in self._heap if not entry[2].done]
                heapq.heapify(self._heap)
                self._compact_at = max(1024, 2 * len(self._heap))
            heapq.heappush(self._heap, (exchange.deadline_at, next(self._seq), exchange))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fal-connector-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is exchange:
                self._cond.notify()  # a new earliest deadline

    def move(self, exchange: Exchange, deadline_at: float) -> None:
        """Give an armed exchange another deadline (its old heap entry turns stale)."""
        with self._cond:
            exchange.deadline_at = deadline_at
            heapq.heappush(self._heap, (deadline_at, next(self._seq), exchange))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    # Finished exchanges are dropped as they surface, not searched for on finish().
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        when, _, due = heapq.heappop(self._heap)
                        if when == due.deadline_at:  # else a stale entry of a moved deadline
                            break
                        continue
                    self._cond.wait(None if not self._heap else self._heap[0][0] - now)
            due._expire()


WATCHDOG = _Watchdog()


@contextmanager
def exchange(deadline_at: float) -> Iterator[Exchange]:
    """Arm an exchange for the calls this thread makes inside the block. It is finished on
    leaving, unless its ``keep`` was set (a streamed answer still being read: the return of
    its connection to the pool ends the link instead)."""
    ex = Exchange(deadline_at)
    _local.exchange = ex
    WATCHDOG.arm(ex)
    try:
        yield ex
    except BaseException:
        ex.finish()
        raise
    finally:
        _local.exchange = None
    if not ex.keep:
        ex.finish()


# -- the pool side: connections tell the current exchange which socket to cut ---------------


class _Tracked:
    def connect(self) -> None:
        # Opening covers the TLS handshake (and a proxy's tunnel): the watchdog cuts the socket
        # they run on as it cuts a read, so a server that drips its handshake ends at the deadline.
        _attach(self)
        try:
            super().connect()  # type: ignore[misc]
        except BaseException:
            exchange = getattr(_local, "exchange", None)
            if exchange is not None:
                exchange.unsent = True
            raise

    def _new_conn(self) -> socket.socket:
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        with _lock:
            exchange = getattr(self, "_exchange", None)
            self.sock = sock  # from now on the watchdog can cut it, before the handshake starts
            expired = exchange is not None and exchange.expired
        if expired:  # the deadline passed while the TCP connection was being made
            sock.close()
            raise ConnectTimeoutError(self, "the action's deadline ran out while connecting")
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        _attach(self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _TrackedHTTPConnection(_Tracked, HTTPConnection):
    pass


class _TrackedHTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _TrackedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection
    QueueCls = LiveFirstQueue

    def _put_conn(self, conn: Any) -> None:
        _detach(conn)
        super()._put_conn(conn)


class _TrackedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection
    QueueCls = LiveFirstQueue

    def _put_conn(self, conn: Any) -> None:
        _detach(conn)
        super()._put_conn(conn)


_POOLS = {"http": _TrackedHTTPPool, "https": _TrackedHTTPSPool}


class DeadlineAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose pools (direct and through an HTTP proxy) track their connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _POOLS
        return manager
