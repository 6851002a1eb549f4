"""Queue API as fal's: submit, status, result, cancel, auth, ids."""

from __future__ import annotations

import json
import struct
import time
import uuid
from datetime import datetime

import pytest
import requests
from emu_helpers import poll

from connector.emulator import Emulator
from connector.emulator.emulator import ANY_KEY

MISSING_PROMPT = {"detail": [{"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}]}


@pytest.mark.parametrize("endpoint, app", [
    ("fal-ai/fast-sdxl", "fal-ai/fast-sdxl"),
    ("fal-ai/flux/dev", "fal-ai/flux"),
    ("fal-ai/flux/dev/image-to-image", "fal-ai/flux"),
    ("workflows/fal-ai/echo-workflow", "workflows/fal-ai/echo-workflow"),
    ("workflows/fal-ai/echo-workflow/some/path", "workflows/fal-ai/echo-workflow"),
    ("comfy/fal-ai/echo-comfy", "comfy/fal-ai/echo-comfy"),
])
def test_submit_shape_and_absolute_owner_app_urls(emu, http, endpoint, app):
    r = http.post(f"{emu.url}/{endpoint}", json={"prompt": "a cat"})
    assert r.status_code == 200
    body = r.json()
    rid = body["request_id"]
    assert str(uuid.UUID(rid)) == rid
    assert body["status"] == "IN_QUEUE"
    assert isinstance(body["queue_position"], int)
    base = f"{emu.url}/{app}/requests/{rid}"
    assert body["response_url"] == base
    assert body["status_url"] == base + "/status"
    assert body["cancel_url"] == base + "/cancel"
    assert r.headers["x-fal-request-id"] == rid
    # the URLs handed out work as they are
    assert http.get(body["status_url"]).status_code in (200, 202)


def test_status_codes_202_then_200_with_metrics(emu, http, submit):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=0.1)
    job = submit("fal-ai/flux/dev", {"prompt": "x"})
    seen = {}

    def done():
        r = http.get(job["status_url"])
        body = r.json()
        seen.setdefault(body["status"], (r.status_code, body))
        return body["status"] == "COMPLETED"

    poll(done, interval=0.01)
    assert seen["IN_QUEUE"][0] == 202 and seen["IN_QUEUE"][1]["queue_position"] == 0
    assert seen["IN_PROGRESS"][0] == 202 and "queue_position" not in seen["IN_PROGRESS"][1]
    code, body = seen["COMPLETED"]
    assert code == 200
    assert body["metrics"] == {"inference_time": 0.1}
    assert body["logs"] is None  # key present, null without ?logs
    assert "error" not in body
    for state in seen.values():
        assert set(state[1]) >= {"status", "request_id", "response_url", "status_url", "cancel_url", "logs"}


def test_queue_position_counts_jobs_ahead(emu, http, submit):
    emu.set_model("fal-ai/fast-sdxl", queue_seconds=0.6, run_seconds=0.05)
    jobs = [submit("fal-ai/fast-sdxl", {"prompt": str(i)}) for i in range(3)]
    assert [j["queue_position"] for j in jobs] == [0, 1, 2]
    assert [http.get(j["status_url"]).json()["queue_position"] for j in jobs] == [0, 1, 2]
    # other apps do not count
    assert submit("fal-ai/echo", {})["queue_position"] == 0


def test_low_priority_sits_behind_normal(emu, http, submit):
    emu.set_model("fal-ai/fast-sdxl", queue_seconds=0.2, run_seconds=0.05)
    low = submit("fal-ai/fast-sdxl", {"prompt": "low"}, headers={"X-Fal-Queue-Priority": "low"})
    time.sleep(0.05)
    normal = submit("fal-ai/fast-sdxl", {"prompt": "normal"}, headers={"X-Fal-Queue-Priority": "normal"})
    assert normal["queue_position"] == 0
    assert http.get(low["status_url"]).json()["queue_position"] == 1
    # when the low job first leaves the queue, the normal one already has
    poll(lambda: http.get(low["status_url"]).json()["status"] != "IN_QUEUE")
    assert http.get(normal["status_url"]).json()["status"] != "IN_QUEUE"
    lo, no = emu.job(low["request_id"]), emu.job(normal["request_id"])
    assert lo.start_at >= no.start_at


def test_invalid_priority_is_400(emu, http):
    r = http.post(f"{emu.url}/fal-ai/echo", json={}, headers={"X-Fal-Queue-Priority": "urgent"})
    assert r.status_code == 400 and r.json()["error_type"] == "bad_request"


@pytest.mark.parametrize("value, expect_list", [("1", True), ("true", True), ("0", False), ("false", False)])
def test_logs_param_variants(emu, http, submit, wait_done, value, expect_list):
    job = submit("fal-ai/echo", {"a": 1})
    wait_done(job["status_url"])
    body = http.get(job["status_url"], params={"logs": value}).json()
    assert isinstance(body["logs"], list) if expect_list else body["logs"] is None
    if expect_list:
        assert body["logs"], "a completed job has log lines"


def test_status_trailing_slash_and_full_endpoint_path(emu, http, submit):
    job = submit("fal-ai/flux/dev", {"prompt": "x"})
    rid = job["request_id"]
    for url in (job["status_url"] + "/", f"{emu.url}/fal-ai/flux/dev/requests/{rid}/status",
                f"{emu.url}/fal-ai/flux/dev/requests/{rid}/status/"):
        r = http.get(url, params={"logs": "1"})
        assert r.status_code in (200, 202), url
        assert r.json()["request_id"] == rid
        assert r.json()["status_url"] == job["status_url"]  # always emits owner/app


def test_log_entries_appear_over_time(emu, http, submit, wait_done):
    emu.set_model("fal-ai/echo", queue_seconds=0, run_seconds=0.4)
    job = submit("fal-ai/echo", {})
    counts = []

    def sample():
        body = http.get(job["status_url"], params={"logs": 1}).json()
        counts.append(len(body["logs"]))
        return body["status"] == "COMPLETED"

    poll(sample, interval=0.02)
    assert counts == sorted(counts) and counts[0] < counts[-1] == 5
    logs = http.get(job["status_url"], params={"logs": 1}).json()["logs"]
    for entry in logs:
        assert set(entry) == {"message", "level", "source", "timestamp"}
        assert entry["level"] == "INFO" and entry["source"] == "USER"
        assert datetime.fromisoformat(entry["timestamp"]).tzinfo is not None
    assert [e["timestamp"] for e in logs] == sorted(e["timestamp"] for e in logs)


def test_result_before_and_after_completion(emu, http, submit, wait_done):
    job = submit("fal-ai/flux/dev", {"prompt": "a red fox", "image_size": "square"})
    early = http.get(job["response_url"])
    assert early.status_code == 400 and early.json() == {"detail": "Request is still in progress"}
    assert early.headers["x-fal-request-id"] == job["request_id"]
    wait_done(job["status_url"])
    r = http.get(job["response_url"])
    assert r.status_code == 200 and r.headers["x-fal-request-id"] == job["request_id"]
    out = r.json()
    assert out["prompt"] == "a red fox" and isinstance(out["seed"], int)
    image = out["images"][0]
    assert (image["width"], image["height"], image["content_type"]) == (512, 512, "image/png")
    assert image["url"].startswith(emu.url + "/")
    png = http.get(image["url"])
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png.content[16:24]) == (512, 512)


def test_same_input_same_seed(emu, submit, wait_done, http):
    a = submit("fal-ai/fast-sdxl", {"prompt": "same"})
    b = submit("fal-ai/fast-sdxl", {"prompt": "same"})
    c = submit("fal-ai/fast-sdxl", {"prompt": "same", "seed": 42})
    outs = []
    for job in (a, b, c):
        wait_done(job["status_url"])
        outs.append(http.get(job["response_url"]).json())
    assert outs[0] == outs[1]
    assert outs[2]["seed"] == 42


def test_missing_prompt_job_fails_with_verbatim_422(emu, http, submit, wait_done):
    job = submit("fal-ai/fast-sdxl", {"no_prompt": True})  # submit itself does not validate
    status = wait_done(job["status_url"])
    assert status["error"] == "Invalid status code: 422"
    assert status["error_type"] == "validation_error"
    r = http.get(job["response_url"])
    assert r.status_code == 422
    assert r.json() == MISSING_PROMPT


def test_always_fails(emu, http, submit, wait_done):
    job = submit("fal-ai/always-fails", {"prompt": "x"})
    assert wait_done(job["status_url"])["error_type"] == "validation_error"
    r = http.get(job["response_url"])
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


def test_echo(emu, http, submit, wait_done):
    job = submit("fal-ai/echo", {"nested": {"a": [1, 2]}})
    wait_done(job["status_url"])
    assert http.get(job["response_url"]).json() == {"echo": {"nested": {"a": [1, 2]}}}


def test_sized_result_is_exact_and_valid_json(emu, http, submit, wait_done):
    job = submit("fal-ai/sized", {"bytes": 3_000_000})
    wait_done(job["status_url"])
    r = http.get(job["response_url"])
    assert r.status_code == 200 and len(r.content) == 3_000_000
    assert int(r.headers["Content-Length"]) == 3_000_000
    assert r.json()["bytes"] == 3_000_000


def test_cancel_queued(emu, http, submit):
    job = submit("fal-ai/slow", {})
    r = http.put(job["cancel_url"])
    assert (r.status_code, r.json()) == (200, {"status": "OK"})
    status = http.get(job["status_url"])
    assert status.status_code == 200
    assert status.json()["status"] == "COMPLETED"
    assert status.json()["error_type"] == "client_cancelled"
    assert status.json()["error"] == "Request cancelled"
    result = http.get(job["response_url"])
    assert result.status_code == 499
    assert result.json() == {"detail": "Request was cancelled", "error_type": "client_cancelled"}
    again = http.put(job["cancel_url"])
    assert (again.status_code, again.json()) == (400, {"status": "ALREADY_COMPLETED"})


def test_cancel_in_progress_then_completes_cancelled(emu, http, submit, wait_done):
    emu.set_model("fal-ai/slow", queue_seconds=0)
    job = submit("fal-ai/slow", {})
    poll(lambda: http.get(job["status_url"]).json()["status"] == "IN_PROGRESS")
    r = http.put(job["cancel_url"])
    assert (r.status_code, r.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    status = wait_done(job["status_url"], timeout=2)
    assert status["error_type"] == "client_cancelled"
    assert http.get(job["response_url"]).status_code == 499


def test_cancel_completed_and_unknown(emu, http, submit, wait_done):
    job = submit("fal-ai/echo", {})
    wait_done(job["status_url"])
    r = http.put(job["cancel_url"])
    assert (r.status_code, r.json()) == (400, {"status": "ALREADY_COMPLETED"})
    r = http.put(f"{emu.url}/fal-ai/echo/requests/{uuid.uuid4()}/cancel")
    assert (r.status_code, r.json()) == (404, {"status": "NOT_FOUND"})


def test_unknown_ids_and_apps_are_404_with_request_id_header(emu, http, submit):
    rid = str(uuid.uuid4())
    for method, url in [("GET", f"{emu.url}/fal-ai/echo/requests/{rid}/status"),
                        ("GET", f"{emu.url}/fal-ai/echo/requests/{rid}"),
                        ("POST", f"{emu.url}/fal-ai/does-not-exist"),
                        ("POST", f"{emu.url}/fast-sdxl"),  # bare alias
                        ("POST", f"{emu.url}/fal-ai/flux/no-such-path"),
                        ("GET", f"{emu.url}/")]:
        r = http.request(method, url, json={})
        assert r.status_code == 404, (method, url)
        assert "detail" in r.json()
        assert r.headers.get("x-fal-request-id"), url
    # a request id is only found under its own app
    job = submit("fal-ai/echo", {})
    assert http.get(f"{emu.url}/fal-ai/fast-sdxl/requests/{job['request_id']}/status").status_code == 404


def test_body_must_be_a_json_object(emu, http):
    r = http.post(f"{emu.url}/fal-ai/echo", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = http.post(f"{emu.url}/fal-ai/echo", json=[1, 2])
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    r = http.post(f"{emu.url}/fal-ai/echo")  # empty body counts as {}
    assert r.status_code == 200
    assert len(emu.jobs) == 1


def test_wrong_methods_are_405(emu, http, submit):
    job = submit("fal-ai/echo", {})
    assert http.get(f"{emu.url}/fal-ai/echo").status_code == 405
    assert http.post(job["status_url"]).status_code == 405
    assert http.get(job["cancel_url"]).status_code == 405


def test_max_queue_length_429(emu, http, submit):
    emu.set_model("fal-ai/fast-sdxl", queue_seconds=5)
    url = f"{emu.url}/fal-ai/fast-sdxl"
    assert http.post(url, json={"prompt": "1"}, params={"fal_max_queue_length": 2}).status_code == 200
    assert http.post(url, json={"prompt": "2"}, params={"fal_max_queue_length": 2}).status_code == 200
    r = http.post(url, json={"prompt": "3"}, params={"fal_max_queue_length": 2})
    assert r.status_code == 429 and "detail" in r.json()
    assert len(emu.jobs) == 2
    assert http.post(url, json={"prompt": "4"}).status_code == 200  # no limit without the param


def test_start_timeout_expires_in_queue(emu, http, submit, wait_done):
    job = submit("fal-ai/slow", {}, headers={"X-Fal-Request-Timeout": "0.2"})
    status = wait_done(job["status_url"], timeout=2)
    assert (status["error"], status["error_type"]) == ("Request timed out", "request_timeout")
    r = http.get(job["response_url"])
    assert r.status_code == 504 and r.headers["X-Fal-Request-Timeout-Type"] == "user"
    # the new header wins over the legacy one
    job = submit("fal-ai/slow", {}, headers={"X-Fal-Request-Timeout": "100",
                                             "X-Fal-Request-Start-Timeout": "0.2"})
    assert wait_done(job["status_url"], timeout=2)["error_type"] == "request_timeout"
    # a timeout longer than the queue wait changes nothing
    job = submit("fal-ai/echo", {}, headers={"X-Fal-Request-Timeout": "30"})
    assert "error" not in wait_done(job["status_url"])


@pytest.mark.parametrize("value", ["abc", "0", "0.05", "-1"])
def test_bad_start_timeout_is_400(emu, http, value):
    r = http.post(f"{emu.url}/fal-ai/echo", json={}, headers={"X-Fal-Request-Timeout": value})
    assert r.status_code == 400 and r.json()["error_type"] == "bad_request"


def test_runner_hint_and_headers_are_recorded(emu, submit):
    job = submit("fal-ai/echo", {"x": 1}, headers={"X-Fal-Runner-Hint": "gpu-7"})
    (j,) = emu.jobs
    assert j.request_id == job["request_id"] and j.runner_hint == "gpu-7"
    assert j.app_id == "fal-ai/echo" and j.input == {"x": 1}
    assert j.state in ("IN_PROGRESS", "COMPLETED", "IN_QUEUE")
    assert emu.requests_log[-1][0] == "POST" and emu.requests_log[-1][1] == "/fal-ai/echo"


def test_set_model_unknown_raises(emu):
    with pytest.raises(KeyError):
        emu.set_model("fal-ai/nope", run_seconds=1)
    assert emu.set_model("fal-ai/flux", run_seconds=0.01) == [
        "fal-ai/flux/dev", "fal-ai/flux/dev/image-to-image", "fal-ai/flux/schnell"]


# --- sync run -------------------------------------------------------------------------------

def test_run_returns_output_directly(emu, http):
    t0 = time.monotonic()
    r = http.post(f"{emu.url}/run/fal-ai/echo", json={"a": 1})
    assert r.status_code == 200 and r.json() == {"echo": {"a": 1}}
    assert time.monotonic() - t0 >= 0.05  # it took the model's run time
    assert r.headers["x-fal-request-id"]
    assert emu.runs[-1]["endpoint_id"] == "fal-ai/echo"
    assert emu.jobs == []  # run does not go through the queue


def test_run_subpath_and_errors(emu, http):
    r = http.post(f"{emu.url}/run/fal-ai/flux/dev", json={"prompt": "hi"})
    assert r.status_code == 200 and r.json()["prompt"] == "hi"
    r = http.post(f"{emu.url}/run/fal-ai/flux/dev", json={})
    assert r.status_code == 422 and r.json() == MISSING_PROMPT
    assert http.post(f"{emu.url}/run/fal-ai/nope", json={}).status_code == 404
    assert http.get(f"{emu.url}/run/fal-ai/echo").status_code == 405


def test_run_start_timeout_504(emu, http):
    r = http.post(f"{emu.url}/run/fal-ai/slow", json={}, headers={"X-Fal-Request-Timeout": "0.2"})
    assert r.status_code == 504
    assert r.headers["X-Fal-Request-Timeout-Type"] == "user"
    assert r.json()["error_type"] == "request_timeout"


# --- auth -----------------------------------------------------------------------------------

def test_auth_enforced_with_key(keyed_emu, http):
    url = keyed_emu.url
    for headers in ({}, {"Authorization": "Key wrong"}, {"Authorization": "Bearer kid:secret"}):
        r = http.post(f"{url}/fal-ai/echo", json={}, headers=headers)
        assert r.status_code == 401 and isinstance(r.json()["detail"], str)
        assert r.headers.get("x-fal-request-id")
        assert http.post(f"{url}/run/fal-ai/echo", json={}, headers=headers).status_code == 401
    good = {"Authorization": "Key kid:secret"}
    job = http.post(f"{url}/fal-ai/echo", json={}, headers=good).json()
    assert http.get(job["status_url"]).status_code == 401
    assert http.get(job["response_url"]).status_code == 401
    assert http.put(job["cancel_url"]).status_code == 401
    assert http.get(job["status_url"] + "/stream").status_code == 401
    assert http.get(job["status_url"], headers=good).status_code in (200, 202)
    assert keyed_emu.env()["FAL_KEY"] == "kid:secret"


def test_no_key_configured_accepts_any_or_none(emu, http):
    assert http.post(f"{emu.url}/fal-ai/echo", json={}).status_code == 200
    assert http.post(f"{emu.url}/fal-ai/echo", json={}, headers={"Authorization": "Key anything"}).status_code == 200
    assert emu.env()["FAL_KEY"] == ANY_KEY  # a key it accepts, so the printed setup works as is


def test_status_is_cheap(emu, http, submit):
    """Not a benchmark: a smoke check that a status round trip is sub-millisecond-ish
    (generous bound so it never flakes; the real numbers live in bench/)."""
    job = submit("fal-ai/echo", {})
    http.get(job["status_url"])
    t0 = time.perf_counter()
    for _ in range(200):
        http.get(job["status_url"])
    assert (time.perf_counter() - t0) / 200 < 0.01


def test_emulator_json_is_compact_enough(emu, http, submit):
    job = submit("fal-ai/echo", {})
    r = http.get(job["status_url"])
    assert json.loads(r.content) == r.json()
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.content)


def test_independent_emulators_do_not_share_state():
    with Emulator() as a, Emulator() as b:
        a.set_model("fal-ai/echo", run_seconds=3)
        requests.post(f"{a.url}/fal-ai/echo", json={})
        assert len(a.jobs) == 1 and b.jobs == []
        requests.post(f"{b.url}/fal-ai/echo", json={})
        assert (a.jobs[0].run_seconds, b.jobs[0].run_seconds) == (3, 0.05)
