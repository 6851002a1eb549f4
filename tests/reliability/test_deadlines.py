"""A deadline holds whatever the server does after (or while) sending its headers.

Against the emulator's slow faults over real loopback sockets: a body that drips a byte at a
time, a header block that never ends, headers then silence, an event stream whose line never
ends. Each action must end within a generous multiple of its deadline, with the documented
failure type and an error that says what happened. The drips last far longer than any bound
asserted here (the emulator keeps one going for a minute).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from connector.emulator import Emulator
from connector.testing import connector_for

DEADLINE = 1.5  # the action's deadline (retry_deadline, or the action's own timeout)
READ_TIMEOUT = 1.0  # longer than the drip interval: a per-read timeout alone never trips
BOUND = 3 * DEADLINE  # generous: a loaded CI box
APP = "fal-ai/echo"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    e = Emulator(ping_interval=0.05).start()
    try:
        yield e
    finally:
        e.stop()


@pytest.fixture
def conn(emu: Emulator) -> Iterator[Any]:
    emu.faults.clear()
    c = connector_for(emu, timeout=READ_TIMEOUT, retry_deadline=DEADLINE, backoff_base=0.01)
    try:
        yield c
    finally:
        c.close()
        emu.faults.clear()


def _job(conn: Any) -> str:
    out = conn.run("add_request_to_queue", {"app_id": APP, "data": {"x": 1}})
    assert out["success"], out
    return str(out["request_id"])


def _timed(conn: Any, action: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    out = conn.run(action, inputs)
    return out, time.monotonic() - started


@pytest.mark.parametrize("fault", ["drip", "drip_headers"])
def test_status_is_bounded_by_the_deadline(emu: Emulator, conn: Any, fault: str) -> None:
    request_id = _job(conn)
    emu.faults.add("status", action=fault, interval=0.2, times=None)
    out, took = _timed(conn, "get_request_status", {"app_id": APP, "request_id": request_id})
    assert took < BOUND
    assert out["failure"]["type"] == "timeout"
    assert out["failure"]["retryable"] is True
    part = "body" if fault == "drip" else "headers"
    assert f"the answer's {part} never finished" in out["error"]
    assert "could not connect" not in out["error"]


def test_headers_then_silence_is_a_read_timeout_within_the_deadline(emu: Emulator, conn: Any) -> None:
    request_id = _job(conn)
    emu.faults.add("status", action="headers_then_stall", stall=30, times=None)
    out, took = _timed(conn, "get_request_status", {"app_id": APP, "request_id": request_id})
    assert took < BOUND
    assert out["failure"]["type"] == "timeout"


@pytest.mark.parametrize("fault", ["drip", "drip_headers", "headers_then_stall"])
def test_submit_cut_off_is_outcome_unknown(emu: Emulator, conn: Any, fault: str) -> None:
    jobs_before = len(emu.jobs)
    emu.faults.add("submit", action=fault, interval=0.2, stall=30)
    out, took = _timed(conn, "add_request_to_queue", {"app_id": APP, "data": {"x": 1}})
    assert took < BOUND
    assert out["failure"]["type"] == "outcome_unknown"
    assert out["failure"]["retryable"] is False
    assert out["failure"]["attempts"] == 1  # never re-POSTed
    assert len(emu.jobs) == jobs_before + 1
    assert "could not connect" not in out["error"]
    if fault != "headers_then_stall":  # silence after the headers is a read timeout
        assert "never finished" in out["error"]


def test_run_model_drip_is_bounded_by_its_timeout(emu: Emulator, conn: Any) -> None:
    emu.faults.add("run", action="drip", interval=0.2)
    out, took = _timed(conn, "run_model", {"app_id": APP, "data": {"x": 1}, "timeout": DEADLINE})
    assert took < BOUND
    assert out["failure"]["type"] == "outcome_unknown"
    assert "body never finished" in out["error"]


@pytest.mark.parametrize("fault", ["endless_line", "drip"])
def test_stream_ends_at_its_timeout_inside_a_line_that_never_ends(emu: Emulator, conn: Any, fault: str) -> None:
    request_id = _job(conn)
    emu.faults.add("stream", action=fault, interval=0.2, times=None)
    emu.faults.add("status", action="drip", interval=0.2, times=None)  # the polling fallback drips too
    out, took = _timed(conn, "stream_request_status", {"app_id": APP, "request_id": request_id, "timeout": DEADLINE})
    assert took < BOUND
    assert out["failure"]["type"] == "timeout"


def test_one_stream_event_is_capped_at_max_response_bytes(emu: Emulator) -> None:
    conn = connector_for(emu, timeout=READ_TIMEOUT, retry_deadline=5, max_response_bytes=64 * 1024)
    try:
        request_id = _job(conn)
        emu.faults.add("stream", action="endless_line", interval=0.01, size=16 * 1024, times=None)
        out, took = _timed(conn, "stream_request_status", {"app_id": APP, "request_id": request_id, "timeout": 5})
    finally:
        conn.close()
        emu.faults.clear()
    assert took < 5
    assert out["failure"]["type"] == "invalid_response"
    assert out["failure"]["retryable"] is False
    assert "max_response_bytes" in out["error"]


def test_subscribe_timeout_includes_the_submit(emu: Emulator) -> None:
    # The retry deadline is long; subscribe's own timeout must still bound the submit.
    conn = connector_for(emu, timeout=READ_TIMEOUT, retry_deadline=60)
    try:
        jobs_before = len(emu.jobs)
        emu.faults.add("submit", action="drip", interval=0.2)
        out, took = _timed(conn, "subscribe", {"app_id": APP, "data": {"x": 1}, "timeout": DEADLINE})
    finally:
        conn.close()
        emu.faults.clear()
    assert took < BOUND
    assert out["failure"]["type"] == "outcome_unknown"
    assert out["failure"]["attempts"] == 1
    assert len(emu.jobs) == jobs_before + 1  # one POST, not re-sent


def test_a_later_call_on_the_same_connector_is_not_cut(emu: Emulator, conn: Any) -> None:
    # The watchdog of an expired exchange must not touch the pooled connection a later call reuses.
    request_id = _job(conn)
    for _ in range(3):
        out, _took = _timed(conn, "get_request_status", {"app_id": APP, "request_id": request_id})
        assert out["success"], out
    time.sleep(DEADLINE + 0.3)  # every earlier deadline has passed
    out, _took = _timed(conn, "get_request_status", {"app_id": APP, "request_id": request_id})
    assert out["success"], out


def test_finished_exchanges_do_not_pile_up() -> None:
    from connector.http import deadline

    for _ in range(20_000):
        with deadline.exchange(time.monotonic() + 60):
            pass
    assert len(deadline.WATCHDOG._heap) < 5_000


@pytest.mark.parametrize("fault", ["drip", "drip_headers"])
def test_the_webhook_helper_bounds_a_dripping_jwks_by_its_timeout(emu: Emulator, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """connector.webhooks.verify_webhook, for web frameworks, fetches the key set through the
    get_jwks action: a server that drips it a byte at a time (each read in time, the whole never)
    ends within the helper's timeout, as a WebhookVerificationError saying why."""
    from connector import webhooks

    monkeypatch.setattr(webhooks, "_caches", {})
    emu.faults.add("jwks", action=fault, interval=0.2, times=None)
    body = b"{}"
    started = time.monotonic()
    try:
        with pytest.raises(webhooks.WebhookVerificationError) as caught:
            webhooks.verify_webhook(emu.sign_webhook(body, "r"), body, jwks_url=emu.env()["FAL_JWKS_URL"], timeout=DEADLINE)
    finally:
        emu.faults.clear()
    assert time.monotonic() - started < BOUND
    assert "JWKS could not be fetched" in caught.value.reason and "never finished" in caught.value.reason
