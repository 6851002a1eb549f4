"""Status stream (SSE) as fal's."""

from __future__ import annotations

import time
import uuid

from emu_helpers import poll, sse_events

from connector.emulator import Emulator


def test_stream_events_in_order_with_pings_and_close(emu, http, submit):
    emu.set_model("fal-ai/fast-sdxl", queue_seconds=0.2, run_seconds=0.2)
    job = submit("fal-ai/fast-sdxl", {"prompt": "x"})
    with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "text/event-stream"
        assert r.headers["Cache-Control"] == "no-cache"
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert r.headers["x-fal-request-id"] == job["request_id"]
        items = list(sse_events(r))  # ends: the server closes the body after COMPLETED
    data = [obj for kind, obj in items if kind == "data"]
    comments = [obj for kind, obj in items if kind == "comment"]
    statuses = [d["status"] for d in data]
    assert statuses[0] == "IN_QUEUE" and statuses[-1] == "COMPLETED"
    assert statuses == sorted(statuses, key=["IN_QUEUE", "IN_PROGRESS", "COMPLETED"].index)
    assert "IN_PROGRESS" in statuses
    assert comments and set(comments) == {"ping"}  # ping interval is 0.05 s in the fixture
    assert items[-1][0] == "data"
    assert data[-1]["metrics"] == {"inference_time": 0.2}
    assert all(d["request_id"] == job["request_id"] and "logs" in d for d in data)
    assert data[0]["queue_position"] == 0


def test_stream_with_logs_sends_an_event_per_new_log(emu, http, submit):
    emu.set_model("fal-ai/echo", queue_seconds=0, run_seconds=0.2)
    job = submit("fal-ai/echo", {})
    with http.get(job["status_url"] + "/stream", params={"logs": 1}, stream=True, timeout=5) as r:
        data = [obj for kind, obj in sse_events(r) if kind == "data"]
    counts = [len(d["logs"]) for d in data]
    assert counts == sorted(counts) and counts[-1] == 5
    assert len(data) >= 4  # new log lines are changes, each one an event


def test_stream_tracks_queue_position(emu, http, submit):
    emu.set_model("fal-ai/fast-sdxl", queue_seconds=0.15, run_seconds=0.05)
    submit("fal-ai/fast-sdxl", {"prompt": "first"})
    time.sleep(0.05)
    job = submit("fal-ai/fast-sdxl", {"prompt": "second"})
    with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
        data = [obj for kind, obj in sse_events(r) if kind == "data"]
    positions = [d.get("queue_position") for d in data if d["status"] == "IN_QUEUE"]
    assert positions == [1, 0]


def test_stream_delivers_completion_promptly(http):
    with Emulator(ping_interval=10) as emu:  # no pings: the wake-up must come from the job itself
        emu.set_model("fal-ai/echo", queue_seconds=0, run_seconds=0.3)
        job = http.post(f"{emu.url}/fal-ai/echo", json={}).json()
        end = emu.job(job["request_id"])
        with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
            for kind, obj in sse_events(r):
                if kind == "data" and obj["status"] == "COMPLETED":
                    lag = time.monotonic() - (end.start_at + end.run_seconds)
                    break
    assert 0 <= lag < 0.05


def test_stream_of_completed_job_is_one_event(emu, http, submit, wait_done):
    job = submit("fal-ai/echo", {})
    wait_done(job["status_url"])
    with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
        items = list(sse_events(r))
    assert [k for k, _ in items] == ["data"] and items[0][1]["status"] == "COMPLETED"


def test_stream_sees_cancel_at_once(emu, http, submit):
    job = submit("fal-ai/slow", {})
    with http.get(job["status_url"] + "/stream", stream=True, timeout=5) as r:
        events = sse_events(r)
        kind, first = next(events)
        assert first["status"] == "IN_QUEUE"
        assert http.put(job["cancel_url"]).status_code == 200
        rest = [obj for kind, obj in events if kind == "data"]
    assert rest[-1]["status"] == "COMPLETED" and rest[-1]["error_type"] == "client_cancelled"


def test_stream_unknown_request_404(emu, http):
    r = http.get(f"{emu.url}/fal-ai/echo/requests/{uuid.uuid4()}/status/stream")
    assert r.status_code == 404


def test_stream_full_endpoint_path_form(emu, http, submit):
    job = submit("fal-ai/flux/dev", {"prompt": "x"})
    url = f"{emu.url}/fal-ai/flux/dev/requests/{job['request_id']}/status/stream"
    with http.get(url, stream=True, timeout=5) as r:
        data = [obj for kind, obj in sse_events(r) if kind == "data"]
    assert data[-1]["status"] == "COMPLETED"


def test_server_healthy_after_client_abandons_stream(emu, http, submit):
    job = submit("fal-ai/slow", {})
    r = http.get(job["status_url"] + "/stream", stream=True, timeout=5)
    next(r.iter_lines())
    r.close()
    poll(lambda: http.get(job["status_url"]).status_code == 202)
