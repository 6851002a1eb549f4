"""Test your Celery workflows for fal locally: a throwaway Redis server, a Celery app on it,
and a WSGI server for the webhook receiver (used by this project's tests and scale bench).

    from celery.contrib.testing.worker import start_worker
    from connector.integrations.celery_testing import celery_app, redis_server

    with redis_server() as url:                       # redis-server on a free 127.0.0.1 port
        app = celery_app(url)
        fal = FalTasks(app, connector=...)
        with start_worker(app, perform_ping_check=False):
            print(fal.job("fal-ai/echo", {"x": 1}).delay().get(timeout=30))

``redis_server`` runs the ``redis-server`` program (Debian package ``redis-server``); it keeps
nothing on disk and is stopped at the end.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (no persistence); yields its URL (database 0)."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    with tempfile.TemporaryDirectory(prefix="fal-redis-") as workdir:
        port = free_port()
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--dir", workdir, "--protected-mode", "yes", "--loglevel", "warning"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def celery_app(redis_url: str, name: str = "fal-tests") -> Any:
    """A Celery app on ``redis_url``: broker in its database, results in the next one."""
    from celery import Celery

    results = redis_url.rsplit("/", 1)[0] + "/1"
    app = Celery(name, broker=redis_url, backend=results, set_as_current=False)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
                    # a countdown message is held by the worker, not by Redis: keep it unacked
                    # long enough that Redis does not hand it to another worker meanwhile.
                    broker_transport_options={"visibility_timeout": 3600},
                    # a result object collected after the throwaway Redis stopped gives up at
                    # once instead of reconnecting for 20 s
                    result_backend_transport_options={"retry_policy": {"max_retries": 1}})
    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(WSGIServer):
    daemon_threads = True

    def process_request(self, request: Any, client_address: Any) -> None:
        threading.Thread(target=self._serve_one, args=(request, client_address), daemon=True).start()

    def _serve_one(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)


@contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    """Serve a WSGI app on a free 127.0.0.1 port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fal/webhook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
