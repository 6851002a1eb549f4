"""Submit options (no_retry, store_io, object_lifecycle -> X-Fal-* headers), a lost submit's
failure.detail (how to find the job with list_requests), and subscribe resuming by request_id."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import requests

RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
QUEUE = "https://queue.test"
RUN = "https://run.test"
OPTIONS = {"no_retry": True, "store_io": False,
           "object_lifecycle": {"expiration_duration_seconds": 86400, "initial_acl": {"default": "forbid"}}}
HEADERS = {"X-Fal-No-Retry": "1", "X-Fal-Store-IO": "0",
           "X-Fal-Object-Lifecycle-Preference": '{"expiration_duration_seconds":86400,"initial_acl":{"default":"forbid"}}'}


def submit_answer() -> dict:
    return {"request_id": RID, "status": "IN_QUEUE", "queue_position": 0}


@pytest.mark.parametrize("action_id", ["add_request_to_queue", "run_model"])
def test_options_become_headers(conn, mocked, action_id):
    url = f"{QUEUE}/fal-ai/flux/dev" if action_id == "add_request_to_queue" else f"{RUN}/fal-ai/flux/dev"
    mocked.post(url, json=submit_answer())
    out = conn.run(action_id, {"app_id": "fal-ai/flux/dev", "data": {"prompt": "p"}, **OPTIONS})
    assert out["success"] is True, out
    sent = mocked.calls[0].request.headers
    assert {name: sent.get(name) for name in HEADERS} == HEADERS


def test_store_io_true_and_no_retry_false(conn, mocked):
    mocked.post(f"{QUEUE}/fal-ai/flux/dev", json=submit_answer())
    conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}, "no_retry": False, "store_io": True})
    sent = mocked.calls[0].request.headers
    assert "X-Fal-No-Retry" not in sent and sent["X-Fal-Store-IO"] == "1"


def test_without_options_no_header_is_sent(conn, mocked):
    mocked.post(f"{QUEUE}/fal-ai/flux/dev", json=submit_answer())
    conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}})
    assert not set(HEADERS) & set(mocked.calls[0].request.headers)


@pytest.mark.parametrize(("option", "value"), [
    ("no_retry", "yes"), ("store_io", 0), ("object_lifecycle", {"expiration_duration_seconds": -1}),
    ("object_lifecycle", {"initial_acl": "private"}), ("object_lifecycle", {"headers": {"X-Evil": "1"}}),
    ("object_lifecycle", "{}")])
@pytest.mark.parametrize("action_id", ["add_request_to_queue", "subscribe", "run_model"])
def test_bad_options_are_refused_before_any_request(conn, mocked, action_id, option, value):
    out = conn.run(action_id, {"app_id": "fal-ai/flux/dev", "data": {}, option: value})
    assert out["failure"]["type"] == "invalid_input" and option in out["error"]
    assert not mocked.calls


@pytest.mark.parametrize("action_id", ["add_request_to_queue", "subscribe", "run_model"])
def test_a_lost_submit_says_how_to_find_the_job(conn, mocked, check_output, action_id):
    url = f"{RUN}/fast-sdxl" if action_id == "run_model" else f"{QUEUE}/fal-ai/fast-sdxl"
    mocked.post(url, body=requests.exceptions.ConnectionError("Connection aborted: RemoteDisconnected"))
    before = datetime.now(timezone.utc).timestamp()
    out = conn.run(action_id, {"app_id": "fast-sdxl", "data": {}})
    check_output(conn, action_id, out)
    failure = out["failure"]
    assert failure["type"] == "outcome_unknown" and failure["attempts"] == 1 and len(mocked.calls) == 1
    find = failure["detail"]["find_job"]
    assert find["action"] == "list_requests"
    assert find["input"]["endpoint_id"] == "fal-ai/fast-sdxl"  # the normalised id fal records
    start = datetime.fromisoformat(find["input"]["start"].replace("Z", "+00:00")).timestamp()
    end = datetime.fromisoformat(find["input"]["end"].replace("Z", "+00:00")).timestamp()
    assert start <= before - 59 and end >= before + 59
    assert "list_requests" in out["error"] and "resubmit" in out["error"].lower()
    assert conn.action("list_requests").input_validator.is_valid(find["input"])  # ready to run as it is


def test_other_failures_carry_no_find_hint(conn, mocked):
    mocked.post(f"{QUEUE}/fal-ai/flux/dev", status=422, json={"detail": [{"msg": "bad"}]})
    out = conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {}})
    assert "find_job" not in json.dumps(out["failure"]["detail"])


def test_subscribe_resumes_by_request_id_without_submitting(conn, mocked):
    base = f"{QUEUE}/fal-ai/flux/requests/{RID}"
    mocked.get(base + "/status/stream", body=requests.exceptions.ConnectionError("no stream"))
    mocked.get(base + "/status", json={"status": "COMPLETED", "logs": [], "metrics": {}})
    mocked.get(base, json={"images": []})
    out = conn.run("subscribe", {"app_id": "fal-ai/flux/dev", "data": {"ignored": True}, "request_id": RID, "timeout": 5})
    assert out["success"] is True and out["request_id"] == RID and out["data"] == {"images": []}, out
    assert all(call.request.method == "GET" for call in mocked.calls)  # nothing was submitted


def test_subscribe_resume_checks_the_request_id_first(conn, mocked):
    out = conn.run("subscribe", {"app_id": "fal-ai/flux/dev", "data": {}, "request_id": "../../x"})
    assert out["failure"]["type"] == "invalid_input" and "request_id" in out["error"]
    assert not mocked.calls
