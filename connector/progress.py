"""The words for an action's progress events, one line each: the same for ``run --follow``
on stderr and for MCP ``notifications/progress``."""

from __future__ import annotations

from typing import Any


def state_line(status: dict[str, Any]) -> str:
    """A status event's state, with the queue position when fal gave one."""
    text = str(status.get("status"))
    if status.get("queue_position") is not None:
        text += f" (queue position {status['queue_position']})"
    return text


def progress_message(event: dict[str, Any], *, terminal: bool = False) -> str | None:
    """A progress line for an action event, or None for events that are not progress.

    ``terminal`` is the ``--follow`` form: there each log entry gets a line of its own, so a
    status line is the state alone, and the submit reads ``submitted <request_id>``. Otherwise
    (one notification per event) a status line ends with the newest log entry."""
    kind = event.get("type")
    if kind == "status":
        status = event.get("status") or {}
        text = state_line(status)
        logs = status.get("logs") or []
        if not terminal and logs and isinstance(logs[-1], dict) and logs[-1].get("message"):
            text += f": {str(logs[-1]['message'])[:200]}"
        return text
    if kind == "submitted":
        return f"submitted {event.get('request_id')}" if terminal else f"submitted: request_id {event.get('request_id')}"
    if kind == "retrying":
        text = "retrying"
        if event.get("next_attempt") and event.get("max_attempts"):
            text += f" (attempt {event['next_attempt']}/{event['max_attempts']})"
        text += f" in {event.get('wait')} s"
        if event.get("failure_type"):
            text += f" after {event['failure_type']}"
        return f"{text}: {event.get('reason')}"
    if kind == "cancelling":
        return f"timeout reached: cancelling request {event.get('request_id')}"
    if kind == "upload_fallback":
        return f"CDN upload failed, using storage fallback: {event.get('reason')}"
    return None
