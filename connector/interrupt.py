"""``fal-connector run`` under SIGINT / SIGTERM: the job it submitted is cancelled, not orphaned.

The action runs in a worker thread while the main thread waits for it or for a signal (Ctrl-C,
or the SIGTERM a workflow engine sends to a step it stops). On the first signal:

1. the call is stopped (a following action ends its loop);
2. a job the call submitted and that has not finished is cancelled at fal; when the submit
   is still waiting for its answer, that answer is awaited first, all within
   ``CANCEL_BUDGET`` seconds;
3. the action's output is printed with ``failure.type: cancelled``, the ``request_id`` and the
   cancel's outcome, and the exit status is 130 (SIGINT) or 143 (SIGTERM).

A call that completed before it could be stopped prints its own output (the result is
not thrown away). A second signal exits at once, printing the output as far as it is known.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from connector.context import EventSink
from connector.inflight import InFlight

CANCEL_BUDGET = 5.0  # seconds from the signal to the printed output: submit answer + cancel
EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
_POLL = 0.05  # how often the main thread looks for a signal while the worker runs


def run_until_signal(connector: Any, name: str, inputs: Any, *, on_event: EventSink | None,
                     write: Callable[[dict[str, Any]], None]) -> tuple[dict[str, Any], int]:
    """Run one action, write its output; (the output, the exit status)."""
    action = connector.action(name)
    if action is None or threading.current_thread() is not threading.main_thread():
        output: dict[str, Any] = connector.run(name, inputs, on_event=on_event)  # signals are the main thread's
        report(write, output)
        return output, 0 if output.get("success") else 1
    return _Guarded(connector, action, write).run(inputs, on_event)


class _Guarded:
    def __init__(self, connector: Any, action: Any, write: Callable[[dict[str, Any]], None]) -> None:
        self.connector = connector
        self.action = action
        self.write = write
        self.signum: int | None = None
        self.written = False
        self.result: dict[str, Any] | None = None
        self.flight: InFlight | None = None

    def run(self, inputs: Any, on_event: EventSink | None) -> tuple[dict[str, Any], int]:
        flight = self.flight = InFlight(self.connector, self.action, inputs)
        worker = threading.Thread(target=self._work, args=(inputs, flight.watch(on_event)), daemon=True,
                                  name=f"fal-connector-run-{self.action.id}")
        previous = {sig: signal.signal(sig, self._on_signal) for sig in EXIT_CODES}
        try:
            worker.start()
            while worker.is_alive() and self.signum is None:
                worker.join(_POLL)
            if self.signum is None:
                output = self._result()
                code = 0 if output.get("success") else 1
            else:
                output, code = self._stop(worker)
            self._emit(output)
            return output, code
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _work(self, inputs: Any, sink: EventSink) -> None:
        assert self.flight is not None
        self.result = self.connector.run(self.action.id, inputs, on_event=sink, cancelled=self.flight.cancelled)

    def _result(self) -> dict[str, Any]:
        if self.result is None:  # run() never raises; a broken worker is still reported as data
            from connector.errors import ActionError

            failure: dict[str, Any] = self.connector.failed(self.action.id, ActionError("http_error", f"internal error in {self.action.id}"))
            return failure
        return self.result

    def _stop(self, worker: threading.Thread) -> tuple[dict[str, Any], int]:
        """The first signal: stop the call, cancel its job within the budget; the output to print."""
        assert self.flight is not None and self.signum is not None
        flight, code = self.flight, EXIT_CODES[self.signum]
        deadline = time.monotonic() + CANCEL_BUDGET
        flight.stop()
        # A submit on the wire: its answer (the request id) is what makes the job cancellable.
        while flight.awaiting_submit and worker.is_alive() and time.monotonic() < deadline:
            worker.join(_POLL)
        fields: dict[str, Any] = {}
        if not worker.is_alive() and self.result is not None:
            flight.finish(self.result)
            if self.result.get("success") and (flight.request_id is None or self.result.get("status") == "COMPLETED"):
                return self.result, 0  # it completed before it could be stopped: keep the result
            fields = self.result
        outcome = flight.wait_cancel(deadline - time.monotonic())
        return flight.stopped_output(_name(self.signum), outcome, fields), code

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum  # the main thread notices within _POLL
            return
        # A second signal: exit at once, with the output as far as it is known.
        if not self.written and self.flight is not None:
            outcome = self.flight.wait_cancel(0, f"{_name(signum)} again before fal answered the cancel")
            try:
                self._emit(self.flight.stopped_output(_name(self.signum), outcome))
            except Exception:  # exiting matters more than the output now
                pass
        sys.stdout.flush()
        os._exit(EXIT_CODES[signum])

    def _emit(self, output: dict[str, Any]) -> None:
        self.written = True
        report(self.write, output)


def report(write: Callable[[dict[str, Any]], None], output: dict[str, Any]) -> None:
    """The output on stdout; a failure's one-line error on stderr too."""
    write(output)
    if not output.get("success"):
        sys.stderr.write(f"fal-connector: {output.get('error')}\n")
        sys.stderr.flush()


def _name(signum: int) -> str:
    return signal.Signals(signum).name

