"""Failure paths that need real sockets: timeouts, refused and dropped
connections, lost submit answers (never a duplicate job), SSE drops and stalls, Retry-After,
ingress errors, and answers that are not what fal promised."""

from __future__ import annotations

import time
import uuid

import pytest

from connector.emulator.models import MISSING_PROMPT_DETAIL
from connector.fal.follow import STREAM_REOPENS

ECHO = "fal-ai/echo"
SLOW = "fal-ai/slow"


def _count(emu, method: str, contains: str) -> int:
    return sum(1 for m, target, _ in list(emu.requests_log) if m == method and contains in target)


def _polls(emu) -> list[str]:
    """GET .../status (not the stream) targets, in order."""
    return [t for m, t, _ in list(emu.requests_log) if m == "GET" and t.split("?")[0].endswith("/status")]


def _submits(emu, app: str = ECHO) -> int:
    return sum(1 for m, target, _ in list(emu.requests_log) if m == "POST" and target.split("?")[0] == "/" + app)


def _completed_echo(emu, conn, wait_for) -> dict:
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {"x": 1}})
    assert out["success"], out
    wait_for(lambda: emu.job(out["request_id"]).state == "COMPLETED")
    return {"app_id": ECHO, "request_id": out["request_id"]}


# -- timeouts and connections --------------------------------------------------------------


def test_read_timeout_is_retried_then_timeout_within_the_retry_deadline(emu, make_conn, check_output, wait_for):
    conn = make_conn(timeout=0.2, retry_deadline=1.0)
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("status", delay=3.0, times=None)
    started = time.monotonic()
    out = conn.run("get_request_status", ids)
    elapsed = time.monotonic() - started
    check_output(conn, "get_request_status", out)
    assert not out["success"] and out["failure"]["type"] == "timeout", out
    assert out["failure"]["retryable"] is True
    attempts = out["failure"]["attempts"]
    assert attempts >= 3 and _count(emu, "GET", "/status") == attempts
    assert 0.9 <= elapsed < 1.0 + 0.5, elapsed  # used the deadline, did not outlive it


def test_connection_refused_is_connection_error_and_even_submit_is_retried(make_conn, free_port, check_output):
    dead = f"http://127.0.0.1:{free_port}"
    conn = make_conn(queue_url=dead, max_retries=2)
    started = time.monotonic()
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert not out["success"] and out["failure"]["type"] == "connection_error", out
    # The connection never opened, so fal cannot have the job: safe to retry a billable submit.
    assert out["failure"]["attempts"] == 3 and out["failure"]["retryable"] is True
    assert out["failure"]["status_code"] is None
    assert time.monotonic() - started < 2
    out = conn.run("get_request_status", {"app_id": ECHO, "request_id": str(uuid.uuid4())})
    assert out["failure"]["type"] == "connection_error" and out["failure"]["attempts"] == 3


@pytest.mark.parametrize("action", ["drop_after", "reset_after"])
def test_submit_whose_answer_is_lost_is_outcome_unknown_and_exactly_one_job(emu, conn, check_output, action):
    emu.faults.add("submit", action=action)
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {"once": True}})
    check_output(conn, "add_request_to_queue", out)
    assert not out["success"] and out["failure"]["type"] == "outcome_unknown", out
    assert out["failure"]["attempts"] == 1 and out["failure"]["retryable"] is False
    assert "check" in out["error"] and "resubmit" in out["error"]
    assert _submits(emu) == 1
    assert len(emu.jobs) == 1 and emu.jobs[0].input == {"once": True}


def test_submit_read_timeout_is_outcome_unknown_and_never_resent(emu, make_conn, check_output, wait_for):
    conn = make_conn(timeout=0.2)
    emu.faults.add("submit", delay=0.6)  # the emulator enqueues after the client gave up
    started = time.monotonic()
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert time.monotonic() - started < 0.6
    assert not out["success"] and out["failure"]["type"] == "outcome_unknown", out
    assert out["failure"]["attempts"] == 1 and out["failure"]["retryable"] is False
    wait_for(lambda: len(emu.jobs) == 1, timeout=3)  # fal did take it ...
    assert _submits(emu) == 1 and len(emu.jobs) == 1  # ... exactly once


