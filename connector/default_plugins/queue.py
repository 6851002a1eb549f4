"""The queue actions: submit, status, stream, result, cancel.

Status, result and cancel are declared operations (the manifest says it all); submit and
stream are Python, and build their requests from the same declarations.
"""

from __future__ import annotations

from typing import Any

from connector.errors import ActionError, InvalidInputError
from connector.fal.app_id import check_request_id
from connector.hookspecs import hookimpl
from connector.manifest import manifest_actions, manifest_operation
from connector.models import Action


def submit_job(inputs: dict[str, Any], ctx: Any, action_id: str = "add_request_to_queue") -> dict[str, Any]:
    """POST the job to the queue once (retried only where fal cannot have enqueued it)."""
    from connector.fal.recovery import findable_if_lost  # here, as follow_job below: a status call's start needs neither

    with findable_if_lost(inputs["app_id"]):
        response = manifest_operation(action_id).send(ctx, inputs)
    body = ctx.require_fields(ctx.json(response, "submit"), "submit", "request_id")
    request_id = body["request_id"]
    try:
        # It becomes part of every later URL (status, result, cancel): an answer must not be
        # able to steer those requests to another path.
        check_request_id(request_id)
    except InvalidInputError:
        raise ActionError("invalid_response", f"submit: fal's answer has no usable 'request_id' (got {str(request_id)[:100]!r})", detail=body) from None
    ids = {"app_id": inputs["app_id"], "request_id": request_id}
    position = body.get("queue_position")
    return {
        "request_id": request_id,
        # fal's own URLs when it gives them; the declared operations' URLs otherwise.
        "response_url": _str(body.get("response_url")) or manifest_operation("get_request_response").url(ctx, ids),
        "status_url": _str(body.get("status_url")) or manifest_operation("get_request_status").url(ctx, ids),
        "cancel_url": _str(body.get("cancel_url")) or manifest_operation("cancel_request").url(ctx, ids),
        "queue_position": position if isinstance(position, int) and not isinstance(position, bool) else None,
    }


def stream_status(inputs: dict[str, Any], ctx: Any) -> dict[str, Any]:
    manifest_operation("stream_request_status").path_for(inputs)  # bad ids fail before the key check
    ctx.require_key()
    deadline_at = ctx.started + float(inputs.get("timeout", 300))
    from connector.fal.follow import follow_job

    progress = follow_job(ctx, inputs, logs=bool(inputs.get("logs", False)), deadline_at=deadline_at)
    return progress.fields()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# In manifest order; None: performed by the generic handler (declarative).
HANDLERS = {
    "add_request_to_queue": submit_job,
    "get_request_status": None,
    "stream_request_status": stream_status,
    "get_request_response": None,
    "cancel_request": None,
}


@hookimpl(trylast=True)
def register_actions() -> list[Action]:
    return manifest_actions(HANDLERS)
