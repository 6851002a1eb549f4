"""One action call whose caller may go away: the job it submitted is cancelled, not orphaned.

A billable queue action (``subscribe``, ``add_request_to_queue``) starts a job that runs and
bills at fal until it completes. When whoever asked for it stops waiting (Ctrl-C or SIGTERM
on the command line, a cancelled MCP tool call), the job must be cancelled, and the caller
must learn its ``request_id`` and whether fal accepted the cancel. ``InFlight`` is that
mechanism for the CLI (``connector.interrupt``) and the MCP server alike:

- ``watch(on_event)`` wraps the call's event sink: the ``submitted`` event tells the request
  id as soon as fal answered the submit; ``finish(output)`` takes it from a queue submit's
  output (whose job is still pending);
- ``stop()`` marks the call stopped: a following action ends its loop (the ``cancelled``
  event is the one the call runs with), and fal's cancel is sent at once when the id is known,
  or as soon as it becomes known;
- ``wait_cancel(timeout)`` gives the cancel's outcome, ``stopped_output(reason)`` the action's
  output for the stopped call (``failure.type: cancelled``).

The cancel runs in its own daemon thread, so a caller can bound how long it waits for fal's
answer without being blocked by it.
"""

from __future__ import annotations

import threading
from typing import Any

from connector.context import EventSink
from connector.errors import ActionError

ACCEPTED = ("OK", "CANCELLATION_REQUESTED")  # cancel statuses that mean the job stops billing


class InFlight:
    def __init__(self, connector: Any, action: Any, arguments: Any) -> None:
        self.connector = connector
        self.action = action
        self.app_id = arguments.get("app_id") if isinstance(arguments, dict) else None
        # Only billable actions whose output names a request start a job that fal can cancel;
        # a synchronous run has no request id (it ends when its connection closes).
        self.submits_job = action is not None and action.spec.retry == "billable" and "request_id" in action.output_defaults
        self.cancelled = threading.Event()
        self.request_id: str | None = None
        self.started = False  # the action passed input validation: it may have sent something
        self.retries = 0
        self.status: str | None = None  # the job's last status seen
        self.outcome: dict[str, Any] | None = None  # the cancel's outcome, once fal answered
        self._cancel_started = False
        self._cancel_done = threading.Event()
        self._lock = threading.Lock()

    # -- what the call tells ------------------------------------------------------------

    def watch(self, on_event: EventSink | None = None) -> EventSink:
        """An event sink that learns the request id, then passes the event on."""

        def sink(event: dict[str, Any]) -> None:
            kind = event.get("type")
            if kind == "started":
                self.started = True
            elif kind == "retrying":
                self.retries += 1
            elif kind == "submitted":
                self._learn(event.get("request_id"))
            elif kind == "status" and isinstance(event.get("status"), dict):
                self.status = event["status"].get("status")
            if on_event is not None:
                on_event(event)

        return sink

    def finish(self, output: dict[str, Any]) -> None:
        """The call returned: a submit's job is pending until COMPLETED; cancel it if stopped."""
        if self.submits_job and output.get("success") and output.get("status") != "COMPLETED":
            self._learn(output.get("request_id"))

    @property
    def awaiting_submit(self) -> bool:
        """A job may be on its way: the submit was sent and fal has not given its id yet."""
        return self.submits_job and self.started and self.request_id is None

    # -- stopping -----------------------------------------------------------------------

    def stop(self) -> None:
        """The caller went away: stop following, cancel the job now or once its id is known."""
        with self._lock:
            self.cancelled.set()
            go = self._claim()
        if go:
            self._start_cancel()

    def wait_cancel(self, timeout: float, unanswered: str | None = None) -> dict[str, Any] | None:
        """The cancel's outcome; None when no cancel was started. Waits at most ``timeout``;
        ``unanswered`` is the outcome's error when fal has not answered by then."""
        if not self._cancel_started:
            return None
        if not self._cancel_done.wait(max(0.0, timeout)):
            return {"request_id": self.request_id, "sent": True, "cancel_status": None, "accepted": False,
                    "error": unanswered or f"fal did not answer the cancel within {timeout:g} s"}
        return self.outcome

    def _learn(self, request_id: Any) -> None:
        with self._lock:
            if isinstance(request_id, str) and self.request_id is None:
                self.request_id = request_id
            go = self._claim()
        if go:
            self._start_cancel()

    def _claim(self) -> bool:
        if self.cancelled.is_set() and self.request_id is not None and self.app_id and not self._cancel_started:
            self._cancel_started = True
            return True
        return False

    def _start_cancel(self) -> None:
        threading.Thread(target=self._cancel, name=f"fal-connector-cancel-{self.request_id}", daemon=True).start()

    def _cancel(self) -> None:
        outcome: dict[str, Any] = {"request_id": self.request_id, "sent": True, "cancel_status": None, "accepted": False, "error": None}
        try:
            out = self.connector.run("cancel_request", {"app_id": self.app_id, "request_id": self.request_id})
            outcome["cancel_status"] = out.get("cancel_status")
            outcome["accepted"] = out.get("cancel_status") in ACCEPTED
            outcome["error"] = out.get("error")
            self.connector.log.info("stopped call: cancel of %s: %s", self.request_id, out.get("cancel_status") or out.get("error"))
        except Exception as exc:  # a cancel is best effort; it must never break its caller
            outcome["error"] = f"the cancel failed: {type(exc).__name__}"
            self.connector.log.warning("stopped call: cancel of %s failed", self.request_id, exc_info=True)
        self.outcome = outcome
        self._cancel_done.set()

    # -- the output of a stopped call ---------------------------------------------------

    def stopped_output(self, reason: str, outcome: dict[str, Any] | None, fields: dict[str, Any] | None = None) -> dict[str, Any]:
        """The action's output for a call stopped by ``reason`` (``failure.type: cancelled``).

        ``outcome`` is the cancel's (``wait_cancel``); ``fields`` what the call's own output had
        (a queue submit that returned meanwhile). The request id and, where the action's output
        has it, ``cancelled`` (whether fal accepted the cancel) are kept at the top level too."""
        rid = self.request_id
        if outcome is not None:
            verdict = (f"fal accepted the cancel of request {rid} ({outcome['cancel_status']})" if outcome["accepted"]
                       else f"the cancel of request {rid} was not confirmed ({outcome['error']}); it may still run: "
                            "check it with get_request_status, cancel it with cancel_request")
        elif rid is not None:
            verdict = f"request {rid} was not cancelled; it may still run: cancel it with cancel_request"
        elif self.awaiting_submit:
            verdict = ("the submit had not been answered, so no request id is known; a job may have been queued: "
                       "check before resubmitting")
        elif self.started and self.action.spec.retry == "billable":
            verdict = "the synchronous run was abandoned (it has no request id to cancel)"
        else:
            verdict = "nothing billable was pending"
        # The call's own output may be its stopped form (status None): what the events saw stands.
        partial = {k: v for k, v in (fields or {}).items() if v is not None and k not in ("success", "error", "failure")}
        partial["request_id"] = rid
        partial.setdefault("status", self.status)
        if outcome is not None:
            partial["cancelled"] = outcome["accepted"]
        known = self.action.output_defaults
        error = ActionError(
            "cancelled",
            f"{self.action.id} stopped by {reason}; {verdict}",
            detail={"reason": reason, "request_id": rid, "cancel": outcome},
            partial={k: v for k, v in partial.items() if k in known},
        )
        attempts = (1 + self.retries) if self.started else 0  # as far as the events tell
        output: dict[str, Any] = self.connector.failed(self.action.id, error, attempts=attempts)
        return output