@pytest.mark.parametrize("action", ["drop_before", "reset"])
def test_submit_dropped_before_the_work_is_still_outcome_unknown(emu, conn, check_output, action):
    """A FIN/RST after the request was sent looks the same whether fal did the work or not,
    so the connector must not resend: outcome_unknown, no duplicate possible.
    (Resending here would enqueue a second job in the drop_after case above.)"""
    emu.faults.add("submit", action=action)
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert not out["success"] and out["failure"]["type"] == "outcome_unknown", out
    assert out["failure"]["attempts"] == 1
    assert _submits(emu) == 1 and len(emu.jobs) == 0


def test_dropped_read_is_retried(emu, conn, check_output, wait_for):
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("result", action="reset", times=2)
    out = conn.run("get_request_response", ids)
    check_output(conn, "get_request_response", out)
    assert out["success"] and out["data"] == {"echo": {"x": 1}}, out
    assert _count(emu, "GET", ids["request_id"]) == 3


# -- the status stream: drops, stalls, deadline --------------------------------------------


def test_sse_drop_reopens_the_stream_and_completes(emu, conn, check_output):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=0.2)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})
    emu.faults.add("stream", action="sse_drop", after_events=1)
    out = conn.run("stream_request_status", {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"], "timeout": 10})
    check_output(conn, "stream_request_status", out)
    assert out["success"] and out["status"] == "COMPLETED", out
    statuses = [e["status"] for e in out["events"]]
    assert statuses[-1] == "COMPLETED" and statuses == sorted(statuses, key=["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].index)
    assert _count(emu, "GET", "/status/stream") == 2 and _polls(emu) == []  # reopened, not polled


def test_sse_that_always_drops_falls_back_to_polling(emu, conn, check_output):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=0.3)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})
    emu.faults.add("stream", action="sse_drop", after_events=1, times=None)
    out = conn.run("stream_request_status", {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"], "logs": True, "timeout": 10})
    check_output(conn, "stream_request_status", out)
    assert out["success"] and out["status"] == "COMPLETED", out
    assert _count(emu, "GET", "/status/stream") == STREAM_REOPENS + 1
    polls = _polls(emu)
    assert polls and all(t.endswith("?logs=1") for t in polls)
    assert len(out["logs"]) == 5  # polling keeps collecting (de-duplicated) logs


def test_sse_stall_longer_than_the_read_timeout_is_reopened(emu, make_conn, check_output):
    conn = make_conn(timeout=0.3)
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=0.2)
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})
    emu.faults.add("stream", action="sse_stall", after_events=1, stall=5.0)
    started = time.monotonic()
    out = conn.run("stream_request_status", {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"], "timeout": 4})
    check_output(conn, "stream_request_status", out)
    assert out["success"] and out["status"] == "COMPLETED", out
    assert time.monotonic() - started < 2.0  # noticed after ~0.3 s of silence, not after the 5 s stall
    assert _count(emu, "GET", "/status/stream") >= 2


def test_sse_stall_cannot_outlive_the_stream_timeout(emu, make_conn, check_output):
    """The stall starts 0.8 s into the stream (after the IN_PROGRESS event), so the read timeout
    the stream was opened with (the 1.2 s left then) would let it run to ~2.0 s: the connector
    must shorten the socket's timeout as its deadline approaches."""
    conn = make_conn(timeout=10)  # a read timeout far beyond the action's own deadline
    emu.set_model(SLOW, queue_seconds=0.8, run_seconds=8)
    sub = conn.run("add_request_to_queue", {"app_id": SLOW, "data": {}})
    emu.faults.add("stream", action="sse_stall", after_events=2, stall=5.0)
    started = time.monotonic()
    out = conn.run("stream_request_status", {"app_id": SLOW, "request_id": sub["request_id"], "timeout": 1.2})
    elapsed = time.monotonic() - started
    check_output(conn, "stream_request_status", out)
    assert not out["success"] and out["failure"]["type"] == "timeout", out
    assert 1.1 <= elapsed < 1.7, elapsed
    assert [e["status"] for e in out["events"]] == ["IN_QUEUE", "IN_PROGRESS"] and out["status"] == "IN_PROGRESS"


def test_stream_timeout_keeps_the_last_status(emu, conn, check_output):
    sub = conn.run("add_request_to_queue", {"app_id": SLOW, "data": {}})
    started = time.monotonic()
    out = conn.run("stream_request_status", {"app_id": SLOW, "request_id": sub["request_id"], "timeout": 0.5})
    elapsed = time.monotonic() - started
    check_output(conn, "stream_request_status", out)
    assert not out["success"] and out["failure"]["type"] == "timeout", out
    assert out["failure"]["retryable"] is True
    assert out["status"] == "IN_QUEUE" and len(out["events"]) == 1 and out["events"][0]["queue_position"] == 0
    assert sub["request_id"] in out["error"] or "request_id" in out["error"]
    assert 0.45 <= elapsed < 1.5, elapsed
    assert emu.job(sub["request_id"]).cancelled_at is None  # following a job never cancels it


# -- Retry-After -------------------------------------------------------------------------------


def test_retry_after_is_honoured(emu, conn, check_output, wait_for):
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("status", status=429, headers={"Retry-After": "1"})
    events = []
    started = time.monotonic()
    out = conn.run("get_request_status", ids, on_event=events.append)
    elapsed = time.monotonic() - started
    check_output(conn, "get_request_status", out)
    assert out["success"] and out["status"] == "COMPLETED", out
    assert 0.95 <= elapsed < 2.0, elapsed  # waited what fal asked, not the 0.01 s backoff
    assert [e["wait"] for e in events if e["type"] == "retrying"] == [1.0]
    assert _count(emu, "GET", "/status") == 2


def test_retry_after_beyond_the_deadline_ends_at_once(emu, make_conn, check_output, wait_for):
    conn = make_conn(retry_deadline=5)
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("status", status=429, headers={"Retry-After": "30"}, times=None)
    started = time.monotonic()
    out = conn.run("get_request_status", ids)
    check_output(conn, "get_request_status", out)
    assert time.monotonic() - started < 1
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "rate_limited", out
    assert failure["retry_after"] == 30.0 and failure["attempts"] == 1 and failure["retryable"] is True
    assert failure["status_code"] == 429 and failure["fal_request_id"]


def test_submit_429_is_retried_and_enqueues_once(emu, conn):
    emu.faults.add("submit", status=429, headers={"Retry-After": "0.1"})
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    assert out["success"], out
    assert _submits(emu) == 2 and len(emu.jobs) == 1


# -- ingress vs fal errors on submit ----------------------------------------------------------


def test_submit_ingress_502_without_request_id_is_retried(emu, conn, check_output):
    emu.faults.add("submit", status=502, ingress=True, times=2)
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert out["success"], out
    assert _submits(emu) == 3 and len(emu.jobs) == 1


def test_submit_503_with_request_id_is_not_retried(emu, conn, check_output):
    emu.faults.add("submit", status=503, times=None)
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "server_error", out
    assert failure["retryable"] is False and failure["attempts"] == 1 and failure["status_code"] == 503
    assert failure["fal_request_id"]  # fal saw it: that is why it must not be resent
    assert _submits(emu) == 1


def test_read_503_is_retried(emu, conn, wait_for):
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("result", status=503, times=2)
    out = conn.run("get_request_response", ids)
    assert out["success"] and out["data"] == {"echo": {"x": 1}}, out
    emu.faults.add("result", status=500, times=None)
    out = conn.run("get_request_response", ids)
    assert out["failure"]["type"] == "server_error" and out["failure"]["attempts"] == 6  # 5 retries
    assert out["failure"]["retryable"] is True


def test_504_with_timeout_type_is_timeout_and_not_retried(emu, conn, check_output, wait_for):
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("status", status=504, headers={"X-Fal-Request-Timeout-Type": "user"}, times=None)
    out = conn.run("get_request_status", ids)  # a read: a plain 504 would be retried
    check_output(conn, "get_request_status", out)
    assert not out["success"] and out["failure"]["type"] == "timeout", out
    assert out["failure"]["attempts"] == 1 and out["failure"]["retryable"] is False
    assert out["failure"]["status_code"] == 504


def test_start_timeout_expiring_in_the_queue_end_to_end(emu, conn, check_output, wait_for):
    """A real start timeout: the job leaves the queue unrun and its result is fal's 504."""
    sub = conn.run("add_request_to_queue", {"app_id": SLOW, "data": {}, "start_timeout": 1})
    assert sub["success"], sub
    job = emu.job(sub["request_id"])
    assert job.headers.get("X-Fal-Request-Timeout") == "1.0"
    wait_for(lambda: job.state == "COMPLETED", timeout=3)
    ids = {"app_id": SLOW, "request_id": sub["request_id"]}
    status = conn.run("get_request_status", ids)
    assert status["success"] and status["job_error_type"] == "request_timeout"
    out = conn.run("get_request_response", ids)
    check_output(conn, "get_request_response", out)
    assert not out["success"] and out["failure"]["type"] == "timeout", out
    assert out["failure"]["attempts"] == 1 and out["failure"]["status_code"] == 504


# -- result errors -------------------------------------------------------------------------------


def test_result_of_a_failed_job_is_model_error_with_fals_detail(emu, conn, check_output, wait_for):
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"no_prompt": True}})
    wait_for(lambda: emu.job(sub["request_id"]).state == "COMPLETED")
    ids = {"app_id": "fal-ai/flux/dev", "request_id": sub["request_id"]}
    status = conn.run("get_request_status", ids)
    assert status["success"] and status["job_error"] == "Invalid status code: 422"
    assert status["job_error_type"] == "validation_error"
    out = conn.run("get_request_response", ids)
    check_output(conn, "get_request_response", out)
    failure = out["failure"]
    assert not out["success"] and failure["type"] == "model_error", out
    assert failure["detail"] == MISSING_PROMPT_DETAIL and failure["status_code"] == 422
    assert failure["attempts"] == 1 and failure["retryable"] is False
    assert failure["fal_request_id"] == sub["request_id"]
    assert "prompt" in out["error"]


