"""add_request_to_queue: the exact request, its outputs, and its billable retry rules."""

from __future__ import annotations

import pytest
import requests

ACTION = "add_request_to_queue"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
SUBMIT_URL = "https://queue.test/fal-ai/flux/dev"


def fal_submit_body(app_path: str = "fal-ai/flux", rid: str = RID, **extra):
    base = f"https://queue.test/{app_path}/requests/{rid}"
    body = {
        "status": "IN_QUEUE",
        "request_id": rid,
        "response_url": base,
        "status_url": base + "/status",
        "cancel_url": base + "/cancel",
        "queue_position": 0,
        "gateway_request_id": rid,
    }
    body.update(extra)
    return body


def test_submit_success_sends_exact_request(conn, mocked, check_output, http_calls, fake_key):
    mocked.post(SUBMIT_URL, json=fal_submit_body(), headers={"x-fal-request-id": RID})
    data = {"prompt": "a red fox in snow", "image_size": "landscape_4_3", "num_images": 1}
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": data})
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["request_id"] == RID
    assert out["response_url"] == f"https://queue.test/fal-ai/flux/requests/{RID}"
    assert out["status_url"] == f"https://queue.test/fal-ai/flux/requests/{RID}/status"
    assert out["cancel_url"] == f"https://queue.test/fal-ai/flux/requests/{RID}/cancel"
    assert out["queue_position"] == 0

    assert len(mocked.calls) == 1
    call = mocked.calls[0]
    assert call.request.method == "POST"
    assert call.request.url == SUBMIT_URL  # the whole id, no query string
    assert http_calls.json(call) == data
    headers = call.request.headers
    assert headers["Authorization"] == f"Key {fake_key}"
    assert headers["Content-Type"].startswith("application/json")
    for absent in ("X-Fal-Queue-Priority", "X-Fal-Runner-Hint", "X-Fal-Request-Timeout"):
        assert absent not in headers


def test_submit_options_become_query_params_and_headers(conn, mocked, check_output, http_calls):
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {
        "app_id": "fal-ai/flux/dev",
        "data": {"prompt": "x"},
        "webhook_url": "https://example.com/hooks/fal?token=a&b=c",
        "priority": "low",
        "hint": "lora-7f3a",
        "start_timeout": 30,
        "max_queue_length": 5,
    })
    check_output(conn, ACTION, out)
    assert out["success"] is True
    call = mocked.calls[0]
    assert http_calls.url(call) == SUBMIT_URL
    assert http_calls.query(call) == {
        "fal_webhook": ["https://example.com/hooks/fal?token=a&b=c"],
        "fal_max_queue_length": ["5"],
    }
    headers = call.request.headers
    assert headers["X-Fal-Queue-Priority"] == "low"
    assert headers["X-Fal-Runner-Hint"] == "lora-7f3a"
    assert headers["X-Fal-Request-Timeout"] == "30.0"


@pytest.mark.parametrize(("given", "sent"), [(1, "1.0"), (2.5, "2.5"), (120, "120.0")])
def test_start_timeout_is_sent_as_float_string(conn, mocked, given, sent):
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}, "start_timeout": given})
    assert out["success"] is True
    assert mocked.calls[0].request.headers["X-Fal-Request-Timeout"] == sent


def test_priority_normal_is_sent_when_given(conn, mocked):
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}, "priority": "normal"})
    assert mocked.calls[0].request.headers["X-Fal-Queue-Priority"] == "normal"


@pytest.mark.parametrize(
    ("app_id", "post_path", "status_base"),
    [
        ("fast-sdxl", "/fal-ai/fast-sdxl", "/fal-ai/fast-sdxl"),
        ("fal-ai/flux", "/fal-ai/flux", "/fal-ai/flux"),
        ("fal-ai/flux/dev/image-to-image", "/fal-ai/flux/dev/image-to-image", "/fal-ai/flux"),
        ("workflows/acme/upscale/fast", "/workflows/acme/upscale/fast", "/workflows/acme/upscale"),
        ("comfy/acme/sdxl-flow", "/comfy/acme/sdxl-flow", "/comfy/acme/sdxl-flow"),
    ],
)
def test_submit_uses_whole_id_and_builds_owner_app_urls_when_fal_omits_them(conn, mocked, check_output, app_id, post_path, status_base):
    mocked.post(f"https://queue.test{post_path}", json={"status": "IN_QUEUE", "request_id": RID, "queue_position": 3})
    out = conn.run(ACTION, {"app_id": app_id, "data": {"prompt": "x"}})
    check_output(conn, ACTION, out)
    assert out["success"] is True, out
    assert mocked.calls[0].request.url == f"https://queue.test{post_path}"
    base = f"https://queue.test{status_base}/requests/{RID}"
    assert out["response_url"] == base
    assert out["status_url"] == base + "/status"
    assert out["cancel_url"] == base + "/cancel"
    assert out["queue_position"] == 3


