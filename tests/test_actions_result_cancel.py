"""get_request_response and cancel_request."""

from __future__ import annotations

import pytest
import requests

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
RESULT_URL = f"https://queue.test/fal-ai/flux/requests/{RID}"
CANCEL_URL = RESULT_URL + "/cancel"
INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}

MODEL_OUTPUT = {
    "images": [{"url": "https://v3.fal.media/files/fox.png", "width": 1024, "height": 768, "content_type": "image/png"}],
    "timings": {"inference": 1.23},
    "seed": 42,
    "has_nsfw_concepts": [False],
    "prompt": "a red fox",
}


# -- get_request_response ---------------------------------------------------------------------


def test_result_success(conn, mocked, check_output, fake_key):
    mocked.get(RESULT_URL, json=MODEL_OUTPUT, headers={"x-fal-request-id": RID})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["success"] is True
    assert out["data"] == MODEL_OUTPUT  # passed through untouched
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert call.request.url == RESULT_URL  # owner/app only: no /dev
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


@pytest.mark.parametrize(
    ("app_id", "path"),
    [("fal-ai/flux/dev/redux", "/fal-ai/flux"), ("fast-sdxl", "/fal-ai/fast-sdxl"), ("workflows/acme/wf/step", "/workflows/acme/wf")],
)
def test_result_url_strips_sub_path(conn, mocked, app_id, path):
    url = f"https://queue.test{path}/requests/{RID}"
    mocked.get(url, json={"ok": True})
    out = conn.run("GetRequestResponse", {"app_id": app_id, "request_id": RID})
    assert out["success"] is True, out
    assert mocked.calls[0].request.url == url


