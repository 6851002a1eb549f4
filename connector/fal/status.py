"""Normalising fal's queue status objects into the connector's status event.

fal's own keys pass through untouched (schema drift never fails an action); the six
normalised keys are always present: ``logs`` is always a list, ``queue_position`` is null
outside IN_QUEUE, and a COMPLETED job that failed carries fal's ``error``/``error_type`` as
``job_error``/``job_error_type``.
"""

from __future__ import annotations

from typing import Any

from connector.errors import ActionError

STATUSES = ("IN_QUEUE", "IN_PROGRESS", "COMPLETED")


def normalise_status(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ActionError("invalid_response", "status response is not a JSON object", detail=_short(body))
    status = body.get("status")
    if status not in STATUSES:
        raise ActionError(
            "invalid_response",
            f"status response has field 'status' = {status!r}, expected one of {', '.join(STATUSES)}",
            detail=_short(body),
        )
    logs = body.get("logs")
    position = body.get("queue_position")
    metrics = body.get("metrics")
    error = body.get("error")
    error_type = body.get("error_type")
    event = dict(body)
    event.update(
        status=status,
        queue_position=position if status == "IN_QUEUE" and isinstance(position, int) and not isinstance(position, bool) else None,
        logs=[normalise_log(entry) for entry in logs if isinstance(entry, dict)] if isinstance(logs, list) else [],
        metrics=metrics if isinstance(metrics, dict) else None,
        job_error=str(error) if status == "COMPLETED" and error not in (None, "") else None,
        job_error_type=str(error_type) if status == "COMPLETED" and error_type not in (None, "") else None,
    )
    return event


def normalise_log(entry: dict[str, Any]) -> dict[str, Any]:
    """A log entry with ``message``, ``level`` and ``timestamp`` as strings or null; fal's
    extra keys (``source``, ``labels``) pass through."""
    out = dict(entry)
    for key in ("message", "level", "timestamp"):
        value = entry.get(key)
        out[key] = value if value is None or isinstance(value, str) else str(value)
    return out


def log_key(entry: dict[str, Any]) -> tuple[Any, Any]:
    """Identity of a log entry for de-duplication across polls and stream events."""
    return entry.get("timestamp"), entry.get("message")


def _short(body: Any) -> Any:
    text = repr(body)
    return body if len(text) <= 2000 else text[:2000]
