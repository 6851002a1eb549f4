"""The named post-processing steps a declared operation may end with (``response.transform``).

Kept few on purpose: anything a field map can say belongs in the manifest. A transform gets
the output fields mapped so far, fal's parsed body, and the call (``reply.inputs``,
``reply.status_code``); it returns the output fields or raises ``ActionError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connector.errors import ActionError
from connector.fal.status import normalise_status

Transform = Callable[[dict[str, Any], Any, Any], dict[str, Any]]
TRANSFORMS: dict[str, Transform] = {}

STATUS_FIELDS = ("status", "queue_position", "logs", "metrics", "job_error", "job_error_type")
CANCEL_STATUSES = ("CANCELLATION_REQUESTED", "OK", "ALREADY_COMPLETED", "NOT_FOUND")


def register_transform(name: str) -> Callable[[Transform], Transform]:
    """Register a transform under the name a manifest's ``response.transform`` uses."""

    def add(function: Transform) -> Transform:
        TRANSFORMS[name] = function
        return function

    return add


@register_transform("queue_status")
def queue_status(output: dict[str, Any], body: Any, reply: Any) -> dict[str, Any]:
    """fal's status object -> the six normalised status fields; logs only when asked for."""
    event = normalise_status(body)
    fields = {name: event[name] for name in STATUS_FIELDS}
    if not reply.inputs.get("logs", False):
        fields["logs"] = []
    return fields


@register_transform("cancel_status")
def cancel_status(output: dict[str, Any], body: Any, reply: Any) -> dict[str, Any]:
    """fal's cancel answer -> ``cancel_status``; a 2xx that says ALREADY_COMPLETED or NOT_FOUND fails."""
    status = body.get("status") if isinstance(body, dict) else None
    if status not in CANCEL_STATUSES:
        # Older answers carry no status: 202 means "asked the runner", 200 "removed from the queue".
        status = "CANCELLATION_REQUESTED" if reply.status_code == 202 else "OK"
    request_id = reply.inputs.get("request_id")
    if status == "ALREADY_COMPLETED":
        raise ActionError("already_completed", f"request {request_id} already completed; nothing to cancel",
                          status_code=reply.status_code, partial={"cancel_status": status})
    if status == "NOT_FOUND":
        raise ActionError("not_found", f"request {request_id} was not found", status_code=reply.status_code,
                          partial={"cancel_status": status})
    return {**output, "cancel_status": status}