def test_result_before_completion_is_not_ready(emu, conn, check_output):
    sub = conn.run("add_request_to_queue", {"app_id": SLOW, "data": {}})
    out = conn.run("get_request_response", {"app_id": SLOW, "request_id": sub["request_id"]})
    check_output(conn, "get_request_response", out)
    assert not out["success"] and out["failure"]["type"] == "not_ready", out
    assert out["failure"]["retryable"] is True and out["failure"]["attempts"] == 1
    assert out["failure"]["status_code"] == 400


def test_unknown_request_is_not_found(conn, check_output):
    out = conn.run("get_request_status", {"app_id": ECHO, "request_id": str(uuid.uuid4())})
    check_output(conn, "get_request_status", out)
    assert out["failure"]["type"] == "not_found" and out["failure"]["attempts"] == 1


# -- auth ---------------------------------------------------------------------------------------


def test_wrong_key_is_auth_error_not_retried_and_never_echoed(keyed_emu, make_conn, check_output):
    wrong = "wrong-key-id:wrong-key-secret-999999"
    conn = make_conn(keyed_emu, api_key=wrong)
    for action, inputs in [
        ("add_request_to_queue", {"app_id": ECHO, "data": {}}),
        ("get_request_status", {"app_id": ECHO, "request_id": str(uuid.uuid4())}),
        ("get_pricing", {"endpoint_id": ECHO}),
        ("get_models", {}),  # works without a key, but a wrong key is still refused
    ]:
        before = len(keyed_emu.requests_log)
        out = conn.run(action, inputs)
        check_output(conn, action, out)
        assert not out["success"] and out["failure"]["type"] == "auth_error", (action, out)
        assert out["failure"]["attempts"] == 1 and out["failure"]["retryable"] is False
        assert out["failure"]["status_code"] == 401
        assert len(keyed_emu.requests_log) == before + 1
        assert keyed_emu.requests_log[-1][2]["Authorization"] == f"Key {wrong}"
        assert "wrong-key-secret-999999" not in repr(out)
    assert len(keyed_emu.jobs) == 0
    good = make_conn(keyed_emu, api_key=keyed_emu.api_key).run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    assert good["success"], good