def test_submit_in_progress_without_queue_position(conn, mocked, check_output):
    body = fal_submit_body(status="IN_PROGRESS")
    del body["queue_position"]
    mocked.post(SUBMIT_URL, json=body)
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["queue_position"] is None


def test_submit_alias_names(conn, mocked):
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    for name in ("AddRequestToQueue", "FAL_AI_SUBMIT_ASYNC_JOB"):
        assert conn.run(name, {"app_id": "fal-ai/flux/dev", "data": {}})["success"] is True
    assert len(mocked.calls) == 2


# -- failures -------------------------------------------------------------------------------


def test_missing_credentials_sends_nothing(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert "FAL_KEY" in out["error"]
    assert len(mocked.calls) == 0


@pytest.mark.parametrize("status", [401, 403])
def test_auth_error_never_retried(conn, mocked, check_output, status):
    mocked.post(SUBMIT_URL, status=status, json={"detail": "Invalid key"}, headers={"x-fal-request-id": "req-1"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert (f["type"], f["status_code"], f["attempts"], f["retryable"]) == ("auth_error", status, 1, False)
    assert f["fal_request_id"] == "req-1"
    assert f["detail"] == "Invalid key"
    assert len(mocked.calls) == 1


def test_not_found(conn, mocked, check_output):
    mocked.post("https://queue.test/fal-ai/nope", status=404, json={"detail": "Application 'nope' not found"})
    out = conn.run(ACTION, {"app_id": "fal-ai/nope", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "not_found"
    assert out["failure"]["attempts"] == 1
    assert out["failure"]["detail"] == "Application 'nope' not found"


def test_429_is_retried_then_rate_limited(conn, mocked, check_output, sleeps):
    mocked.post(SUBMIT_URL, status=429, json={"detail": "queue full"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}, "max_queue_length": 1})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "rate_limited"
    assert f["attempts"] == 4  # 1 + submit's 3 retries
    assert f["retryable"] is True
    assert len(mocked.calls) == 4
    assert len(sleeps) == 3


def test_429_then_success(conn, mocked, check_output, sleeps):
    mocked.post(SUBMIT_URL, status=429, headers={"Retry-After": "2"})
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert len(mocked.calls) == 2
    assert sleeps == [2.0]  # Retry-After honoured


def test_429_retry_after_beyond_deadline_ends_at_once(conn, mocked, check_output, sleeps):
    mocked.post(SUBMIT_URL, status=429, headers={"Retry-After": "3600"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "rate_limited"
    assert f["retry_after"] == 3600.0
    assert f["attempts"] == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [502, 503, 504])
def test_ingress_5xx_without_request_id_is_retried(conn, mocked, check_output, status):
    mocked.post(SUBMIT_URL, status=status, body="<html>nginx</html>")
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "server_error"
    assert f["attempts"] == 4
    assert f["retryable"] is True
    assert f["fal_request_id"] is None
    assert f["detail"] == "<html>nginx</html>"


@pytest.mark.parametrize("status", [502, 503, 504])
def test_ingress_5xx_then_success(conn, mocked, status):
    mocked.post(SUBMIT_URL, status=status, body="bad gateway")
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    assert out["success"] is True
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_with_fal_request_id_is_not_retried(conn, mocked, check_output, status):
    mocked.post(SUBMIT_URL, status=status, json={"detail": "runner failed"}, headers={"x-fal-request-id": "fal-req-9"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "server_error"
    assert f["retryable"] is False
    assert f["attempts"] == 1
    assert f["fal_request_id"] == "fal-req-9"
    assert f["status_code"] == status
    assert len(mocked.calls) == 1


def test_500_without_request_id_is_not_retried(conn, mocked, check_output):
    # Only 502/503/504 from the ingress prove fal never saw the job.
    mocked.post(SUBMIT_URL, status=500, json={"detail": "Internal Server Error"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "server_error"
    assert out["failure"]["attempts"] == 1
    assert out["failure"]["retryable"] is False


def test_start_timeout_504_is_timeout_not_retried(conn, mocked, check_output):
    mocked.post(SUBMIT_URL, status=504, json={"detail": "Request timed out", "error_type": "request_timeout"},
                headers={"X-Fal-Request-Timeout-Type": "user"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}, "start_timeout": 5})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "timeout"
    assert f["attempts"] == 1
    assert f["retryable"] is False
    assert len(mocked.calls) == 1


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"),
        requests.exceptions.ChunkedEncodingError("connection broken"),
    ],
    ids=["read-timeout", "dropped", "chunked"],
)
def test_no_answer_after_sending_is_outcome_unknown_single_attempt(conn, mocked, check_output, exc):
    mocked.post(SUBMIT_URL, body=exc)
    mocked.post(SUBMIT_URL, json=fal_submit_body())  # would be used by a (forbidden) retry
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "outcome_unknown"
    assert f["attempts"] == 1
    assert f["retryable"] is False
    assert len(mocked.calls) == 1
    assert "check" in out["error"].lower() and "resubmit" in out["error"].lower()


def test_connect_failure_is_retried(conn, mocked, check_output, connect_failure):
    mocked.post(SUBMIT_URL, body=connect_failure(SUBMIT_URL))
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "connection_error"
    assert f["attempts"] == 4
    assert f["retryable"] is True
    assert f["status_code"] is None


def test_connect_failure_then_success(conn, mocked, connect_failure):
    mocked.post(SUBMIT_URL, body=connect_failure(SUBMIT_URL))
    mocked.post(SUBMIT_URL, json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    assert out["success"] is True
    assert len(mocked.calls) == 2


def test_connect_timeout_is_retried(conn, mocked, check_output):
    mocked.post(SUBMIT_URL, body=requests.exceptions.ConnectTimeout("connect timed out"))
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "connection_error"
    assert out["failure"]["attempts"] == 4


def test_max_retries_overrides_submit_default(make_conn, mocked, check_output):
    conn = make_conn(max_retries=1)
    mocked.post(SUBMIT_URL, status=503)
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["attempts"] == 2


def test_non_json_200_is_invalid_response(conn, mocked, check_output):
    mocked.post(SUBMIT_URL, body="<html>ok</html>", content_type="text/html", headers={"x-fal-request-id": "r1"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "invalid_response"
    assert f["status_code"] == 200
    assert f["attempts"] == 1
    assert f["retryable"] is False  # submit may have been enqueued: never blindly repeat
    assert f["fal_request_id"] == "r1"
    assert len(mocked.calls) == 1


def test_body_without_request_id_is_invalid_response_naming_it(conn, mocked, check_output):
    mocked.post(SUBMIT_URL, json={"status": "IN_QUEUE", "queue_position": 0})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"
    assert "request_id" in out["error"]
    assert out["request_id"] is None


@pytest.mark.parametrize("status", [400, 418, 422])
def test_other_4xx_is_http_error(conn, mocked, check_output, status):
    mocked.post(SUBMIT_URL, status=status, json={"detail": "nope"})
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    f = out["failure"]
    assert f["type"] == "http_error"
    assert f["status_code"] == status
    assert f["attempts"] == 1
    assert f["retryable"] is False


def test_redirect_is_not_followed(conn, mocked, check_output):
    mocked.post(SUBMIT_URL, status=307, headers={"Location": "https://evil.test/steal"})
    mocked.post("https://evil.test/steal", json=fal_submit_body())
    out = conn.run(ACTION, {"app_id": "fal-ai/flux/dev", "data": {}})
    check_output(conn, ACTION, out)
    assert out["success"] is False
    assert [c.request.url for c in mocked.calls] == [SUBMIT_URL]
