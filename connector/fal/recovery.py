"""Finding a job whose submit answer was lost.

A billable submit that got no complete answer is ``outcome_unknown``: fal may have queued the
job. fal's request history can tell: ``list_requests`` with the endpoint and a time window around
the submit lists the job if it exists (then follow it with ``subscribe`` and its ``request_id``,
instead of submitting again). The failure's ``detail`` carries that call, ready to run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from connector.errors import ActionError, TransportError
from connector.fal.app_id import parse_app_id

MARGIN = 60.0  # seconds added before and after the submit: clocks and fal's own timestamps differ


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def find_job_call(endpoint_id: str, sent_at: float, gave_up_at: float) -> dict[str, Any]:
    """The ``list_requests`` input that lists a job submitted between the two instants."""
    return {"endpoint_id": endpoint_id, "start": _iso(sent_at - MARGIN), "end": _iso(gave_up_at + MARGIN)}


def lost_submit(error: ActionError, endpoint_id: str, sent_at: float, gave_up_at: float) -> TransportError:
    """``error`` (an outcome_unknown submit) with how to find the job: a new error, to raise
    ``from`` the original."""
    call = find_job_call(endpoint_id, sent_at, gave_up_at)
    detail = {
        "find_job": {"action": "list_requests", "input": call},
        "hint": (
            "fal may have queued this job. Run list_requests with this input: a request listed there "
            "is the job (follow it with subscribe and its request_id instead of submitting again); "
            "none listed means it was not queued. Recent requests can take a few seconds to appear."
        ),
        "cause": error.detail,
    }
    message = (
        f"{error.message}. To find it: list_requests with endpoint_id {endpoint_id!r}, "
        f"start {call['start']}, end {call['end']} (failure.detail.find_job)"
    )
    return TransportError(error.type, message, status_code=error.status_code, retryable=error.retryable,
                          attempts=error.attempts, fal_request_id=error.fal_request_id,
                          retry_after=error.retry_after, detail=detail, partial=error.partial)


@contextmanager
def findable_if_lost(app_id: str) -> Iterator[None]:
    """Around a billable submit: an ``outcome_unknown`` failure leaves saying how to find the job."""
    sent_at = time.time()
    try:
        yield
    except ActionError as exc:
        if exc.type != "outcome_unknown":
            raise
        raise lost_submit(exc, parse_app_id(app_id).endpoint, sent_at, time.time()) from exc
