"""Soak: 20,000 calls from 16 threads sharing one Connector, against the
emulator, with faults mixed in.

* every call returns a schema-valid, successful output; about 3% of the calls first meet an
  injected fault (503, 502 from the ingress, 429, a reset, a cut body, a short delay), all
  recoverable within the retry budget;
* no cross-talk: each thread follows its own job and checks every answer is its own (its
  result's echoed nonce, its status fingerprint, the page size it asked for);
* open sockets and memory stay flat between the end of a warm-up phase and the end;
  closing the Connector releases its sockets.

The emulator runs in a child process (``python -m connector.emulator``) so it has its own
core and its sockets do not count as ours; each thread injects the faults for its own next
call through the emulator's ``/_emulator`` control API.
Runs in the default suite, bounded in time.
"""

from __future__ import annotations

import gc
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from connector import Connector
from connector.http.client import POOL_SIZE

KEY = "soak-key-id:soak-key-secret-0123456789"
THREADS = 16
CALLS = 20_000
WARMUP = 2_000
FAULT_RATE = 0.03  # share of calls that meet an injected fault first
TIME_LIMIT = 100.0  # seconds for the whole soak


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed meanwhile
    return count


def rss_bytes() -> int:
    gc.collect()
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class ChildEmulator:
    """``python -m connector.emulator`` on a free port, controlled over HTTP."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "connector.emulator", "--port", "0", "--api-key", KEY],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self.env: dict[str, str] = {}
        deadline = time.monotonic() + 20
        assert self.proc.stdout is not None
        while "FAL_CDN_URL" not in self.env:
            assert time.monotonic() < deadline, "the emulator did not start"
            line = self.proc.stdout.readline()
            assert line, "the emulator exited"
            match = re.match(r"export (\w+)=(\S+)", line.strip())
            if match:
                self.env[match[1]] = match[2].strip("'")
        self.url = self.env["FAL_QUEUE_URL"]

    def control(self, method: str, what: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_emulator/{what}", data=data, method=method,
                                         headers={"Content-Type": "application/json", "Connection": "close"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stdout:
            self.proc.stdout.close()


# Recoverable faults: each one costs its call one retry (or a short wait), never the call.
FAULT_KINDS = [
    {"status": 503},
    {"status": 502, "ingress": True},
    {"status": 429, "headers": {"Retry-After": "0"}},
    {"delay": 0.02},
    {"action": "reset"},
    {"action": "short_body"},
]


class Worker:
    """One thread's own job, and what every answer about it must be."""

    def __init__(self, conn: Connector, index: int) -> None:
        self.conn, self.index = conn, index
        self.rng = random.Random(index)
        self.nonce = str(uuid.uuid4())
        self.limit = 1 + index % 5
        job = conn.run("add_request_to_queue", {"app_id": "fal-ai/echo", "data": {"thread": index, "nonce": self.nonce}})
        assert job["success"], job["error"]
        self.ids = {"app_id": "fal-ai/echo", "request_id": job["request_id"]}
        self.fingerprint: dict[str, Any] | None = None
        self.counts = {"status": 0, "result": 0, "models": 0}
        self.faults = 0
        self.emu: ChildEmulator | None = None

    def fault(self, route: str, path: str) -> None:
        """Now and then, a fault for this thread's next call (a few percent of calls)."""
        if self.emu is not None and self.rng.random() < FAULT_RATE:
            self.emu.control("POST", "faults", {"route": route, "path": path, "times": 1, **self.rng.choice(FAULT_KINDS)})
            self.faults += 1

    def wait_completed(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            out = self.conn.run("get_request_status", {**self.ids, "logs": True})
            if out["status"] == "COMPLETED":
                self.fingerprint = out  # its log timestamps are this job's own
                return
            assert time.monotonic() < deadline
            time.sleep(0.02)

    def call(self) -> None:
        pick = self.rng.random()
        rid = self.ids["request_id"]
        if pick < 0.45:
            self.counts["status"] += 1
            self.fault("status", f"/requests/{rid}/status")
            out = self.conn.run("get_request_status", {**self.ids, "logs": True})
            check(self.conn, "get_request_status", out)
            assert out == self.fingerprint, f"thread {self.index} got another job's status"
        elif pick < 0.9:
            self.counts["result"] += 1
            self.fault("result", f"/requests/{rid}")
            out = self.conn.run("get_request_response", self.ids)
            check(self.conn, "get_request_response", out)
            assert out["data"] == {"echo": {"thread": self.index, "nonce": self.nonce}}, f"thread {self.index} got another job's result"
        else:
            self.counts["models"] += 1
            self.fault("models", f"limit={self.limit}")
            out = self.conn.run("get_models", {"limit": self.limit})
            check(self.conn, "get_models", out)
            assert len(out["models"]) == self.limit, f"thread {self.index} got another call's page"


def check(conn: Connector, action_id: str, out: dict[str, Any]) -> None:
    action = conn.action(action_id)
    assert action is not None
    if not out.get("success") or not action.output_validator.is_valid(out):
        raise AssertionError(f"{action_id}: {out.get('error')!r} {out.get('failure')!r}")


def run_phase(workers: list[Worker], calls: int) -> None:
    per_thread = calls // len(workers)

    def work(worker: Worker) -> None:
        for _ in range(per_thread):
            worker.call()

    with ThreadPoolExecutor(len(workers), thread_name_prefix="soak") as pool:
        for future in [pool.submit(work, w) for w in workers]:
            future.result()


@pytest.fixture(scope="module")
def child_emulator():
    emu = ChildEmulator()
    yield emu
    emu.stop()


def test_soak(child_emulator):
    emu = child_emulator
    started = time.monotonic()
    sockets_before = open_sockets()
    threads_before = threading.active_count()
    env = emu.env
    conn = Connector(api_key=KEY, environ={}, load_entry_points=False, timeout=5, backoff_base=0.01, backoff_max=0.05,
                     queue_url=env["FAL_QUEUE_URL"], run_url=env["FAL_RUN_URL"], api_url=env["FAL_API_URL"],
                     jwks_url=env["FAL_JWKS_URL"], rest_url=env["FAL_REST_URL"], cdn_url=env["FAL_CDN_URL"])
    try:
        workers = [Worker(conn, i) for i in range(THREADS)]
        for worker in workers:
            worker.wait_completed()
        fingerprints = [json.dumps(w.fingerprint, sort_keys=True) for w in workers]
        assert len(set(fingerprints)) == THREADS, "two jobs look alike: the cross-talk check would be blind"

        for worker in workers:
            worker.emu = emu  # faults from now on
        run_phase(workers, WARMUP)
        warm_sockets = open_sockets() - sockets_before
        warm_rss = rss_bytes()

        run_phase(workers, CALLS - WARMUP)
        left = emu.control("GET", "faults")["faults"]
        end_sockets = open_sockets() - sockets_before
        end_rss = rss_bytes()
        elapsed = time.monotonic() - started
    finally:
        conn.close()
    closed_sockets = open_sockets() - sockets_before

    done = sum(sum(w.counts.values()) for w in workers)
    assert done == CALLS
    assert all(w.counts["status"] and w.counts["result"] and w.counts["models"] for w in workers)
    injected = sum(w.faults for w in workers)
    assert CALLS * FAULT_RATE * 0.7 <= injected <= CALLS * FAULT_RATE * 1.3, injected
    assert left == [], f"{len(left)} injected faults were never met"
    # Sockets: one pooled connection per concurrent thread at most, no growth after warm-up.
    assert end_sockets <= min(POOL_SIZE, THREADS) + 4, (warm_sockets, end_sockets)
    assert end_sockets <= warm_sockets + 4, (warm_sockets, end_sockets)
    assert closed_sockets <= 1, f"{closed_sockets} sockets left open after close()"
    # Memory: bounded growth over 18,000 calls (nothing accumulates per call).
    growth = end_rss - warm_rss
    assert growth < 24 * 1024 * 1024, f"RSS grew {growth / 1e6:.1f} MB after warm-up"
    assert threading.active_count() <= threads_before + 1  # no leaked threads
    assert elapsed < TIME_LIMIT, f"soak took {elapsed:.0f}s"
    print(f"\nsoak: {CALLS} calls, {THREADS} threads, {injected} faults, {elapsed:.1f}s, "
          f"sockets {warm_sockets}->{end_sockets}, RSS {warm_rss / 1e6:.1f}->{end_rss / 1e6:.1f} MB")
