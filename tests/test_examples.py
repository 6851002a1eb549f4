"""Every script in examples/ runs, as a user runs it: a subprocess whose environment is the
FAL_* lines of a local emulator (``fal_emulator`` requires a key, and the lines carry it)."""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from suite_helpers import REPO, poll, subprocess_env

from connector.testing import connector_for

EXAMPLES = Path(REPO) / "examples"
APP = "fal-ai/flux/dev"


def run_example(emulator: Any, name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLES / name), *args], env=subprocess_env(emulator),
                          capture_output=True, text=True, timeout=timeout)


def test_every_example_is_tested():
    tested = {"batch_prompts.py", "webhook_receiver.py", "agent_loop.py", "temporal_jobs.py", "celery_jobs.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


# -- batch_prompts.py --------------------------------------------------------------------------


def max_in_flight(jobs: list[Any]) -> int:
    """The most jobs that were submitted and not yet finished at one moment."""
    return max(sum(1 for j in jobs if j.submitted <= k.submitted < j.start_at + j.run_seconds) for k in jobs)


def test_batch_prompts_runs_every_prompt_with_bounded_concurrency(fal_emulator):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.3)
    prompts = [f"prompt {i}" for i in range(6)]
    done = run_example(fal_emulator, "batch_prompts.py", "--concurrency", "2", *prompts)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["prompt"] for line in lines] == prompts  # one line each, in the order given
    assert all(line["ok"] and line["urls"][0].startswith(fal_emulator.url) for line in lines), lines
    jobs = fal_emulator.jobs
    assert sorted(job.input["prompt"] for job in jobs) == prompts  # each submitted exactly once
    assert max_in_flight(jobs) == 2  # two at a time: never more, and really in parallel


def test_batch_prompts_reads_stdin_and_reports_failures(fal_emulator):
    done = subprocess.run([sys.executable, str(EXAMPLES / "batch_prompts.py"), "--model", "fal-ai/always-fails"],
                          input="one\n\ntwo\n", env=subprocess_env(fal_emulator), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["prompt"], line["ok"], line["failure"]) for line in lines] == [("one", False, "model_error"),
                                                                                 ("two", False, "model_error")]
    assert all(line["request_id"] for line in lines)


# -- webhook_receiver.py -----------------------------------------------------------------------


class Receiver:
    """The example server as a subprocess; its stdout JSON lines arrive on ``lines``."""

    def __init__(self, emulator: Any) -> None:
        self.proc = subprocess.Popen([sys.executable, str(EXAMPLES / "webhook_receiver.py"), "--port", "0"],
                                     env=subprocess_env(emulator), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self.next_line()
        assert first.startswith("listening on http://127.0.0.1:"), first
        self.url = first.split(" ", 2)[2]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def next_line(self, timeout: float = 20) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the receiver printed nothing within {timeout}s") from None

    def next_record(self) -> dict[str, Any]:
        return json.loads(self.next_line())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # the example stops cleanly on Ctrl-C
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def receiver(fal_emulator):
    """The example receiver, running with the emulator's FAL_* lines (its JWKS URL)."""
    r = Receiver(fal_emulator)
    yield r
    r.stop()


def test_webhook_receiver_accepts_a_real_delivery_once(fal_emulator, receiver):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.05)
    with connector_for(fal_emulator) as conn:
        out = conn.run("add_request_to_queue", {"app_id": APP, "data": {"prompt": "a fox"}, "webhook_url": receiver.url})
    assert out["success"], out
    record = receiver.next_record()
    assert record["event"] == "verified" and record["request_id"] == out["request_id"]
    assert record["status"] == "OK" and record["urls"][0].startswith(fal_emulator.url)
    assert poll(lambda: [d["status_code"] for d in fal_emulator.webhook_deliveries]) == [204]  # recorded after the answer

    # fal retries deliveries: the same genuine delivery again is acknowledged, not handled twice.
    body = json.dumps({"request_id": out["request_id"], "status": "OK", "payload": {}}).encode()
    again = requests.post(receiver.url, data=body, headers=fal_emulator.sign_webhook(body, out["request_id"]), timeout=10)
    assert again.status_code == 204
    assert receiver.next_record() == {"event": "duplicate", "request_id": out["request_id"]}