def test_result_model_error_422_detail_passed_through(conn, mocked, check_output):
    detail = [
        {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"},
        {"loc": ["body", "num_images"], "msg": "ensure this value is less than 5", "type": "value_error", "ctx": {"limit": 5}},
    ]
    mocked.get(RESULT_URL, status=422, json={"detail": detail}, headers={"x-fal-request-id": "fal-77"})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    f = out["failure"]
    assert f["type"] == "model_error"
    assert f["detail"] == detail
    assert f["status_code"] == 422
    assert f["attempts"] == 1
    assert f["retryable"] is False
    assert f["fal_request_id"] == "fal-77"
    assert out["data"] is None
    assert "prompt" in out["error"]
    assert len(mocked.calls) == 1


def test_result_model_error_without_detail_passes_whole_body(conn, mocked, check_output):
    body = {"error": "CUDA out of memory", "error_type": "runner_server_error"}
    mocked.get(RESULT_URL, status=400, json=body)
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "model_error"
    assert out["failure"]["detail"] == body


def test_result_error_text_detail_is_truncated(conn, mocked, check_output):
    mocked.get(RESULT_URL, status=422, body="x" * 5000, content_type="text/plain")
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "model_error"
    assert out["failure"]["detail"] == "x" * 2000


def test_result_not_ready(conn, mocked, check_output):
    mocked.get(RESULT_URL, status=400, json={"detail": "Request is still in progress"})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    f = out["failure"]
    assert f["type"] == "not_ready"
    assert f["retryable"] is True
    assert f["attempts"] == 1
    assert f["detail"] == "Request is still in progress"
    assert len(mocked.calls) == 1


def test_result_not_found(conn, mocked, check_output):
    mocked.get(RESULT_URL, status=404, json={"detail": "Request not found"})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "not_found"
    assert out["failure"]["attempts"] == 1


@pytest.mark.parametrize("status", [401, 403])
def test_result_auth_error(conn, mocked, check_output, status):
    mocked.get(RESULT_URL, status=status, json={"detail": "bad key"})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "auth_error"
    assert out["failure"]["attempts"] == 1


def test_result_rate_limited(conn, mocked, check_output, sleeps):
    mocked.get(RESULT_URL, status=429)
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "rate_limited"
    assert out["failure"]["attempts"] == 6


def test_result_5xx_retried_then_server_error(conn, mocked, check_output):
    mocked.get(RESULT_URL, status=500, json={"detail": "Internal Server Error"})
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    f = out["failure"]
    assert f["type"] == "server_error"
    assert f["attempts"] == 6
    assert f["retryable"] is True
    assert f["detail"] == "Internal Server Error"


def test_result_read_timeout(conn, mocked, check_output):
    mocked.get(RESULT_URL, body=requests.exceptions.ReadTimeout("timed out"))
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "timeout"
    assert out["failure"]["attempts"] == 6


def test_result_connection_error(conn, mocked, check_output, connect_failure):
    mocked.get(RESULT_URL, body=connect_failure(RESULT_URL))
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "connection_error"
    assert out["failure"]["attempts"] == 6


@pytest.mark.parametrize(("body", "ctype"), [("not json", "text/plain"), ("[1, 2]", "application/json"), ('"x"', "application/json")])
def test_result_invalid_response(conn, mocked, check_output, body, ctype):
    mocked.get(RESULT_URL, body=body, content_type=ctype)
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "invalid_response"
    assert out["failure"]["retryable"] is True


def test_result_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    out = conn.run("get_request_response", INPUT)
    check_output(conn, "get_request_response", out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0


# -- cancel_request ---------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "cancel_status"), [(202, "CANCELLATION_REQUESTED"), (200, "OK")])
def test_cancel_success(conn, mocked, check_output, fake_key, code, cancel_status):
    mocked.put(CANCEL_URL, status=code, json={"status": cancel_status})
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out == {"success": True, "error": None, "failure": None, "cancel_status": cancel_status}
    call = mocked.calls[0]
    assert call.request.method == "PUT"
    assert call.request.url == CANCEL_URL
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


def test_cancel_empty_202_body(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=202, body="")
    out = conn.run("CancelRequest", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["cancel_status"] == "CANCELLATION_REQUESTED"


def test_cancel_already_completed(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=400, json={"status": "ALREADY_COMPLETED"})
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    f = out["failure"]
    assert out["success"] is False
    assert f["type"] == "already_completed"
    assert f["status_code"] == 400
    assert f["attempts"] == 1
    assert f["retryable"] is False
    assert out["cancel_status"] == "ALREADY_COMPLETED"


def test_cancel_not_found(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=404, json={"status": "NOT_FOUND"})
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == "not_found"
    assert out["failure"]["attempts"] == 1
    assert out["cancel_status"] == "NOT_FOUND"


@pytest.mark.parametrize(("status_value", "ftype"), [("ALREADY_COMPLETED", "already_completed"), ("NOT_FOUND", "not_found")])
def test_cancel_2xx_with_failed_status_body(conn, mocked, check_output, status_value, ftype):
    mocked.put(CANCEL_URL, status=200, json={"status": status_value})
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == ftype
    assert out["cancel_status"] == status_value


def test_cancel_5xx_retried_three_times(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=503)
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    f = out["failure"]
    assert f["type"] == "server_error"
    assert f["attempts"] == 4  # 1 + cancel's 3 retries
    assert out["cancel_status"] is None


def test_cancel_retried_then_ok(conn, mocked, check_output):
    mocked.put(CANCEL_URL, body=requests.exceptions.ConnectionError("reset"))
    mocked.put(CANCEL_URL, status=202, json={"status": "CANCELLATION_REQUESTED"})
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["cancel_status"] == "CANCELLATION_REQUESTED"
    assert len(mocked.calls) == 2


@pytest.mark.parametrize("status", [401, 403])
def test_cancel_auth_error(conn, mocked, check_output, status):
    mocked.put(CANCEL_URL, status=status)
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == "auth_error"
    assert out["failure"]["attempts"] == 1


def test_cancel_http_error(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=418)
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == "http_error"


def test_cancel_invalid_json_200(conn, mocked, check_output):
    mocked.put(CANCEL_URL, status=200, body="<html/>", content_type="text/html")
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == "invalid_response"


def test_cancel_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    out = conn.run("cancel_request", INPUT)
    check_output(conn, "cancel_request", out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0


def test_cancel_url_for_namespaced_app(conn, mocked):
    url = f"https://queue.test/comfy/acme/flow/requests/{RID}/cancel"
    mocked.put(url, status=202, json={"status": "CANCELLATION_REQUESTED"})
    out = conn.run("FAL_AI_CANCEL_QUEUE_REQUEST", {"app_id": "comfy/acme/flow/v2", "request_id": RID})
    assert out["success"] is True
    assert mocked.calls[0].request.url == url