# -- answers that are not what fal promised -------------------------------------------------


@pytest.mark.parametrize("action", ["invalid_json", "html", "empty"])
def test_broken_200_on_a_read_is_invalid_response(emu, conn, check_output, wait_for, action):
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("status", action=action)
    out = conn.run("get_request_status", ids)
    check_output(conn, "get_request_status", out)
    assert not out["success"] and out["failure"]["type"] == "invalid_response", out
    assert out["failure"]["status_code"] == 200 and out["failure"]["attempts"] == 1
    assert out["failure"]["retryable"] is True  # a read: asking again is harmless


def test_broken_200_on_submit_is_invalid_response_not_retryable(emu, conn, check_output):
    emu.faults.add("submit", action="invalid_json")
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert not out["success"] and out["failure"]["type"] == "invalid_response", out
    assert out["failure"]["retryable"] is False and out["failure"]["attempts"] == 1
    assert out["failure"]["fal_request_id"] == emu.jobs[0].request_id  # the job exists: resume by its id
    assert _submits(emu) == 1 and len(emu.jobs) == 1


def test_short_body_on_a_read_is_a_dropped_connection_retried(emu, conn, check_output, wait_for):
    """A body cut short (Content-Length not reached) is a dropped connection: a read retries it
    and ends as connection_error when it keeps happening (README: reads retry connection problems)."""
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("result", action="short_body")
    out = conn.run("get_request_response", ids)
    assert out["success"] and out["data"] == {"echo": {"x": 1}}, out
    emu.faults.add("result", action="short_body", times=None)
    out = conn.run("get_request_response", ids)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "connection_error" and out["failure"]["attempts"] == 6
    assert out["failure"]["retryable"] is True


