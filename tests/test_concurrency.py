"""One Connector shared by many threads."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import responses

THREADS = 32
STATUS_RE = re.compile(r"https://queue\.test/fal-ai/flux/requests/([^/]+)/status")


def test_threads_get_their_own_answers(conn, mocked, check_output):
    seen: list[str] = []
    lock = threading.Lock()

    def answer(request):
        request_id = STATUS_RE.match(request.url).group(1)
        time.sleep(random.uniform(0, 0.01))
        with lock:
            seen.append(request_id)
        position = int(request_id.rsplit("-", 1)[1])
        body = {"status": "IN_QUEUE", "queue_position": position, "request_id": request_id,
                "logs": [{"message": f"for {request_id}", "level": "INFO", "timestamp": "t"}]}
        return 202, {"x-fal-request-id": f"gw-{request_id}"}, json.dumps(body)

    mocked.add_callback(responses.GET, STATUS_RE, callback=answer, content_type="application/json")
    barrier = threading.Barrier(THREADS)

    def ask(i: int):
        request_id = f"req-{i}"
        barrier.wait()  # start together, so the calls really overlap
        out = conn.run("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": request_id, "logs": True})
        return i, out

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(ask, range(THREADS)))

    assert len(results) == THREADS
    for i, out in results:
        check_output(conn, "get_request_status", out)
        assert out["success"] is True, out
        assert out["queue_position"] == i
        assert out["logs"] == [{"message": f"for req-{i}", "level": "INFO", "timestamp": "t"}]
    assert sorted(seen) == sorted(f"req-{i}" for i in range(THREADS))


def test_threads_keep_their_own_attempt_counts(conn, mocked, check_output):
    """Failures in some threads do not leak attempts or types into others."""
    def answer(request):
        request_id = STATUS_RE.match(request.url).group(1)
        time.sleep(random.uniform(0, 0.005))
        if int(request_id.rsplit("-", 1)[1]) % 2:
            return 503, {}, "busy"
        return 202, {}, '{"status": "IN_PROGRESS", "logs": []}'

    mocked.add_callback(responses.GET, STATUS_RE, callback=answer, content_type="application/json")

    def ask(i: int):
        return i, conn.run("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": f"req-{i}"})

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, range(THREADS)))
    for i, out in results:
        check_output(conn, "get_request_status", out)
        if i % 2:
            assert out["failure"]["type"] == "server_error"
            assert out["failure"]["attempts"] == 6
        else:
            assert out["success"] is True and out["status"] == "IN_PROGRESS"
    assert len(mocked.calls) == (THREADS // 2) * 6 + THREADS // 2
