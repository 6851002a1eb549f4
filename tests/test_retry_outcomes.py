"""How a retried call ends: the type of the last answer when the retry deadline runs out, and
an answer over ``max_response_bytes`` never worth repeating."""

from __future__ import annotations

import pytest
import requests

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
STATUS_URL = f"https://queue.test/fal-ai/flux/requests/{RID}/status"
STATUS = ("get_request_status", {"app_id": "fal-ai/flux/dev", "request_id": RID})
SUBMIT = ("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "x"}})
SUBMIT_URL = "https://queue.test/fal-ai/flux/dev"


@pytest.mark.parametrize(("status", "headers", "failure_type"), [
    (429, {}, "rate_limited"),
    (503, {"x-fal-request-id": "r-1"}, "server_error"),
    (502, {}, "server_error"),
])
def test_retry_deadline_running_out_keeps_the_last_answers_type(make_conn, mocked, check_output, status, headers, failure_type):
    # A backoff (4-8 s) longer than the 5 s retry deadline: the second wait would pass it.
    conn = make_conn(retry_deadline=5, backoff_base=4, backoff_max=8)
    waits: list[float] = []
    conn.http.sleep = waits.append
    mocked.get(STATUS_URL, status=status, headers=headers, json={"detail": "busy"})
    out = conn.run(*STATUS)
    check_output(conn, STATUS[0], out)
    assert out["failure"]["type"] == failure_type
    assert out["failure"]["status_code"] == status
    assert out["failure"]["retryable"] is True
    assert out["failure"]["attempts"] == len(waits) + 1 < 6  # stopped by the deadline, not the count
    assert "the 5 s retry deadline ran out" in out["error"]
    assert f"HTTP {status}" in out["error"]


def test_billable_429s_until_the_deadline_are_rate_limited(make_conn, mocked, check_output):
    conn = make_conn(retry_deadline=5, backoff_base=4, backoff_max=8)
    conn.http.sleep = lambda seconds: None
    mocked.post(SUBMIT_URL, status=429, json={"detail": "too many requests"})
    out = conn.run(*SUBMIT)
    check_output(conn, SUBMIT[0], out)
    assert out["failure"]["type"] == "rate_limited"
    assert "retry deadline ran out" in out["error"]


def test_a_silent_server_is_still_a_timeout(make_conn, mocked):


    conn = make_conn(retry_deadline=5, backoff_base=4, backoff_max=8)
    conn.http.sleep = lambda seconds: None
    mocked.get(STATUS_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    out = conn.run(*STATUS)
    assert out["failure"]["type"] == "timeout"


@pytest.mark.parametrize(("action", "inputs", "method", "url"), [(*STATUS, "GET", STATUS_URL), (*SUBMIT, "POST", SUBMIT_URL)])
@pytest.mark.parametrize("declared", [True, False])
def test_an_answer_over_max_response_bytes_is_not_retryable(make_conn, mocked, check_output, action, inputs, method, url, declared):
    conn = make_conn(max_response_bytes=4096)
    body = b'{"status": "IN_QUEUE", "pad": "' + b"x" * 10_000 + b'"}'
    mocked.add(method, url, body=body, status=200, content_type="application/json", auto_calculate_content_length=declared)
    out = conn.run(action, inputs)
    check_output(conn, action, out)
    assert out["failure"]["type"] == "invalid_response"
    assert out["failure"]["retryable"] is False
    assert out["failure"]["attempts"] == 1
    assert "max_response_bytes" in out["error"]
