"""get_request_status: URL shape, normalised outputs, and the read retry rules."""

from __future__ import annotations

import email.utils
import time

import pytest
import requests

ACTION = "get_request_status"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
STATUS_URL = f"https://queue.test/fal-ai/flux/requests/{RID}/status"
INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}


def urls(rid=RID, app="fal-ai/flux"):
    base = f"https://queue.test/{app}/requests/{rid}"
    return {"request_id": rid, "response_url": base, "status_url": base + "/status", "cancel_url": base + "/cancel"}


def test_in_queue(conn, mocked, check_output, http_calls, fake_key):
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 3, **urls()})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out == {
        "success": True, "error": None, "failure": None,
        "status": "IN_QUEUE", "queue_position": 3, "logs": [], "metrics": None,
        "job_error": None, "job_error_type": None,
    }
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert call.request.url == STATUS_URL  # owner/app only, no logs param when not asked
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


def test_in_progress_queue_position_is_null_and_logs_dropped_when_not_asked(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=202, json={
        "status": "IN_PROGRESS", "queue_position": 0, **urls(),
        "logs": [{"message": "step 1", "level": "INFO", "timestamp": "2025-01-01T00:00:00Z"}], "metrics": {},
    })
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["status"] == "IN_PROGRESS"
    assert out["queue_position"] is None
    assert out["logs"] == []
    assert out["metrics"] == {}


def test_logs_requested_sends_logs_1_and_passes_extra_keys(conn, mocked, check_output, http_calls):
    logs = [
        {"message": "loading", "level": "INFO", "source": "user", "timestamp": "2025-01-01T00:00:00.1Z"},
        {"message": "50%", "timestamp": "2025-01-01T00:00:01Z", "labels": {"step": 5}},
    ]
    mocked.get(STATUS_URL, status=202, json={"status": "IN_PROGRESS", **urls(), "logs": logs, "metrics": {}})
    out = conn.run(ACTION, {**INPUT, "logs": True})
    check_output(conn, ACTION, out)
    assert http_calls.url(mocked.calls[0]) == STATUS_URL
    assert http_calls.query(mocked.calls[0]) == {"logs": ["1"]}
    assert out["logs"][0] == logs[0]  # source passes through
    assert out["logs"][1]["labels"] == {"step": 5}
    assert out["logs"][1]["message"] == "50%"
    assert out["logs"][1]["level"] is None  # missing normalised keys become null


def test_logs_false_sends_no_logs_param(conn, mocked, http_calls):
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    conn.run(ACTION, {**INPUT, "logs": False})
    assert http_calls.query(mocked.calls[0]) == {}


@pytest.mark.parametrize("logs_value", [None, [], "garbage"])
def test_logs_always_a_list(conn, mocked, check_output, logs_value):
    mocked.get(STATUS_URL, status=202, json={"status": "IN_PROGRESS", "logs": logs_value})
    out = conn.run(ACTION, {**INPUT, "logs": True})
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["logs"] == []


def test_completed_with_metrics_passthrough(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=200, json={
        "status": "COMPLETED", **urls(), "logs": None,
        "metrics": {"inference_time": 17.79, "gpu": "H100", "new_metric": {"a": 1}},
        "some_new_fal_field": True,
    })
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)  # the unknown top-level field is not in the output
    assert out["status"] == "COMPLETED"
    assert out["metrics"] == {"inference_time": 17.79, "gpu": "H100", "new_metric": {"a": 1}}
    assert out["queue_position"] is None
    assert out["job_error"] is None and out["job_error_type"] is None


def test_completed_job_that_failed_is_success_with_job_error(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=200, json={
        "status": "COMPLETED", **urls(), "logs": [], "metrics": {},
        "error": "Request timed out", "error_type": "request_timeout",
    })
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["failure"] is None
    assert out["job_error"] == "Request timed out"
    assert out["job_error_type"] == "request_timeout"


@pytest.mark.parametrize(
    ("app_id", "path"),
    [
        ("fal-ai/flux/dev", "/fal-ai/flux"),
        ("fal-ai/flux/dev/image-to-image", "/fal-ai/flux"),
        ("fal-ai/flux", "/fal-ai/flux"),
        ("fast-sdxl", "/fal-ai/fast-sdxl"),
        ("workflows/acme/upscale/fast", "/workflows/acme/upscale"),
        ("comfy/acme/flow/x/y", "/comfy/acme/flow"),
    ],
)
def test_status_url_strips_to_owner_app(conn, mocked, app_id, path):
    mocked.get(f"https://queue.test{path}/requests/{RID}/status", status=202, json={"status": "IN_QUEUE", "queue_position": 1})
    out = conn.run(ACTION, {"app_id": app_id, "request_id": RID})
    assert out["success"] is True, out
    assert mocked.calls[0].request.url == f"https://queue.test{path}/requests/{RID}/status"


