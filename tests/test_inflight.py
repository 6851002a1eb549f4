"""``InFlight.stopped_output``: what a stopped call reports, whichever finished first — the
signal handler or the call itself (whose own stopped output has no status)."""

from __future__ import annotations

from connector.errors import ActionError
from connector.inflight import InFlight


def _following(conn, status: str) -> InFlight:
    flight = InFlight(conn, conn.action("subscribe"), {"app_id": "fal-ai/slow", "data": {}})
    sink = flight.watch()
    sink({"type": "started"})
    sink({"type": "submitted", "request_id": "req-1"})
    sink({"type": "status", "status": {"status": status}})
    return flight


def test_the_status_the_events_saw_survives_the_calls_own_stopped_output(conn):
    flight = _following(conn, "IN_QUEUE")
    outcome = {"request_id": "req-1", "sent": True, "cancel_status": "OK", "accepted": True, "error": None}
    # The call returned first, with its own cancelled output: its status is unknown (None).
    own = conn.failed("subscribe", ActionError("cancelled", "stopped"))
    assert own["status"] is None
    out = flight.stopped_output("SIGINT", outcome, own)
    assert out["failure"]["type"] == "cancelled" and out["request_id"] == "req-1"
    assert out["status"] == "IN_QUEUE" and out["cancelled"] is True


def test_a_status_in_the_calls_own_output_is_kept(conn):
    flight = _following(conn, "IN_QUEUE")
    own = {"success": True, "request_id": "req-1", "status": "IN_PROGRESS"}
    out = flight.stopped_output("SIGTERM", None, own)
    assert out["status"] == "IN_PROGRESS" and out["request_id"] == "req-1"
