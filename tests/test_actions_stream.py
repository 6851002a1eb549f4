"""stream_request_status and Connector.stream()."""

from __future__ import annotations

import json
import types

import pytest

ACTION = "stream_request_status"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
BASE = f"https://queue.test/fal-ai/flux/requests/{RID}/status"
STREAM_URL = BASE + "/stream"
INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}

LOG_A = {"message": "loading weights", "level": "INFO", "source": "user", "timestamp": "2025-01-01T00:00:00Z"}
LOG_B = {"message": "step 10/28", "level": "STDOUT", "timestamp": "2025-01-01T00:00:01Z", "labels": {}}
LOG_C = {"message": "done", "level": "INFO", "timestamp": "2025-01-01T00:00:02Z"}


def sse(*events, comments=(), crlf=False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    out = ""
    for c in comments:
        out += f": {c}{nl}{nl}"
    for e in events:
        out += f"data: {json.dumps(e)}{nl}{nl}"
    return out.encode()


def completed(**extra):
    return {"status": "COMPLETED", "request_id": RID, "logs": [LOG_B, LOG_C], "metrics": {"inference_time": 3.2}, **extra}


@pytest.fixture
def clock(monkeypatch):
    """A fake clock for connector.fal.follow: sleeping advances it instead of waiting."""
    import time as real_time

    import connector.fal.follow as follow

    state = {"offset": 0.0, "slept": []}

    def monotonic():
        return real_time.monotonic() + state["offset"]

    def sleep(seconds):
        state["slept"].append(seconds)
        state["offset"] += seconds

    monkeypatch.setattr(follow, "time", types.SimpleNamespace(monotonic=monotonic, sleep=sleep))
    return state


def test_stream_success_events_and_deduplicated_logs(conn, mocked, check_output, http_calls, fake_key):
    body = (
        b": ping\n\n"
        + sse({"status": "IN_QUEUE", "queue_position": 2, "request_id": RID})
        + b": ping\n\n"
        + sse({"status": "IN_PROGRESS", "logs": [LOG_A, LOG_B], "request_id": RID})
        + sse(completed())
    )
    mocked.get(STREAM_URL, body=body, content_type="text/event-stream")
    out = conn.run(ACTION, {**INPUT, "logs": True})
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["status"] == "COMPLETED"
    assert [e["status"] for e in out["events"]] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]  # pings are not events
    assert out["events"][0]["queue_position"] == 2
    assert out["events"][1]["queue_position"] is None
    assert out["events"][0]["request_id"] == RID  # fal's own keys pass through on events
    assert out["logs"] == [LOG_A, LOG_B, LOG_C]  # LOG_B seen twice, kept once, in order
    assert out["metrics"] == {"inference_time": 3.2}
    assert out["job_error"] is None

    assert len(mocked.calls) == 1
    call = mocked.calls[0]
    assert call.request.method == "GET"
    assert http_calls.url(call) == STREAM_URL
    assert http_calls.query(call) == {"logs": ["1"]}
    assert call.request.headers["Accept"] == "text/event-stream"
    assert call.request.headers["Authorization"] == f"Key {fake_key}"


def test_stream_without_logs(conn, mocked, check_output, http_calls):
    body = sse({"status": "IN_PROGRESS", "logs": [LOG_A]}, completed(), crlf=True)
    mocked.get(STREAM_URL, body=body, content_type="text/event-stream")
    out = conn.run("FAL_AI_QUEUE_GET_STATUS_STREAM", INPUT)
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["logs"] == []
    assert all(e["logs"] == [] for e in out["events"])
    assert http_calls.query(mocked.calls[0]) == {}


def test_stream_completed_job_with_error_is_success(conn, mocked, check_output):
    body = sse(completed(error="Runner disconnected", error_type="runner_disconnected"))
    mocked.get(STREAM_URL, body=body, content_type="text/event-stream")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert out["job_error"] == "Runner disconnected"
    assert out["job_error_type"] == "runner_disconnected"


def test_stream_url_strips_to_owner_app(conn, mocked):
    url = f"https://queue.test/workflows/acme/wf/requests/{RID}/status/stream"
    mocked.get(url, body=sse(completed()), content_type="text/event-stream")
    out = conn.run(ACTION, {"app_id": "workflows/acme/wf/step-2", "request_id": RID})
    assert out["success"] is True, out
    assert mocked.calls[0].request.url == url