@pytest.mark.parametrize("tamper", ["body", "signature", "unsigned", "stale"])
def test_webhook_receiver_rejects_what_fal_did_not_sign(fal_emulator, receiver, tamper):
    body = json.dumps({"request_id": "req-1", "status": "OK", "payload": {"images": []}}).encode()
    headers = fal_emulator.sign_webhook(body, "req-1", timestamp=1 if tamper == "stale" else None)
    if tamper == "body":
        body = body.replace(b"OK", b"ERROR")
    elif tamper == "signature":
        name = next(h for h in headers if h.lower().endswith("signature"))
        headers[name] = "0" * len(headers[name])
    elif tamper == "unsigned":
        headers = {}
    answer = requests.post(receiver.url, data=body, headers=headers, timeout=10)
    assert answer.status_code == 403
    record = receiver.next_record()
    assert record["event"] == "rejected" and record["reason"]


# -- agent_loop.py -----------------------------------------------------------------------------


def test_agent_loop_recovers_from_policy_denied_and_answers_with_the_image(fal_emulator):
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.05)
    done = run_example(fal_emulator, "agent_loop.py", "a red fox in snow")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    calls = [json.loads(line.split(" ", 3)[3]) for line in lines if line.startswith("tool call: subscribe ")]
    assert [c["app_id"] for c in calls] == ["fal-ai/veo3", APP]
    assert all(isinstance(c["data"], str) and c["timeout"] is None for c in calls)  # strict-mode arguments
    assert [line for line in lines if line.startswith("tool result:")] == [
        "tool result: success=False failure=policy_denied", "tool result: success=True failure=None"]
    assert lines[-1].startswith(f"assistant: Here is your picture: {fal_emulator.url}")
    assert [job.endpoint_id for job in fal_emulator.jobs] == [APP]  # the refused model was never sent


# -- temporal_jobs.py --------------------------------------------------------------------------


def test_temporal_jobs_runs_each_prompt_as_a_workflow_completed_by_webhook(fal_emulator):
    pytest.importorskip("temporalio")
    prompts = ["a fox", "a lighthouse", "a paper boat"]
    done = run_example(fal_emulator, "temporal_jobs.py", "--model", APP, *prompts, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["prompt"] for line in lines] == prompts
    assert all(line["ok"] and line["urls"][0].startswith(fal_emulator.url) for line in lines), lines
    jobs = {job.request_id: job for job in fal_emulator.jobs}
    assert sorted(jobs) == sorted(line["request_id"] for line in lines)  # one submit each
    assert all(jobs[line["request_id"]].input["prompt"] == line["prompt"] for line in lines)
    assert sorted(d["status_code"] for d in fal_emulator.webhook_deliveries) == [200] * 3


# -- celery_jobs.py ----------------------------------------------------------------------------


def test_celery_jobs_runs_prompts_on_a_worker_and_a_rerun_batch_never_resubmits(fal_emulator):
    pytest.importorskip("celery", reason="the celery extra is not installed (pip install '.[celery]')")
    from connector.integrations.celery_testing import redis_server

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    fal_emulator.set_model(APP, queue_seconds=0, run_seconds=0.3)
    prompts = ["a red fox", "a blue owl", "a green frog"]
    with redis_server() as url:
        env = subprocess_env(fal_emulator, CELERY_BROKER_URL=url)
        runs = [subprocess.run([sys.executable, str(EXAMPLES / "celery_jobs.py"), "--worker", "--batch", "b1", *prompts],
                               env=env, capture_output=True, text=True, timeout=120) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
    first, second = ([json.loads(line) for line in done.stdout.splitlines()] for done in runs)
    assert [line["prompt"] for line in first] == prompts
    assert all(line["ok"] and line["urls"][0].startswith(fal_emulator.url) for line in first), first
    assert sorted(job.input["prompt"] for job in fal_emulator.jobs) == sorted(prompts)  # once each, over both runs
    assert [line["request_id"] for line in second] == [line["request_id"] for line in first]
