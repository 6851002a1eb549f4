"""``subscribe`` and ``run_model`` end to end: whole jobs that never hang
and never lose the request id; the deadline cancels the job; billable calls are never resent
blindly. Also ``fal-connector run subscribe --follow`` as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

APP = "fal-ai/flux/dev"
SLOW = "fal-ai/slow"
ALWAYS_FAILS_DETAIL = [{"loc": ["body"], "msg": "this model always fails", "type": "value_error.always_fails"}]


def _count(emu, method: str, contains: str) -> int:
    return sum(1 for m, target, _ in list(emu.requests_log) if m == method and contains in target)


# -- subscribe -------------------------------------------------------------------------------


def test_subscribe_success_with_logs_metrics_and_progress_events(emu, conn, check_output):
    emu.set_model(APP, queue_seconds=0.2, run_seconds=0.2)
    events: list[dict] = []
    out = conn.run("FAL_AI_SUBSCRIBE_ASYNC_JOB", {"app_id": APP, "data": {"prompt": "a fox", "seed": 3}, "logs": True, "timeout": 10},
                   on_event=events.append)
    check_output(conn, "subscribe", out)
    assert out["success"], out
    assert len(emu.jobs) == 1 and out["request_id"] == emu.jobs[0].request_id
    assert out["status"] == "COMPLETED" and out["cancelled"] is None
    assert out["data"]["prompt"] == "a fox" and out["data"]["seed"] == 3 and len(out["data"]["images"]) == 1
    assert out["logs"][0]["message"] == f"Starting inference on {APP}" and len(out["logs"]) == 5
    assert out["metrics"]["inference_time"] > 0

    types = [e["type"] for e in events]
    assert types[0] == "started" and types[-1] == "succeeded"
    assert types.index("submitted") < types.index("status")
    submitted = next(e for e in events if e["type"] == "submitted")
    assert submitted["request_id"] == out["request_id"] and submitted["action"] == "subscribe"
    statuses = [e["status"]["status"] for e in events if e["type"] == "status"]
    assert statuses[0] == "IN_QUEUE" and "IN_PROGRESS" in statuses and statuses[-1] == "COMPLETED"
    assert _count(emu, "GET", "/status/stream") == 1 and _count(emu, "GET", f"/requests/{out['request_id']}") >= 2


def test_subscribe_failed_job_is_model_error_with_detail_and_request_id(emu, conn, check_output):
    out = conn.run("subscribe", {"app_id": "fal-ai/always-fails", "data": {}, "timeout": 10})
    check_output(conn, "subscribe", out)
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "model_error", out
    assert out["request_id"] == emu.jobs[0].request_id and len(emu.jobs) == 1
    assert failure["detail"] == ALWAYS_FAILS_DETAIL and failure["status_code"] == 422
    assert failure["retryable"] is False
    # One line that says it once, with the real status, and no advice to resume a job that is over.
    assert out["error"] == f"the job failed: fal answered HTTP 422: this model always fails (request_id {out['request_id']})"
    assert out["status"] == "COMPLETED" and out["logs"] == [] and out["metrics"] is not None


def test_subscribe_failed_job_whose_result_cannot_be_fetched_says_what_the_status_said(emu, conn, check_output):
    emu.faults.add("result", status=503, times=None)  # fal's detail is out of reach
    out = conn.run("subscribe", {"app_id": "fal-ai/always-fails", "data": {}, "timeout": 10})
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "model_error" and out["failure"]["retryable"] is False, out
    assert out["error"] == f"the job failed (validation_error): Invalid status code: 422 (request_id {out['request_id']})"
    assert out["status"] == "COMPLETED"


def test_subscribe_result_fetch_broken_after_success_points_at_the_result_not_the_status(emu, conn, check_output):
    emu.faults.add("result", status=503, times=None)
    out = conn.run("subscribe", {"app_id": "fal-ai/echo", "data": {}, "timeout": 10})
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "server_error" and out["status"] == "COMPLETED", out
    assert out["error"].endswith(f"(request_id {out['request_id']}: the job completed, fetch its result with get_request_response)")


@pytest.mark.parametrize("running", [False, True], ids=["queued", "running"])
def test_subscribe_deadline_cancels_the_job(emu, conn, check_output, running):
    if running:
        emu.set_model(SLOW, queue_seconds=0, run_seconds=8)
    events: list[dict] = []
    started = time.monotonic()
    out = conn.run("subscribe", {"app_id": SLOW, "data": {"n": 1}, "timeout": 1}, on_event=events.append)
    elapsed = time.monotonic() - started
    check_output(conn, "subscribe", out)
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "timeout", out
    assert 1.0 <= elapsed < 2.0, elapsed
    job = emu.jobs[0]
    assert out["request_id"] == job.request_id and len(emu.jobs) == 1
    assert out["cancelled"] is True and failure["retryable"] is False
    assert out["status"] == ("IN_PROGRESS" if running else "IN_QUEUE")
    assert _count(emu, "PUT", f"/requests/{job.request_id}/cancel") == 1
    if running:
        assert job.cancel_requested_at is not None
    else:
        assert job.cancelled_at is not None and job.state == "COMPLETED"
    assert "fal accepted the cancel" in out["error"]
    assert next(e for e in events if e["type"] == "cancelling")["request_id"] == job.request_id


def test_subscribe_deadline_with_a_refused_cancel_says_so(emu, conn, check_output):
    emu.faults.add("cancel", status=500, times=None)
    out = conn.run("subscribe", {"app_id": SLOW, "data": {}, "timeout": 0.5})
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "timeout" and out["cancelled"] is False, out
    assert out["request_id"] == emu.jobs[0].request_id
    assert "not accepted" in out["error"]
    assert emu.jobs[0].cancelled_at is None


def test_subscribe_never_resubmits_a_lost_submit(emu, conn, check_output):
    emu.faults.add("submit", action="drop_after")
    out = conn.run("subscribe", {"app_id": APP, "data": {"prompt": "x"}, "timeout": 5})
    check_output(conn, "subscribe", out)
    assert out["failure"]["type"] == "outcome_unknown" and out["failure"]["attempts"] == 1, out
    assert len(emu.jobs) == 1 and _count(emu, "POST", "/" + APP) == 1


def test_subscribe_survives_a_dropping_stream(emu, conn):
    emu.set_model(APP, queue_seconds=0.05, run_seconds=0.2)
    emu.faults.add("stream", action="sse_drop", after_events=1, times=None)
    out = conn.run("subscribe", {"app_id": APP, "data": {"prompt": "x"}, "timeout": 10})
    assert out["success"] and out["data"]["prompt"] == "x", out
    assert len(emu.jobs) == 1


# -- run_model -------------------------------------------------------------------------------


def test_run_model_success(emu, conn, check_output):
    out = conn.run("FAL_AI_RUN_MODEL_SYNC", {"app_id": "fal-ai/echo", "data": {"hello": "world"}})
    check_output(conn, "run_model", out)
    assert out["success"] and out["data"] == {"echo": {"hello": "world"}}, out
    assert len(emu.runs) == 1 and emu.runs[0]["endpoint_id"] == "fal-ai/echo"
    assert _count(emu, "POST", "/run/fal-ai/echo") == 1 and emu.jobs == []  # not through the queue


def test_run_model_error_is_model_error(emu, conn, check_output):
    out = conn.run("run_model", {"app_id": "fal-ai/always-fails", "data": {}})
    check_output(conn, "run_model", out)
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "model_error", out
    assert failure["detail"] == ALWAYS_FAILS_DETAIL and failure["status_code"] == 422
    assert failure["attempts"] == 1 and len(emu.runs) == 1


def test_run_model_read_timeout_is_outcome_unknown_and_runs_once(emu, conn, check_output):
    started = time.monotonic()
    out = conn.run("run_model", {"app_id": SLOW, "data": {}, "timeout": 0.3})
    check_output(conn, "run_model", out)
    assert time.monotonic() - started < 1.0
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "outcome_unknown", out
    assert failure["attempts"] == 1 and failure["retryable"] is False
    assert len(emu.runs) == 1


def test_run_model_ingress_error_is_retried_but_a_lost_answer_is_not(emu, conn):
    emu.faults.add("run", status=502, ingress=True)
    out = conn.run("run_model", {"app_id": "fal-ai/echo", "data": {"a": 1}})
    assert out["success"] and len(emu.runs) == 1, out
    emu.faults.add("run", action="drop_after")
    out = conn.run("run_model", {"app_id": "fal-ai/echo", "data": {"a": 2}})
    assert out["failure"]["type"] == "outcome_unknown" and out["failure"]["attempts"] == 1, out
    assert [r["input"] for r in emu.runs] == [{"a": 1}, {"a": 2}]


def test_run_model_start_timeout_504_is_timeout(emu, conn, check_output):
    emu.set_model(SLOW, queue_seconds=1.5, run_seconds=0)
    out = conn.run("run_model", {"app_id": SLOW, "data": {}, "start_timeout": 1, "timeout": 5})
    check_output(conn, "run_model", out)
    assert out["failure"]["type"] == "timeout" and out["failure"]["status_code"] == 504, out
    assert out["failure"]["attempts"] == 1 and len(emu.runs) == 1


# -- the CLI: subscribe --follow -----------------------------------------------------------


def test_cli_subscribe_follow_prints_progress_on_stderr_and_one_json_on_stdout(keyed_emu, cli_env, python):
    keyed_emu.set_model(APP, queue_seconds=0.3, run_seconds=0.3)
    env = cli_env(keyed_emu)
    assert env["FAL_KEY"] == keyed_emu.api_key
    job = json.dumps({"app_id": APP, "data": {"prompt": "a fox"}, "logs": True, "timeout": 30})
    proc = subprocess.run([*python, "run", "subscribe", "--input", job, "--follow"], env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout
    out = json.loads(lines[0])
    assert out["success"] and out["data"]["prompt"] == "a fox" and out["request_id"] == keyed_emu.jobs[0].request_id
    err = proc.stderr
    assert f"[subscribe] submitted {out['request_id']}" in err
    positions = [err.find(s) for s in ("[subscribe] IN_QUEUE", "[subscribe] IN_PROGRESS", "[subscribe] COMPLETED")]
    assert -1 not in positions and positions == sorted(positions), err
    assert f"log: Starting inference on {APP}" in err

    # without --follow: the same single JSON line, and a quiet stderr
    proc = subprocess.run([*python, "run", "subscribe", "--input", "-"], input=json.dumps({"app_id": "fal-ai/always-fails", "data": {}}),
                          env=env, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert len(proc.stdout.splitlines()) == 1 and out["failure"]["type"] == "model_error"
    assert "[subscribe]" not in proc.stderr and proc.stderr.startswith("fal-connector: ")
    assert proc.stderr.count("\n") == 1 and proc.stderr.count("failed") == 1 and "resume" not in proc.stderr
    assert out["status"] == "COMPLETED"
    assert keyed_emu.api_key not in proc.stdout + proc.stderr