def test_short_body_on_submit_is_outcome_unknown(emu, conn, check_output):
    emu.faults.add("submit", action="short_body")
    out = conn.run("add_request_to_queue", {"app_id": ECHO, "data": {}})
    check_output(conn, "add_request_to_queue", out)
    assert not out["success"] and out["failure"]["type"] == "outcome_unknown", out
    assert out["failure"]["attempts"] == 1 and out["failure"]["fal_request_id"] == emu.jobs[0].request_id
    assert _submits(emu) == 1 and len(emu.jobs) == 1


def test_body_over_max_response_bytes_is_refused(emu, make_conn, check_output, wait_for):
    conn = make_conn(max_response_bytes=4096)
    ids = _completed_echo(emu, conn, wait_for)
    emu.faults.add("result", action="big_body", size=10_000_000)  # 10 MB: refused unread
    started = time.monotonic()
    out = conn.run("get_request_response", ids)
    check_output(conn, "get_request_response", out)
    assert not out["success"] and out["failure"]["type"] == "invalid_response", out
    assert "max_response_bytes" in out["error"] and out["failure"]["attempts"] == 1
    assert out["failure"]["retryable"] is False  # repeating cannot make it smaller
    assert time.monotonic() - started < 1
    # a real model answer over the cap, too
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/sized", "data": {"bytes": 5000}})
    wait_for(lambda: emu.job(sub["request_id"]).state == "COMPLETED")
    out = conn.run("get_request_response", {"app_id": "fal-ai/sized", "request_id": sub["request_id"]})
    assert out["failure"]["type"] == "invalid_response", out
    sub = conn.run("add_request_to_queue", {"app_id": "fal-ai/sized", "data": {"bytes": 3000}})
    wait_for(lambda: emu.job(sub["request_id"]).state == "COMPLETED")
    out = conn.run("get_request_response", {"app_id": "fal-ai/sized", "request_id": sub["request_id"]})
    assert out["success"] and out["data"]["bytes"] == 3000, out
