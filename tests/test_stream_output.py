"""``Connector.stream()`` never raises, and a stream that yields nothing says why.

The iterator's ``.output`` is the action's output object once the loop has ended (the same
``run()`` would return), and a failed output is logged as a warning on the ``connector`` logger.
Failures before anything is sent use ``responses``; a real stream runs against the emulator.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import weakref

import pytest

from connector.testing import connector_for

ACTION = "stream_request_status"
RID = "80e732af-660e-45cd-bd63-580e4f2a94cc"
INPUT = {"app_id": "fal-ai/flux/dev", "request_id": RID}
STREAM_URL = f"https://queue.test/fal-ai/flux/requests/{RID}/status/stream"


def drain(stream) -> list:
    events = list(stream)
    assert stream.output is not None, "the output is known once the loop has ended"
    return events


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "connector" and r.levelno == logging.WARNING]


def test_bad_input_is_reachable_as_the_output(conn, mocked, check_output, caplog):
    stream = conn.stream(ACTION, {"app_id": "fal-ai/flux/dev", "request_id": "../x"})
    assert stream.output is None  # nothing has run yet: the action starts with the loop
    with caplog.at_level(logging.WARNING, logger="connector"):
        assert drain(stream) == []
    check_output(conn, ACTION, stream.output)
    assert stream.output["failure"]["type"] == "invalid_input" and "request_id" in stream.output["error"]
    assert len(mocked.calls) == 0
    assert any("invalid_input" in line and "request_id" in line for line in warnings_of(caplog))


def test_an_unknown_action_is_the_output_unknown_action(conn, mocked, caplog):
    with caplog.at_level(logging.WARNING, logger="connector"):
        stream = conn.stream("no_such_action", INPUT)
        assert drain(stream) == []
    assert stream.output["success"] is False and stream.output["failure"]["type"] == "unknown_action"
    assert "no_such_action" in stream.output["error"]
    assert any("unknown_action" in line for line in warnings_of(caplog))
    assert len(mocked.calls) == 0


def test_a_non_streaming_action_is_refused_without_running(conn, mocked, check_output, caplog):
    with caplog.at_level(logging.WARNING, logger="connector"):
        stream = conn.stream("get_request_status", INPUT)
        assert drain(stream) == []
    check_output(conn, "get_request_status", stream.output)
    assert stream.output["failure"]["type"] == "invalid_input"
    assert "does not stream" in stream.output["error"] and ACTION in stream.output["error"]
    assert len(mocked.calls) == 0  # it was not run (a billable action must not be submitted this way)
    assert warnings_of(caplog)


def test_a_failed_stream_keeps_its_failure(conn, mocked, caplog):
    mocked.get(STREAM_URL, status=404, json={"detail": "Request not found"})
    mocked.get(STREAM_URL.removesuffix("/stream"), status=404, json={"detail": "Request not found"})
    with caplog.at_level(logging.WARNING, logger="connector"):
        stream = conn.stream(ACTION, INPUT)
        assert drain(stream) == []
    assert stream.output["failure"]["type"] == "not_found"
    assert any("not_found" in line for line in warnings_of(caplog))


@pytest.fixture
def emu_conn(emu):
    conn = connector_for(emu, backoff_base=0, load_entry_points=False)
    yield conn
    conn.close()


def test_a_good_stream_ends_with_a_successful_output(emu, emu_conn, check_output, caplog):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=0.1)
    job = emu_conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}})
    assert job["success"], job["error"]
    with caplog.at_level(logging.WARNING, logger="connector"):
        stream = emu_conn.stream(ACTION, {"app_id": "fal-ai/flux/dev", "request_id": job["request_id"], "timeout": 10})
        statuses = [event["status"] for event in stream]
    assert statuses[-1] == "COMPLETED"
    check_output(emu_conn, ACTION, stream.output)
    assert stream.output["success"] is True and stream.output["status"] == "COMPLETED"
    assert warnings_of(caplog) == []
    assert list(stream) == []  # an ended stream stays ended


def test_a_stream_dropped_early_lets_its_worker_stop(emu, emu_conn):
    emu.set_model("fal-ai/flux/dev", queue_seconds=0.1, run_seconds=30)
    job = emu_conn.run("add_request_to_queue", {"app_id": "fal-ai/flux/dev", "data": {"prompt": "a fox"}})
    stream = emu_conn.stream(ACTION, {"app_id": "fal-ai/flux/dev", "request_id": job["request_id"], "timeout": 60})
    next(stream)
    gone = weakref.ref(stream)
    del stream
    gc.collect()
    assert gone() is None, "the worker thread must not keep the stream alive"
    deadline = time.monotonic() + 15  # generous: the worker notices at its next read
    while any(t.name == f"fal-connector-stream-{ACTION}" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the worker kept streaming after the consumer left"
        time.sleep(0.05)