def test_base_url_with_path_prefix(make_conn, mocked):
    conn = make_conn(queue_url="http://127.0.0.1:8080/queue/")
    url = f"http://127.0.0.1:8080/queue/fal-ai/flux/requests/{RID}/status"
    mocked.get(url, status=202, json={"status": "IN_QUEUE", "queue_position": 1})
    out = conn.run(ACTION, INPUT)
    assert out["success"] is True, out
    assert mocked.calls[0].request.url == url
    # the configured queue origin is keyed, even over loopback http
    assert mocked.calls[0].request.headers["Authorization"].startswith("Key ")


@pytest.mark.parametrize("alias", ["GetRequestStatus", "FAL_AI_QUEUE_GET_STATUS"])
def test_aliases(conn, mocked, alias):
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 1})
    assert conn.run(alias, INPUT)["success"] is True


# -- failures -------------------------------------------------------------------------------


def test_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 1})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error(conn, mocked, check_output, status):
    mocked.get(STATUS_URL, status=status, json={"detail": "Unauthorized"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert (f["type"], f["attempts"], f["retryable"], f["status_code"]) == ("auth_error", 1, False, status)
    assert len(mocked.calls) == 1


def test_not_found(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=404, json={"detail": "Request not found"}, headers={"x-fal-request-id": "gw-1"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "not_found"
    assert f["attempts"] == 1
    assert f["fal_request_id"] == "gw-1"
    assert f["detail"] == "Request not found"


def test_rate_limited_retries_honour_retry_after(conn, mocked, check_output, sleeps):
    mocked.get(STATUS_URL, status=429, json={"detail": "slow down"}, headers={"Retry-After": "1.5"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "rate_limited"
    assert f["attempts"] == 6  # 1 + 5 retries for reads
    assert f["retryable"] is True
    assert f["retry_after"] == 1.5
    assert sleeps == [1.5] * 5


def test_rate_limited_retry_after_ms(conn, mocked, sleeps):
    mocked.get(STATUS_URL, status=429, headers={"retry-after-ms": "250"})
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    out = conn.run(ACTION, INPUT)
    assert out["success"] is True
    assert sleeps == [0.25]


def test_rate_limited_retry_after_http_date(conn, mocked, sleeps):
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    mocked.get(STATUS_URL, status=429, headers={"Retry-After": when})
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    out = conn.run(ACTION, INPUT)
    assert out["success"] is True
    assert len(sleeps) == 1 and 7 <= sleeps[0] <= 11


def test_retry_after_beyond_deadline_returns_at_once(make_conn, mocked, check_output, monkeypatch):
    conn = make_conn(retry_deadline=10)
    waits: list[float] = []
    monkeypatch.setattr(conn.http, "sleep", waits.append)
    mocked.get(STATUS_URL, status=429, headers={"Retry-After": "30"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "rate_limited"
    assert f["retry_after"] == 30.0
    assert f["attempts"] == 1
    assert waits == []


def test_503_retry_after_beyond_deadline_keeps_server_error(make_conn, mocked, check_output, monkeypatch):
    conn = make_conn(retry_deadline=10)
    monkeypatch.setattr(conn.http, "sleep", lambda s: None)
    mocked.get(STATUS_URL, status=503, headers={"Retry-After": "60"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["retry_after"] == 60.0
    assert out["failure"]["attempts"] == 1


def test_exhausted_deadline_keeps_the_last_answers_type(make_conn, mocked, check_output, monkeypatch):
    # Backoff 10 s then 20 s (minus jitter): the second wait no longer fits a 15 s deadline.
    conn = make_conn(retry_deadline=15, backoff_base=10, backoff_max=100)
    waits: list[float] = []
    monkeypatch.setattr(conn.http, "sleep", waits.append)
    mocked.get(STATUS_URL, status=503, json={"detail": "busy"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "server_error"  # what fal kept answering; the error says the deadline ran out
    assert "retry deadline ran out" in out["error"]
    assert f["attempts"] == 2
    assert f["retryable"] is True
    assert len(waits) == 1 and 7.5 <= waits[0] <= 10


def test_start_timeout_504_not_retried(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=504, headers={"X-Fal-Request-Timeout-Type": "user"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "timeout"
    assert out["failure"]["attempts"] == 1
    assert out["failure"]["retryable"] is False


def test_plain_504_is_retried_server_error(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=504)
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 6


def test_read_timeout_retried_then_timeout(conn, mocked, check_output):
    mocked.get(STATUS_URL, body=requests.exceptions.ReadTimeout("Read timed out."))
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "timeout"
    assert f["attempts"] == 6
    assert f["retryable"] is True
    assert f["status_code"] is None
    assert len(mocked.calls) == 6


def test_read_timeout_then_success(conn, mocked):
    mocked.get(STATUS_URL, body=requests.exceptions.ReadTimeout("Read timed out."))
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    assert conn.run(ACTION, INPUT)["success"] is True
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("exc", [requests.exceptions.ConnectionError("Connection reset by peer"), None], ids=["reset", "refused"])
def test_connection_error_retried(conn, mocked, check_output, connect_failure, exc):
    mocked.get(STATUS_URL, body=exc if exc is not None else connect_failure(STATUS_URL))
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "connection_error"
    assert f["attempts"] == 6
    assert f["retryable"] is True


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_retried_five_times(conn, mocked, check_output, status):
    mocked.get(STATUS_URL, status=status, json={"detail": "Internal Server Error"}, headers={"x-fal-request-id": "x1"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == ("timeout" if status == 408 else "server_error")
    assert f["attempts"] == 6
    assert f["retryable"] is True
    assert f["fal_request_id"] == "x1"
    assert len(mocked.calls) == 6


def test_non_retried_5xx(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=501, json={"detail": "not implemented"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 1


def test_server_error_then_success(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=503)
    mocked.get(STATUS_URL, status=502)
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 4})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["queue_position"] == 4
    assert len(mocked.calls) == 3


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_max_retries_kwarg(make_conn, mocked, check_output, retries):
    conn = make_conn(max_retries=retries)
    mocked.get(STATUS_URL, status=500)
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["attempts"] == retries + 1
    assert len(mocked.calls) == retries + 1


def test_max_retries_env(make_conn, mocked):
    conn = make_conn(environ={"FAL_CONNECTOR_MAX_RETRIES": "2"})
    mocked.get(STATUS_URL, status=500)
    out = conn.run(ACTION, INPUT)
    assert out["failure"]["attempts"] == 3


def test_max_retries_kwarg_beats_env(make_conn, mocked):
    conn = make_conn(max_retries=1, environ={"FAL_CONNECTOR_MAX_RETRIES": "4"})
    mocked.get(STATUS_URL, status=500)
    assert conn.run(ACTION, INPUT)["failure"]["attempts"] == 2


@pytest.mark.parametrize("status", [400, 409, 418, 422])
def test_other_4xx_http_error(conn, mocked, check_output, status):
    mocked.get(STATUS_URL, status=status, body="I'm a teapot")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "http_error"
    assert f["status_code"] == status
    assert f["attempts"] == 1
    assert f["detail"] == "I'm a teapot"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "FAILED"},
        {"status": "CANCELLED", "request_id": RID},
        {"queue_position": 1},
        {"status": None},
    ],
)
def test_unknown_status_value_is_invalid_response(conn, mocked, check_output, body):
    mocked.get(STATUS_URL, status=200, json=body)
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"
    assert "status" in out["error"]
    assert out["failure"]["attempts"] == 1


@pytest.mark.parametrize("body", ["<html>gateway</html>", "", "{not json"])
def test_non_json_200_is_invalid_response(conn, mocked, check_output, body):
    mocked.get(STATUS_URL, status=200, body=body, content_type="text/html")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"
    assert out["failure"]["status_code"] == 200


def test_json_array_is_invalid_response(conn, mocked, check_output):
    mocked.get(STATUS_URL, status=200, json=[{"status": "COMPLETED"}])
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"


def test_every_call_has_explicit_timeouts(make_conn, mocked):
    conn = make_conn(timeout=12)
    mocked.get(STATUS_URL, status=202, json={"status": "IN_QUEUE", "queue_position": 0})
    conn.run(ACTION, INPUT)
    connect, read = mocked.calls[0].request.req_kwargs["timeout"]
    assert 0 < connect <= 5
    assert read == pytest.approx(12, abs=0.5)