def test_stream_reopens_after_a_drop(conn, mocked, check_output):
    mocked.get(STREAM_URL, body=sse({"status": "IN_PROGRESS"}), content_type="text/event-stream")
    mocked.get(STREAM_URL, body=sse({"status": "IN_PROGRESS"}, completed()), content_type="text/event-stream")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert len(mocked.calls) == 2
    assert [e["status"] for e in out["events"]] == ["IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]


def test_stream_falls_back_to_polling_when_not_sse(conn, mocked, check_output, clock, http_calls):
    mocked.get(STREAM_URL, json={"detail": "streaming not supported here"})  # 200 but not an event stream
    mocked.get(BASE, status=202, json={"status": "IN_PROGRESS", "logs": []})
    mocked.get(BASE, status=200, json=completed())
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["success"] is True
    assert [http_calls.url(c) for c in mocked.calls] == [STREAM_URL, BASE, BASE]
    assert [e["status"] for e in out["events"]] == ["IN_PROGRESS", "COMPLETED"]


def test_stream_timeout_keeps_last_status(conn, mocked, check_output, clock):
    mocked.get(STREAM_URL, body=sse({"status": "IN_QUEUE", "queue_position": 5}), content_type="text/event-stream")
    mocked.get(BASE, status=202, json={"status": "IN_QUEUE", "queue_position": 4})
    out = conn.run(ACTION, {**INPUT, "timeout": 5})
    check_output(conn, ACTION, out)
    assert out["success"] is False
    f = out["failure"]
    assert f["type"] == "timeout"
    assert f["retryable"] is True
    assert out["status"] == "IN_QUEUE"
    assert out["events"] and all(e["status"] == "IN_QUEUE" for e in out["events"])
    assert out["events"][-1]["queue_position"] == 4
    assert f["attempts"] == len(mocked.calls)
    assert sum(clock["slept"]) <= 5 + 1e-6


@pytest.mark.parametrize(("status", "ftype"), [(401, "auth_error"), (403, "auth_error"), (404, "not_found")])
def test_stream_auth_and_not_found_end_at_once(conn, mocked, check_output, status, ftype):
    mocked.get(STREAM_URL, status=status, json={"detail": "nope"})
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == ftype
    assert out["failure"]["attempts"] == 1
    assert len(mocked.calls) == 1
    assert out["events"] == [] and out["status"] is None


def test_stream_event_with_invalid_json(conn, mocked, check_output):
    body = sse({"status": "IN_QUEUE", "queue_position": 0}) + b"data: {broken\n\n"
    mocked.get(STREAM_URL, body=body, content_type="text/event-stream")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"
    assert out["failure"]["detail"] == "{broken"


def test_stream_event_with_unknown_status(conn, mocked, check_output):
    mocked.get(STREAM_URL, body=sse({"status": "EXPLODED"}), content_type="text/event-stream")
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "invalid_response"
    assert "status" in out["error"]


def test_stream_missing_credentials(make_conn, mocked, check_output):
    conn = make_conn(api_key=None)
    out = conn.run(ACTION, INPUT)
    check_output(conn, ACTION, out)
    assert out["failure"]["type"] == "missing_credentials"
    assert out["failure"]["attempts"] == 0
    assert len(mocked.calls) == 0


# -- Connector.stream() -----------------------------------------------------------------------


def test_connector_stream_yields_status_objects_in_order(conn, mocked):
    body = sse({"status": "IN_QUEUE", "queue_position": 1}, {"status": "IN_PROGRESS", "logs": [LOG_A]}, completed())
    mocked.get(STREAM_URL, body=body, content_type="text/event-stream")
    events = list(conn.stream(ACTION, {**INPUT, "logs": True}))
    assert [e["status"] for e in events] == ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"]
    for e in events:
        assert {"status", "queue_position", "logs", "metrics", "job_error", "job_error_type"} <= set(e)
    assert events[0]["queue_position"] == 1
    assert events[1]["logs"] == [LOG_A]
    assert events[-1]["metrics"] == {"inference_time": 3.2}


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        (ACTION, {"app_id": "fal-ai/flux/dev", "request_id": "../x"}),
        (ACTION, {"app_id": 42, "request_id": RID}),
        ("nope", INPUT),
        ("get_request_status", INPUT),  # not a streaming action
    ],
)
def test_connector_stream_bad_input_ends_quietly(conn, mocked, action, inputs):
    assert list(conn.stream(action, inputs)) == []
    assert len(mocked.calls) == 0


def test_connector_stream_failure_ends_quietly(conn, mocked):
    mocked.get(STREAM_URL, status=401)
    assert list(conn.stream(ACTION, INPUT)) == []
