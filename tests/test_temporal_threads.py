"""A Temporal worker's threads are bounded by its settings, not by how many jobs are in flight:
the receiver handles a bounded number of deliveries at once, ``run_jobs`` starts a bounded
number of workflows at once (yet keeps them all in flight), and a worker process running 100
jobs stays under the thread count its settings allow, as it does for 20."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("temporalio")

from suite_helpers import REPO, subprocess_env

from connector.integrations.temporal import batch, receiver, run_jobs, webhook_app


def post(app: Any, query: bytes) -> Any:
    """One POST into the ASGI app; returns the status it answers."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> int:
        scope = {"type": "http", "method": "POST", "path": "/fal/webhook", "query_string": query, "headers": []}
        await app(scope, receive, send)
        return int(sent[0]["status"])

    return call()


def test_the_receiver_handles_at_most_max_concurrent_deliveries_at_once(monkeypatch):
    inside, most, release = 0, 0, asyncio.Event()

    async def complete(*_args: Any, **_kw: Any) -> tuple[int, dict[str, Any]]:
        nonlocal inside, most
        inside += 1
        most = max(most, inside)
        await release.wait()
        inside -= 1
        return 200, {"status": "completed"}

    monkeypatch.setattr(receiver, "complete_from_webhook", complete)

    async def scenario() -> list[int]:
        app = webhook_app(None, max_concurrent=3)  # type: ignore[arg-type]
        calls = [asyncio.ensure_future(post(app, f"workflow_id=w{i}&activity_id=1".encode())) for i in range(12)]
        for _ in range(50):  # let every delivery reach the app
            await asyncio.sleep(0)
        assert most == 3 and inside == 3  # nine wait their turn
        release.set()
        return list(await asyncio.gather(*calls))

    assert asyncio.run(scenario()) == [200] * 12
    assert most == 3


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "4"])
def test_max_concurrent_deliveries_must_be_a_positive_integer(bad):
    with pytest.raises(ValueError, match="max_concurrent: expected an integer >= 1"):
        webhook_app(None, max_concurrent=bad)  # type: ignore[arg-type]


class FakeClient:
    """Just enough of a Temporal client for run_jobs: counts starts in progress and jobs in flight."""

    def __init__(self, jobs: int) -> None:
        self.starting = self.most_starting = self.started = 0
        self.all_started = asyncio.Event()
        self.jobs = jobs

    async def start_workflow(self, _run: Any, job: dict[str, Any], *, id: str, task_queue: str) -> Any:
        self.starting += 1
        self.most_starting = max(self.most_starting, self.starting)
        await asyncio.sleep(0.001)
        self.starting -= 1
        self.started += 1
        if self.started == self.jobs:
            self.all_started.set()
        return FakeHandle(self, job)


class FakeHandle:
    def __init__(self, client: FakeClient, job: dict[str, Any]) -> None:
        self.client, self.job = client, job

    async def result(self) -> dict[str, Any]:
        await self.client.all_started.wait()  # completes only once every job is in flight
        return {"request_id": f"r{self.job['i']}", "status": "COMPLETED", "data": self.job}


def test_run_jobs_starts_a_few_workflows_at_a_time_and_keeps_all_of_them_in_flight():
    client = FakeClient(jobs=40)
    outputs = asyncio.run(run_jobs(client, [{"i": i} for i in range(40)], task_queue="q", max_in_flight=40))  # type: ignore[arg-type]
    assert [o["data"] for o in outputs] == [{"i": i} for i in range(40)] and all(o["success"] for o in outputs)
    assert client.most_starting == batch.STARTS_AT_ONCE < 40


# The worker process under a load of N jobs (bench/scale_temporal.py: a dev server, fal_worker and
# run_jobs with every job in flight at once; threads sampled from /proc every 50 ms).
CHILD = ("import json, sys; from bench.scale_temporal import run_temporal; "
         "print(json.dumps(run_temporal(int(sys.argv[1]), json.loads(sys.argv[2]), **json.loads(sys.argv[3]))))")
SETTINGS = {"max_concurrent_activities": 4, "max_concurrent_workflow_tasks": 4, "max_concurrent_deliveries": 4}


def worker_process_under(n: int, emulator: Any) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(n), json.dumps(emulator.env()), json.dumps(SETTINGS)],
                          env=subprocess_env(), cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def thread_bound(threads_before: int) -> int:
    """What SETTINGS let a running worker add to the threads it had before the jobs came."""
    activities, workflow_tasks, deliveries = (SETTINGS[k] for k in (
        "max_concurrent_activities", "max_concurrent_workflow_tasks", "max_concurrent_deliveries"))
    # Connector calls run on asyncio's default executor: one per activity slot or delivery at most.
    executor = min(activities + deliveries, min(32, (os.cpu_count() or 1) + 4))
    # The SDK hands each answer back to Python on a thread of its own that waits for the GIL: one per
    # call that can be answered at once (the two task polls, a completion per slot, a signal per
    # activity, one call per delivery, the starts), plus the SDK's worker threads (one per CPU).
    answers = 2 + workflow_tasks + 2 * activities + deliveries + batch.STARTS_AT_ONCE + (os.cpu_count() or 1)
    return threads_before + workflow_tasks + executor + answers


def test_a_worker_process_running_100_jobs_stays_under_the_threads_its_settings_allow(fal_emulator):
    fal_emulator.set_model("fal-ai/echo", queue_seconds=0, run_seconds=1.0)
    small = worker_process_under(20, fal_emulator)
    big = worker_process_under(100, fal_emulator)
    assert (small["ok"], big["ok"]) == (20, 100)
    for run in (small, big):
        assert run["peak_threads"] <= thread_bound(run["threads_before"]), run
    # One thread per job would put the bigger run 80 threads above the smaller one.
    assert big["peak_threads"] - small["peak_threads"] < 40, (small, big)
